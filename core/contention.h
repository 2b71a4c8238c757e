/*
 * contention.h — mutex and block profiling with the Go runtime's semantics (issue 6).
 *
 * Two parts:
 *  - sampling and scaling, pure functions of (duration, rate, a random number): the block
 *    profile's exactly as runtime/mprof.go's blocksampled/saveblockevent; the mutex
 *    profile's by the wait, before anything is registered, as the Go runtime's own lock
 *    profile samples its waits (contention_sample.c; contention.c, "sampled by the wait");
 *  - the waiter table: which mutexes have threads waiting on them, since when, so that an
 *    unlock can be charged the waiting its critical section caused (Go charges the
 *    contention to the unlocker's stack; a lock held 1 s while 5 threads wait costs 5 s);
 *    and the condition variables' sleepers, in their mutex's bucket (contention.c).
 *
 * Contexts: hook (the contended slow path of lock, and unlock when the mutex word says a
 * waiter may exist). The uncontended lock/unlock path never calls into this file.
 */
#ifndef CP_CONTENTION_H
#define CP_CONTENTION_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CP_Q16 65536u /* one event in the 1/65536 fixed point of docs/SCHEMA.md */

/* Block profile (SetBlockProfileRate): an event of d ns is kept if d >= rate, else with
 * probability d/rate (rnd uniform in [0, 2^64)). A kept event shorter than the rate counts
 * rate/d events of rate ns each, so the expectation of both sums is exact. rate 0 = off.
 * Returns true if kept, with the scaled count (1/65536 units) and delay (ns). */
bool cp_block_sample(uint64_t d, uint64_t rate, uint64_t rnd, uint64_t *count_q16, uint64_t *delay);

/* The same decision with its random part drawn first: r uniform in [0, rate) (Go's
 * `cheaprand64() % rate`), kept iff r <= d (a d of 0 taken as 1). cp_block_sample is
 * cp_block_sample_at(d, rate, rnd % rate). The hooks draw r before the wait
 * (cp_block_threshold: a multiply, not a division), so that the common case, a short
 * wait not kept, is one compare after it, and the stack of a lock's wait is walked
 * before the wait only when r is small enough for the sample to be likely
 * (preload/pthread.c, prewalk). r does not depend on the wait: the proof is Go's. */
bool cp_block_sample_at(uint64_t d, uint64_t rate, uint64_t r, uint64_t *count_q16,
                        uint64_t *delay);

/* A kept block sample of a wait that was measured with probability 1/fraction (a lock
 * wait, CTRPROF_BLOCK_LOCK_FRACTION, drawn before the wait and so independent of it):
 * count and delay times fraction, saturating, so that both estimates stay unbiased
 * (E[fraction x measured x kept-scaled] = the wait's own). Fraction 1: unchanged. */
void cp_block_scale(uint64_t fraction, uint64_t *count_q16, uint64_t *delay);

/* r uniform in [0, rate) from rnd uniform in [0, 2^64): the high half of rnd x rate
 * (each value has floor or ceil of 2^64/rate chances in 2^64, as rnd % rate's). */
static inline uint64_t cp_block_threshold(uint64_t rate, uint64_t rnd)
{
    return (uint64_t)(((unsigned __int128)rnd * rate) >> 64);
}

/* The block profile under a budget (CTRPROF_BLOCK_BUDGET, issue 23's lock-heavy programs):
 * a thread that keeps more than its budget of block samples a second doubles its own rate
 * (each kept sample is a stack walk and a bucket, ~1 us), and halves it again once it
 * keeps under a quarter of it, never below CTRPROF_BLOCK_RATE. The rate a wait is judged
 * by is the one its threshold was drawn with: the threshold carries its shift in its top
 * bits (r < rate << shift < 2^CP_BLOCK_SHIFT_AT), so a change between the draw and the
 * decision (a signal handler's wait in between) cannot mix two rates, and each kept
 * sample is scaled by its own rate: the estimates stay unbiased (Go's proof, per wait).
 * Only the waits' number kept changes: a wait as long as the raised rate is still kept
 * whole. A block rate of 1 (every event) is never raised. */
