/*
 * early.c — the allocations made before our constructor ran. Libraries initialised before
 * libctrprof.so (libstdc++'s emergency exception pool: 72 KiB, a malloc in its
 * initialiser) already call the hooks, which forward them while the shim is
 * CP_SHIM_UNINIT; valgrind's "total heap usage" counts them, and a report at rate 1 must
 * too. So malloc.c's sampled() hands each of them here (cp_early_alloc): its address,
 * size and the return address into its caller, kept in a small static array; a free or
 * realloc of one of them before the constructor ends marks it freed (cp_early_free).
 * Once the engine is up, the constructor replays them in order (cp_early_replay): each
 * goes through the countdown like any allocation and, if sampled, is recorded with the
 * one frame that is known and a `truncated` marker (the rest of its stack is gone), and
 * its free, if it had one, right after it.
 *
 * Contexts: cp_early_alloc and cp_early_free from the hooks before the constructor
 * finished (single-threaded in practice: other libraries' initialisers; entries are
 * claimed atomically all the same); cp_early_replay from the constructor once, with the
 * guard released. No allocation, no lock. While an entry is pending, its address is
 * counted once more in the live filter so that its free reaches free()'s slow path; the
 * replay takes that count back.
 */
#include "early.h"

#include "line.h"
#include "log.h"
#include "prof.h"
#include "shim.h"

#define EARLY_MAX 64

static struct early {
    void *p;
    size_t n;
    uintptr_t pc; /* return address into the caller of the hook; 0 if unknown */
    int freed;
} early[EARLY_MAX];
static unsigned early_n; /* atomic: entries claimed (may pass EARLY_MAX: those are lost) */
CP_READ_MOSTLY int cp_early_open = 1; /* atomic: until the replay starts */

static void filter_dec(const void *p)
{
    uint8_t *c = &cp_live_filter[cp_live_fhash(p)];
    uint8_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
    while (v != 255 && v != 0 &&
           !__atomic_compare_exchange_n(c, &v, v - 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

void cp_early_alloc(void *p, size_t n, const uintptr_t *entry)
{
    if (!p || !__atomic_load_n(&cp_early_open, __ATOMIC_ACQUIRE))
        return;
    unsigned i = __atomic_fetch_add(&early_n, 1, __ATOMIC_RELAXED);
    if (i >= EARLY_MAX)
        return;
    early[i] = (struct early){p, n, entry ? entry[1] : 0, 0};
    cp_live_mark(p);
}

void cp_early_free(void *p)
{
    unsigned n = __atomic_load_n(&early_n, __ATOMIC_RELAXED);
    if (n > EARLY_MAX)
        n = EARLY_MAX;
    for (unsigned i = n; i-- > 0;) /* the newest block at p is the live one */
        if (early[i].p == p && !early[i].freed) {
            early[i].freed = 1;
            filter_dec(p);
            return;
        }
}

void cp_early_replay(void)
{
    __atomic_store_n(&cp_early_open, 0, __ATOMIC_RELEASE);
    unsigned n = __atomic_load_n(&early_n, __ATOMIC_ACQUIRE), lost = 0;
    if (n > EARLY_MAX) {
        lost = n - EARLY_MAX;
        n = EARLY_MAX;
    }
    for (unsigned i = 0; i < n; i++)
        if (!early[i].freed)
            filter_dec(early[i].p); /* the insert below counts it again, if sampled */
    if (cp_shim_state != CP_SHIM_ON || cp_opts.mem_rate == 0)
        return;
    if (lost && cp_log_tree_first(CP_LOG_TREE_EARLY)) /* once per process tree */
        cp_log("%u allocations made before the profiler started are not recorded (it keeps %d)",
               lost, EARLY_MAX);
    for (unsigned i = 0; i < n; i++) {
        struct early *e = &early[i];
        /* the countdown, as malloc.c's countdown_expired: used up when n >= its value */
        uint64_t old = (uint64_t)cp_tls.countdown;
        cp_tls.countdown = (int64_t)(old - e->n);
        if (e->n < old)
            continue;
        uintptr_t pcs[2];
        unsigned k = 0;
        if (e->pc && !(e->pc >= cp_shim_lo && e->pc < cp_shim_hi))
            pcs[k++] = e->pc;
        pcs[k++] = CP_PC_TRUNCATED;
        cp_tls.guard++;
        cp_tls.countdown = INT64_MAX;
        cp_event_alloc(cp_shim_thread(), e->p, e->n, pcs, k);
        cp_tls.countdown = cp_sample_next(&cp_tls.rng, cp_opts.mem_rate);
        cp_tls.guard--;
        if (e->freed)
            cp_shim_free_record(e->p);
    }
}
