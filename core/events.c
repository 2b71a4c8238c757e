/*
 * events.c — the hooks' side of the engine: each thread's ring (cp_thread_get/release),
 * emit (stamp a record with the cycle and write it), and the cp_event_* entry points;
 * and the line said when the engine is refused memory (cp_mem_refused: from any context
 * that maps, hooks included; async-signal-safe, as base/log.h is).
 *
 * An event of a thread with no flusher thread running goes to the flush it would trigger
 * as it is, without being written to the ring and drained back (flusher.c's
 * cp_flush_direct); an allocation's object then goes into the live table with its bucket,
 * when the flush counts it (resolve.c), not first with its ref.
 *
 * Contexts: hook (an application thread in an interposed function, guard held), on
 * sampled events only; the default-rate unsampled paths never come here (preload/malloc.c
 * filters them with live.h's cp_live_maybe). The busy handshake with the flusher and the
 * cycle a record is stamped with are flusher.c's timeline comment; the records' encoding
 * and refs are prof_int.h's. Every heap event keeps the live table on its own thread
 * (an allocation inserts its ref, a free removes its value), at every rate, but while the
 * flush keeps it (live.h's cp_live_deferred: rate 1 in a process with one thread, unless
 * CTRPROF_FLUSHER=inline), when the records say what to put in and take out.
 *
 * Locks: cp_reg_lock (registering a new ring); emit takes none, but may flush inline
 * (flusher.c), under cp_flush_lock. Both are in the lock table: docs/ARCHITECTURE.md,
 * "Locks".
 */
#include "prof_int.h"

#include <string.h>
#include <sys/single_threaded.h>

#include "arena.h"
#include "bucket.h"
#include "heaptime.h"
#include "line.h"
#include "live.h"
#include "log.h"
#include "newproc.h"
#include "rawsys.h"
#include "ring.h"
#include "spin.h"
#include "switchwatch.h"

/* atomic */
CP_READ_MOSTLY uint64_t cp_cycle = 1;
uint64_t cp_lost_n[CP_NLOST];
CP_READ_MOSTLY int cp_stopping;

/* the ring registry: a list that only grows; rings are reused via their state */
struct cp_ring *cp_rings; /* atomic head */
cp_spin cp_reg_lock = CP_SPIN_INIT;
static uint32_t nrings_made; /* guarded by cp_reg_lock */
__thread struct cp_ring *cp_self_ring __attribute__((tls_model("initial-exec")));
/* this thread's ring could not be mapped */
static __thread bool no_ring __attribute__((tls_model("initial-exec")));

/* ---- threads ----------------------------------------------------------------------- */

/* The first ring of the registry in state `from` (FREE, or RELEASED: see cp_thread_get),
 * made this thread's (OWNED) by a CAS; NULL if none. */