#define CP_BLOCK_SHIFT_AT 58
#define CP_BLOCK_R_MASK ((1ull << CP_BLOCK_SHIFT_AT) - 1)
#define CP_BLOCK_SHIFT_MAX 16u
#define CP_BLOCK_WINDOW_NS 100000000ull /* the budget is judged every 100 ms of a thread's */

/* A thread's pace: its shift, and the kept samples of its current window. */
struct cp_block_pace {
    uint64_t since; /* the window's start (the clock of cp_now_ns); 0: none yet */
    uint32_t kept;
    uint32_t shift;
};

/* Kept block samples judged at a raised rate, and the highest rate a thread took (ns):
 * written by the hooks (relaxed), published as ctrprof/health:block-thinned and
 * ctrprof/health:block-rate-max (publish.c). */
extern uint64_t cp_block_thinned __attribute__((visibility("hidden")));
extern uint64_t cp_block_rate_max __attribute__((visibility("hidden")));

/* The highest shift rate may take: rate << shift stays below 2^CP_BLOCK_SHIFT_AT. */
unsigned cp_block_shift_max(uint64_t rate);

/* A sample was kept at time now: counts it, and returns the pace's new shift (raised by
 * one when the window's samples pass budget/10 within 100 ms; lowered by one when a
 * window of at least 100 ms ends under a quarter of the budget's rate). budget > 0. */
unsigned cp_block_pace_kept(struct cp_block_pace *p, uint64_t now, uint64_t budget,
                            unsigned max_shift);

/* r uniform in [0, rate << shift), with the shift in its top bits */
static inline uint64_t cp_block_threshold_shifted(uint64_t rate, unsigned shift, uint64_t rnd)
{
    return cp_block_threshold(rate << shift, rnd) | (uint64_t)shift << CP_BLOCK_SHIFT_AT;
}

/* The rate threshold r was drawn with, from the base rate */
static inline uint64_t cp_block_rate_of(uint64_t rate, uint64_t r)
{
    return rate << (r >> CP_BLOCK_SHIFT_AT);
}

/* Would cp_block_sample_at keep a wait of d ns against r (shifted or not)? */
static inline bool cp_block_keeps(uint64_t d, uint64_t r)
{
    r &= CP_BLOCK_R_MASK;
    return r <= d || r <= 1;
}

/* Mutex profile (SetMutexProfileFraction), sampled by the wait, before any bookkeeping:
 * a thread about to wait on a lock (or to sleep on a condition variable) is tracked with
 * probability 1/fraction (rnd uniform), and only a tracked wait is registered in the
 * waiter table, so an untracked one costs the table nothing. fraction 0 = off (never),
 * 1 = every wait. */
bool cp_mutex_tracked(uint64_t fraction, uint64_t rnd);

/* The untracked waits before the next tracked one, for a thread's countdown (fraction
 * above 1): geometric, P(k) = (1 - 1/f)^k / f (rnd uniform), so that counting down tracks
 * each wait independently with probability 1/f, as a cp_mutex_tracked draw per wait
 * would, for a decrement a wait instead of a random number and a division. */
uint64_t cp_mutex_gap(uint64_t fraction, uint64_t rnd);

/* An unlock's charge of the tracked waits (waits: those it counts first, d: their
 * waiting up to it, ns) scaled by fraction into the estimates of all waits (count in
 * 1/65536 units): each wait is tracked independently with probability 1/fraction, so
 * E[fraction x tracked] is exact for both sums, per unlock stack (contention.c, "sampled
 * by the wait"). False if there is nothing to record. */
bool cp_mutex_scale(uint64_t waits, uint64_t d, uint64_t fraction, uint64_t *count_q16,
                    uint64_t *delay);

