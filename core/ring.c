/*
 * ring.c — the per-thread SPSC event ring (see ring.h for the record format and the
 * ownership of every field).
 *
 * Contexts: cp_ring_write from hooks on the owning thread (sampled events only);
 * cp_ring_drain, cp_ring_drain_ahead and cp_ring_shed (a gone thread's drained ring) from the
 * flusher; cp_ring_drain_own from an inline flush on the owning thread itself. A producer that must
 * wait sleeps on rseq with a futex; the flusher sleeps on cp_ring_kick with a timeout (its flush
 * interval).
 *
 * Wraparound, worked example (cap 8, a 3-word record at position 14, rtail 10):
 *     index 14 & 7 = 6; 6 + 3 > 8, so the producer needs 2 words of rewind marker plus 3;
 *     used = 14 - 10 = 4, free = 4 < 5: full -> wait or drop. After the consumer drains
 *     to 14, free = 8: the marker goes at index 6 (nwords 2), the record at index 0..2,
 *     the head word's POS becomes 19. The consumer reads the marker at 6, skips to position 16
 * (index 0) and reads the record.
 */
#include "ring.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rawsys.h"
#include "spin.h"
#include "stampclock.h"

uint32_t cp_ring_kick;
uint32_t cp_ring_consumer_sleeping;

long cp_futex_wait(uint32_t *addr, uint32_t val, long timeout_ns)
{
    /* raw: no errno to keep, and no lazily bound call on a program's small stack */
    struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
    return cp_raw_syscall(SYS_futex, (long)addr, FUTEX_WAIT_PRIVATE, (long)val,
                          timeout_ns >= 0 ? (long)&ts : 0, 0, 0);
}

long cp_futex_wake(uint32_t *addr, int n)
{
    return cp_raw_syscall(SYS_futex, (long)addr, FUTEX_WAKE_PRIVATE, n, 0, 0, 0);
}

void cp_ring_wake_consumer(void)
{
    __atomic_add_fetch(&cp_ring_kick, 1, __ATOMIC_SEQ_CST);
    /* one waker makes the call: the others see the flag cleared */
    if (__atomic_load_n(&cp_ring_consumer_sleeping, __ATOMIC_SEQ_CST) &&
        __atomic_exchange_n(&cp_ring_consumer_sleeping, 0, __ATOMIC_SEQ_CST))
        cp_futex_wake(&cp_ring_kick, 1);
}

void cp_ring_init(struct cp_ring *r, uint64_t *data, uint64_t cap)
{
    r->data = data;
    r->cap = cap;
    r->w = r->rtail = 0;
    r->nlost = 0;
    r->head = 0;
    r->waits = 0;
    r->lost_taken = r->waits_taken = 0;
    r->nref = r->cnref = 0;
    r->crun_from = r->crun_at = 0;
    r->stamp_run = r->run_held = r->crun_n = 0;
    r->stk_n = r->cstk_n = r->stkh_n = r->cstkh_n = r->cnode_n = 0;
    r->cbucket = NULL;
    r->rseq = 0;
}

void cp_ring_end(struct cp_ring *r)
{
    __atomic_store_n(&r->head, cp_ring_pack(r, 0), __ATOMIC_RELEASE);
}

void cp_ring_drop(struct cp_ring *r)
{
    r->nlost++;
    /* (a run of frees ends: its read may be the record dropped, and the consumer would
     * bracket the run's frees from an older one; events.c's free_ptr_stamp) */
    r->stamp_run = 0;
    __atomic_store_n(&r->head, cp_ring_pack(r, 0), __ATOMIC_RELEASE);
}

void cp_ring_count_wait(struct cp_ring *r)
{
    __atomic_store_n(&r->waits, r->waits + 1, __ATOMIC_RELAXED); /* only we write it */
}

bool cp_ring_busy(const struct cp_ring *r)
{
    return __atomic_load_n(&r->head, __ATOMIC_SEQ_CST) & CP_RING_BUSY;
}

void cp_ring_forget(struct cp_ring *r)
{
    r->rtail = r->w;
    r->nlost = r->lost_taken = 0;
    r->waits = r->waits_taken = 0;
    r->cnref = r->nref;
    r->stk_n = r->cstk_n = r->stkh_n = r->cstkh_n = r->cnode_n = 0;
    /* (the parent's frees in a run are not the child's) */
    r->stamp_run = r->run_held = r->crun_n = 0;
    r->crun_from = r->crun_at = 0;
    r->cbucket = NULL;
    r->rwaiting = 0; /* (a thread that waited for room is not in the child) */
    r->head = cp_ring_pack(r, 0);
}

void cp_ring_shed(struct cp_ring *r)
{
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return;
    /* raw: errno is the program's; a failure only leaves the pages resident */
    cp_raw_syscall(SYS_madvise, (long)r->data, (long)(r->cap * sizeof(uint64_t)), MADV_DONTNEED, 0,
                   0, 0);
}

