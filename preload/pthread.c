/*
 * pthread.c — the pthread half of the shim: mutex contention (charged to the unlocker,
 * as Go's mutex profile) and blocking (charged to the waiter, as Go's block profile).
 * Hooks only; the sampling and the waiter accounting are core/contention_sample.c and
 * core/contention.c.
 *
 * Context: any application thread. The uncontended mutex paths never read the clock,
 * never touch a shared line of ours and never look anything up (with the mutex profile
 * on, an rwlock unlock and a condition-variable signal read the count of tracked waits
 * in progress, tracked_live, and only when it is not 0 (or at fraction 1) a waiter-table
 * hint, or glibc's count of the condition variable's waiters, a map pair and hints; an
 * rwlock's leaving readers, while it has tracked waiters, take turns under the table's
 * lock):
 *   lock    = one read of the mutex's lock word; 0 (free): the real lock as a tail call;
 *             otherwise a normal or adaptive mutex waits, and for the other kinds
 *             trylock decides (a recursive relock succeeds, EDEADLK comes from the real
 *             lock, robust EOWNERDEAD acquires in both) and only EBUSY waits;
 *   unlock  = one read of the mutex's own lock word (a line the owner holds anyway)
 *             before the real unlock: 2 (or the FUTEX_WAITERS bit) means someone waits.
 * Only when a thread has to wait, and a profile wants the wait, does it read the clock,
 * register in the waiter table (locks an unlock ends: mutexes, rwlocks; only a wait
 * tracked for the mutex profile, 1 in CTRPROF_MUTEX_FRACTION, decided first by a
 * countdown: tracked()), wait in the real function, and record a block event (every wait
 * but a lock's, which leaves the thread in a critical section where a clock read is
 * every waiter's: those 1 in CTRPROF_BLOCK_LOCK_FRACTION, by default the tracked ones,
 * lock_timed; kept against a threshold drawn before the wait; a
 * lock's stack walked before the wait when that threshold makes the sample likely, not
 * in the critical section that follows it: prewalk); only an unlock that saw waiters,
 * while some wait is tracked, and releases the lock (not a recursive mutex's inner
 * unlock) asks the table, before the real unlock, what its critical section cost them:
 * the charge is taken at the hand-over, as Go's unlock takes it.
 * Process-shared mutexes are read, never written. Every hook returns exactly what the
 * real function returned and leaves errno as it left it. docs/SCHEMA.md ("Which waits go
 * where") tabulates, for every lock and wait glibc exports, what is recorded where.
 *
 * The pre-2.3.2 condition-variable ABI (pthread_cond_*@GLIBC_2.2.5) has hooks of its
 * own, below the current ones.
 *
 * About 1,420 lines: every blocking entry point glibc exports is here (42 hooks), each a
 * few lines around the shared paths (WAIT, RELEASE_CHARGED, COND_WAIT, the recording
 * helpers they share, the block profile's per-thread pace, and the mutex peeks) they must
 * not drift from; splitting them would export those paths (the pace's law itself is
 * core/contention_sample.c's).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include "prof.h"
#include "line.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define HOT __attribute__((visibility("default"), optimize("omit-frame-pointer")))
/* The condition-variable hooks carry glibc's symbol versions (x86-64: "The pre-2.3.2
 * condition-variable ABI" below; preload/versions.map): the current ones are defined as
 * cp_hook_cond_* and exported as pthread_cond_*@@GLIBC_2.3.2 (with the version script, a
 * name listed there came out local under LTO). Not in the TSan stress build, a program
 * (tests/programs/shim_rename.h). */
#if defined(__x86_64__) && !defined(CP_SHIM_RENAME_H)
#define CP_COND_VERSIONS 1
/* (gcc's symver attribute, which LTO keeps; clang has none, and takes the assembler's
 * directive: the SYMVERS block at the end) */
#if defined(__clang__)
#define CUR_COND(name, fn) fn
#else
#define CUR_COND(name, fn) __attribute__((symver(#name "@@GLIBC_2.3.2"))) fn
#endif
int cp_hook_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int cp_hook_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abs);
int cp_hook_cond_signal(pthread_cond_t *c);
int cp_hook_cond_broadcast(pthread_cond_t *c);
#else
#define CP_COND_VERSIONS 0
#define CUR_COND(name, fn) name
#endif
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

static int early_lock(pthread_mutex_t *m);
static int early_unlock(pthread_mutex_t *m);
/* The two hottest pointers start at stubs that resolve first: no NULL test on the path. */
CP_READ_MOSTLY static int (*real_mutex_lock)(pthread_mutex_t *) = early_lock;
CP_READ_MOSTLY static int (*real_mutex_trylock)(pthread_mutex_t *);
CP_READ_MOSTLY static int (*real_mutex_timedlock)(pthread_mutex_t *, const struct timespec *);
CP_READ_MOSTLY static int (*real_mutex_unlock)(pthread_mutex_t *) = early_unlock;
CP_READ_MOSTLY static int (*real_mutex_clocklock)(pthread_mutex_t *, clockid_t,
                                                  const struct timespec *);
/* C11: a mtx_t is a pthread_mutex_t */
CP_READ_MOSTLY static int (*real_mtx_lock)(pthread_mutex_t *);
CP_READ_MOSTLY static int (*real_mtx_timedlock)(pthread_mutex_t *, const struct timespec *);
CP_READ_MOSTLY static int (*real_mtx_unlock)(pthread_mutex_t *);
CP_READ_MOSTLY static int (*real_cnd_wait)(pthread_cond_t *, pthread_mutex_t *);
CP_READ_MOSTLY static int (*real_cnd_timedwait)(pthread_cond_t *, pthread_mutex_t *,
                                                const struct timespec *);
CP_READ_MOSTLY static int (*real_rw_unlock)(pthread_rwlock_t *);
CP_READ_MOSTLY static int (*real_clockrdlock)(pthread_rwlock_t *, clockid_t,
                                              const struct timespec *);
CP_READ_MOSTLY static int (*real_clockwrlock)(pthread_rwlock_t *, clockid_t,
                                              const struct timespec *);
CP_READ_MOSTLY static int (*real_cond_clockwait)(pthread_cond_t *, pthread_mutex_t *, clockid_t,
                                                 const struct timespec *);
CP_READ_MOSTLY static int (*real_sem_clockwait)(sem_t *, clockid_t, const struct timespec *);
CP_READ_MOSTLY static int (*real_spin_lock)(pthread_spinlock_t *);
CP_READ_MOSTLY static int (*real_spin_trylock)(pthread_spinlock_t *);
/* The signals start at stubs too (EARLY_SIGNAL): their hooks are a load and a tail call. */
static int early_cond_signal(pthread_cond_t *c);
static int early_cond_broadcast(pthread_cond_t *c);
static int early_cnd_signal(pthread_cond_t *c);
static int early_cnd_broadcast(pthread_cond_t *c);
CP_READ_MOSTLY static int (*real_cond_signal)(pthread_cond_t *) = early_cond_signal;
CP_READ_MOSTLY static int (*real_cond_broadcast)(pthread_cond_t *) = early_cond_broadcast;
CP_READ_MOSTLY static int (*real_cnd_signal)(pthread_cond_t *) = early_cnd_signal;
CP_READ_MOSTLY static int (*real_cnd_broadcast)(pthread_cond_t *) = early_cnd_broadcast;
CP_READ_MOSTLY static int (*real_rdlock)(pthread_rwlock_t *);
CP_READ_MOSTLY static int (*real_wrlock)(pthread_rwlock_t *);
CP_READ_MOSTLY static int (*real_tryrdlock)(pthread_rwlock_t *);
CP_READ_MOSTLY static int (*real_trywrlock)(pthread_rwlock_t *);
CP_READ_MOSTLY static int (*real_timedrdlock)(pthread_rwlock_t *, const struct timespec *);
CP_READ_MOSTLY static int (*real_timedwrlock)(pthread_rwlock_t *, const struct timespec *);
CP_READ_MOSTLY static int (*real_cond_wait)(pthread_cond_t *, pthread_mutex_t *);
CP_READ_MOSTLY static int (*real_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *,
                                                 const struct timespec *);