/* The waiter table is wanted (mapped at the first wait; lazily touched; never malloc), and
 * the fork handler registered. 0. A mapping refused at the first wait is said once
 * ("waiter-table") and turns the mutex profile off. */
int cp_contention_init(void);
/* Before a seccomp filter (cp_prof_sandbox): the table mapped now, while mmap may be. */
void cp_contention_prepare(void);
/* Tests: is the table mapped? */
bool cp_contention_mapped(void);
/* Fork child: both tables start again empty (a bucket lock held by a thread the child
 * does not have would be held for ever). cp_contention_init registers it with
 * pthread_atfork; newproc.c calls it in a child no handler saw. */
void cp_contention_fork_child(void);

/* A thread is about to block on m (a mutex or rwlock address). *t0 receives the time
 * its wait starts (CLOCK_MONOTONIC ns, read under the table's lock, so that no unlock
 * that missed this registration can have released after it). Returns false if m's
 * bucket is full (WAYS other addresses of the same hash have waits in progress): the
 * wait is then charged to no unlock; the caller counts it as lost. *t0 is set either way.
 * mark, if not NULL, is a lock word set from 1 to 2 ("locked, waiters") after the
 * registration and before the table's lock is released: an unlock that sees the 2 and
 * then asks the table is charged this wait (it waits on the same lock), one that saw 1
 * released before the registration's start time. */
bool cp_contention_begin(const void *m, uint64_t *t0, int *mark);

/* As cp_contention_begin, with the start time given (tests). */
bool cp_contention_begin_at(const void *m, uint64_t t0);

/* That thread acquired m (or gave up: timeout, error) at t1. Every wait registered with
 * begin must be ended exactly once. */
void cp_contention_end(const void *m, uint64_t t0, uint64_t t1);

/* Unlock of m: the waiting accrued by m's registered waiters since m's previous charge
 * (or since they started waiting), in ns; 0 without reading the clock when nobody waits.
 * *now_out receives the time used (0 if none was read); *waits the waits this charge
 * counts: those registered since the previous charge (each wait is counted once, at the
 * first unlock charged for it; one that ended before any charge is counted by none). */
uint64_t cp_contention_charge(const void *m, uint64_t *now_out, uint32_t *waits);

/* As cp_contention_charge, at a given time (tests). */
uint64_t cp_contention_charge_at(const void *m, uint64_t now);
uint64_t cp_contention_charge_counted_at(const void *m, uint64_t now, uint32_t *waits);

/* An unlock that decides whether it releases m under the waiter table's lock (an
 * rwlock's leaving reader; contention.c explains): if m has waits in progress, locks
 * their bucket and returns it, else NULL (nobody to charge). While held: the charge, as
 * cp_contention_charge; then cp_contention_unhold, before anything that may sleep or
 * wake (a decrement that is one compare-and-swap may be made holding it). */
void *cp_contention_hold(const void *m);
uint64_t cp_contention_charge_held(void *held, const void *m, uint64_t *now_out, uint32_t *waits);
void cp_contention_unhold(void *held);

/* Condition variables (contention.c explains): a waiter about to sleep on c, whose mutex
 * is m (false: no room, nothing is charged for it); release: the wait's own release of m
 * hands it over to m's waiters, whose waiting so far it is charged (*charged, ns, taken
 * under the same lock; *now the clock read for it, 0 if none; *waits the waits it
 * counts, as cp_contention_charge's); a signal or broadcast of
 * c (now), which registers the woken on m as its waiters; a waiter back from the wait
 * (signalled, timed out or spurious), holding m again. Every cp_cond_sleep that
 * returned true must be followed by exactly one cp_cond_woke with the same c and m. */
bool cp_cond_sleep(const void *c, const void *m, bool release, uint64_t *charged, uint64_t *now,
                   uint32_t *waits);
void cp_cond_signal(const void *c, bool all);
void cp_cond_woke(const void *c, const void *m, uint64_t now);

