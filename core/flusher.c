/*
 * flusher.c — the engine's lifecycle and its flush: init, the cycle and the flush that
 * publishes it (the timeline below), who flushes (a thread of ours or the event's own
 * thread, "inline"), stepping aside, shutdown and fork. The other engine files are
 * listed in prof_int.h. About 1,450 lines, past the project's ~600: the timeline, who
 * flushes (a thread alone's events handed over without the ring among them: ~110 of the
 * lines; the flusher process's loop, start, stop and fence: ~220, its making and watching are
 * flushproc.c's), stepping aside, fork (a child's books reset at its first flush: ~60) and the
 * program's last thread all turn on the same flusher
 * state (running, claimed, starting, aside, barred) and the flush lock, which one file
 * keeps in one place (the flusher thread's loop also wakes for the waits' clock:
 * stampclock.c).
 *
 * Contexts:
 *   hooks    cp_flush_inline and cp_flush_direct, from events.c, when no flusher thread
 *            runs
 *   flusher  the thread started by cp_prof_start(); flush() also runs on the exit path,
 *            inline (single-threaded processes), on a program's thread but on the
 *            profiler's own stack (ownstack.h), never on the program's
 *            stack (its naming and publishing buffers are ~9 KiB)
 *   atfork   cp_prof_atfork_*
 *
 * The timeline (Go's mprof.go accounts per GC cycle; here a cycle is a flush interval):
 *
 *         cycle c                          | cycle c+1
 *   app   alloc(b1)@c   free(b1)@c   alloc(b2)@c | free(b2)@c+1   alloc(b3)@c+1 ...
 *                                              |
 *   flusher                                    F: cycle = c+1 (seq_cst)
 *                                                 wait until no thread is mid-event
 *                                                 drain every ring:
 *                                                   records @c   -> fut[c % 2]
 *                                                   records @c+1 -> fut[(c+1) % 2]
 *                                                 active += fut[c % 2]; fut[c % 2] = 0
 *                                                 (fut[s]: each bucket's entry in the
 *                                                 list of slot s, resolve.c's cp_touched)
 *                                                 add (active - published) to the file
 *
 * Every event is stamped, on its own thread, with the cycle it happened in, read while
 * the thread's ring is marked busy:
 *
 *     thread:  busy = 1 (seq_cst); c = cycle (seq_cst); write record @c;
 *              publish it with busy = 0 (release; busy is a bit of the ring's head word,
 *              so this is the one store that publishes the record, see ring.h)
 *     flusher: cycle = c+1 (seq_cst); for each ring: wait while busy; then drain
 *
 * In the single total order of seq_cst operations, either the flusher's load of busy sees
 * a thread's busy = 1 (and waits for the record to be complete), or that thread's busy = 1
 * comes later, so its cycle load comes after cycle = c+1 and it stamps c+1. Hence, once
 * the flusher has waited and drained, every event of cycles <= c is in fut[c % 2], and
 * publishing cycle c publishes exactly the events that happened before the boundary: a
 * consistent snapshot. A free that happens after its allocation (the program orders them:
 * a pointer has to reach the freeing thread) is stamped with a cycle >= the allocation's,
 * so no published profile ever has a free without its allocation, even across threads.
 * (Beside the flusher process a lone thread's busy = 1 is a plain store, and the
 * process's barrier between its two steps, made on that thread too, gives the same
 * order: "the asymmetric fence", below.)
 *
 * Why two slots and not Go's three. Go stamps allocations into future[(c+2)%3] and frees
 * into future[(c+1)%3] because mProf_Malloc cannot synchronise with the GC: an object
 * allocated during cycle c may be swept (freed) before the cycle it was stamped with is
 * published, so publication trails by two cycles and a third slot holds the cycle being
 * filled while the other two wait. The busy handshake above gives the flusher the
 * synchronisation Go lacks: the cycle being drained is complete when the flusher reads
 * it, so only "the cycle being published" and "the cycle being filled" exist. A third
 * slot would only delay publication (and the crash-durability promise) by a flush.
 *
 * A thread alone. An inline flush (see "who flushes") whose ring registry holds only its
 * own thread's ring advances the cycle with a plain store and waits for no ring: the
 * locked store was ~3% of a single-threaded program's CPU at rate 1, where every event is
 * flushed (BENCHMARKS.md, "Inline publishing at rate 1"). Its own ring is not busy (the
 * flush runs from emit, outside the event's busy section, and a signal handler's event
 * in between would be a reentry, not recorded). Another thread can only be one that was
 * made without pthread_create (which starts the flusher first) and is registering its
 * first ring now: the flush does not see that ring, and its records, stamped c or c + 1,
 * wait for the next flush, which counts them in the slot of their stamp; a record
 * stamped c that misses cycle c's publication is published with the next cycle of the
 * same parity. None of them happened before anything this flush drains: had one (say an
 * allocation whose pointer reached this thread, which then freed it), its ring's
 * insertion (a release store) would have happened before this flush's acquire load of
 * the registry, which would then hold two rings and take the handshake. So a free this
 * flush drains never waits for such an allocation (resolve.c's pending frees still
 * expire after the flush that ends their cycle), and the published cut is still one the
 * program's order allows. (Such a thread's first heap event's inline flush starts the
 * flusher thread: thread_wanted.)
 *
 * Publication order: for each bucket the alloc (or contentions) counter is added before
 * the free (or delay) counter, so a reader of the live file never sees free > alloc.
 * Locks: cp_flush_lock is this file's; the atfork handlers below take, release and reset
 * the engine's locks in the order of the lock table (docs/ARCHITECTURE.md, "Locks").
 */
#include "prof_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "bucket.h"
#include "cfile.h"
#include "flushproc.h"
#include "heaptime.h"
#include "line.h"
#include "live.h"
#include "log.h"
#include "mapsnap.h"
#include "modules.h"
#include "newproc.h"
#include "ownstack.h"
#include "rawsys.h"
#include "ring.h"
#include "spin.h"
#include "stack.h"
#include "stackmemo.h"
#include "stampclock.h"
#include "timeline.h"
#include "unwind.h"

/* immutable after cp_prof_init (and in the fork child, after atfork_child) */
CP_READ_MOSTLY struct cp_options cp_prof_opts;

/* A single-threaded process's events go to the flusher process ("the flusher as a
 * process"): CTRPROF_FLUSHER=process, or auto at rate 1 */
static bool process_mode(void)
{
    return cp_prof_opts.flusher == CP_FLUSHER_PROCESS ||
           (cp_prof_opts.flusher == CP_FLUSHER_AUTO && cp_prof_opts.mem_rate == 1);
}
static bool enabled;

/* the flusher: see "Who flushes" below */
cp_spin cp_flush_lock = CP_SPIN_INIT;                /* one flush at a time */
void (*cp_test_released_drained)(struct cp_ring *r); /* atomic; tests only: prof_int.h */
static pthread_t flusher;
struct cp_line_bool cp_flusher_running; /* atomic: the thread is up; events leave flushing to it */
static int flusher_claimed;             /* atomic: someone has started it, or is starting it */
static int flusher_stop;     /* atomic: the thread is asked to return (cp_prof_aside_begin) */
static pid_t flusher_tid;    /* atomic: its kernel thread id, while it runs */
static int flusher_starting; /* atomic: start_thread is creating it */
static int aside;            /* atomic: step-asides in progress (no thread may start) */
static __thread int my_aside __attribute__((tls_model("initial-exec"))); /* this thread's */
static bool flusher_barred; /* atomic: never again (RLIMIT_NPROC, cp_prof_aside_begin) */
/* atomic: a start refused for now (start_thread) is not tried again by an inline flush
 * before this time (CLOCK_MONOTONIC_COARSE, ns); 0: no refusal */
static uint64_t flusher_retry_ns;
#define FLUSHER_RETRY_NS 1000000000ull
static bool fork_child_alone; /* a fork child the program has made no thread in yet */
/* The flusher as a process (flushproc.c; "who flushes"): while it runs, proc.pid; the
 * program's pid it watches; whether its loop found the program gone. Written by the
 * program thread that starts or stops it, under the flusher state's protocol above. */
static struct cp_fp proc;
static bool flusher_barred_process; /* atomic: no flusher process in this one (cp_fp_room) */
static pid_t proc_parent;
static int proc_orphaned; /* atomic: its last flushes wait for no event in progress */
/* The ring of the thread that set live.h's cp_fence_asym (start_process): that thread's
 * handshakes with its own ring need no barrier. Another thread that takes the ring (once
 * its thread has gone) is a second ring taken, which ends the fence (cp_fence_end); the
 * process has no ring of its own. (atomic) */