CP_READ_MOSTLY static int (*real_sem_wait)(sem_t *);
CP_READ_MOSTLY static int (*real_sem_trywait)(sem_t *);
CP_READ_MOSTLY static int (*real_sem_timedwait)(sem_t *, const struct timespec *);
CP_READ_MOSTLY static int (*real_join)(pthread_t, void **);
CP_READ_MOSTLY static int (*real_tryjoin)(pthread_t, void **);
CP_READ_MOSTLY static int (*real_timedjoin)(pthread_t, void **, const struct timespec *);
CP_READ_MOSTLY static int (*real_clockjoin)(pthread_t, void **, clockid_t, const struct timespec *);
CP_READ_MOSTLY static int (*real_thrd_join)(thrd_t, int *);
CP_READ_MOSTLY static int (*real_barrier_wait)(pthread_barrier_t *);
CP_READ_MOSTLY static int (*real_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
                                         void *);

CP_READ_MOSTLY static int resolved;

/* The next definition, as the program's call would have bound without us: for
 * pthread_cond_*, glibc's GLIBC_2.3.2 version (dlvsym), unless dlsym finds another
 * definition in between: ThreadSanitizer's interceptors are unversioned, and dlvsym skips
 * them, so the program's condition variables went straight to libc past TSan (its mutex
 * released and taken again unseen: "double lock of a mutex" and false data races, exit
 * 66; sanitizers.c). Not dlsym's alone: with it valgrind's drd hung ~1 run in 4 in its
 * pthread_create wrapper, 0 in 24 this way (not understood: both found the same libc
 * function there). */
static void *sym(const char *name, const char *version)
{
    void *v = version ? dlvsym(RTLD_NEXT, name, version) : NULL;
    void *d = dlsym(RTLD_NEXT, name);
    return d && v && d != v ? d : v ? v : d;
}

/* An unversioned pthread_cond_wait lies between the shim and libc (a sanitizer's
 * interceptor, which calls glibc's current functions). A reference that names no version
 * (a program linked against those interceptors: `objdump -T` says "Base") binds to the
 * shim's first version, the old ABI's hooks (the dynamic linker's rule: an unversioned
 * reference takes a library's oldest version, as from libc itself); without the shim it
 * would have bound that interceptor, and its variables are the current ABI's. The old
 * hooks then take them so (old_cond), rather than read their first word as a pointer and
 * calloc a variable into a fresh one (the TSan queue of tests/e2e/sanitizers.sh: a
 * 48-byte block at the workers' wait in every run). (atomic, set by resolve) */
CP_READ_MOSTLY static bool old_is_current;

/* dlsym may allocate: malloc.c's bootstrap serves that. Called from every hook until
 * done; idempotent and race-free (each pointer is written with the same value). */
static __attribute__((noinline, cold)) void resolve(void)
{
    int saved = errno;
    cp_shim_resolve();
    real_mutex_trylock = sym("pthread_mutex_trylock", NULL);
    real_mutex_timedlock = sym("pthread_mutex_timedlock", NULL);
    real_rdlock = sym("pthread_rwlock_rdlock", NULL);
    real_wrlock = sym("pthread_rwlock_wrlock", NULL);
    real_tryrdlock = sym("pthread_rwlock_tryrdlock", NULL);
    real_trywrlock = sym("pthread_rwlock_trywrlock", NULL);
    real_timedrdlock = sym("pthread_rwlock_timedrdlock", NULL);
    real_timedwrlock = sym("pthread_rwlock_timedwrlock", NULL);
    real_cond_wait = sym("pthread_cond_wait", "GLIBC_2.3.2");
    void *cond_v = dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.3.2");
    __atomic_store_n(&old_is_current, cond_v && real_cond_wait != cond_v, __ATOMIC_RELAXED);
    real_cond_timedwait = sym("pthread_cond_timedwait", "GLIBC_2.3.2");
    real_sem_wait = sym("sem_wait", NULL);
    real_sem_trywait = sym("sem_trywait", NULL);
    real_sem_timedwait = sym("sem_timedwait", NULL);
    real_join = sym("pthread_join", NULL);
    real_tryjoin = sym("pthread_tryjoin_np", NULL);
    real_timedjoin = sym("pthread_timedjoin_np", NULL);
    real_clockjoin = sym("pthread_clockjoin_np", NULL);
    real_thrd_join = sym("thrd_join", NULL);
    real_barrier_wait = sym("pthread_barrier_wait", NULL);
    real_create = sym("pthread_create", NULL);
    real_mutex_clocklock = sym("pthread_mutex_clocklock", NULL);
    real_mtx_lock = sym("mtx_lock", NULL);
    real_mtx_timedlock = sym("mtx_timedlock", NULL);
    real_mtx_unlock = sym("mtx_unlock", NULL);
    real_cnd_wait = sym("cnd_wait", NULL);
    real_cnd_timedwait = sym("cnd_timedwait", NULL);
    real_rw_unlock = sym("pthread_rwlock_unlock", NULL);
    real_clockrdlock = sym("pthread_rwlock_clockrdlock", NULL);
    real_clockwrlock = sym("pthread_rwlock_clockwrlock", NULL);
    real_cond_clockwait = sym("pthread_cond_clockwait", NULL);
    real_sem_clockwait = sym("sem_clockwait", NULL);
    real_spin_lock = sym("pthread_spin_lock", NULL);
    real_spin_trylock = sym("pthread_spin_trylock", NULL);
    __atomic_store_n(&real_cond_signal, sym("pthread_cond_signal", "GLIBC_2.3.2"),
                     __ATOMIC_RELEASE);
    __atomic_store_n(&real_cond_broadcast, sym("pthread_cond_broadcast", "GLIBC_2.3.2"),
                     __ATOMIC_RELEASE);
    __atomic_store_n(&real_cnd_signal, sym("cnd_signal", NULL), __ATOMIC_RELEASE);
    __atomic_store_n(&real_cnd_broadcast, sym("cnd_broadcast", NULL), __ATOMIC_RELEASE);
    __atomic_store_n(&real_mutex_lock, sym("pthread_mutex_lock", NULL), __ATOMIC_RELEASE);
    __atomic_store_n(&real_mutex_unlock, sym("pthread_mutex_unlock", NULL), __ATOMIC_RELEASE);
    /* release: the pointers are visible to whoever sees resolved */
    __atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
    errno = saved;
}

#define NEED()                                                                                     \
    do {                                                                                           \
        if (UNLIKELY(!__atomic_load_n(&resolved, __ATOMIC_ACQUIRE)))                               \
            resolve();                                                                             \
    } while (0)

static int early_lock(pthread_mutex_t *m)
{
    resolve();
    return real_mutex_lock(m);
}

static int early_unlock(pthread_mutex_t *m)
{
    resolve();
    return real_mutex_unlock(m);
}

#define EARLY_SIGNAL(stub, real)                                                                   \
    static int stub(pthread_cond_t *c)                                                             \
    {                                                                                              \
        resolve();                                                                                 \
        return real(c);                                                                            \
    }
EARLY_SIGNAL(early_cond_signal, real_cond_signal)
EARLY_SIGNAL(early_cond_broadcast, real_cond_broadcast)
EARLY_SIGNAL(early_cnd_signal, real_cnd_signal)
EARLY_SIGNAL(early_cnd_broadcast, real_cnd_broadcast)

static int profiling(void)
{
    return cp_shim_state == CP_SHIM_ON && !cp_tls.guard;
}

/* A wait or contention in the profiler's own code (the guard is held: libunwind, the
 * module table, the flusher) is the profiler's, not the program's: Go's mLockProfile
 * lesson. It is never reported as a contention (recording it would re-enter the
 * profiler); it is counted in ctrprof/health:profiler-waits, so it is not silent either. */
static void self_contention(void)
{
    if (cp_shim_state == CP_SHIM_ON && cp_tls.guard)
        cp_prof_lost(CP_PROFILER_WAITS, 1);
}

/* ---- recording --------------------------------------------------------------------- */

static uint64_t rnd(void)
{
    if (UNLIKELY(!cp_tls.seeded))
        cp_shim_seed_thread();
    return cp_rand64(&cp_tls.rng);
}

/* The thread's countdowns to its next tracked wait (mutex profile) and to its next lock
 * wait measured for the block profile (when that fraction is not the mutex profile's):
 * the waits still to come up to and including it; 0: to be drawn (a new thread, or the
 * last one was chosen). */
static __thread uint64_t waits_to_tracked, waits_to_timed;

/* 1 in f waits, f above 1: a countdown a thread draws once per chosen wait (cp_mutex_gap,
 * geometric: each wait still chosen independently with probability 1/f), so a wait not
 * chosen costs a decrement. */