bool cp_ring_write(struct cp_ring *r, enum cp_rec_kind kind, uint64_t cycle, const uint64_t *words,
                   unsigned n, bool may_wait)
{
    unsigned total = n + 1;
    for (;;) {
        uint64_t pos = r->w, idx = pos & (r->cap - 1);
        uint64_t skip = idx + total > r->cap ? r->cap - idx : 0;
        /* acquire: pairs with the consumer's release of rtail; the words it read are
         * free to overwrite */
        uint64_t tail = __atomic_load_n(&r->rtail, __ATOMIC_ACQUIRE);
        if (r->cap - (pos - tail) >= skip + total) {
            cp_ring_put(r, kind, cycle, words, n, NULL, 0);
            return true;
        }
        if (!may_wait || !cp_ring_wait_room(r, skip + total)) {
            cp_ring_drop(r);
            return false;
        }
    }
}

struct cp_line_u64 cp_ring_progress;
static uint64_t stalled_at; /* atomic: cp_ring_progress + 1 when a stall was found */
/* this thread's wait: the progress it began at, and when (CLOCK_MONOTONIC_COARSE) */
static __thread uint64_t wait_p __attribute__((tls_model("initial-exec")));
static __thread uint64_t wait_t __attribute__((tls_model("initial-exec")));

/* Has the consumer drained nothing while this thread waited CP_RING_STALL_NS, or since a
 * stall was found? (Said once; the events dropped are counted: lost:overflow.) */
static bool stalled(void)
{
    uint64_t p = __atomic_load_n(&cp_ring_progress.v, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&stalled_at, __ATOMIC_RELAXED) == p + 1)
        return true;
    uint64_t now = cp_coarse_ns();
    if (p != wait_p || !wait_t || now - wait_t > 2 * CP_RING_STALL_NS) {
        wait_p = p; /* (a new wait, or one the consumer drained for since) */
        wait_t = now;
        return false;
    }
    if (now - wait_t < CP_RING_STALL_NS)
        return false;
    __atomic_store_n(&stalled_at, p + 1, __ATOMIC_RELAXED);
    wait_t = 0;
    if (cp_log_tree_first(CP_LOG_TREE_STALLED)) /* once per process tree */
        cp_log("the flusher has drained nothing for 2 s while a thread waited for room (it "
               "waits for a lock that thread holds: the loader's?); events that find their "
               "ring full are lost until it drains again (ctrprof/health:lost:overflow)");
    return true;
}

bool cp_ring_wait_room(struct cp_ring *r, uint64_t need)
{
    /* Full: wake the flusher, then sleep until it has drained (rseq changes). The
     * timeout bounds the wait if a wake-up is missed; the caller re-checks the space. */
    if (stalled())
        return false;
    cp_ring_count_wait(r);
    __atomic_add_fetch(&r->rwaiting, 1, __ATOMIC_SEQ_CST); /* before rseq: see drain */
    uint32_t seq = __atomic_load_n(&r->rseq, __ATOMIC_SEQ_CST);
    cp_ring_wake_consumer();
    if (r->cap - cp_ring_used(r) < need)
        cp_futex_wait(&r->rseq, seq, 10 * 1000 * 1000);
    __atomic_sub_fetch(&r->rwaiting, 1, __ATOMIC_RELEASE);
    return true;
}

uint64_t *cp_ring_grow(struct cp_ring *r, uint64_t *data, uint64_t cap)
{
    uint64_t *old = r->data;
    /* published by the next release of head, which the consumer acquires before it loads
     * them (cp_ring_drain_records); a consumer with an older head reads no data. The data first
     * (release: ordered before the cap): a fork between the two stores leaves the child a
     * larger array with the smaller cap, never the reverse */
    __atomic_store_n(&r->data, data, __ATOMIC_RELAXED);
    __atomic_store_n(&r->cap, cap, __ATOMIC_RELEASE);
    return old;
}

/* after a drain by a consumer (not the ring's own thread) */
static void woken(struct cp_ring *r)
{
    /* Wake the producer only if it waits for room: a single-threaded process drains
     * after every event (inline flushing), and an unconditional wake was a futex system
     * call each time, 2 an allocation pair at rate 1 (strace -c, bench/progs/namechurn:
     * 2,000,003 futex calls for 10^6 pairs, 14 CPU s against 0.2 bare). A producer adds
     * to rwaiting before it reads rseq (both seq_cst): if this load sees no waiter, that
     * producer's read of rseq comes after the increment above and sees the room made. */
    __atomic_add_fetch(&r->rseq, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&r->rwaiting, __ATOMIC_SEQ_CST))
        cp_futex_wake(&r->rseq, 1);
}

uint64_t cp_ring_drain_ahead(struct cp_ring *r, cp_ring_fn fn, cp_ring_pre_fn pre, void *ctx)
{
    uint64_t n = cp_ring_drain_span(r, fn, pre, ctx);
    woken(r);
    return n;
}

uint64_t cp_ring_drain(struct cp_ring *r, cp_ring_fn fn, void *ctx)
{
    uint64_t n = cp_ring_drain_records(r, fn, ctx);
    woken(r);
    return n;
}

uint64_t cp_ring_drain_own(struct cp_ring *r, cp_ring_fn fn, void *ctx)
{
    /* no rseq bump: its locked add was ~3% of a single-threaded program's CPU at rate 1,
     * which drains at every event (BENCHMARKS.md, "Inline publishing at rate 1"); a
     * producer that waits later reads rseq then, and the drain that ends its wait is a
     * flusher's, which bumps it */
    return cp_ring_drain_records(r, fn, ctx);
}