static struct cp_ring *fence_ring;
uint64_t cp_fences; /* (prof_int.h) */
static inline bool fence_is_mine(void)
{
    return cp_self_ring && cp_self_ring == __atomic_load_n(&fence_ring, __ATOMIC_RELAXED);
}

/* guarded by cp_flush_lock */
uint64_t cp_ring_lost_total, cp_ring_waits_total;
static uint64_t flushes;
static uint64_t side_interval; /* the flush interval in ns (side_due; set by cp_prof_init) */
/* A flush of events without a time (CTRPROF_HEAP_TIME=0; mutex and block events) reads
 * CLOCK_MONOTONIC_COARSE where its tick is at most a quarter of the interval: the vDSO
 * returns its value without the TSC read CLOCK_MONOTONIC takes, which at rate 1 with
 * CTRPROF_HEAP_TIME=0 was 28% of churn's CPU (perf), every event flushed inline reading
 * it. Set by cp_prof_init. */
static bool side_coarse;

/* the preload layer's (prof.h), set before init; immutable after */
static struct cp_host host;

void cp_prof_set_host(const struct cp_host *h)
{
    host = *h;
    cp_newproc_set_reset(host.child_reset); /* NULL: newproc.c's default */
    cp_publish_set_file_taken(host.file_taken);
}

bool cp_prof_enabled(void)
{
    return __atomic_load_n(&enabled, __ATOMIC_ACQUIRE);
}

/* ---- lifecycle --------------------------------------------------------------------- */

int cp_prof_init(const struct cp_options *opt, const char *path, const char *meta, size_t metalen,
                 bool lazy)
{
    cp_prof_opts = *opt;
    side_interval = (uint64_t)cp_prof_opts.flush_ms * 1000000u;
    struct timespec res;
    side_coarse = clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0 &&
                  (uint64_t)res.tv_nsec * 4 <= side_interval;
    cp_arena_on_refusal(cp_mem_refused); /* (arena.c: the memory line) */
    cp_newproc_init();
    if (metalen > CP_CFILE_MAX_META)
        return CP_CFILE_EMETALEN;
    int err = cp_bucket_init(cp_prof_opts.max_bucket_mb << 20, cp_dense() ? 20 : 16);
    cp_ht_init(cp_prof_opts.mem_rate, cp_prof_opts.flush_ms, cp_prof_opts.heap_time);
    if (err == 0 && cp_live_init(cp_dense()) != 0)
        err = -ENOMEM;
    if (err) {
        if (cp_log_tree_first(CP_LOG_TREE_MEMORY)) /* (a limit its children share) */
            cp_log("cannot map profiler memory (%s); not profiling", cp_cfile_strerror(err));
        return err;
    }
    err = cp_file_init(path, meta, metalen, lazy);
    if (err)
        return err;
    if (process_mode())
        cp_fp_init();      /* (its lookups cost every process's start-up: only where it may run) */
    cp_live_defer_begin(); /* (where it is right: rate 1, one thread, not inline) */
    __atomic_store_n(&enabled, true, __ATOMIC_RELEASE);
    return 0;
}
/* The event an inline flush was handed without the ring (cp_flush_direct), until its
 * ring's drain counts it. Guarded by cp_flush_lock. */
static const struct cp_direct *direct;

static inline void drain_ring(struct cp_ring *r)
{
    /* an inline flush, on the ring's own thread: cp_ring_drain_own, inline */
    if (r == cp_self_ring) {
        cp_ring_drain_records(r, cp_account, r);
        cp_account_close(r, CP_CLOSE_OWN);
        if (direct) {
            /* after the ring's records, as if it were the last; stamped with the cycle
             * this flush ends (the lock's holder alone moves it: flush) */
            cp_account_direct(r, direct, __atomic_load_n(&cp_cycle, __ATOMIC_RELAXED) - 1);
            direct = NULL;
        }
    } else if (__atomic_load_n(&cp_live_deferred, __ATOMIC_RELAXED)) {
        cp_account_drain_deferred(r);
        cp_account_close(r, __atomic_load_n(&proc_orphaned, __ATOMIC_RELAXED) ? CP_CLOSE_GONE
                                                                              : CP_CLOSE_DRAINED);
    } else {
        cp_ring_drain(r, cp_account, r);
        cp_account_close(r, CP_CLOSE_DRAINED);
    }
    cp_ring_lost_total += cp_ring_take_lost(r);
    cp_ring_waits_total += cp_ring_take_waits(r);
}

/* One flush: advance the cycle, wait out events in progress, drain, publish. */
static bool ht_force; /* guarded by cp_flush_lock: cp_prof_flush_all's flushes */

/* The counters besides the buckets' (the health counters, the heap over time: timeline,
 * peak) are published by every flush of the flusher thread, which flushes at
 * most a few hundred times a second, but by an inline flush only when due: a
 * single-threaded process flushes at each event, and at rate 1 their comparisons, the
 * lifetime classes' additions and a clock read were ~280 instructions a flush, a sixth
 * of an allocation pair's cost (BENCHMARKS.md, "Inline publishing at rate 1"). Due: a
 * flush interval after they were last published (by the latest drained event's time,
 * which the record carries; a flush of events without one reads the clock), or at once
 * when the peak has grown by an eighth (heaptime.h's bound for a process that goes
 * quiet). The buckets' own counters still go out at every event: exact at rate 1 at any
 * moment, whatever becomes of the process; so do the lifetime classes that changed, other
 * than a bucket's first (Ctrprof-Format 4 implies that one from its free count, so the two
 * go out together; a site with one class has none to publish: heaptime.sh's lifekill).
 * Whatever is put off goes out at the next flush that is due, at every full flush (exit,
 * _exit, exec, a sandbox: cp_prof_flush_all; a step-aside) and in the parent after a fork (the
 * child takes the published values as its start: cp_publish_fork_health); a crash or SIGKILL loses
 * at most an interval of them (no event). Guarded by cp_flush_lock. */
static uint64_t side_pub_t;  /* when they were last published */
static uint64_t side_seen_t; /* cp_ht_last_event() at the last inline flush */

static inline uint64_t side_now(void)
{
    if (!side_coarse)
        return cp_ht_now();
    uint64_t now = cp_coarse_ns();
    /* (up to a tick behind an event's time: not due again until it has caught up) */
    return now > side_pub_t ? now : side_pub_t;
}

/* Is now inside the interval after the last publication, the peak not pressing? */
static inline bool side_quiet(uint64_t now)
{
    return now >= side_pub_t && now - side_pub_t < side_interval && !cp_ht_peak_pressing();
}

static __attribute__((noinline)) bool side_due_slow(uint64_t t)
{
    uint64_t now = t != side_seen_t ? t : side_now();
    side_seen_t = t;
    if (side_quiet(now))
        return false;
    side_pub_t = now;
    return true;
}

/* Inline, its common case first (an event with a new time, inside the interval, the peak
 * not pressing): as a call it was ~25 instructions an event at rate 1 (callgrind,
 * namechurn). */
static inline __attribute__((always_inline)) bool side_due(void)
{
    uint64_t t = cp_ht_last_event();
    if (__builtin_expect(t != side_seen_t && side_quiet(t), 1)) {
        side_seen_t = t;
        return false;
    }
    return side_due_slow(t);
}

static void flush(bool inline_flush);

/* a fork child's books (settle_child_books, below): cp_flush_lock */
enum { BOOKS_SETTLED, BOOKS_SHARED_FILE, BOOKS_OWN_FILE };
static uint8_t child_books;
static void settle_child_books(void);
static bool child_idle(void);

void cp_flush_locked(void)
{
    flush(false);
}

/* A per-process file whose creation waits for something to record (publish.c) is made
 * once there is some. */
static inline bool something_to_say(void)
{
    uint64_t any = cp_ring_lost_total;
    for (int t = 0; t < CP_NPTYPES; t++)
        any |= cp_samples[t];
    for (int i = 0; i < CP_NLOST; i++)
        any |= __atomic_load_n(&cp_lost_n[i], __ATOMIC_RELAXED);
    return any != 0;
}

static inline void open_if_pending(void)
{
    if (cp_file_pending && something_to_say())
        cp_open_pending();
}

/* The flush of a thread alone's heap event handed over without the ring (cp_flush_direct)
 * when nothing else waits: its ring, the only one, is empty and neither cycle slot lists a
 * bucket. Then the event is all this flush publishes, and it is counted straight into
 * its bucket's active values and published, with no entry in a cycle slot's list, no
 * drain and no fold (resolve.c's cp_account_alone, as a late event is counted): the same
 * values go out as by flush's general path, for ~130 fewer instructions an event at
 * rate 1 (BENCHMARKS.md, "A thread's events without its ring"). An allocation whose
 * ref a free finds still in the live table can only be one whose record was dropped (every
 * other was counted: no ring holds one), as after the final flush. Cycle c was closed by
 * the caller. */