static __attribute__((noinline)) bool countdown_draw(uint64_t *left_of, uint64_t f)
{
    uint64_t left = cp_mutex_gap(f, rnd()) + 1;
    *left_of = left - 1;
    return left == 1;
}

static inline bool countdown(uint64_t *left_of, uint64_t f)
{
    if (f <= 1)
        return f == 1;
    uint64_t left = *left_of;
    if (UNLIKELY(left == 0))
        return countdown_draw(left_of, f);
    *left_of = left - 1;
    return left == 1;
}

/* Is this wait on a lock (or sleep on a condition variable) tracked for the mutex
 * profile? 1 in CTRPROF_MUTEX_FRACTION, decided before anything of it is registered:
 * an untracked wait costs the waiter table nothing (core/contention.c, "sampled by the
 * wait"). Fraction 1 (every wait) draws nothing. */
static inline bool tracked(void)
{
    return countdown(&waits_to_tracked, cp_opts.mutex_fraction);
}

/* Is this lock wait (the thread holds the lock after it: a mutex, rwlock or spin lock)
 * measured for the block profile? 1 in CTRPROF_BLOCK_LOCK_FRACTION, each kept sample
 * counted that many times (core/contention_sample.c): its end is read just after the lock
 * is taken, inside the program's critical section, which every thread queued behind it
 * then waits for (bench/progs/workqueue: 1.28x bare with every one measured, a `pause` in
 * place of the read the same). At the mutex profile's fraction (the default), the very
 * waits it tracks (reg: this wait's tracking), which read the clock anyway; a spin lock,
 * never tracked, and other fractions draw their own. */
static inline bool lock_timed(bool registrable, bool reg)
{
    uint64_t f = cp_opts.block_lock_fraction;
    if (registrable && f == cp_opts.mutex_fraction)
        return reg;
    return countdown(&waits_to_timed, f);
}

/* Tracked waits in progress, while the mutex profile samples (fraction above 1): lock
 * waits from before their registration to after its end, condition-variable sleepers from
 * before they are counted to after they are back (their woken re-locks are registered on
 * the mutex meanwhile). While it is 0, which at the default fraction is nearly always, no
 * wait is in the waiter table, so an unlock with waiters, an untracked sleeper's release
 * of its mutex and a signal read nothing else of ours (no table hint, no map, no mutex
 * kind). Written only by tracked waits, 1 in the fraction; at fraction 1 every wait is
 * tracked and the count would be one more shared line written per wait: not kept
 * (tracked_maybe). A waiter adds itself before its registration marks the lock word (a
 * seq_cst exchange, so ordered after the add): an unlock that sees the mark reads the
 * count after it (x86: loads in order), as it read the table's hint before. A sleeper
 * adds itself holding its mutex, before its wait releases it: a signaller holding that
 * mutex reads the count after it. */
static struct cp_line_u64 tracked_live; /* (line.h: read at every signal and broadcast) */

static inline bool tracked_maybe(void)
{
    return cp_opts.mutex_fraction == 1 || __atomic_load_n(&tracked_live.v, __ATOMIC_ACQUIRE);
}

static void live_add(void)
{
    if (cp_opts.mutex_fraction != 1)
        __atomic_add_fetch(&tracked_live.v, 1, __ATOMIC_SEQ_CST);
}

static void live_sub(void)
{
    if (cp_opts.mutex_fraction != 1)
        __atomic_sub_fetch(&tracked_live.v, 1, __ATOMIC_RELEASE);
}

/* A kept sample: its profile, scaled count and delay. */
struct sample {
    enum cp_ptype type;
    uint64_t count_q16, delay;
};

/* n samples at the caller's stack, walked once: a condition-variable wait keeps up to
 * two (its release of the mutex, its blocking) at the same stack, and the walk is the
 * largest part of a record (bench/progs/hotpath cond: ~530 of the ~1,070 instructions a
 * wait's two samples cost; walked for each, they cost ~2,300). */
static void record_at(const uintptr_t *pcs, unsigned k, const struct sample *s, unsigned n)
{
    struct cp_thread *t = cp_shim_thread();
    for (unsigned i = 0; i < n; i++)
        cp_event_delay(t, cp_bucket_get(s[i].type, pcs, k), s[i].count_q16, s[i].delay);
}

/* fr (here and below): the frame of the hook the program called, or of the function it
 * tail-called (__builtin_frame_address there), so that the walk starts at the program's
 * frame and does not walk the shim's own frames only to drop them (cp_shim_stack checks
 * that its return address is the program's, else walks them all): ~30% of a cond wait's
 * walk (bench/progs/hotpath cond under callgrind: 401 -> 275 instructions, session
 * lockq2). */
static void record_n(const struct sample *s, unsigned n, const uintptr_t *fr)
{
    int64_t cd = cp_shim_enter();
    uintptr_t raw[CP_SHIM_RAW];
    unsigned k;
    const uintptr_t *pcs = cp_shim_stack(raw, &k, fr);
    record_at(pcs, k, s, n);
    cp_shim_leave(cd);
}

/* The stack of a wait on a lock, walked before the wait when its block sample is likely:
 * after the wait the thread holds the lock, and a walk there lengthens its critical
 * section for every thread waiting behind it (bench/progs/workqueue at a block rate of
 * 10 us, where nearly every wait was kept). Whether the sample is kept depends on the
 * wait's length d against the threshold r drawn before it (kept iff r <= d,
 * cp_block_sample_at): walked before when r <= (rate - 1)/8 (a wait of rate/8 would be kept),
 * else after the wait and only if kept, which a wait shorter than rate/8 never is. A walk
 * before that turns out not to be needed costs the waiting thread, which would only have
 * waited, and nobody else; walked before every wait, as until session lockq2, it was
 * ~650 of the ~1,250 instructions of a contended lock (`hotpath lockwait`) at a block
 * rate no wait reached. The stack is the same before and after: the choice changes where
 * the cost lands, not the profile. */
struct prewalk {
    uintptr_t raw[CP_SHIM_RAW];
    const uintptr_t *pcs;
    unsigned k;
};

static void prewalk(struct prewalk *w, const uintptr_t *fr)
{
    int64_t cd = cp_shim_enter();
    w->pcs = cp_shim_stack(w->raw, &w->k, fr);
    cp_shim_leave(cd);
}

/* An unlock's charge of the tracked waits, scaled, recorded at the caller's stack. */
static void charged(uint32_t waits, uint64_t delay, const uintptr_t *fr)
{
    struct sample s = {CP_MUTEX, 0, 0};
    if (cp_mutex_scale(waits, delay, cp_opts.mutex_fraction, &s.count_q16, &s.delay))
        record_n(&s, 1, fr);
}

/* The thread's block-profile pace under CTRPROF_BLOCK_BUDGET (contention.h): its shift
 * raises the rate its next waits are judged by; changed only at a kept sample. */
static __thread struct cp_block_pace block_pace;

/* The block profile's threshold for the next wait, drawn before it, at the thread's
 * rate, which it carries (contention.h). */
static uint64_t block_threshold(void)
{
    return cp_block_threshold_shifted(cp_opts.block_rate, block_pace.shift, rnd());
}

/* Is a lock's block sample likely (a wait of an eighth of the rate would be kept)? */
static inline bool block_likely(uint64_t r)
{
    return (r & CP_BLOCK_R_MASK) <= (cp_block_rate_of(cp_opts.block_rate, r) - 1) / 8;
}

/* A kept sample counts against the thread's budget: its rate doubles past it, halves
 * under a quarter of it (contention.h); a sample kept at a raised rate is counted in
 * ctrprof/health:block-thinned, and the highest rate in ctrprof/health:block-rate-max. */