static struct cp_ring *take_ring(uint32_t from)
{
    for (struct cp_ring *r = __atomic_load_n(&cp_rings, __ATOMIC_ACQUIRE); r; r = r->next) {
        uint32_t s = from;
        if (__atomic_load_n(&r->state, __ATOMIC_RELAXED) == from &&
            __atomic_compare_exchange_n(&r->state, &s, CP_RING_OWNED, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return r;
    }
    return NULL;
}

/* ---- the live table kept by the consumer (live.h's cp_live_deferred) ---------------- */

static uint32_t rings_taken; /* atomic: rings ever made or taken by a thread */
static int defer_ending;     /* atomic: cp_live_defer_end's one caller is past its check */

void cp_live_defer_begin(void)
{
    if (cp_prof_opts.mem_rate != 1 || cp_prof_opts.flusher == CP_FLUSHER_INLINE ||
        !__libc_single_threaded)
        return;
    /* every free to the shim's slow path (live.h: counters at 255 stay there) */
    memset(cp_live_filter, 255, sizeof cp_live_filter);
    /* where frees may leave their stamps to the consumer (free_ptr_stamp): the switch
     * watch's check, once a process (a fork child keeps the answer: its rseq area is
     * registered as its parent's was); ~70 us of sleep, so only here, not at every dense
     * rate's start */
    if (cp_stamp_tsc_on() && !cp_sw_on && !__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        cp_sw_init();
    __atomic_store_n(&defer_ending, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&cp_live_deferred, 1, __ATOMIC_SEQ_CST);
}

void cp_live_defer_end(void)
{
    if (!__atomic_load_n(&cp_live_deferred, __ATOMIC_RELAXED) ||
        __atomic_exchange_n(&defer_ending, 1, __ATOMIC_ACQ_REL))
        return; /* (another thread ends it: its flush clears the handover) */
    /* (before deferred is seen off: a thread that sees it off sees this too) */
    __atomic_store_n(&cp_live_handover, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&cp_live_deferred, 0, __ATOMIC_SEQ_CST);
    /* every record that leaves the table to the consumer is drained now (emit's check:
     * none is written after this), before a second thread can free what they name, and
     * before the first one takes the table itself (live.h's cp_live_handover) */
    cp_prof_flush_all();
    __atomic_store_n(&cp_live_handover, 0, __ATOMIC_RELEASE);
}

/* The handover's flush may wait for a lock the waiting thread holds (the loader's, in a
 * dl_iterate_phdr callback that allocates: cp_ring_wait_room's case): after as long as a
 * ring waits before it drops (CP_RING_STALL_NS), this thread goes on, as it did before
 * the handover was waited for. */
void cp_live_handover_wait(void)
{
    uint64_t t0 = cp_coarse_ns();
    for (unsigned n = 0; __atomic_load_n(&cp_live_handover, __ATOMIC_ACQUIRE); n++) {
        cp_backoff(n);
        if ((n & 63) == 63 && cp_coarse_ns() - t0 > CP_RING_STALL_NS)
            return;
    }
}

/* A second thread's ring (one not made by pthread_create, whose hook ends deferred before
 * the thread exists: cp_prof_threads_coming) */
static void ring_taken(void)
{
    if (__atomic_add_fetch(&rings_taken, 1, __ATOMIC_RELAXED) > 1) {
        cp_fence_end(); /* (this thread's events, and the lone one's, fence for themselves) */
        cp_live_defer_end();
    }
}

struct cp_thread *cp_thread_get(void)
{
    if (cp_self_ring)
        return (struct cp_thread *)cp_self_ring;
    if (!cp_prof_enabled())
        return NULL;
    /* a child no handler saw (newproc.h) is reset before the locks below are looked at */
    cp_newproc();
    /* reuse a ring whose thread has gone and which the flusher has drained */
    struct cp_ring *r = take_ring(CP_RING_FREE);
    /* A ring whose thread has gone and which the flusher has not drained yet: taken as
     * it is, its records left for the flusher, which drains them before this thread's
     * (they follow them in the ring, with their own cycles; a ring is drained while its
     * thread writes it, as any ring). Waiting for the flusher, a program making threads
     * faster than the flush interval mapped a new ring for each (rate 1, 10k short-lived
     * threads: 7.1 GB of address space). Draining it here, under cp_flush_lock, made the
     * program's thread spin for a whole flush in progress, tens of ms for the first one
     * with something to publish (it creates the file): a condition variable's waiters
     * woken 10-30 ms after their broadcast, 4-9 runs in 20 at CTRPROF_FLUSH_MS=20
     * (BENCHMARKS.md, session 23). A ring costs 128 KiB of address space (512 KiB at
     * dense rates once its thread has waited for the flusher: ring_grow), MAP_NORESERVE,
     * touched as it fills; there are as many as threads alive at once (their pages shed
     * by the flush beyond four of them free: ring.h; the flusher claims a released ring,
     * DRAINING, before it sheds it, so a ring is never shed under its new thread). */
    if (!r)
        r = take_ring(CP_RING_RELEASED);
    if (r) {
        r->stamp_run = r->run_held = 0; /* (the last thread's run is not this one's) */
        cp_self_ring = r;
        ring_taken();
        return (struct cp_thread *)r;
    }
    if (no_ring)
        return NULL;
    /* the arena aligns to 16; the ring's cache-line groups need 64 */
    uint8_t *raw = cp_arena_alloc(sizeof(struct cp_ring) + 63);
    r = raw ? (struct cp_ring *)(((uintptr_t)raw + 63) & ~(uintptr_t)63) : NULL;
    /* 128 KiB at first, at every rate: a larger one comes with the first wait (ring_grow) */
    uint64_t words = CP_RING_WORDS_DEFAULT;
    uint64_t *data = r ? cp_mmap_anon(words * sizeof(uint64_t)) : NULL;
    if (!data) {
        /* The thread goes on unprofiled; its events are counted as lost:noring (in the
         * file), the rest of the process keeps profiling. Not retried: a failing mmap on
         * every sampled event would cost the program a system call each time. */
        no_ring = true;
        if (cp_log_tree_first(CP_LOG_TREE_RING)) /* once per process tree */
            cp_log("cannot map an event ring for a thread; its samples are counted "
                   "as lost (ctrprof/health:lost:noring)");
        return NULL;
    }
    cp_ring_init(r, data, words);
    r->state = CP_RING_OWNED;
    cp_spin_lock(&cp_reg_lock);
    /* an id for the refs of its allocations (cp_event_alloc); rings are reused, so this
     * counts the most threads ever alive at once, which 2^20 bounds in practice (the
     * kernel's default threads-max is lower on most machines) */
    r->id = ++nrings_made & ((1u << REF_ID_BITS) - 1);
    r->next = cp_rings;
    /* release: publishes the initialised ring to the flusher's acquire of rings */
    __atomic_store_n(&cp_rings, r, __ATOMIC_RELEASE);
    cp_spin_unlock(&cp_reg_lock);
    cp_self_ring = r;
    ring_taken();
    return (struct cp_thread *)r;
}

void cp_thread_release(struct cp_thread *t)
{
    struct cp_ring *r = (struct cp_ring *)t;
    if (!r)
        return;
    if (cp_self_ring == r)
        cp_self_ring = NULL;
    /* release: the records written so far are visible before the ring may be reused */
    __atomic_store_n(&r->state, CP_RING_RELEASED, __ATOMIC_RELEASE);
}

int cp_mem_refused(int err)
{
    /* at start-up (not enabled yet) cp_prof_init says its own "not profiling" line */
    if (cp_prof_enabled() && cp_log_tree_first(CP_LOG_TREE_MEMORY)) /* once per tree */
        cp_log("cannot map profiler memory (%s); what needs more is not profiled from now "
               "on (ctrprof/health:lost:*)",
               cp_prof_strerror(err));
    return 0;
}

/* ---- events ------------------------------------------------------------------------ */

static int ring_grow_refused; /* atomic: a larger ring could not be mapped: no more tries */

/* At dense rates a record carries its stack (a few hundred bytes) and events come every
 * microsecond or two: a ring that has filled (its thread waited for the flusher) is
 * replaced by a larger one, so that the flusher drains in bigger batches and the thread
 * waits less; the lone producer's (live.h's cp_live_deferred) as soon as it is half full.
 * Not before: a thread that never waits (all of a single-threaded program's, which flush
 * their own events) keeps 128 KiB (issue 29, ring.h).
 *
 * A ring is replaced only empty (the consumer reads the old data up to what it has
 * released). The flush drains up to the head it found when it began, so the wait that
 * made room seldom leaves the ring empty: this waits for up to four more drains, each
 * taking what was written before it began. (It only looked once: namechurn at rate 1
 * kept its 128 KiB ring in some runs, flushed 7,500-12,800 times instead of ~900, and
 * took 25% more wall time: BENCHMARKS.md, "Session 35".) Outside a busy section. */
static __attribute__((noinline)) void ring_grow(struct cp_ring *r, uint64_t words)
{
    if (__atomic_load_n(&ring_grow_refused, __ATOMIC_RELAXED))
        return;
    for (int i = 0; i < 4 && r->w != __atomic_load_n(&r->rtail, __ATOMIC_ACQUIRE); i++)
        if (!__atomic_load_n(&cp_flusher_running.v, __ATOMIC_ACQUIRE) ||
            !cp_ring_wait_room(r, r->cap))
            return;
    if (r->w != __atomic_load_n(&r->rtail, __ATOMIC_ACQUIRE))
        return;
    uint64_t *d = cp_mmap_anon(words * sizeof *d);
    if (!d) {
        __atomic_store_n(&ring_grow_refused, 1, __ATOMIC_RELAXED);
        return;
    }
    uint64_t cap = r->cap;
    cp_munmap_anon(cp_ring_grow(r, d, words), cap * sizeof *d);
}

/* Record (kind, w[0..n), x[0..nx - xkeep)) in r: an allocation's last xkeep frames are
 * the ring's previous stack, and its ref, w[n], is not written (cp_event_alloc). Returns
 * EMIT_WRITTEN, EMIT_DROPPED (counted in the ring's lost) or EMIT_LATE (after the final
 * flush: accounted at once, with all of x and the ref) or, for a record that leaves the
 * live table to the consumer, EMIT_RETRY (nothing written: deferred has ended). */
enum { EMIT_DROPPED, EMIT_WRITTEN, EMIT_LATE, EMIT_RETRY };
/* With no flusher thread, the thread flushes its own event at once: it goes to the flush
 * as it is, not through the ring (flusher.c's cp_flush_direct), unless the final flush
 * has begun (emit's late path) or SIGBUS may not be opened here (cp_flush_direct says
 * false). */
static inline bool may_direct(void)
{
    return !__atomic_load_n(&cp_flusher_running.v, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&cp_stopping, __ATOMIC_ACQUIRE);
}

/* Inlined into each caller, so that a free's one-word record is written with constant
 * sizes (callgrind, perl at rate 1: emit's generic loops and its prologue were ~105
 * instructions a free). */
static inline __attribute__((always_inline)) int emit(struct cp_ring *r, enum cp_rec_kind kind,
                                                      const uint64_t *w, unsigned n,
                                                      const uint64_t *x, unsigned nx,
                                                      unsigned xkeep)
{
    /* (an allocation's: cp_event_alloc) */
    if (kind != CP_REC_ALLOC && kind != CP_REC_ALLOC_PLACE && may_direct()) {
        struct cp_direct d = {kind, n, nx - xkeep, w, x};
        if (cp_flush_direct(&d, kind != CP_REC_DELAY))
            return EMIT_WRITTEN;
    }
    /* Make room first, outside the busy section: a thread waiting for the flusher while
     * marked busy would wait for a flusher that waits for it. Without a flusher thread
     * every event is flushed by the thread that wrote it, so the ring is empty here;
     * should it not be, this thread flushes. */
    /* the record, plus a worst-case rewind marker (a record never wraps) */
    uint64_t need = 2 * (n + nx - xkeep + 1);
    /* the lone producer's ring, half full: the 2 MiB one now (ring_grow) */
    if (__builtin_expect(r->cap < CP_RING_WORDS_DEFERRED && cp_ring_used(r) > r->cap / 2, 0) &&
        __atomic_load_n(&cp_live_deferred, __ATOMIC_RELAXED) &&
        __atomic_load_n(&cp_flusher_running.v, __ATOMIC_ACQUIRE))
        ring_grow(r, CP_RING_WORDS_DEFERRED);
    while (r->cap - cp_ring_used(r) < need) {
        if (!__atomic_load_n(&cp_flusher_running.v, __ATOMIC_ACQUIRE)) {
            cp_flush_inline(false);
            if (r->cap - cp_ring_used(r) < need) {
                cp_ring_drop(r);
                return EMIT_DROPPED;
            }
            break;
        }
        if (cp_newproc_waiting())
            continue; /* a child that no atfork handler saw: no flusher; now inline */
        uint64_t p = __atomic_load_n(&cp_ring_progress.v, __ATOMIC_ACQUIRE);
        if (!cp_ring_wait_room(r, need)) { /* (the flusher stalled: ring.h) */
            cp_ring_drop(r);
            return EMIT_DROPPED;
        }
        /* still full and nothing drained for the wait's 10 ms: the flusher is away
         * (flusher.c's cp_flush_help); this thread flushes if no flush is under way */
        if (r->cap - cp_ring_used(r) < need &&
            __atomic_load_n(&cp_ring_progress.v, __ATOMIC_ACQUIRE) == p)
            cp_flush_help();
        if (r->cap < CP_RING_WORDS_DENSE && cp_dense())
            ring_grow(r, __atomic_load_n(&cp_live_deferred, __ATOMIC_RELAXED)
                             ? CP_RING_WORDS_DEFERRED
                             : CP_RING_WORDS_DENSE);
    }
    /* busy, seq_cst; with one thread in the process (glibc's __libc_single_threaded:
     * no flusher thread either, flusher.c) a plain store: the locked one was ~3% of a
     * single-threaded program's CPU at rate 1. So too beside the flusher process, whose
     * handshakes fence for this thread (live.h's cp_ring_alone; flusher.c, "the
     * asymmetric fence"): there the locked store waited at every event for the record's
     * stores, lines the process had read, and was most of the event's time. */
    if (cp_ring_alone())
        cp_ring_begin_alone(r);
    else
        cp_ring_begin(r);
    uint64_t c = __atomic_load_n(&cp_cycle, __ATOMIC_SEQ_CST);
    if (__builtin_expect(__atomic_load_n(&cp_stopping, __ATOMIC_SEQ_CST), 0)) {
        /* After the final flush (exit): destructors of libraries finalised after ours
         * still allocate and free. Seen while busy, so the final flush either waited for
         * this event (it read stopping = 0) or will never see it: account it directly. */
        cp_ring_end(r);
        cp_late_event(kind, w, n, x, nx);
        return EMIT_LATE;
    }
    /* A record that leaves the live table to the consumer, decided before the busy section
     * (the caller's cheap look at cp_live_deferred), is written only if deferred still
     * holds now, while busy: cp_live_defer_end clears it (seq_cst) and then flushes, whose
     * handshake waits for this ring while busy. Either that flush drains this record, or
     * this load sees deferred ended and the caller takes the table itself (EMIT_RETRY). */
    if ((kind == CP_REC_ALLOC_PLACE || kind == CP_REC_FREE_PTR) &&
        !__atomic_load_n(&cp_live_deferred, __ATOMIC_SEQ_CST)) {
        cp_ring_end(r);
        return EMIT_RETRY;
    }
    /* cannot fail: room was made above. Its one release store of the head word publishes
     * the record and clears busy (the flusher's seq_cst load of head pairs with it). */
    cp_ring_put(r, kind, c, w, n, x, nx - xkeep);
    if (!__atomic_load_n(&cp_flusher_running.v, __ATOMIC_ACQUIRE))
        cp_flush_inline(kind != CP_REC_DELAY);
    return EMIT_WRITTEN;
}

/* How many of the last `most` words before a and before b are equal (the longest common
 * suffix of two stacks, compared from their outer ends). Four frames a step: consecutive
 * stacks share ~10 outer frames on perl, where a frame-at-a-time loop was ~80
 * instructions a sample. In 8-byte loads: a is the walk's output, its outer frames the
 * walk's last stores, still in the store buffer, and a 16-byte load over two of them
 * cannot be forwarded (SSE2's, until session 35: perf put 15% of cp_event_alloc's
 * samples on that load on churn at rate 1, the load waiting for the stores to reach the
 * cache). */
static inline unsigned common_suffix(const uintptr_t *a, const uintptr_t *b, unsigned most)
{
    unsigned k = 0;
    while (k + 4 <= most) {
        const uintptr_t *x = a - k - 4, *y = b - k - 4;
        uintptr_t d3 = x[3] ^ y[3], d2 = x[2] ^ y[2], d1 = x[1] ^ y[1], d0 = x[0] ^ y[0];
        if (d0 | d1 | d2 | d3)
            return k + (d3 ? 0 : d2 ? 1 : d1 ? 2 : 3);
        k += 4;
    }
    while (k < most && *(a - k - 1) == *(b - k - 1))
        k++;
    return k;
}

/* The chain heads' prefetch (cp_event_alloc) only where their table outgrows the caches
 * (64 KiB of heads): a table that holds few buckets is small (bucket.c maps the heads in
 * steps as buckets come) and stays cached, and the hash chain the prefetch needs, a
 * multiply-xor per frame not shared with the last stack, costs the producer ~80
 * instructions an allocation pair on namechurn (callgrind; BENCHMARKS.md, "Rate-1 CPU:
 * the unwinder"). */
#define CP_PREFETCH_HEADS (1ull << 14)

/* The stamp of an event that is no part of a run of frees (below), which it ends: if the
 * run left frees to the consumer, it says whether a switch came since the run's read. */
static inline uint64_t run_stamp(struct cp_ring *r)
{
    uint64_t s = cp_ht_stamp();
    if (__builtin_expect(r->run_held, 0)) {
        s = cp_stamp_with_switch(s, cp_run_switched(r));
        r->run_held = 0;
    }
    r->stamp_run = 0;
    return s;
}

/* A deferred free's stamp (live.h's cp_live_deferred: one thread, rate 1). On the VMs
 * this is measured on, rdtsc waits for the loads in flight (bench/progs/tscstall: four
 * overlapping pointer chases 62 -> 138 ns a step), so a program whose frees come in runs
 * of cache misses loses its memory parallelism at every free: perl's own code took
 * ~0.15 s more at rate 1 for it (BENCHMARKS.md, "Session 37"; 92% of perl.pl's frees
 * follow a free). A free that follows a free on this thread, with no other event between
 * and no switch off the CPU since the run's read (switchwatch.h: the thread slept,
 * blocked or was preempted), leaves its stamp to the consumer (CP_STAMP_IN_RUN), up to
 * CP_RING_STAMP_RUN - 1 frees after the run's read, which arms the switch watch first.
 * The consumer brackets its time between that read and the next stamp in the ring
 * (resolve.c, "frees in a run"); the stamp that ends a run says whether a switch came
 * after the run's read (CP_STAMP_SWITCHED): if so, the run's frees were all before it
 * (a free after it would have read the clock), so each is at the run's read plus the
 * CPU time the thread spent since, the wait after the run being no part of their
 * lifetimes. A check of the coarse clock at each free (to read again after a pause) cost
 * churn more than the read it saved. The run is this thread's alone: with one thread
 * every object freed in it was allocated before the read that began it (an allocation
 * ends a run), so the bracket bounds its lifetime from both sides. Only beside a consumer
 * on another task (the flusher process or thread): drained inline there is nothing to
 * save. */
static inline uint64_t free_ptr_stamp(struct cp_ring *r)
{
    if (!cp_ht_on || !cp_stamp_tsc_on() || !cp_sw_on ||
        !__atomic_load_n(&cp_flusher_running.v, __ATOMIC_RELAXED))
        return run_stamp(r);
    if (r->stamp_run && cp_sw_armed()) {
        r->stamp_run--;
        r->run_held = 1;
        return CP_STAMP_IN_RUN;
    }
    /* (armed before the read: a switch between the two breaks the run, never hides) */
    uint64_t sw = cp_run_switched(r);
    cp_sw_arm();
    r->run_held = 0;
    r->stamp_run = CP_RING_STAMP_RUN - 1;
    return cp_stamp_tsc() | sw;
}

/* An allocation's record for the consumer to place (cp_live_deferred), with its stack's
 * hash h if the producer made it (CP_ALLOC_HASHED): the consumer starts loading its
 * chain's head records before it looks (resolve.c's cp_account_ahead), where the chains
 * outgrow the caches and the head was most of the lookup's time (namestacks: 63% of
 * find's samples on it, perf), and need not hash the stack again. */
static inline int emit_place(struct cp_ring *r, const uint64_t *w, uint64_t h, bool hashed,
                             const uintptr_t *pcs, unsigned n, unsigned keep)
{
    if (!hashed)
        return emit(r, CP_REC_ALLOC_PLACE, w, 3, (const uint64_t *)pcs, n, keep);
    uint64_t wh[5] = {w[0], w[1] | CP_ALLOC_HASHED, w[2], h, w[3]};
    return emit(r, CP_REC_ALLOC_PLACE, wh, 4, (const uint64_t *)pcs, n, keep);
}

_Static_assert(CP_RING_STK >= CP_MAX_DEPTH + 1, "a ring keeps a whole stack");
_Static_assert(CP_MAX_DEPTH + 1 <= 255, "a record's frame counts fit a byte");

void cp_event_alloc(struct cp_thread *t, void *p, uint64_t size, const uintptr_t *pcs, unsigned n)
{
    struct cp_ring *r = (struct cp_ring *)t;
    cp_newproc(); /* a new process starts clean (newproc.h); this allocation is its own */
    if (!r) {
        cp_prof_lost(CP_LOST_NORING, 1);
        return;
    }
    if (n > CP_MAX_DEPTH + 1)
        n = CP_MAX_DEPTH + 1;
    /* The stack goes to the ring as it is: finding its bucket (a hash, a chain head, the
     * bucket's key: misses in tables the size of the program's caches, a third of the
     * cost of an event on cc1 at rate 1) is the flusher's work, on its own core (account).
     * Written as the frames that differ from the ring's previous stack, whose outermost
     * `keep` frames it shares (consecutive allocations share most of theirs: cc1 writes 5
     * words an event for 26 frames on average), so the thread's caches see a few words. */
    unsigned keep = common_suffix(pcs + n, r->stk + CP_RING_STK, n < r->stk_n ? n : r->stk_n);
    /* Its hash, from the state of the outer frames it shares with the ring's last stack
     * (bucket.h), and a prefetch of its chain head: the flusher's lookup started with a
     * cache miss there (2^20 heads at rate 1: 85% of the lookup's time, perf); issued now,
     * the miss overlaps the clock read, the live table's insert, the ring write and, in
     * a single-threaded process, the inline flush up to the lookup. A few instructions a
     * frame not shared (cc1: ~5 an event); the states stay in step with stk: those past
     * the shared depth are of this stack, kept only if it is written (and hashed: not
     * while the heads' table is small, CP_PREFETCH_HEADS). */
    bool same = keep == n && n == r->stk_n; /* (the flusher has its bucket: resolve.c) */
    bool hashed = false, direct = may_direct();
    uint64_t h = 0;
    if (!same) {
        unsigned hd = keep < r->stkh_n ? keep : r->stkh_n;
        r->stkh_n = hd;
        if (__atomic_load_n(&cp_bucket_heads_mask.v, __ATOMIC_RELAXED) >= CP_PREFETCH_HEADS - 1) {
            uint64_t hs = hd ? r->stkh[hd] : CP_STKHASH_SEED;
            for (unsigned d = hd; d < n; d++)
                r->stkh[d + 1] = hs = cp_stkhash_step(hs, pcs[n - 1 - d]);
            h = cp_stkhash_final(hs, CP_HEAP, n);
            if (n <= CP_MAX_DEPTH)
                cp_bucket_prefetch(h);
            hashed = true;
        }
    }
    /* The record: p, then size, frames and kept frames in one word (an
     * object of 2^47 bytes or more cannot be allocated on x86-64), its time (heaptime.h:
     * lifetimes, the peak's moment), then the new frames. The ref is not written: the
     * consumer counts this ring's allocation records (cnref). */
    uintptr_t ref = cp_make_ref(r->nref, r->id);
    uint64_t w[4] = {(uint64_t)(uintptr_t)p,
                     (size < SIZE_LIMIT ? size : SIZE_LIMIT - 1) << 16 | n << 8 | keep,
                     run_stamp(r), ref}; /* (an allocation ends a run of frees) */
    int e;
    struct cp_direct d = {CP_REC_ALLOC, 3, n - keep, w, (const uint64_t *)pcs};
    if (direct && cp_flush_direct(&d, true)) {
        /* (the object went into the live table with its bucket: resolve.c) */
        e = EMIT_WRITTEN;
    } else if (__atomic_load_n(&cp_live_deferred, __ATOMIC_RELAXED) &&
               (e = emit_place(r, w, h, hashed && n <= CP_MAX_DEPTH, pcs, n, keep)) != EMIT_RETRY) {
        /* (the consumer puts it in the live table: live.h's cp_live_deferred) */
        if (e == EMIT_DROPPED)
            return;
    } else {
        cp_live_producer_wait();
        if (!cp_live_insert(p, ref, size, w[2])) {
            cp_prof_lost(CP_LOST_NBUCKET, 1);
            return;
        }
        e = emit(r, CP_REC_ALLOC, w, 3, (const uint64_t *)pcs, n, keep);
    }
    if (e == EMIT_DROPPED) {
        uint64_t birth;
        cp_live_remove(p, &birth); /* its free must not be looked for; its ref is the next one's */
    }
    switch (e) {
    case EMIT_WRITTEN:
        r->nref++;
        memcpy(r->stk + CP_RING_STK - n, pcs, (n - keep) * sizeof *pcs);
        r->stk_n = n;
        if (hashed)
            r->stkh_n = n;
        break;
    case EMIT_LATE: /* accounted with this ref, which no ring record will carry */
        r->nref++;
        break;
    default:
        break;
    }
}

void cp_event_free_commit(struct cp_thread *t, uintptr_t v, uint64_t birth)
{
    if (cp_newproc())
        return; /* v was the parent's (the shim took it from the table): not ours to count */
    if (!t) {
        cp_prof_lost(CP_LOST_NORING, 1);
        return;
    }
    uint64_t w[3] = {v, run_stamp((struct cp_ring *)t), birth}; /* (a run: deferred frees alone) */
    emit((struct cp_ring *)t, CP_REC_FREE, w, 3, NULL, 0, 0);
}

bool cp_event_free_ptr(struct cp_thread *t, void *p)
{
    if (!__atomic_load_n(&cp_live_deferred, __ATOMIC_RELAXED))
        return false;
    if (cp_newproc())
        return true; /* (a new process's table is empty: nothing of p to take) */
    if (!t) {
        cp_prof_lost(CP_LOST_NORING, 1);
        return true;
    }
    uint64_t w[2] = {(uint64_t)(uintptr_t)p, free_ptr_stamp((struct cp_ring *)t)};
    return emit((struct cp_ring *)t, CP_REC_FREE_PTR, w, 2, NULL, 0, 0) != EMIT_RETRY;
}

void cp_event_free_undo(void *p, uintptr_t v, uint64_t birth)
{
    /* (its size is not known here: the fine map takes it whatever it is, live.c's
     * cp_live_resolve says what follows) */
    cp_live_producer_wait();
    if (!cp_live_insert(p, v, 0, birth))
        cp_prof_lost(CP_LOST_NBUCKET, 1);
}

void cp_event_delay(struct cp_thread *t, struct cp_bucket *b, uint64_t count_q16, uint64_t delay_ns)
{
    cp_newproc();
    if (!t || !b) {
        cp_prof_lost(t ? CP_LOST_NBUCKET : CP_LOST_NORING, 1);
        return;
    }
    /* (a wait, time passed: the consumer ends the run here, by its own clock) */
    ((struct cp_ring *)t)->stamp_run = ((struct cp_ring *)t)->run_held = 0;
    uint64_t w[3] = {(uint64_t)(uintptr_t)b, count_q16, delay_ns};
    emit((struct cp_ring *)t, CP_REC_DELAY, w, 3, NULL, 0, 0);
}

void cp_prof_lost(enum cp_lost why, uint64_t n)
{
    if ((unsigned)why < CP_NLOST)
        __atomic_add_fetch(&cp_lost_n[why], n, __ATOMIC_RELAXED);
}