static void flush_alone(struct cp_ring *r, uint64_t c)
{
    const struct cp_direct *d = direct;
    direct = NULL;
    struct cp_bucket *b = cp_account_alone(r, d);
    cp_ring_lost_total += cp_ring_take_lost(r); /* (records dropped before, if any) */
    cp_ring_waits_total += cp_ring_take_waits(r);
    cp_um_expire(c);
    open_if_pending();
    cp_publish_begin();
    if (b)
        cp_publish_bucket(b);
    flushes++;
    if (cp_ht_life_due())
        cp_publish_heaptime_life();
    if (side_due()) {
        cp_publish_heaptime(ht_force);
        cp_publish_health();
    }
    cp_publish_end();
}

static void flush(bool inline_flush)
{
    if (__builtin_expect(child_books != BOOKS_SETTLED, 0)) {
        if (child_idle())
            return;
        settle_child_books();
    }
    cp_check_file();
    uint64_t c = __atomic_load_n(&cp_cycle, __ATOMIC_RELAXED);
    struct cp_ring *head = __atomic_load_n(&cp_rings, __ATOMIC_ACQUIRE);
    if (inline_flush && head && head == cp_self_ring && !head->next) {
        /* a thread alone (see "A thread alone" at the top): no handshake */
        __atomic_store_n(&cp_cycle, c + 1, __ATOMIC_RELAXED);
        if (direct && direct->kind != CP_REC_DELAY && head->w == head->rtail && !cp_touched[0].n &&
            !cp_touched[1].n) {
            flush_alone(head, c);
            return;
        }
    } else {
        __atomic_store_n(&cp_cycle, c + 1, __ATOMIC_SEQ_CST);
        /* a thread whose events skip their fence (the asymmetric fence, below) passes one
         * now. A refusal cannot come once the memory is registered; should one, the
         * events fence for themselves from the next on */
        if (__atomic_load_n(&cp_fence_asym, __ATOMIC_SEQ_CST) && !fence_is_mine()) {
            if (cp_fp_fence())
                __atomic_add_fetch(&cp_fences, 1, __ATOMIC_RELAXED);
            else
                __atomic_store_n(&cp_fence_asym, 0, __ATOMIC_SEQ_CST);
        }
        head = __atomic_load_n(&cp_rings, __ATOMIC_ACQUIRE);
        for (struct cp_ring *r = head; r; r = r->next)
            for (unsigned spins = 0;
                 cp_ring_busy(r) && !__atomic_load_n(&proc_orphaned, __ATOMIC_RELAXED); spins++)
                cp_backoff(spins); /* (a producer preempted mid-event: spin.h; an event the
                                    * killed program never finished is not waited for) */
    }
    unsigned nfree = 0;
    for (struct cp_ring *r = head; r; r = r->next) {
        uint32_t state = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
        drain_ring(r);
        nfree += state == CP_RING_FREE;
        /* a released ring read before the drain is empty now: it may be reused (its pages
         * shed first, beyond a few kept resident: ring.h). A new thread may have taken it
         * meanwhile, without any lock (events.c's cp_thread_get: its records follow the
         * gone thread's, drained by a later flush): so it is claimed first (DRAINING), and
         * left alone if taken. Taken and given back again since the drain (a thread that
         * lived less than a drain: the CAS cannot tell), it holds records the drain did
         * not see: drained again once claimed (no thread writes a DRAINING ring), before
         * its pages are shed. Without it the shed zeroed them: the stress program under
         * ASan at rate 1 lost ~0.3-1% of its events, unsaid, 1 run in 3-6 (session 24). */
        if (__builtin_expect(state == CP_RING_RELEASED, 0)) {
            void (*hook)(struct cp_ring *) =
                __atomic_load_n(&cp_test_released_drained, __ATOMIC_ACQUIRE);
            if (__builtin_expect(hook != NULL, 0))
                hook(r);
        }
        if (state == CP_RING_RELEASED &&
            __atomic_compare_exchange_n(&r->state, &state, CP_RING_DRAINING, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            drain_ring(r);
            if (nfree++ >= CP_RING_KEEP_RESIDENT)
                cp_ring_shed(r);
            __atomic_store_n(&r->state, CP_RING_FREE, __ATOMIC_RELEASE);
        }
    }
    /* (a producer waiting for room sees the consumer alive: ring.h's CP_RING_STALL_NS) */
    __atomic_store_n(&cp_ring_progress.v, cp_ring_progress.v + 1, __ATOMIC_RELEASE);
    if (__builtin_expect(direct != NULL, 0)) { /* (its ring was not listed: cannot be) */
        cp_account_direct(cp_self_ring, direct, c);
        direct = NULL;
    }
    cp_um_expire(c);
    unsigned s = (unsigned)(c & 1);
    open_if_pending();
    cp_publish_begin();
    unsigned made = 0;
    struct cp_touched *t = &cp_touched[s];
    uint8_t unqueue = (uint8_t) ~(1u << s);
    for (uint32_t i = 0, n = t->n; i < n; i++) {
        /* Adding a bucket's first counters to the file walks a chain of its hash table
         * (hundreds of thousands of counters at rate 1 share 512 chains), and a burst of
         * new stacks kept the flusher away from the rings for milliseconds: threads
         * waited for room (cc1 at rate 1: 52 waits). So the rings are drained now and
         * then meanwhile: after every 64 counters made, not every 64 buckets. A drain
         * is the flusher's real work, and this loop is inside the publish seqlock: with
         * a drain at every 64th bucket, test_stress's publishes (64 busy threads, 320
         * buckets, all counters made) lasted 25-540 ms on an idle machine, past the
         * quarter of a second after which a reader takes a publish for a dead writer's
         * and keeps its copy as it is (cfile_read.c), which can have a bucket's alloc
         * from before the publish and its free from after (its monitor: 53 violations
         * in a CI run). Buckets that have their counters are adds alone. Everything
         * drained now is of cycle c + 1 or later (cycle c was complete before the
         * first drain), so it goes to the other slot, whose list this loop does not
         * walk. */
        if (__builtin_expect(made >= 64, 0)) {
            made = 0;
            /* (each ring as the flush drains it: a deferred one with its look-ahead and
             * young objects; most of a first pass over new stacks is drained here) */
            for (struct cp_ring *r = head; r; r = r->next)
                if (cp_ring_head_pos(r) !=
                    (__atomic_load_n(&r->rtail, __ATOMIC_RELAXED) & CP_RING_POS_MASK))
                    drain_ring(r);
            n = t->n;
        }
        /* (n and the list read after the drain, which appends to the other slot's list
         * only, but the list is indexed anew should that ever change) */
        struct cp_fut *f = &t->e[i];
        struct cp_bucket *b = f->b;
        b->queued &= unqueue;
        cp_fut_fold(f);
        made += cp_publish_bucket(b);
        /* (alive: a flush that names many new buckets is not a stall, ring.h) */
        __atomic_store_n(&cp_ring_progress.v, cp_ring_progress.v + 1, __ATOMIC_RELEASE);
    }
    t->n = 0;
    flushes++;
    if (cp_ht_life_due()) /* (with the free counts: a bucket's implied class, below) */
        cp_publish_heaptime_life();
    if (!inline_flush || side_due()) {
        cp_publish_heaptime(ht_force);
        cp_publish_health();
    }
    cp_publish_end();
}

static void flush_twice(void *arg)
{
    (void)arg;
    /* twice: the first publishes the cycle that was running, the second whatever was
     * stamped with the next cycle while the first drained */
    cp_flush_locked();
    cp_flush_locked();
}

static bool stop_process(void);

/* On whatever thread calls it (exit, tests): the flush
 * runs on the profiler's own stack (ownstack.h), which cp_flush_lock guards. */
static void flush_all(bool last)
{
    if (!cp_prof_enabled())
        return;
    cp_newproc(); /* a child no handler saw (newproc.h) is reset before the lock is taken */
    int bus;
    if (last)
        stop_process(); /* (exit or exec: reaped here, none of its copies left) */
    if (!cp_file_lock(&bus))
        return;
    if (last)
        cp_publish_final();
    ht_force = true; /* the peak's counters are rewritten now, not at the next interval */
    cp_own_stack_run(flush_twice, NULL);
    ht_force = false;
    cp_file_unlock(bus);
}

void cp_prof_flush_all(void)
{
    flush_all(false);
}

void cp_prof_flush_last(void)
{
    flush_all(true);
}

void cp_prof_ending(void)
{
    if (cp_prof_enabled())
        stop_process();
}

void cp_prof_no_flusher_process(void)
{
    __atomic_store_n(&flusher_barred_process, true, __ATOMIC_SEQ_CST);
    if (cp_prof_enabled())
        stop_process();
}

/* ---- who flushes ------------------------------------------------------------------- *
 *
 * A thread of our own makes the process multi-threaded, and glibc then takes its
 * multi-threaded paths on every call for the rest of the run: atomic lock words in
 * malloc's arenas, in every pthread_mutex_unlock and stdio call, cancellation points
 * around system calls. For sqlite3 (single-threaded, 4.9 million mutex pairs) that was
 * 34.6 million more instructions inside libc (0.39% of the run, callgrind), more than
 * every sampled event of the run cost. So a single-threaded process has no flusher: the
 * thread that records an event publishes it at once ("inline"), which also loses
 * nothing at _exit or SIGKILL, where a flusher loses up to one interval. And a second
 * thread changes what the program may do (issue 29): fork() from a signal handler
 * deadlocks on malloc's arena locks (glibc keeps fork async-signal-safe only in a
 * single-threaded process, and once pthread_create has run it never counts the process
 * single-threaded again, even after our thread steps aside), unshare(CLONE_NEWUSER)
 * fails (the shim steps aside for that: cp_prof_aside_begin), and the thread counts
 * against RLIMIT_NPROC. So a single-threaded process never gets the thread, at any rate,
 * however fast it allocates, unless the user asked for it (CTRPROF_FLUSHER=thread: the
 * accounting then runs on another core, for the wall time of rate 1; thread_wanted). At
 * rate 1 (CTRPROF_FLUSHER=auto, or at any rate =process) it gets the flusher process
 * instead, which is none of those things ("the flusher as a process" below;
 * flushproc.c), from the first heap event's inline flush on. Otherwise it
 * publishes each event as it happens (the buckets'
 * counters; the health and heap-over-time ones when due: side_due), which at the dense
 * rates (CTRPROF_MEM_RATE < CP_DENSE_RATE), where nearly every allocation is an event,
 * costs about a third more an event than a flusher thread's batches (BENCHMARKS.md,
 * "Who flushes" and "Inline publishing at rate 1"; batching it lost the last batch of a
 * program that then waits, crashes or is killed, and exactness at rate 1 is what those
 * rates are for). Nor does a process whose program ends by the exit_group system call
 * without exit handlers, where a flusher's last interval would be lost (a Go program:
 * cp_prof_inline_only, from the shim). The thread starts (start_thread, once; a start
 * refused for now is tried again at the program's next pthread_create, and by an inline
 * flush a second later):
 *   - at start-up if the process is multi-threaded already;
 *   - in the program's first pthread_create (cp_prof_threads_coming, the shim's hook),
 *     before there is a second thread;
 *   - at a heap event's inline flush, if a thread appeared that did not pass through
 *     pthread_create (__libc_single_threaded is false) or CTRPROF_FLUSHER=thread (not
 *     in a fork child: fork_child_alone), or if a stack walk wanted
 *     libunwind (stack.c: it is loaded only on this thread; rare, the CFI walker must
 *     have given up, as in a signal handler's allocation).
 * A mutex or block event never starts it: those hooks may run under an allocator's own
 * lock, and pthread_create allocates (the deadlock shim.sh 12 tests). They flush
 * inline, under cp_flush_lock, until a heap event or pthread_create starts the thread.
 * With the thread running, a program's thread still flushes when its ring stays full
 * while the thread drains nothing for 10 ms and no flush is under way (cp_flush_help:
 * the thread is away, e.g. in libunwind's load, waiting for a loader's lock that the
 * waiting thread itself may hold).
 */
/* A walk on a stack it could not probe found no mapping (mapsnap.h): read them again
 * (cp_flush_lock held, on the flusher's or the profiler's own stack; not in a sandbox) */
static void refresh_maps(void)
{
    if (cp_mapsnap_wanted() && !__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        cp_mapsnap_refresh();
}

/* ---- the program's last thread ------------------------------------------------------ *
 *
 * glibc ends the process when its last thread ends (start_thread's, or the main thread's
 * pthread_exit path, counting __nptl_nthreads down to 0 calls exit(0)), and ours counts
 * among them: a program whose main thread left by pthread_exit, or was cancelled, and
 * whose other threads then ended ran on for ever, its one thread ours, blocking every
 * signal (SIGTERM stayed pending; only SIGKILL ended it). Once the shim says the main
 * thread is leaving (cp_prof_main_gone), the flusher looks every MAIN_GONE_POLL_NS
 * whether it is alone and, if so, returns; glibc's exit(0) then runs as it would have bare,
 * on whichever of the two threads counts down last (so maybe on this one: the program's
 * atexit handlers with every signal blocked, and unprofiled). "Alone" is glibc's own
 * count when the shim found it (GLIBC_PRIVATE data), else the entries of /proc/self/task
 * (the main thread's among them until the process ends; never in a sandbox: no open may be
 * allowed there), else never. */
#define MAIN_GONE_POLL_NS 20000000L

static const int *glibc_nthreads; /* written before main_gone (release) */
static int main_gone;             /* atomic */

void cp_prof_main_gone(const int *nthreads)
{
    glibc_nthreads = nthreads;
    __atomic_store_n(&main_gone, 1, __ATOMIC_RELEASE);
    cp_ring_wake_consumer();
}

static int count_task(const char *name, void *ctx)
{
    *(long *)ctx += name[0] != '.';
    return 1;
}

static bool alone_in_process(void)
{
    if (glibc_nthreads)
        return __atomic_load_n(glibc_nthreads, __ATOMIC_ACQUIRE) <= 1;
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return false;
    long n = 0;
    /* this thread, and the main thread's entry */
    return cp_raw_each_entry("/proc/self/task", count_task, &n) == 1 && n <= 2;
}

/* The flusher's sleep (thread or process): until a ring kicks after k was read, ns pass,
 * or a signal comes; false if it is to return (the process ends, or it is stopped). */
static bool consumer_sleep(uint32_t k, long ns)
{
    __atomic_store_n(&cp_ring_consumer_sleeping, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&cp_ring_kick, __ATOMIC_SEQ_CST) == k)
        cp_futex_wait(&cp_ring_kick, k, ns);
    __atomic_store_n(&cp_ring_consumer_sleeping, 0, __ATOMIC_RELAXED);
    return !__atomic_load_n(&cp_stopping, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&flusher_stop, __ATOMIC_ACQUIRE);
}

static void *flusher_main(void *arg)
{
    if (host.thread_enter_profiler)
        host.thread_enter_profiler();
    long timeout = (long)cp_prof_opts.flush_ms * 1000000L;
    uint64_t clock_due = 1; /* the waits' clock wants a call (stampclock.h) */
    cp_bus_on_flusher();
    sigset_t bus;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    __atomic_store_n(&flusher_tid, gettid(), __ATOMIC_RELEASE);
    bool alone = false;
    long polled = 0; /* ns of polls (main gone) since the last flush */
    while (!__atomic_load_n(&cp_stopping, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&flusher_stop, __ATOMIC_ACQUIRE)) {
        long wait = timeout;
        if (__atomic_load_n(&main_gone, __ATOMIC_ACQUIRE)) {
            if ((alone = alone_in_process()))
                break;
            if (wait > MAIN_GONE_POLL_NS)
                wait = MAIN_GONE_POLL_NS;
        }
        uint32_t k = __atomic_load_n(&cp_ring_kick, __ATOMIC_ACQUIRE);
        bool for_clock = clock_due && (long)clock_due < wait;
        if (!consumer_sleep(k, for_clock ? (long)clock_due : wait))
            break;
        /* The waits' clock's calibration wakes this thread twice (at once, and 20 ms
         * later): it only reads its pairs (no lock: its state is this thread's), with no
         * flush, unless a ring kicked meanwhile. A flush there (the first one that has
         * something creates the file: tens of ms under cp_flush_lock) stalled a program
         * thread taking over a released ring: locks.sh's cv_wait_for, 3 runs in 10. */
        if (for_clock && __atomic_load_n(&cp_ring_kick, __ATOMIC_ACQUIRE) == k) {
            clock_due = cp_waitclock_step();
            continue;
        }
        /* a poll's wake-up that no ring asked for flushes only once the interval is over
         * (a daemon whose main thread left runs on at its usual flushes) */
        if (wait < timeout && __atomic_load_n(&cp_ring_kick, __ATOMIC_ACQUIRE) == k) {
            polled += wait;
            if (polled < timeout)
                continue;
        }
        polled = 0;
        /* a walk wanted libunwind (stack.c): this thread is where it may be loaded */
        if (cp_stack_libunwind_wanted() && !__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
            cp_stack_load_libunwind();
        cp_spin_lock(&cp_flush_lock);
        /* SIGBUS open for the flush (see start_thread), sandboxed or not: only a TSYNC
         * filter binds this thread, and one that forbids this call (or the re-queueing of
         * a sent SIGBUS, preload/sigbus.c) retired it before it went in
         * (preload/sandbox.c) */
        pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
        cp_flush_locked();
        pthread_sigmask(SIG_BLOCK, &bus, NULL);
        refresh_maps();
        cp_spin_unlock(&cp_flush_lock);
        if (host.flusher_idle)
            host.flusher_idle();
        /* (and after a flush, for a busy program whose rings always kick first) */
        if (clock_due)
            clock_due = cp_waitclock_step();
    }
    /* Alone (not stopped, not asked to return): never again, and no step-aside waits for
     * this thread from now on; what it had not drained goes out with exit's flush */
    bool running = true;
    if (alone && __atomic_compare_exchange_n(&cp_flusher_running.v, &running, false, 0,
                                             __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        __atomic_store_n(&flusher_barred, true, __ATOMIC_SEQ_CST);
        __atomic_store_n(&flusher_tid, 0, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* The start of a flusher (start_thread, start_process) claimed, or false: a sandbox (clone
 * may be forbidden: events go on being flushed inline), a step-aside
 * (cp_prof_aside_begin), or a flusher started, being started or refused for good. Claimed,
 * it is being started (flusher_starting) until the caller says how it ended. */
static bool claim_start(void)
{
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&aside, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&flusher_barred, __ATOMIC_ACQUIRE))
        return false;
    int expect = 0;
    if (!__atomic_compare_exchange_n(&flusher_claimed, &expect, 1, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return false;
    /* A step-aside beginning now either sees flusher_starting and waits for this start to
     * end (then stops the flusher), or this sees its `aside` (seq_cst both ways) */
    __atomic_store_n(&flusher_starting, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&aside, __ATOMIC_SEQ_CST) ||
        __atomic_load_n(&flusher_barred, __ATOMIC_SEQ_CST) ||
        __atomic_load_n(&cp_sandboxed, __ATOMIC_SEQ_CST)) { /* (a sandbox: the same) */
        __atomic_store_n(&flusher_claimed, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&flusher_starting, 0, __ATOMIC_RELEASE);
        return false;
    }
    return true;
}

/* How a claimed start ended: the flusher runs, or it was refused (none claimed; with
 * retry, tried again a second later: retry_due) */
static void start_ended(bool running, bool retry)
{
    if (running) {
        __atomic_store_n(&cp_flusher_running.v, true, __ATOMIC_RELEASE);
    } else {
        if (retry)
            __atomic_store_n(&flusher_retry_ns, cp_coarse_ns() + FLUSHER_RETRY_NS,
                             __ATOMIC_RELAXED);
        __atomic_store_n(&flusher_claimed, 0, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&flusher_starting, 0, __ATOMIC_RELEASE);
}

static int start_thread(void)
{
    if (!claim_start())
        return 0;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256 * 1024);
    /* A real-time creator's policy is not inherited (a program thread with SCHED_FIFO or
     * SCHED_RR, or SCHED_DEADLINE, which a new thread cannot inherit at all): ours is
     * SCHED_OTHER, so that its flushes never preempt the program's normal threads at
     * real-time priority, nor wait at it for one of them preempted mid-event. Any other
     * policy (normal, batch, idle) and the nice value are inherited as they are. */
    int pol = SCHED_OTHER;
    struct sched_param sp = {0};
    if (pthread_getschedparam(pthread_self(), &pol, &sp) == 0 && pol != SCHED_OTHER &&
        pol != SCHED_BATCH && pol != SCHED_IDLE) {
        sp.sched_priority = 0;
        pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
        pthread_attr_setschedpolicy(&a, SCHED_OTHER);
        pthread_attr_setschedparam(&a, &sp);
    }
    /* Every signal but the faults blocked from its first instruction, whatever this
     * thread's mask: a process-directed signal the program blocks in all its threads
     * (signalfd, sigwait) must never be delivered to, or consumed by, ours (issue 29). The
     * attribute, not blocking around the call, so the program's thread never runs with a
     * mask it did not set (glibc keeps its own internal signals, SIGCANCEL and SIGSETXID,
     * open). */
    /* The fault signals too: a daemon that blocks them and reads them from a signalfd
     * (kill -BUS) was killed when one came to ours (issue 29's audit: sigdaemon faults).
     * A fault of ours under a blocked SIGSEGV, SIGFPE or SIGILL ends the process as the
     * default action would (the kernel forces it), without the program's handler: a bug
     * of ours either way. SIGBUS is opened around each flush only (flusher_main): a store
     * into a profile truncated under us must reach the shim's handler (sigbus.c), which
     * hands a SIGBUS sent in that window back to the process. A TSYNC filter that
     * would forbid this retires the thread first (preload/sandbox.c). */
    sigset_t all;
    sigfillset(&all);
    int err = pthread_attr_setsigmask_np(&a, &all);
    if (err == 0)
        err = (host.thread_create ? host.thread_create : pthread_create)(&flusher, &a, flusher_main,
                                                                         NULL);
    pthread_attr_destroy(&a);
    if (err) {
        /* Events go on being flushed inline: slower, nothing lost. The refusal may be for
         * now (EAGAIN: a thread limit the program reaches for a while, a cgroup's pids.max,
         * a stack that cannot be mapped under RLIMIT_AS or memory pressure): the thread is
         * tried again at the program's next pthread_create, and by an inline flush once a
         * second has gone (a failing try each event would cost a multi-threaded program a
         * system call each). Until session 26 the first refusal was for good: a program
         * that met its limit once, at start-up, had every event of its life flushed by its
         * own threads. EAGAIN is the program's business, said nowhere; the rest once. */
        if (err != EAGAIN)
            if (cp_log_tree_first(CP_LOG_TREE_FLUSHER)) /* once per process tree */
                cp_log("cannot start the flusher thread (%s); events are flushed as "
                       "they happen until it can be",
                       strerror(err));
        start_ended(false, true);
        return -err;
    }
    start_ended(true, false);
    return 0;
}

/* ---- the flusher as a process ------------------------------------------------------ *
 *
 * CTRPROF_FLUSHER=process: a single-threaded process's events are drained by a process of
 * ours that shares its memory (flushproc.c says why not a thread, and what it shares), from
 * the first heap event's inline flush on, as CTRPROF_FLUSHER=thread's thread would be. It
 * runs the thread's loop, without what needs glibc's own thread state (the loader's lock:
 * libunwind's load, the host's idle work, reading every loaded object) or this process's
 * identity (/proc/self: the main thread's leaving, which it need not watch: the program
 * then ends). It stops as the thread does: a step-aside (unshare, setns, RLIMIT_NPROC),
 * the program's first pthread_create (the flusher thread then takes over), exit and exec
 * (cp_prof_flush_last: whoever stops it reaps it, so no descriptor of the old image stays
 * open in it); a fork child has none. If the program ends without stopping it (SIGKILL, a
 * crash, an exec no hook saw), it finds out at its next wake-up (cp_fp_gone), flushes
 * what the rings hold without waiting for an event the program never finished, and ends:
 * nothing that was written is lost.
 *
 * The asymmetric fence. A flush's handshake with a ring (flush: the cycle stored, then
 * the ring's busy flag loaded; an event stores busy, then loads the cycle) needs each side
 * to order its store before its load: on x86 a locked instruction on the event's side,
 * every event. A thread alone skips it, but the process is another task: with it, the
 * program's thread took the locked store at every event, which waited for the record's
 * stores before it, each a line the process had read (namechurn at rate 1: two thirds of
 * cp_event_alloc's samples on it, perf). So the process fences for that thread instead:
 * it registers the memory for membarrier(2) before it is made (start_process, where a
 * clone is allowed, so this is too), and while cp_fence_asym is set the thread marks its
 * ring busy with a plain store (live.h's cp_ring_alone), and every handshake made by
 * another task (the process's, or another thread's: not the thread's own, which program
 * order covers) makes the program's running tasks pass a full barrier between the
 * cycle's store and the busy loads (cp_fp_fence): one system call a flush, ~900 on
 * namechurn's 10^7 events. Ended with such a barrier before anything could rely on
 * events' own fences again or forbid the call: a second ring taken (a thread that did not
 * pass through pthread_create), a seccomp filter going in (cp_fence_end); and plainly
 * once the process is gone (its handshakes with it). */
/* n flushes with SIGBUS open, as flusher_main opens it (a store into a profile truncated
 * under the program reaches the shim's handler); cp_flush_lock held. A raw system call:
 * glibc's pthread_sigmask reads the copied thread state this process must not rely on. */
static void process_flush(int n)
{
    uint64_t bus = (uint64_t)1 << (SIGBUS - 1);
    cp_raw_syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&bus, 0, 8, 0, 0);
    while (n-- > 0)
        cp_flush_locked();
    cp_raw_syscall(SYS_rt_sigprocmask, SIG_BLOCK, (long)&bus, 0, 8, 0, 0);
}

static int process_main(void *arg)
{
    (void)arg;
    /* this task's own copies (flushproc.c: a copy of the maker's TLS block) */
    cp_self_ring = NULL; /* (the maker's: not this task's to drain as its own, nor to
                          * skip the fence for: fence_is_mine) */
    my_aside = 0;
    cp_tl_name_pid(proc_parent);
    cp_modules_no_loader();
    cp_fp_detach(&cp_ring_kick);
    if (host.thread_enter_profiler)
        host.thread_enter_profiler();
    long timeout = (long)cp_prof_opts.flush_ms * 1000000L;
    uint64_t clock_due = 1;
    cp_bus_on_flusher();
    __atomic_store_n(&flusher_tid, (pid_t)cp_raw_syscall(SYS_gettid, 0, 0, 0, 0, 0, 0),
                     __ATOMIC_RELEASE);
    bool gone = cp_fp_gone(proc_parent); /* (gone before its death signal was asked for) */
    /* The kicks counted before a flush: one that comes while it flushes (a producer whose
     * ring filled meanwhile, which found nobody asleep to wake) means another flush at
     * once, not a sleep of an interval while that producer waits. */
    uint32_t k = __atomic_load_n(&cp_ring_kick, __ATOMIC_ACQUIRE);
    while (!gone && !__atomic_load_n(&cp_stopping, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&flusher_stop, __ATOMIC_ACQUIRE)) {
        bool for_clock = clock_due && (long)clock_due < timeout;
        if (!consumer_sleep(k, for_clock ? (long)clock_due : timeout))
            break;
        if ((gone = cp_fp_gone(proc_parent)))
            break;
        if (for_clock && __atomic_load_n(&cp_ring_kick, __ATOMIC_ACQUIRE) == k) {
            clock_due = cp_waitclock_step();
            continue;
        }
        k = __atomic_load_n(&cp_ring_kick, __ATOMIC_ACQUIRE);
        cp_spin_lock(&cp_flush_lock);
        process_flush(1);
        refresh_maps();
        cp_spin_unlock(&cp_flush_lock);
        if (clock_due)
            clock_due = cp_waitclock_step();
    }
    if (gone) {
        /* The program is gone (or is another image): what its rings hold goes out now.
         * Its thread may have died holding the flush lock (in a flush of its own): then,
         * after 200 ms, nothing. */
        __atomic_store_n(&proc_orphaned, 1, __ATOMIC_SEQ_CST);
        for (int i = 0; i < 200; i++) {
            if (cp_spin_trylock(&cp_flush_lock)) {
                process_flush(2);
                cp_spin_unlock(&cp_flush_lock);
                break;
            }
            struct timespec ms = {0, 1000000};
            cp_raw_syscall(SYS_nanosleep, (long)&ms, 0, 0, 0, 0, 0);
        }
    }
    return 0;
}

static bool retry_due(void);

/* Should an inline flush start the flusher process ("who flushes")? */
static bool process_wanted(void)
{
    return process_mode() && __libc_single_threaded &&
           !__atomic_load_n(&flusher_claimed, __ATOMIC_RELAXED) && !cp_newproc_unseen &&
           !fork_child_alone && !host.no_flusher_process &&
           !__atomic_load_n(&flusher_barred_process, __ATOMIC_RELAXED) && retry_due() &&
           cp_fp_available();
}

static int start_process(void)
{
    if (cp_prof_filtered_at_start() || !claim_start())
        return 0;        /* (a filter from the start may forbid what it calls, and kill it) */
    if (!cp_fp_room()) { /* (a process limit a tree of them could reach: inline, for good) */
        __atomic_store_n(&flusher_barred_process, true, __ATOMIC_RELAXED);
        start_ended(false, false);
        return 0;
    }
    proc_parent = (pid_t)cp_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0);
    __atomic_store_n(&proc_orphaned, 0, __ATOMIC_RELAXED);
    /* before it exists: this thread's next event takes the locked paths (live.h), or
     * none, the process fencing for it (the asymmetric fence, above) */
    __atomic_store_n(&cp_vm_shared, 1, __ATOMIC_SEQ_CST);
    if (cp_fp_fence_register()) {
        __atomic_store_n(&fence_ring, cp_self_ring, __ATOMIC_RELAXED);
        __atomic_store_n(&cp_fence_asym, 1, __ATOMIC_SEQ_CST);
    }
    pid_t pid = cp_fp_start(process_main, NULL, &proc);
    if (pid < 0) {
        __atomic_store_n(&cp_fence_asym, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&cp_vm_shared, 0, __ATOMIC_SEQ_CST);
        /* as start_thread's refusal: tried again a second later; said once, unless the
         * program's limits refused it (processes, address space: their business) */
        if (pid != -EAGAIN && pid != -ENOMEM && cp_log_tree_first(CP_LOG_TREE_FLUSHER))
            cp_log("cannot start the flusher process (%s); events are flushed as they "
                   "happen until it can be",
                   strerror((int)-pid));
        start_ended(false, true);
        return (int)pid;
    }
    start_ended(true, false);
    return 0;
}

/* Stop the flusher process, if it runs and is this process's (not in a vfork child, which
 * shares the state but is not its parent): it ends its loop after the flush under way,
 * and is reaped. Then events are flushed inline again; what it had not drained goes
 * out with the next flush. Any program thread, no engine lock held. */
static bool stop_process(void)
{
    if (!proc.pid || cp_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0) != proc_parent)
        return false;
    bool running = true;
    if (!__atomic_compare_exchange_n(&cp_flusher_running.v, &running, false, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return false;
    __atomic_store_n(&flusher_stop, 1, __ATOMIC_RELEASE);
    cp_ring_wake_consumer();
    cp_fp_reap(&proc, cp_prof_in_sandbox());
    __atomic_store_n(&flusher_tid, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&flusher_stop, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&cp_fence_asym, 0, __ATOMIC_SEQ_CST); /* (nobody else handshakes now) */
    __atomic_store_n(&cp_vm_shared, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&flusher_claimed, 0, __ATOMIC_RELEASE);
    return true;
}

void cp_fence_end(void)
{
    /* Events from now on fence for themselves; one the lone thread has in progress, whose
     * busy store may not be visible yet, is made so before this caller's handshakes
     * (flush: no barrier once this is clear). A filter is not in place yet. */
    if (__atomic_load_n(&cp_fence_asym, __ATOMIC_ACQUIRE) &&
        __atomic_exchange_n(&cp_fence_asym, 0, __ATOMIC_SEQ_CST))
        cp_fp_fence();
}

/* No start refused for now, or a second has gone since (start_thread) */
static bool retry_due(void)
{
    uint64_t t = __atomic_load_n(&flusher_retry_ns, __ATOMIC_RELAXED);
    return !t || cp_coarse_ns() >= t;
}

/* Should an inline flush start the thread ("who flushes")? */
static bool thread_wanted(void)
{
    return !__atomic_load_n(&flusher_claimed, __ATOMIC_RELAXED) && !cp_newproc_unseen &&
           ((!(__libc_single_threaded && cp_prof_opts.flusher != CP_FLUSHER_THREAD) &&
             !fork_child_alone) ||
            cp_stack_libunwind_wanted()) &&
           retry_due();
}

/* The event just written by this thread (or a ring that is full) is published now. */
static void flush_inline_own(void *arg)
{
    /* (a walk that wanted libunwind also starts it, at every rate: the flusher is where
     * libunwind is loaded, and nowhere else is that safe) */
    bool may_start = *(const bool *)arg;
    if (may_start && thread_wanted())
        start_thread(); /* from now on it flushes; this event still goes out at once */
    else if (may_start && process_wanted())
        start_process();
    flush(true);
    refresh_maps();
}

/* On the event's thread: the flush (and pthread_create) run on the profiler's own stack
 * (ownstack.h), which cp_flush_lock guards; the flusher it may start waits for that lock. */
/* A process with one thread (glibc's __libc_single_threaded, on which its own malloc
 * skips its locks: true until the first pthread_create, which sets it before the thread
 * exists and before the shim starts the flusher) takes cp_flush_lock with a plain load
 * and store: the locked exchange was ~4.7% of namechurn's CPU at rate 1, where every
 * event is flushed (BENCHMARKS.md, "Inline publishing at rate 1"). No other thread can
 * take the lock; this thread's own signal handler can only take it (an exit from a
 * handler) between the load and the store, and then it has released it before this
 * thread goes on, or after the store, and then it finds it held, as with the exchange. */
__attribute__((noinline)) void cp_flush_inline(bool may_start)
{
    /* (the flag first: once an event at rate 1, where nearly no program blocks SIGBUS) */
    int bus = __builtin_expect(cp_bus_blocked == CP_BUS_OPEN, 1) ? 0 : cp_bus_open(false);
    if (bus < 0) {
        cp_bus_refused();
        return; /* (the ring fills, then its events are counted lost: events.c) */
    }
    if (cp_one_thread() && !__atomic_load_n(&cp_flush_lock.v, __ATOMIC_RELAXED)) {
        __atomic_store_n(&cp_flush_lock.v, 1, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST); /* (the compiler keeps it before the flush) */
    } else {
        cp_spin_lock(&cp_flush_lock);
    }
    cp_own_stack_run_fast(flush_inline_own, &may_start);
    cp_spin_unlock(&cp_flush_lock);
    if (__builtin_expect(bus > 0, 0))
        cp_bus_close(bus);
}

/* A thread whose ring stayed full while it waited for the flusher, which drained nothing
 * meanwhile (events.c's emit): the flusher is away from flushing (loading libunwind, a
 * dlopen that waits for the loader's lock a dl_iterate_phdr callback on this very thread
 * holds; the host's idle hook; not scheduled). If no flush is under way, this thread
 * flushes as an inline flush would, and the wait ends. Until session 27 it waited on:
 * after 2 s its events were dropped until the load ended (tests/programs/loaderlock.c:
 * ~116,000 events lost of a 2 s run). A flush under way (cp_flush_lock held) is waited
 * for, as before: it drains. */
bool cp_flush_help(void)
{
    /* a flusher process that ended without being asked (killed on its own: kill -9 of its
     * pid, or of the process group it made) is reaped, and flushing is inline again */
    if (proc.pid && cp_fp_ended(&proc))
        stop_process();
    int bus = __builtin_expect(cp_bus_blocked == CP_BUS_OPEN, 1) ? 0 : cp_bus_open(false);
    if (bus < 0)
        return false;
    bool got = cp_spin_trylock(&cp_flush_lock);
    if (got) {
        bool may_start = false;
        cp_own_stack_run_fast(flush_inline_own, &may_start);
        cp_spin_unlock(&cp_flush_lock);
    }
    if (__builtin_expect(bus > 0, 0))
        cp_bus_close(bus);
    return got;
}

/* An event of this thread, handed to its inline flush without the ring (prof_int.h's
 * struct cp_direct; events.c's emit, when no flusher thread runs). Writing the record and
 * draining it at once, which every event at rate 1 in a single-threaded process did, was
 * ~120 instructions an allocation pair (callgrind, churn: BENCHMARKS.md, "A thread's
 * events without its ring"). Counted under cp_flush_lock as the last record of the
 * thread's ring, with the cycle the flush ends, which nobody else can move meanwhile: so
 * it is published by this flush, as a record written before it would be; a thread that
 * the event's object reaches later stamps its events with a later cycle (the pointer
 * leaves this thread only when the hook returns). No busy section: nothing waits for a
 * record that is not in a ring. */
bool cp_flush_direct(const struct cp_direct *d, bool may_start)
{
    int bus = __builtin_expect(cp_bus_blocked == CP_BUS_OPEN, 1) ? 0 : cp_bus_open(false);
    if (bus < 0)
        return false;
    if (cp_one_thread() && !__atomic_load_n(&cp_flush_lock.v, __ATOMIC_RELAXED)) {
        __atomic_store_n(&cp_flush_lock.v, 1, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST); /* (as cp_flush_inline) */
    } else {
        cp_spin_lock(&cp_flush_lock);
    }
    direct = d;
    cp_own_stack_run_fast(flush_inline_own, &may_start);
    direct = NULL; /* (counted by the drain of this thread's ring) */
    cp_spin_unlock(&cp_flush_lock);
    if (__builtin_expect(bus > 0, 0))
        cp_bus_close(bus);
    return true;
}

void cp_prof_inline_only(void)
{
    __atomic_store_n(&flusher_barred, true, __ATOMIC_SEQ_CST);
}

int cp_prof_start(void)
{
    if (!cp_prof_enabled())
        return -EINVAL;
    __atomic_store_n(&cp_stopping, 0, __ATOMIC_RELEASE);
    if (cp_newproc_unseen) /* no thread until the program makes one (newproc.h) */
        return 0;
    /* a single-threaded process flushes inline; so does a fork child, which has one
     * thread whatever __libc_single_threaded says (glibc leaves it false in the child of
     * a multi-threaded parent), until the program makes one: a flusher in each worker of
     * a pre-forking server would count against RLIMIT_NPROC once per worker */
    if (!__libc_single_threaded && !fork_child_alone)
        return start_thread();
    return 0;
}

void cp_prof_threads_coming(void)
{
    /* A child no handler saw is reset before it has a second thread: from then on the
     * waiter table's and the other leaf locks are taken by threads of its own. */
    cp_newproc();
    cp_newproc_unseen = false; /* the program makes threads: so may we */
    fork_child_alone = false;
    cp_live_defer_end(); /* (the new thread will free what this one allocated) */
    stop_process();      /* (a thread's work from now on: its drains are the thread's) */
    if (cp_prof_enabled() && !__atomic_load_n(&flusher_claimed, __ATOMIC_ACQUIRE))
        start_thread();
}

/* The kernel refuses unshare(CLONE_NEWUSER), setns() into a mount or user namespace and
 * a few more to a process with a second thread, and ours must not be that thread: the
 * shim calls this before them (preload/alone.c), and after the kernel refused the
 * program a thread or process under RLIMIT_NPROC, which ours counts against
 * (preload/nproc.c: for good). The flusher returns, and this waits until it is gone from
 * the kernel's thread group (tgkill says ESRCH; the kernel has given back its place under
 * RLIMIT_NPROC by then; the thread stays detached: a joinable one that exit never joins
 * is a leak to thread checkers, and a join returns a moment before the kernel lets the
 * thread go). A start under way on another thread is waited for, then stopped; none
 * begins until cp_prof_aside_end. Events are flushed inline meanwhile; afterwards the
 * thread may start again by the usual rules ("who flushes"), and then copies the
 * credentials of the program thread that starts it. Not from a hook that holds
 * cp_flush_lock; any application thread, guard held. */
bool cp_prof_aside_begin(bool for_good)
{
    if (for_good)
        __atomic_store_n(&flusher_barred, true, __ATOMIC_SEQ_CST);
    my_aside++;
    __atomic_add_fetch(&aside, 1, __ATOMIC_SEQ_CST);
    if (!cp_prof_enabled())
        return false;
    /* A child no handler saw (newproc.h: a container runtime's _Fork or clone, then
     * unshare or setns) is reset first: it has no flusher to stop, whatever the parent's
     * flag says, and the parent's flusher may have held cp_flush_lock at the fork. */
    cp_newproc();
    /* a start under way (start_thread) ends soon: pthread_create, bounded */
    for (int i = 0; i < 100000 && __atomic_load_n(&flusher_starting, __ATOMIC_SEQ_CST); i++)
        sched_yield();
    if (proc.pid) { /* the flusher process: stopped and reaped (it counts under RLIMIT_NPROC) */
        if (!stop_process())
            return false;
    } else {
        bool running = true;
        if (!__atomic_compare_exchange_n(&cp_flusher_running.v, &running, false, 0,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return false; /* no thread of ours (or another caller is stopping it) */
        __atomic_store_n(&flusher_stop, 1, __ATOMIC_RELEASE);
        cp_ring_wake_consumer();
        /* a thread just created may not have said its id yet; bounded, in case it never runs */
        pid_t tid = 0;
        for (int i = 0; i < 100000 && !(tid = __atomic_load_n(&flusher_tid, __ATOMIC_ACQUIRE)); i++)
            sched_yield();
        pid_t pid = getpid();
        for (int i = 0; tid > 0 && i < 100000 && tgkill(pid, tid, 0) == 0; i++)
            sched_yield();
        __atomic_store_n(&flusher_tid, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&flusher_stop, 0, __ATOMIC_RELEASE);
    }
    /* whatever the flusher had not drained yet goes out now */
    int bus;
    if (cp_file_lock(&bus)) {
        cp_flush_locked();
        cp_file_unlock(bus);
    }
    __atomic_store_n(&flusher_claimed, 0, __ATOMIC_RELEASE);
    return true;
}

void cp_prof_aside_end(void)
{
    my_aside--;
    __atomic_sub_fetch(&aside, 1, __ATOMIC_RELEASE);
}

/* A seccomp filter that the shim retired the flusher for (cp_prof_aside_begin) was
 * refused by the kernel (preload/sandbox.c, after cp_prof_sandbox_failed): the thread
 * starts again now if the process is multi-threaded, rather than at the next heap
 * event's inline flush. The program's thread, in the hook; as cp_prof_threads_coming. */
void cp_prof_flusher_resume(void)
{
    if (cp_prof_enabled() && !__atomic_load_n(&cp_stopping, __ATOMIC_ACQUIRE) &&
        !cp_newproc_unseen && !__libc_single_threaded && !fork_child_alone)
        start_thread();
}

void cp_prof_shutdown(void)
{
    if (!cp_prof_enabled())
        return;
    cp_newproc_waiting(); /* a child no atfork handler saw publishes its own, not ours */
    __atomic_store_n(&cp_stopping, 1, __ATOMIC_RELEASE);
    cp_ring_wake_consumer();
    /* The flusher may be mid-flush: flush_all waits for it through cp_flush_lock. It is not
     * joined (exit may run on any thread, even in a signal handler's aftermath); after
     * this it only wakes to see `stopping`. */
    flush_all(true);
}

/* ---- fork -------------------------------------------------------------------------- */

/* SIGBUS opened by prepare for the child's set-up, which stores into the file on this
 * thread (bus_open: the child inherits the mask and this); closed by parent and child.
 * Refused (a filter forbids it), the set-up stores as before. */
static __thread int8_t fork_bus __attribute__((tls_model("initial-exec")));

void cp_prof_atfork_prepare(void)
{
    if (!cp_prof_enabled())
        return;
    int bus = cp_bus_open(true);
    fork_bus = bus > 0 ? 1 : 0;
    /* the order of docs/ARCHITECTURE.md's lock table */
    cp_spin_lock(&cp_flush_lock);
    cp_spin_lock(&cp_reg_lock);
    cp_bucket_lock();
    cp_arena_lock();
}

void cp_prof_atfork_parent(void)
{
    if (!cp_prof_enabled())
        return;
    cp_arena_unlock();
    cp_bucket_unlock();
    cp_spin_unlock(&cp_reg_lock);
    cp_spin_unlock(&cp_flush_lock);
    cp_bus_close(fork_bus);
    fork_bus = 0;
}

static void atfork_child_own(void *arg);

/* On the profiler's own stack (ownstack.h): the child's set-up closes the parent's file,
 * may start a flusher, and runs on the thread that forked, maybe a 16 KiB one. The stack
 * is free: this thread took cp_flush_lock in cp_prof_atfork_prepare. */
void cp_prof_atfork_child(const char *newpath)
{
    if (!cp_prof_enabled())
        return;
    cp_newproc_mark();
    cp_own_stack_run(atfork_child_own, (void *)newpath);
    cp_bus_close(fork_bus);
    fork_bus = 0;
}

static void atfork_child_own(void *arg)
{
    const char *newpath = arg;
    /* Every engine lock a thread the child does not have may have held is free again
     * (docs/ARCHITECTURE.md, "Locks"): after fork() those prepare took, and the leaves
     * prepare leaves alone; after a fork no handler saw (newproc.h: no prepare) all of
     * them. The live table's grow lock: cp_live_reset below. The waiter table's bucket
     * locks: contention.c's own child handler, or newproc.c for a child no handler saw. */
    cp_arena_reset_lock();
    cp_bucket_reset_lock();
    cp_spin_reset(&cp_reg_lock);
    cp_spin_reset(&cp_flush_lock);
    cp_modules_fork_child();
    cp_walk_stack_fork_child();
    cp_stack_fork_child();
    cp_unwind_fork_child();
    cp_mapsnap_fork_child();
    /* the child has one thread, and no flusher until it wants one (cp_prof_start) */
    cp_flusher_running.v = false;
    flusher_claimed = 0;
    flusher_stop = 0;
    flusher_tid = 0;
    flusher_starting = 0;
    proc = (struct cp_fp){0}; /* (the parent's: its stack is the parent's to free) */
    cp_vm_shared = 0;
    cp_fence_asym = 0;
    proc_orphaned = 0;
    fork_child_alone = true;
    main_gone = 0;    /* (the forking thread is the child's main thread: the shim marks it) */
    aside = my_aside; /* (a fork from a handler inside a step-aside: the child ends it) */
    /* The parent publishes its own unflushed events; the child starts from what was
     * published. Its rings' contents are the parent's: discard them. Rings of threads
     * that do not exist in the child are free again; this thread keeps its own. */
    for (struct cp_ring *r = cp_rings; r; r = r->next) {
        cp_ring_forget(r);
        if (r != cp_self_ring)
            r->state = CP_RING_FREE;
    }
    /* Objects the parent sampled are not the child's to account (it may free its copy,
     * and so may the parent): forget them. */
    cp_live_reset();
    /* (a handover the fork came in the middle of: the parent's records are forgotten) */
    __atomic_store_n(&cp_live_handover, 0, __ATOMIC_RELAXED);
    cp_um_forget();
    /* the health counters' sources so far are the parent's, to publish: the child's
     * start here */
    cp_publish_fork_health();
    bool newfile = newpath != NULL;
    if (newfile && __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE)) {
        /* a sandboxed child inherits the filter: it could not create a file of its own */
        __atomic_store_n(&enabled, false, __ATOMIC_RELEASE);
        return;
    }
    if (newfile && cp_publish_fork_file(newpath)) {
        /* the child's own file starts from zero: so do its totals */
        memset(cp_samples, 0, sizeof cp_samples);
        memset(cp_lost_n, 0, sizeof cp_lost_n);
        cp_ring_waits_total = cp_ring_lost_total = 0;
        cp_trunc_events = 0;
        cp_block_thinned = cp_block_rate_max = 0;
        cp_life_unbracketed = cp_life_in_run = 0;
        if (cp_memo)
            cp_memo->hits = cp_memo->misses = 0;
    }
    /* every bucket's books, at the child's first flush (settle_child_books); a child of
     * a child that has not flushed yet settles both resets at once: a file of its own
     * wins, as the second reset would leave the first one's result as it is */
    uint8_t want = newfile ? BOOKS_OWN_FILE : BOOKS_SHARED_FILE;
    if (child_books < want)
        child_books = want;
    cp_touched[0].n = cp_touched[1].n = 0; /* (the parent's cycles are not the child's) */
    cp_prof_start();
}

/* A fork child that has recorded nothing yet and has no file of its own yet (it would
 * make one only to say something): a flush would publish nothing, so it is not made and
 * the books stay as they are (the _exit of a child that never allocated, a child's exec,
 * which publish first: exit.c, exec.c). */
static bool child_idle(void)
{
    if (!cp_file_pending || direct || something_to_say())
        return false;
    for (struct cp_ring *r = __atomic_load_n(&cp_rings, __ATOMIC_ACQUIRE); r; r = r->next)
        if (__atomic_load_n(&r->w, __ATOMIC_ACQUIRE) != r->rtail)
            return false;
    return true;
}

void cp_settle_child_books(void)
{
    if (child_books != BOOKS_SETTLED)
        settle_child_books();
}

/* A fork child's books: each bucket's flusher state (what it counted and published) and
 * heaptime.c's are the parent's until reset. They were reset in the atfork handler: a
 * write to every bucket, so a copy of every page of them in every child (a child that
 * runs exec at once too), 7.2 ms a fork with 65,536 stacks at rate 1 against 0.2 bare
 * (BENCHMARKS.md, session 29). Now at the child's first flush, the first thing that
 * reads or writes them (cp_flush_lock held; nothing else in the child touches them:
 * hooks never do, and every publication is a flush's, or a late event's, which settles
 * them first: cp_settle_child_books). */
static void settle_child_books(void)
{
    bool newfile = child_books == BOOKS_OWN_FILE;
    child_books = BOOKS_SETTLED;
    for (uint32_t i = 1, nb = cp_bucket_last_index(); i <= nb; i++) {
        struct cp_bucket *b = cp_bucket_by_hidx(i);
        if (!b)
            continue; /* (cannot happen: an index is given once its page is mapped) */
        if (b->type == CP_HEAP) {
            cp_memrec_reset(b, newfile);
        } else {
            b->u.blk.count_q16 = newfile ? 0 : b->pub[0];
            b->u.blk.delay = newfile ? 0 : b->pub[1];
        }
        if (newfile) {
            memset(b->pub, 0, sizeof b->pub);
            memset(b->ctr, 0, sizeof b->ctr);
            b->ctr_failed = 0;
            b->id = 0;
        }
        b->queued = 0;
    }
    cp_ht_atfork_child(newfile);
}