static __attribute__((noinline)) void block_paced(uint64_t r, uint64_t now)
{
    if (r >> CP_BLOCK_SHIFT_AT)
        __atomic_add_fetch(&cp_block_thinned, 1, __ATOMIC_RELAXED);
    unsigned was = block_pace.shift;
    unsigned sh = cp_block_pace_kept(&block_pace, now, cp_opts.block_budget,
                                     cp_block_shift_max(cp_opts.block_rate));
    if (sh > was) {
        uint64_t rate = cp_opts.block_rate << sh;
        uint64_t m = __atomic_load_n(&cp_block_rate_max, __ATOMIC_RELAXED);
        while (m < rate && !__atomic_compare_exchange_n(&cp_block_rate_max, &m, rate, true,
                                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
    }
}

/* A wait of t1 - t0 ns at the caller's stack against threshold r (block profile): kept
 * in *s? The common case, a wait shorter than r, is one compare inline. lock: a lock wait,
 * measured 1 in CTRPROF_BLOCK_LOCK_FRACTION (lock_timed) and so counted that many times. */
static inline bool block_kept(uint64_t t0, uint64_t t1, uint64_t r, bool lock, struct sample *s)
{
    uint64_t d = cp_elapsed(t0, t1);
    if (!cp_block_keeps(d, r))
        return false;
    s->type = CP_BLOCK;
    if (!cp_block_sample_at(d, cp_block_rate_of(cp_opts.block_rate, r), r & CP_BLOCK_R_MASK,
                            &s->count_q16, &s->delay))
        return false;
    if (lock && cp_opts.block_lock_fraction > 1)
        cp_block_scale(cp_opts.block_lock_fraction, &s->count_q16, &s->delay);
    if (cp_opts.block_budget && cp_opts.block_rate > 1)
        block_paced(r, t1);
    return true;
}

static __attribute__((noinline)) void blocked_slow(uint64_t t0, uint64_t t1, uint64_t r, bool lock,
                                                   const uintptr_t *fr)
{
    struct sample s;
    if (block_kept(t0, t1, r, lock, &s))
        record_n(&s, 1, fr);
}

/* (the common case, a wait not kept, one compare inline: out of line, the kept path's
 * prologue cost every wait ~30 instructions, callgrind, `hotpath lockwait`) */
static inline void blocked(uint64_t t0, uint64_t t1, uint64_t r, bool lock, const uintptr_t *fr)
{
    if (cp_block_keeps(cp_elapsed(t0, t1), r))
        blocked_slow(t0, t1, r, lock, fr);
}

/* w: the stack walked before the wait (walked), or its buffer, walked into now if the
 * sample is kept: one buffer on the program's stack either way (tests/e2e/stacks.sh's
 * bounds: a second one, record_n's, below the first took a libunwind walk on an
 * alternate signal stack past them) */
static __attribute__((noinline)) void blocked_at_slow(struct prewalk *w, bool walked, uint64_t t0,
                                                      uint64_t t1, uint64_t r, const uintptr_t *fr)
{
    struct sample s;
    if (!block_kept(t0, t1, r, true, &s))
        return;
    if (!walked)
        prewalk(w, fr);
    int64_t cd = cp_shim_enter();
    record_at(w->pcs, w->k, &s, 1);
    cp_shim_leave(cd);
}

static inline void blocked_at(struct prewalk *w, bool walked, uint64_t t0, uint64_t t1, uint64_t r,
                              const uintptr_t *fr)
{
    if (cp_block_keeps(cp_elapsed(t0, t1), r))
        blocked_at_slow(w, walked, t0, t1, r, fr);
}

/* ---- waiting and charging, shared by every lock ------------------------------------ */

/* A wait on lock `addr` (a mutex or rwlock: registered in the waiter table, so that the
 * unlock that releases it is charged the delay, Go's mutex profile; NULL for waits that
 * no unlock ends: semaphores, condition variables, barriers, joins, spin locks) by
 * `call`, measured for the block profile. Returns what call returned, errno as it left it.
 * A lock's stack is walked before the wait when its sample is likely (prewalk), once the
 * wait is registered, so that an unlock during the walk is charged it as it would be
 * without one (walked before registering, a waiter preempted in its walk went uncharged:
 * locks.sh's recursive check failed once so under load); a lock freed during the walk
 * adds the rest of the walk to the block delay. The others' (no lock held after them; a
 * spin lock's waits are too short for a walk each) after the wait, only when the sample
 * is kept. A tracked wait counts itself in tracked_live for its whole registration. A
 * wait that leaves the thread holding a lock (held: mutexes, rwlocks, spin locks) is
 * measured for the block profile only 1 in CTRPROF_BLOCK_LOCK_FRACTION (lock_timed);
 * one neither profile wants reads no clock. */
#define WAIT(addr, call) WAIT_MARKED(addr, NULL, a_ != NULL, call) /* (a_: addr, below) */

/* Does a profile want this wait (registrable: on a lock an unlock ends, which the mutex
 * profile may track; held: the thread holds a lock after it)? *reg: tracked (the mutex
 * profile's sample, drawn before the table is touched); *timed: measured for the block
 * profile. False also when the profiler itself waits (counted: self_contention). */
static inline bool wait_wanted(bool registrable, bool held, bool *reg, bool *timed)
{
    if (!profiling()) {
        self_contention();
        return false;
    }
    *reg = registrable && tracked();
    *timed = cp_opts.block_rate && (!held || lock_timed(registrable, *reg));
    return *reg || *timed;
}

/* mark: a lock word the registration sets to "waiters" (mutexes, see waiter_mark). */
#define WAIT_MARKED(addr, mark, held, call)                                                        \
    do {                                                                                           \
        const void *a_ = (addr);                                                                   \
        bool reg_, timed_;                                                                         \
        if (!wait_wanted(a_ != NULL, (held), &reg_, &timed_))                                      \
            return call;                                                                           \
        WAIT_DECIDED(a_, mark, held, reg_, timed_, call);                                          \
    } while (0)

/* The measured wait, once a profile wants it (reg: tracked for the mutex profile; timed:
 * measured for the block profile). */
#define WAIT_DECIDED(a, mark, held, reg, timed, call)                                              \
    do {                                                                                           \
        const void *wa_ = (a);                                                                     \
        bool wreg_ = (reg), wtimed_ = (timed), wheld_ = (held);                                    \
        int saved_ = errno;                                                                        \
        uint64_t t0_;                                                                              \
        bool in_ = false;                                                                          \
        uint64_t th_ = wtimed_ ? block_threshold() : 0;                                            \
        if (wreg_) {                                                                               \
            live_add();                                                                            \
            in_ = cp_contention_begin(wa_, &t0_, (mark));                                          \
        } else {                                                                                   \
            t0_ = cp_now_ns();                                                                     \
        }                                                                                          \
        struct prewalk w_;                                                                         \
        bool walked_ = wa_ && wtimed_ && block_likely(th_);                                        \
        if (walked_) /* registered first: an unlock meanwhile is charged this wait */              \
            prewalk(&w_, __builtin_frame_address(0));                                              \
        errno = saved_;                                                                            \
        int r_ = call;                                                                             \
        saved_ = errno;                                                                            \
        uint64_t t1_ = wtimed_ ? cp_now_ns() : 0; /* (the end needs none) */                       \
        if (in_)                                                                                   \
            cp_contention_end(wa_, t0_, t1_);                                                      \
        else if (wreg_) /* its bucket was full: charged to no unlock */                            \
            cp_prof_lost(CP_LOST_NBUCKET, 1);                                                      \
        if (wreg_)                                                                                 \
            live_sub();                                                                            \
        if (wa_ && wtimed_)                                                                        \
            blocked_at(&w_, walked_, t0_, t1_, th_, __builtin_frame_address(0));                   \
        else if (wtimed_)                                                                          \
            blocked(t0_, t1_, th_, wheld_, __builtin_frame_address(0));                            \
        errno = saved_;                                                                            \
        return r_;                                                                                 \
    } while (0)

/* An unlock that releases lock `addr` to its waiters: the waiting they did is taken from
 * the table now, before the real unlock (`call`), at the moment of the hand-over, as Go's
 * unlock does: no waiter can have acquired and left with its time uncharged, and the
 * unlocker's own futex wake is not part of it. Sampled and recorded after the real
 * unlock, so the critical section is not lengthened by a stack walk. */
#define RELEASE_CHARGED(addr, call)                                                                \
    do {                                                                                           \
        int saved_ = errno;                                                                        \
        uint64_t now_;                                                                             \
        uint32_t waits_;                                                                           \
        uint64_t delay_ = cp_contention_charge((addr), &now_, &waits_);                            \
        errno = saved_;                                                                            \
        int r_ = call;                                                                             \
        if ((delay_ || waits_) && r_ == 0) {                                                       \
            saved_ = errno;                                                                        \
            charged(waits_, delay_, __builtin_frame_address(0));                                   \
            errno = saved_;                                                                        \
        }                                                                                          \
        return r_;                                                                                 \
    } while (0)

/* ---- mutexes ----------------------------------------------------------------------- */

/* Is the lock word, unsigned, above k? Compared in memory: one instruction for the load
 * and the test (as core/live.h's filter; GCC does not fold an __atomic load into a
 * compare). k = 0: the mutex is taken; k = 1 at unlock: waiters (2, or the FUTEX_WAITERS
 * sign bit of a robust or PI mutex), or a robust or PI mutex's owner id (sorted out by
 * unlock_peeked). */
static inline bool lock_word_above(pthread_mutex_t *m, unsigned k)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
    bool a;
    __asm__("cmpl %2, %1" : "=@cca"(a) : "m"(m->__data.__lock), "ir"(k));
    return a;
#else
    return (unsigned)__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) > k;
#endif
}