/* Entries in use in the waiter table: addresses with waits in progress (tests). */
uint32_t cp_contention_entries(void);

/* The waits' clock, in ns: only differences of its readings mean anything (a wait's
 * length, a charge's now - start). The hooks read it twice a wait, the second time inside
 * the program's critical section (a condition variable's or a contended lock's wait
 * returns with the mutex held), where the vDSO's CLOCK_MONOTONIC (~25 ns here, an ordered
 * TSC read and its conversion) lengthened the sections of a thread pool's queue enough to
 * cost more than both profiles' own work: bench/progs/workqueue unpinned, 1.07-1.10x bare
 * CPU at the default settings against 1.02-1.04x with a TSC read (BENCHMARKS.md, "The
 * waits' clock"). So once stampclock.c's cp_waitclock_step has calibrated it (on the
 * flusher thread, 20 ms after the flusher's start, where the CPU says the TSC is
 * invariant and the kernel keeps time with it), it is the TSC converted with one ratio:
 * ns0 + (tsc - tsc0) x mult / 2^32, a reading and a multiply; until then, and for ever in
 * a process without a flusher (one thread: no lock waits it could contend), the vDSO.
 * A wait that straddles the switch is off by the calibration pair's window (< 1 us); a
 * TSC read on another CPU a few ticks behind gives a reading a few ns earlier, which
 * cp_elapsed takes as 0. The ratio is never changed (a mult that NTP's slewing of
 * CLOCK_MONOTONIC puts up to 500 ppm off makes a 1 ms wait 0.5 us longer or shorter).
 * cp_waitclock is written once, before cp_waitclock_on (release); the hooks read it after
 * an acquire load of cp_waitclock_on. Async-signal-safe; errno untouched.
 *
 * A program may forbid its threads the TSC (prctl PR_SET_TSC, PR_TSC_SIGSEGV: rdtsc then
 * faults, and so does the vDSO's CLOCK_MONOTONIC, which reads it); its call is hooked
 * (preload/sandbox.c) and, before it is made, cp_prof_tsc_denied turns this clock to
 * cp_clock_notsc for good (CP_WAITCLOCK_NOTSC, which the calibration's CAS never
 * overwrites). */
struct cp_waitclock {
    uint64_t tsc0, ns0, mult;
};
extern struct cp_waitclock cp_waitclock __attribute__((visibility("hidden")));
/* atomic: CP_WAITCLOCK_VDSO, CP_WAITCLOCK_TSC or CP_WAITCLOCK_NOTSC */
extern int cp_waitclock_on __attribute__((visibility("hidden")));
enum { CP_WAITCLOCK_VDSO = 0, CP_WAITCLOCK_TSC = 1, CP_WAITCLOCK_NOTSC = 2 };

/* CLOCK_MONOTONIC in ns without reading the TSC in user mode (stampclock.c): the system
 * call (the kernel reads it), or, in a sandbox (no system call of ours may be made
 * there), CLOCK_MONOTONIC_COARSE (a tick's resolution). Async-signal-safe; errno
 * untouched. */
uint64_t cp_clock_notsc(void);

static inline uint64_t cp_now_ns(void)
{
    int s = __atomic_load_n(&cp_waitclock_on, __ATOMIC_ACQUIRE);
#if defined(__x86_64__)
    if (s == CP_WAITCLOCK_TSC) {
        int64_t d = (int64_t)(__builtin_ia32_rdtsc() - cp_waitclock.tsc0);
        return cp_waitclock.ns0 + (uint64_t)(int64_t)(((__int128)d * cp_waitclock.mult) >> 32);
    }
#endif
    if (__builtin_expect(s == CP_WAITCLOCK_NOTSC, 0))
        return cp_clock_notsc();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* t1 - t0 of two cp_now_ns readings, 0 if t1 is the earlier (see above) */
static inline uint64_t cp_elapsed(uint64_t t0, uint64_t t1)
{
    return t1 > t0 ? t1 - t0 : 0;
}

#endif