/* How a waiting lock call is made: the hooks share one waiting path. */
enum how { BY_LOCK, BY_TIMED, BY_CLOCK, BY_MTX, BY_MTX_TIMED };

static int lock_call(enum how h, pthread_mutex_t *m, clockid_t clk, const struct timespec *abs)
{
    switch (h) {
    case BY_TIMED:
        return real_mutex_timedlock(m, abs);
    case BY_CLOCK:
        return real_mutex_clocklock(m, clk, abs);
    case BY_MTX:
        return real_mtx_lock(m);
    case BY_MTX_TIMED:
        return real_mtx_timedlock(m, abs);
    default:
        return real_mutex_lock(m);
    }
}

/* A registered waiter has the lock word marked "locked, waiters" (1 -> 2, what glibc's
 * own waiter writes before it sleeps) in the same table critical section as its
 * registration, so that an unlock sees a waiter exactly when the table has it: without
 * it, a waiter preempted between registering and glibc's mark would let that unlock go
 * uncharged, and its waiting so far would be charged to a later unlock, maybe at another
 * site; marked before registering, an unlock in between would charge nothing and the
 * contention would be lost. A 2 costs glibc's unlock one futex wake, as any waiter does.
 * Only the 0/1/2 kinds, never process-shared ones (read, never written) nor robust, PI
 * or PP ones (other word protocols). */
static int *waiter_mark(pthread_mutex_t *m)
{
    int kind = __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED);
    return kind & (16 | 32 | 64 | 128) ? NULL : &m->__data.__lock;
}

static __attribute__((noinline, cold)) int mutex_wait_measured(pthread_mutex_t *m, enum how h,
                                                               clockid_t clk,
                                                               const struct timespec *abs, bool reg,
                                                               bool timed)
{
    WAIT_DECIDED(m, waiter_mark(m), true, reg, timed, lock_call(h, m, clk, abs));
}

/* WAIT_MARKED's decision, apart from the measured wait: at the defaults 99 lock waits in
 * 100 are wanted by neither profile, and the measured path's frame (its registers, the
 * prewalk buffer) cost each of them ~40 instructions before it returned (callgrind,
 * `hotpath lockwait`). */
static inline int mutex_wait(pthread_mutex_t *m, enum how h, clockid_t clk,
                             const struct timespec *abs)
{
    bool reg, timed;
    if (!wait_wanted(true, true, &reg, &timed))
        return lock_call(h, m, clk, abs);
    return mutex_wait_measured(m, h, clk, abs, reg, timed);
}

/* The lock word was not 0. A recursive or error-checking mutex held by this very thread
 * is not a wait: trylock tells (it succeeds, or says EBUSY/EDEADLK as lock would). The
 * C11 hooks share this: mtx_trylock is pthread_mutex_trylock on the same object, and
 * anything but EBUSY goes to mtx_lock itself, which returns glibc's translation. A
 * normal or adaptive mutex (type 0 or 3, not robust, PI or PP: glibc's own lock then
 * only waits, whoever holds it) needs no trylock: its lock word taken means a wait, and
 * the trylock was a locked compare-and-exchange on the contended line (~30 instructions,
 * and a cache-line transfer from the holder's core) on every contended lock. One freed
 * between the peek and the real lock is measured as a wait of the few instructions it
 * took (the trylock took it unmeasured). */
static inline bool mutex_plain(pthread_mutex_t *m)
{
    int k = __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & (3 | 16 | 32 | 64);
    return k == 0 || k == 3;
}

static __attribute__((noinline)) int mutex_try_then_wait(pthread_mutex_t *m, enum how h,
                                                         clockid_t clk, const struct timespec *abs)
{
    NEED();
    if (mutex_plain(m))
        return mutex_wait(m, h, clk, abs);
    int r = real_mutex_trylock(m);
    if (r == 0)
        return 0; /* thrd_success is 0 too */
    if (r != EBUSY && (h == BY_MTX || h == BY_MTX_TIMED))
        return lock_call(h, m, clk, abs);
    if (r != EBUSY)
        return r;
    return mutex_wait(m, h, clk, abs);
}

/* The lock word says whether the mutex is free right now: 0 for every kind (normal,
 * recursive, error-checking: 0/1/2; robust and PI: 0 or the owner's TID). Free: the real
 * lock, as a tail call, with nothing measured. Taken: the waiting path, which measures.
 * A mutex taken by someone else between the peek and the real lock is waited for
 * unmeasured: the price of an uncontended path with no clock read and no trylock (glibc's
 * trylock costs about 30 instructions more than its lock). That window is a few
 * instructions long, against waits of microseconds, so few contention events fall in it;
 * they are missed, not mis-charged. */
HOT int pthread_mutex_lock(pthread_mutex_t *m)
{
    if (__builtin_expect(!lock_word_above(m, 0), 1))
        return __atomic_load_n(&real_mutex_lock, __ATOMIC_RELAXED)(m);
    return mutex_try_then_wait(m, BY_LOCK, 0, NULL);
}

EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
    return mutex_try_then_wait(m, BY_TIMED, 0, abs);
}

/* glibc checks the clock before anything else (EINVAL even on a free mutex): so do we. */
EXPORT int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk, const struct timespec *abs)
{
    NEED();
    if (clk != CLOCK_MONOTONIC && clk != CLOCK_REALTIME)
        return real_mutex_clocklock(m, clk, abs);
    return mutex_try_then_wait(m, BY_CLOCK, clk, abs);
}

EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
    NEED();
    return real_mutex_trylock(m);
}

/* C11 mutexes: glibc's mtx_* call its pthread functions directly, not through the PLT
 * (objdump of libc.so.6 2.36: mtx_lock calls ___pthread_mutex_lock), so the pthread hooks
 * never see them: they are hooked themselves, the same peeks, glibc's return codes. */
EXPORT int mtx_lock(mtx_t *c)
{
    pthread_mutex_t *m = (pthread_mutex_t *)c;
    if (__builtin_expect(!lock_word_above(m, 0), 1)) {
        NEED();
        return real_mtx_lock(m);
    }
    return mutex_try_then_wait(m, BY_MTX, 0, NULL);
}

EXPORT int mtx_timedlock(mtx_t *restrict c, const struct timespec *restrict abs)
{
    return mutex_try_then_wait((pthread_mutex_t *)c, BY_MTX_TIMED, 0, abs);
}

/* Does this unlock release the mutex (rather than lower a recursion count, or fail)?
 * Read before the real unlock, by the owner, from glibc's own fields: __kind's low bits
 * are the type (1 recursive, 2 error-checking), 16 robust, 32 priority-inheritance; glibc
 * sets __owner on every lock. Those kinds refuse an unlock by another thread (EPERM), so
 * the owner is checked for them; a normal mutex is released by whoever unlocks it. */
static bool mutex_releases(pthread_mutex_t *m)
{
    int kind = __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED);
    int type = kind & 3;
    if (type != 1 && type != 2 && !(kind & 48))
        return true;
    if (__atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) != gettid())
        return false;
    return type != 1 || __atomic_load_n(&m->__data.__count, __ATOMIC_RELAXED) == 1;
}

static __attribute__((noinline, cold)) int unlock_charged(pthread_mutex_t *m,
                                                          int (*real)(pthread_mutex_t *))
{
    RELEASE_CHARGED(m, real(m));
}

/* (the checks apart from the charge: RELEASE_CHARGED's frame cost every unlock with
 * waiters ~15 instructions while no wait was tracked, the common case) */
static inline int unlock_waited(pthread_mutex_t *m, int (*real)(pthread_mutex_t *))
{
    if (!tracked_maybe() || !profiling() || !mutex_releases(m))
        return real(m);
    return unlock_charged(m, real);
}

/* The lock word was above 1. 2 = locked with waiters (normal, recursive, error-checking
 * mutexes); the FUTEX_WAITERS bit (the sign) for robust and priority-inheritance ones,
 * whose word is otherwise the owner's thread id: w ^ 2 <= 0 tests both with one xor and
 * one branch (0 exactly for 2, negative exactly when the sign is set). A robust mutex
 * owned by thread id 2 takes the waited path for nothing: unlock_waited finds no waiter
 * and charges nothing. */
static __attribute__((noinline, cold)) int unlock_peeked(pthread_mutex_t *m,
                                                         int (*real)(pthread_mutex_t *))
{
    int w = __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED);
    if ((w ^ 2) <= 0)
        return unlock_waited(m, real);
    return real(m);
}

HOT int pthread_mutex_unlock(pthread_mutex_t *m)
{
    /* Read before unlocking: afterwards the mutex may already be another thread's, or
     * freed. 0 or 1 (free, or locked without waiters) is the common case: one compare. */
    if (UNLIKELY(lock_word_above(m, 1)))
        return unlock_peeked(m, __atomic_load_n(&real_mutex_unlock, __ATOMIC_RELAXED));
    return __atomic_load_n(&real_mutex_unlock, __ATOMIC_RELAXED)(m);
}

EXPORT int mtx_unlock(mtx_t *c)
{
    pthread_mutex_t *m = (pthread_mutex_t *)c;
    NEED();
    if (UNLIKELY(lock_word_above(m, 1)))
        return unlock_peeked(m, real_mtx_unlock);
    return real_mtx_unlock(m);
}

/* ---- rwlocks: waiters are charged to the unlock that releases them (Go's RWMutex) ----- */

/* glibc's __readers word: bit 0 the write phase, bit 1 write-locked (in the read phase: a
 * writer waits for the readers to leave), readers counted from bit 3. In the write phase
 * the writer unlocks, and releases. In the read phase a reader unlocks, and releases
 * when it is the last reader (the one Go's RUnlock hands the writer over from), which
 * only the count before its decrement tells: readers leaving at the same instant would
 * each see the other, so while the rwlock has waits in progress they read the count and
 * decrement it in turn, under the waiter table's lock (core/contention.c, "unlocks that
 * decide"). */
static bool rwlock_write_phase(pthread_rwlock_t *l)
{
    return __atomic_load_n(&l->__data.__readers, __ATOMIC_RELAXED) & 1;
}

static bool rwlock_last_reader(pthread_rwlock_t *l)
{
    return __atomic_load_n(&l->__data.__readers, __ATOMIC_RELAXED) >> 3 == 1;
}

static int reader_unlock(pthread_rwlock_t *l)
{
    int saved = errno;
    void *held = cp_contention_hold(l);
    errno = saved;
    if (!held)
        return real_rw_unlock(l);
    if (!rwlock_last_reader(l)) {
        int r = real_rw_unlock(l); /* another reader stays: a compare-and-swap, no wake */
        cp_contention_unhold(held);
        return r;
    }
    uint64_t now;
    uint32_t waits;
    uint64_t delay = cp_contention_charge_held(held, l, &now, &waits);
    cp_contention_unhold(held);
    errno = saved;
    int r = real_rw_unlock(l);
    if ((delay || waits) && r == 0) {
        saved = errno;
        charged(waits, delay, __builtin_frame_address(0));
        errno = saved;
    }
    return r;
}

#define TRY_THEN_WAIT(addr, try_call, wait_call)                                                   \
    do {                                                                                           \
        NEED();                                                                                    \
        int r0_ = try_call;                                                                        \
        if (r0_ != EBUSY)                                                                          \
            return r0_;                                                                            \
        WAIT(addr, wait_call);                                                                     \
    } while (0)

EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    TRY_THEN_WAIT(l, real_tryrdlock(l), real_rdlock(l));
}

EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    TRY_THEN_WAIT(l, real_trywrlock(l), real_wrlock(l));
}

/* The timed and clock variants validate their timeout (and clock) before anything else,
 * so a try first would change what an invalid one returns: they are measured whole. */
EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *abs)
{
    NEED();
    WAIT(l, real_timedrdlock(l, abs));
}

EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *abs)
{
    NEED();
    WAIT(l, real_timedwrlock(l, abs));
}

EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t *l, clockid_t clk,
                                      const struct timespec *abs)
{
    NEED();
    WAIT(l, real_clockrdlock(l, clk, abs));
}

EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t *l, clockid_t clk,
                                      const struct timespec *abs)
{
    NEED();
    WAIT(l, real_clockwrlock(l, clk, abs));
}

/* Not on the mutex fast path: an rwlock unlock with the mutex profile on reads
 * tracked_live (0: nothing tracked anywhere) and then the __readers word and its
 * waiter-table bucket's `used` hint (no lock, no clock when nobody waits). */
EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
    NEED();
    if (!tracked_maybe() || !profiling())
        return real_rw_unlock(l);
    if (!rwlock_write_phase(l))
        return reader_unlock(l);
    RELEASE_CHARGED(l, real_rw_unlock(l));
}

/* ---- threads ----------------------------------------------------------------------- */

/* A single-threaded process has no flusher thread of ours (core/flusher.c, "who flushes"):
 * the program's first thread brings it, started here, before the real call, where
 * creating a thread is as safe as it is for the program. Should ours take the place
 * under RLIMIT_NPROC that the program's needs, ours steps aside and the call is made
 * again (nproc.c). */
EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    NEED();
    if (cp_shim_state == CP_SHIM_ON && !cp_tls.guard) {
        int saved = errno;
        int64_t cd = cp_shim_enter();
        cp_prof_threads_coming();
        cp_shim_leave(cd);
        cp_shim_deepbind_catch_up(); /* (a plugin's new thread runs its code at once) */
        errno = saved;
    }
    /* its stack block's size (a fiber mmap'd below a small one: stack.c's thread_bounds) */
    size_t ssz = 0;
    if (a && pthread_attr_getstacksize(a, &ssz) != 0)
        ssz = 0;
    cp_stack_thread_coming(ssz);
    int r = real_create(t, a, fn, arg);
    bool began;
    if (r == EAGAIN && cp_shim_nproc_retry_begin(&began)) { /* ours in the way? (nproc.c) */
        r = real_create(t, a, fn, arg);
        cp_shim_nproc_retry_end(began, r == 0);
    }
    cp_stack_thread_made(r == 0 ? (uintptr_t)*t : 0, ssz);
    return r;
}

/* The engine's own thread (the flusher), through the host table (shim.c): the real call,
 * without the hook above, which is the program's. */
int cp_shim_thread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    NEED();
    return real_create(t, a, fn, arg);
}

/* ---- waits that no unlock ends: the waiter's own stack (block profile) ------------- */

#define MEASURE(call)                                                                              \
    do {                                                                                           \
        NEED();                                                                                    \
        WAIT(NULL, call);                                                                          \
    } while (0)

EXPORT int pthread_join(pthread_t t, void **ret)
{
    TRY_THEN_WAIT(NULL, real_tryjoin(t, ret), real_join(t, ret));
}

/* The joins with a deadline, and C11's (glibc's thrd_join calls its internal join, not
 * through the PLT: the pthread_join hook never saw it): their waits were missing from the
 * block profile. Measured whole, without pthread_join's try first: a clock glibc does not
 * take is EINVAL from pthread_clockjoin_np even for a thread already gone, which a try
 * would have joined. */
EXPORT int pthread_timedjoin_np(pthread_t t, void **ret, const struct timespec *abs)
{
    MEASURE(real_timedjoin(t, ret, abs));
}

EXPORT int pthread_clockjoin_np(pthread_t t, void **ret, clockid_t clk, const struct timespec *abs)
{
    MEASURE(real_clockjoin(t, ret, clk, abs));
}

EXPORT int thrd_join(thrd_t t, int *res)
{
    MEASURE(real_thrd_join(t, res));
}

/* ---- condition variables ------------------------------------------------------------
 * The wait is the waiter's block event, whole (re-lock included). For the mutex profile,
 * as Go's Cond.Wait (Unlock, sleep, Lock): the wait's own release of the mutex is charged
 * here, at the wait's stack, before glibc releases it (its internal unlock is not hooked);
 * the sleeper is counted on the condition variable, so that a signal registers its
 * re-lock on the mutex from the signal on, charged to the unlock that hands it over
 * (core/contention.c, "condition variables"). All of it runs holding the mutex, before
 * the wait and after it, so it is kept to one waiter-table lock each side (the charge and
 * the count take the same one) and one stack walk, shared by the wait's two samples; the
 * walk cannot move out (the thread holds the mutex on both sides of the wait, and the
 * wait's frames are gone by its next unlock; deferring it to that unlock with the frames
 * checked is possible, but a build recording no cond-wait sample at all gained workqueue
 * ~2% at fraction 1 and nothing at the defaults: BENCHMARKS.md). A sleeper not tracked
 * for the mutex profile (tracked()) is not counted; its release still charges m's
 * tracked waits, if any wait is tracked at all (tracked_live). A tracked sleeper counts
 * itself in tracked_live from before it is counted on c to after it is back, so that a
 * signal sees it. */
static bool cond_releases(pthread_mutex_t *m)
{
    if (!lock_word_above(m, 1))
        return false;
    int w = __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED);
    return (w ^ 2) <= 0 && mutex_releases(m);
}

/* How a condition-variable wait is made: the hooks share one path. */
enum cond_how { CW_WAIT, CW_TIMED, CW_CLOCK, CW_CND, CW_CND_TIMED };

static int cond_call(enum cond_how h, pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
                     const struct timespec *abs)
{
    switch (h) {
    case CW_TIMED:
        return real_cond_timedwait(c, m, abs);
    case CW_CLOCK:
        return real_cond_clockwait(c, m, clk, abs);
    case CW_CND:
        return real_cnd_wait(c, m);
    case CW_CND_TIMED:
        return real_cnd_timedwait(c, m, abs);
    default:
        return real_cond_wait(c, m);
    }
}

/* A tracked sleeper cancelled in its wait (pthread_cancel: a condition-variable wait is a
 * cancellation point). glibc takes the mutex again and unwinds the thread through this
 * hook's frame, so the code after the wait never runs: without this cleanup the sleeper
 * stayed counted on the condition variable for ever, tracked_live with it (every later
 * signal and release took the slow path), and after a broadcast it was a waiter on the
 * mutex that never came back, charged to every later unlock of it (tests/programs/
 * cancelwait.c: 150 ms of delay in 92 ms of two threads' contention). Undone as a wait
 * that timed out is. */
struct cond_undo {
    pthread_cond_t *c;
    pthread_mutex_t *m;
};

static void cond_cancelled(void *arg)
{
    const struct cond_undo *u = arg;
    int saved = errno;
    cp_cond_woke(u->c, u->m, 0);
    live_sub();
    errno = saved;
}

/* The whole path: this sleeper is tracked (tr), or some wait is (tracked_live: its
 * release may owe a charge). */
static __attribute__((noinline)) int cond_wait_full(enum cond_how h, pthread_cond_t *c,
                                                    pthread_mutex_t *m, clockid_t clk,
                                                    const struct timespec *abs, bool tr)
{
    if (!cp_opts.mutex_fraction && !cp_opts.block_rate)
        return cond_call(h, c, m, clk, abs);
    int saved_ = errno;
    uint64_t released_ = 0, t0_ = 0;
    uint32_t rwaits_ = 0;
    bool slept_ = false;
    /* the release's clock read, if any, starts the wait; an untracked sleeper is not
     * counted, but its release still charges the tracked waits on m, if any */
    if (tr) {
        bool rel_ = cond_releases(m);
        live_add();
        slept_ = cp_cond_sleep(c, m, rel_, &released_, &t0_, &rwaits_);
        if (!slept_)
            live_sub();
    } else if (tracked_maybe() && cond_releases(m)) {
        released_ = cp_contention_charge(m, &t0_, &rwaits_);
    }
    uint64_t th_ = 0;
    if (cp_opts.block_rate) { /* the clock only for the block profile */
        th_ = block_threshold();
        if (!t0_)
            t0_ = cp_now_ns();
    }
    errno = saved_;
    int r_;
    if (slept_) {
        struct cond_undo u = {c, m};
        pthread_cleanup_push(cond_cancelled, &u);
        r_ = cond_call(h, c, m, clk, abs);
        pthread_cleanup_pop(0);
    } else {
        r_ = cond_call(h, c, m, clk, abs);
    }
    saved_ = errno;
    uint64_t t1_ = cp_opts.block_rate ? cp_now_ns() : 0;
    if (slept_) {
        cp_cond_woke(c, m, t1_);
        live_sub();
    }
    struct sample s_[2];
    unsigned n_ = 0;
    s_[0].type = CP_MUTEX;
    if ((released_ || rwaits_) &&
        cp_mutex_scale(rwaits_, released_, cp_opts.mutex_fraction, &s_[0].count_q16, &s_[0].delay))
        n_++;
    if (cp_opts.block_rate && block_kept(t0_, t1_, th_, false, &s_[n_]))
        n_++;
    if (n_)
        record_n(s_, n_, __builtin_frame_address(0)); /* one walk for both */
    errno = saved_;
    return r_;
}

/* An untracked sleeper's kept block sample (out of line: most waits are not kept). */
static __attribute__((noinline)) void cond_blocked(uint64_t t0, uint64_t t1, uint64_t th,
                                                   const uintptr_t *fr)
{
    int saved = errno;
    blocked(t0, t1, th, false, fr);
    errno = saved;
}

/* The common sleeper, at a mutex fraction above 1: not tracked, and no wait tracked
 * anywhere, so nothing of the mutex profile's; with the block profile on, the block
 * sample's threshold, two clock reads and one compare, inline, and the rest out of line
 * (the clock and the threshold leave errno alone); with it off, nothing (BENCHMARKS.md,
 * session lockq2: bench/progs/hotpath cond). */
#define COND_WAIT(h, c, m, clk, abs, call)                                                         \
    do {                                                                                           \
        NEED();                                                                                    \
        if (UNLIKELY(!profiling()))                                                                \
            return call;                                                                           \
        bool tr_ = tracked();                                                                      \
        if (UNLIKELY(tr_ || tracked_maybe()))                                                      \
            return cond_wait_full((h), (pthread_cond_t *)(c), (pthread_mutex_t *)(m), (clk),       \
                                  (abs), tr_);                                                     \
        if (!cp_opts.block_rate) /* nothing of either profile's to do */                           \
            return call;                                                                           \
        uint64_t th_ = block_threshold();                                                          \
        uint64_t t0_ = cp_now_ns();                                                                \
        int r_ = call;                                                                             \
        uint64_t t1_ = cp_now_ns();                                                                \
        if (UNLIKELY(cp_block_keeps(cp_elapsed(t0_, t1_), th_)))                                   \
            cond_blocked(t0_, t1_, th_, __builtin_frame_address(0));                               \
        return r_;                                                                                 \
    } while (0)

static inline __attribute__((always_inline)) int cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    COND_WAIT(CW_WAIT, c, m, 0, NULL, real_cond_wait(c, m));
}

static inline __attribute__((always_inline)) int
cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abs)
{
    COND_WAIT(CW_TIMED, c, m, 0, abs, real_cond_timedwait(c, m, abs));
}

EXPORT int CUR_COND(pthread_cond_wait, cp_hook_cond_wait)(pthread_cond_t *c, pthread_mutex_t *m)
{
    return cond_wait(c, m);
}

EXPORT int CUR_COND(pthread_cond_timedwait, cp_hook_cond_timedwait)(pthread_cond_t *c,
                                                                    pthread_mutex_t *m,
                                                                    const struct timespec *abs)
{
    return cond_timedwait(c, m, abs);
}

EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
                                  const struct timespec *abs)
{
    COND_WAIT(CW_CLOCK, c, m, clk, abs, real_cond_clockwait(c, m, clk, abs));
}

/* C11: cnd_* call glibc's pthread_cond_* directly (not through the PLT). */
EXPORT int cnd_wait(cnd_t *c, mtx_t *m)
{
    COND_WAIT(CW_CND, c, m, 0, NULL, real_cnd_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

EXPORT int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict abs)
{
    COND_WAIT(CW_CND_TIMED, c, m, 0, abs,
              real_cnd_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, abs));
}

/* Has c waiters, by glibc's own count (its signal and broadcast return at once when
 * __wrefs >> 3 is 0: nobody to wake)? Read from the condition variable the program is
 * signalling, so live; a line glibc's call reads next anyway. None: nothing of ours to
 * read either (a signal into an empty queue is common: workqueue's notfull, on every
 * task). A sleeper counted by us but not yet by glibc is one signalled without the mutex
 * held, which glibc's signal misses too. */
static bool cond_waited(pthread_cond_t *c)
{
    return __atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED) >> 3 != 0;
}

/* The woken are registered before the real signal wakes them (after it, one could return
 * before it was counted as woken). Nobody sleeping that no signal has woken: unlocked
 * reads only (the condition variable's mutex in the map, its bucket's hints). With no
 * tracked wait anywhere (tracked_live 0, above fraction 1), the hook is that one load
 * and a tail call: the rest is out of line, so the common signal pays no frame for it
 * (workqueue signals 4 M times a run, nearly always with no tracked sleeper). */
static __attribute__((noinline)) int signal_tracked(pthread_cond_t *c, bool all,
                                                    int (*real)(pthread_cond_t *))
{
    NEED();
    if (profiling() && cp_opts.mutex_fraction && cond_waited(c)) {
        int saved = errno;
        cp_cond_signal(c, all);
        errno = saved;
    }
    return real(c);
}

/* (both ways a tail call, no frame; the real function's pointer starts at a stub that
 * resolves: no NEED on the common way) */
#define SIGNAL(c, all, real)                                                                       \
    do {                                                                                           \
        int (*r_)(pthread_cond_t *) = __atomic_load_n(&(real), __ATOMIC_RELAXED);                  \
        if (UNLIKELY(tracked_maybe()))                                                             \
            return signal_tracked((pthread_cond_t *)(c), (all), r_);                               \
        return r_((pthread_cond_t *)(c));                                                          \
    } while (0)

HOT int CUR_COND(pthread_cond_signal, cp_hook_cond_signal)(pthread_cond_t *c)
{
    SIGNAL(c, false, real_cond_signal);
}

HOT int CUR_COND(pthread_cond_broadcast, cp_hook_cond_broadcast)(pthread_cond_t *c)
{
    SIGNAL(c, true, real_cond_broadcast);
}

/* The pre-2.3.2 condition-variable ABI: x86-64's pthread_cond_*@GLIBC_2.2.5, which
 * binaries linked before glibc 2.3.2 call, and valgrind's drd (its pthread_create wrapper
 * waits on one). Their pthread_cond_t holds only a pointer to a current one, allocated at
 * its first use. These hooks used to be unversioned, and so took those calls too and
 * handed the old variable to the current functions, which wrote over its pointer: drd
 * stopped in an assertion in free() at the first thread a program made ("handle_free:
 * Assertion 'success' failed": the old pthread_cond_destroy freed what was left there).
 * Now the hooks carry glibc's versions (CUR_COND above: the current ones GLIBC_2.3.2,
 * the default, and these GLIBC_2.2.5), so each call reaches the hook of its own ABI;
 * these make the current variable as glibc's old functions do (calloc, and free if
 * another thread made it first), and wait on it or signal it through the current hooks'
 * paths: profiled as any other. */
#if CP_COND_VERSIONS
struct old_cond {
    pthread_cond_t *cond; /* glibc's pthread_cond_2_0_t */
};

/* the current variable behind c, made now if it is not yet; NULL: no memory (ENOMEM) */
static pthread_cond_t *old_cond(void *c)
{
    NEED();
    if (__atomic_load_n(&old_is_current, __ATOMIC_RELAXED))
        return c; /* (a current-ABI variable: see old_is_current) */
    struct old_cond *o = c;
    pthread_cond_t *cur = __atomic_load_n(&o->cond, __ATOMIC_ACQUIRE);
    if (__builtin_expect(cur != NULL, 1))
        return cur;
    pthread_cond_t *made = calloc(1, sizeof *made); /* (the hooks, or the program's own) */
    if (!made)
        return NULL;
    if (__atomic_compare_exchange_n(&o->cond, &cur, made, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return made;
    free(made); /* another thread made it first: cur is its */
    return cur;
}

#if defined(__clang__)
#define OLD_ABI(name) EXPORT
#else
#define OLD_ABI(name) EXPORT __attribute__((symver(name "@GLIBC_2.2.5")))
#endif

OLD_ABI("pthread_cond_wait") int cp_old_cond_wait(void *c, pthread_mutex_t *m);
int cp_old_cond_wait(void *c, pthread_mutex_t *m)
{
    pthread_cond_t *cur = old_cond(c);
    return cur ? cond_wait(cur, m) : ENOMEM;
}

OLD_ABI("pthread_cond_timedwait")
int cp_old_cond_timedwait(void *c, pthread_mutex_t *m, const struct timespec *abs);
int cp_old_cond_timedwait(void *c, pthread_mutex_t *m, const struct timespec *abs)
{
    pthread_cond_t *cur = old_cond(c);
    return cur ? cond_timedwait(cur, m, abs) : ENOMEM;
}

OLD_ABI("pthread_cond_signal") int cp_old_cond_signal(void *c);
int cp_old_cond_signal(void *c)
{
    pthread_cond_t *cur = old_cond(c);
    if (!cur)
        return ENOMEM;
    SIGNAL(cur, false, real_cond_signal);
}

OLD_ABI("pthread_cond_broadcast") int cp_old_cond_broadcast(void *c);
int cp_old_cond_broadcast(void *c)
{
    pthread_cond_t *cur = old_cond(c);
    if (!cur)
        return ENOMEM;
    SIGNAL(cur, true, real_cond_broadcast);
}
#if defined(__clang__)
__asm__(".symver cp_hook_cond_wait, pthread_cond_wait@@GLIBC_2.3.2\n"
        ".symver cp_hook_cond_timedwait, pthread_cond_timedwait@@GLIBC_2.3.2\n"
        ".symver cp_hook_cond_signal, pthread_cond_signal@@GLIBC_2.3.2\n"
        ".symver cp_hook_cond_broadcast, pthread_cond_broadcast@@GLIBC_2.3.2\n"
        ".symver cp_old_cond_wait, pthread_cond_wait@GLIBC_2.2.5\n"
        ".symver cp_old_cond_timedwait, pthread_cond_timedwait@GLIBC_2.2.5\n"
        ".symver cp_old_cond_signal, pthread_cond_signal@GLIBC_2.2.5\n"
        ".symver cp_old_cond_broadcast, pthread_cond_broadcast@GLIBC_2.2.5\n");
#endif
#endif

HOT int cnd_signal(cnd_t *c)
{
    SIGNAL(c, false, real_cnd_signal);
}

HOT int cnd_broadcast(cnd_t *c)
{
    SIGNAL(c, true, real_cnd_broadcast);
}

EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
    MEASURE(real_barrier_wait(b));
}

/* A spin lock's wait is the waiter's CPU, spent spinning: recorded as blocking, like
 * every wait, measured when a peek and a trylock find it taken. Its unlock is not hooked:
 * no waiter mark exists in the lock word to tell a contended unlock from another, and
 * an unlock that is one store should stay one. */
/* glibc's x86-64 spin lock counts down: 1 is free, 0 or below taken (lock decl); the
 * generic one is 0 free, 1 taken. */
#if defined(__x86_64__)
#define SPIN_FREE(v) ((v) > 0)
#else
#define SPIN_FREE(v) ((v) == 0)
#endif

EXPORT int pthread_spin_lock(pthread_spinlock_t *s)
{
    NEED();
    if (__builtin_expect(SPIN_FREE(__atomic_load_n(s, __ATOMIC_RELAXED)), 1))
        return real_spin_lock(s);
    int r0 = real_spin_trylock(s);
    if (r0 != EBUSY)
        return r0;
    WAIT_MARKED(NULL, NULL, true, real_spin_lock(s)); /* held after it: a lock wait */
}

/* Semaphores report through errno: a failed trywait's EAGAIN must not leak out. */
EXPORT int sem_wait(sem_t *s)
{
    NEED();
    int saved = errno;
    if (real_sem_trywait(s) == 0)
        return 0;
    errno = saved;
    WAIT(NULL, real_sem_wait(s));
}

EXPORT int sem_timedwait(sem_t *s, const struct timespec *abs)
{
    MEASURE(real_sem_timedwait(s, abs));
}

EXPORT int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *abs)
{
    MEASURE(real_sem_clockwait(s, clk, abs));
}
