/*
 * pthread.c — the pthread half of the shim: mutex contention (charged to the unlocker,
 * as Go's mutex profile) and blocking (charged to the waiter, as Go's block profile).
 * Hooks only; the sampling and the waiter accounting are core/contention.c.
 *
 * Context: any application thread. The uncontended paths never read the clock, never
 * touch a shared line of ours and never look anything up:
 *   lock    = one read of the mutex's lock word; 0 (free): the real lock as a tail call;
 *             otherwise trylock decides (a recursive relock succeeds, EDEADLK comes from
 *             the real lock, robust EOWNERDEAD acquires in both) and only EBUSY waits;
 *   unlock  = one read of the mutex's own lock word (a line the owner holds anyway)
 *             before the real unlock: 2 (or the FUTEX_WAITERS bit) means someone waits.
 * Only when a thread has to wait does it read the clock, register in the waiter table,
 * wait in the real function, and record a block event; only an unlock that saw waiters
 * asks the table what its critical section cost them. Process-shared mutexes are read,
 * never written. Every hook returns exactly what the real function returned and leaves
 * errno as it left it.
 *
 * Not covered yet: binaries linked against the pre-2.3.2 condition-variable ABI (they
 * would get the current pthread_cond_wait).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <time.h>

#include "contention.h"
#include "sample.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define HOT __attribute__((visibility("default"), optimize("omit-frame-pointer")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

static int early_lock(pthread_mutex_t *m);
static int early_unlock(pthread_mutex_t *m);
/* The two hottest pointers start at stubs that resolve first: no NULL test on the path. */
static int (*real_mutex_lock)(pthread_mutex_t *) = early_lock;
static int (*real_mutex_trylock)(pthread_mutex_t *);
static int (*real_mutex_timedlock)(pthread_mutex_t *, const struct timespec *);
static int (*real_mutex_unlock)(pthread_mutex_t *) = early_unlock;
static int (*real_rdlock)(pthread_rwlock_t *);
static int (*real_wrlock)(pthread_rwlock_t *);
static int (*real_tryrdlock)(pthread_rwlock_t *);
static int (*real_trywrlock)(pthread_rwlock_t *);
static int (*real_timedrdlock)(pthread_rwlock_t *, const struct timespec *);
static int (*real_timedwrlock)(pthread_rwlock_t *, const struct timespec *);
static int (*real_cond_wait)(pthread_cond_t *, pthread_mutex_t *);
static int (*real_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
static int (*real_sem_wait)(sem_t *);
static int (*real_sem_trywait)(sem_t *);
static int (*real_sem_timedwait)(sem_t *, const struct timespec *);
static int (*real_join)(pthread_t, void **);
static int (*real_tryjoin)(pthread_t, void **);
static int (*real_barrier_wait)(pthread_barrier_t *);
static int (*real_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static int resolved;

static void *sym(const char *name, const char *version)
{
    void *p = version ? dlvsym(RTLD_NEXT, name, version) : NULL;
    return p ? p : dlsym(RTLD_NEXT, name);
}

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
    real_cond_timedwait = sym("pthread_cond_timedwait", "GLIBC_2.3.2");
    real_sem_wait = sym("sem_wait", NULL);
    real_sem_trywait = sym("sem_trywait", NULL);
    real_sem_timedwait = sym("sem_timedwait", NULL);
    real_join = sym("pthread_join", NULL);
    real_tryjoin = sym("pthread_tryjoin_np", NULL);
    real_barrier_wait = sym("pthread_barrier_wait", NULL);
    real_create = sym("pthread_create", NULL);
    __atomic_store_n(&real_mutex_lock, sym("pthread_mutex_lock", NULL), __ATOMIC_RELEASE);
    __atomic_store_n(&real_mutex_unlock, sym("pthread_mutex_unlock", NULL), __ATOMIC_RELEASE);
    /* release: the pointers are visible to whoever sees resolved */
    __atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
    errno = saved;
}

#define NEED()                                                                           \
    do {                                                                                   \
        if (UNLIKELY(!__atomic_load_n(&resolved, __ATOMIC_ACQUIRE)))                       \
            resolve();                                                                     \
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

static void record(enum cp_ptype type, uint64_t count_q16, uint64_t delay)
{
    int64_t cd = cp_shim_enter();
    uintptr_t raw[CP_SHIM_RAW];
    unsigned k;
    const uintptr_t *pcs = cp_shim_stack(raw, &k, NULL);
    struct cp_bucket *b = cp_bucket_get(type, 0, pcs, k);
    cp_event_delay(cp_shim_thread(), b, count_q16, delay);
    cp_shim_leave(cd);
}

/* A wait of t1 - t0 ns at the caller's stack (block profile). */
static void blocked(uint64_t t0, uint64_t t1)
{
    uint64_t c, d;
    if (cp_block_sample(t1 - t0, cp_opts.block_rate, rnd(), &c, &d))
        record(CP_BLOCK, c, d);
}

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

static int mutex_wait_peeked(pthread_mutex_t *m);

static __attribute__((noinline, cold)) int mutex_wait(pthread_mutex_t *m, const struct timespec *abs)
{
    if (!profiling()) {
        self_contention();
        return abs ? real_mutex_timedlock(m, abs) : real_mutex_lock(m);
    }
    int saved = errno;
    uint64_t t0 = cp_now_ns();
    bool registered = cp_opts.mutex_fraction && cp_contention_begin(m, t0);
    errno = saved;
    int r = abs ? real_mutex_timedlock(m, abs) : real_mutex_lock(m);
    saved = errno;
    uint64_t t1 = cp_now_ns();
    if (registered)
        cp_contention_end(m, t0, t1);
    else if (cp_opts.mutex_fraction)
        cp_prof_lost(CP_LOST_NBUCKET, 1); /* waiter table full: this wait is charged to nobody */
    if (cp_opts.block_rate)
        blocked(t0, t1);
    errno = saved;
    return r;
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
    return mutex_wait_peeked(m);
}

/* The lock word was not 0. A recursive or error-checking mutex held by this very thread
 * is not a wait: trylock tells (it succeeds, or says EBUSY/EDEADLK as lock would). */
static __attribute__((noinline)) int mutex_wait_peeked(pthread_mutex_t *m)
{
    NEED();
    int r = real_mutex_trylock(m);
    if (r != EBUSY)
        return r;
    return mutex_wait(m, NULL);
}

EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
    NEED();
    int r = real_mutex_trylock(m);
    if (r != EBUSY)
        return r;
    return mutex_wait(m, abs);
}

EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
    NEED();
    return real_mutex_trylock(m);
}

static __attribute__((noinline, cold)) void charge_unlock(pthread_mutex_t *m)
{
    if (!profiling() || !cp_opts.mutex_fraction)
        return;
    int saved = errno;
    uint64_t now;
    uint64_t delay = cp_contention_charge(m, &now);
    uint64_t c, d;
    if (delay && cp_mutex_sample(delay, cp_opts.mutex_fraction, rnd(), &c, &d))
        record(CP_MUTEX, c, d);
    errno = saved;
}

static __attribute__((noinline, cold)) int unlock_waited(pthread_mutex_t *m)
{
    int r = real_mutex_unlock(m);
    if (r == 0)
        charge_unlock(m);
    return r;
}

/* The lock word was above 1. 2 = locked with waiters (normal, recursive, error-checking
 * mutexes); the FUTEX_WAITERS bit (the sign) for robust and priority-inheritance ones,
 * whose word is otherwise the owner's thread id: w ^ 2 <= 0 tests both with one xor and
 * one branch (0 exactly for 2, negative exactly when the sign is set). A robust mutex
 * owned by thread id 2 takes the waited path for nothing: unlock_waited finds no waiter
 * and charges nothing. */
static __attribute__((noinline, cold)) int unlock_peeked(pthread_mutex_t *m)
{
    int w = __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED);
    if ((w ^ 2) <= 0)
        return unlock_waited(m);
    return __atomic_load_n(&real_mutex_unlock, __ATOMIC_RELAXED)(m);
}

HOT int pthread_mutex_unlock(pthread_mutex_t *m)
{
    /* Read before unlocking: afterwards the mutex may already be another thread's, or
     * freed. 0 or 1 (free, or locked without waiters) is the common case: one compare. */
    if (UNLIKELY(lock_word_above(m, 1)))
        return unlock_peeked(m);
    return __atomic_load_n(&real_mutex_unlock, __ATOMIC_RELAXED)(m);
}

/* ---- the other blocking calls: the waiter's own stack is charged ---------------------- */

#define TRY_THEN_WAIT(try_call, wait_call)                                                 \
    do {                                                                                   \
        NEED();                                                                            \
        int r_ = try_call;                                                                 \
        if (r_ != EBUSY)                                                                   \
            return r_;                                                                     \
        if (!profiling() || !cp_opts.block_rate) {                                         \
            self_contention();                                                             \
            return wait_call;                                                              \
        }                                                                                  \
        uint64_t t0_ = cp_now_ns();                                                        \
        r_ = wait_call;                                                                    \
        int saved_ = errno;                                                                \
        blocked(t0_, cp_now_ns());                                                         \
        errno = saved_;                                                                    \
        return r_;                                                                         \
    } while (0)

EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    TRY_THEN_WAIT(real_tryrdlock(l), real_rdlock(l));
}

EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    TRY_THEN_WAIT(real_trywrlock(l), real_wrlock(l));
}


/* ---- threads ----------------------------------------------------------------------- */

/* A single-threaded process has no flusher thread of ours (core/prof.c, "who flushes"):
 * the program's first thread brings it, started here, before the real call, where
 * creating a thread is as safe as it is for the program. */
EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    NEED();
    if (cp_shim_state == CP_SHIM_ON && !cp_tls.guard) {
        int saved = errno;
        int64_t cd = cp_shim_enter();
        cp_prof_threads_coming();
        cp_shim_leave(cd);
        errno = saved;
    }
    return real_create(t, a, fn, arg);
}

EXPORT int pthread_join(pthread_t t, void **ret)
{
    TRY_THEN_WAIT(real_tryjoin(t, ret), real_join(t, ret));
}

/* Always blocking: measured whole. */
#define MEASURE(call)                                                                      \
    do {                                                                                   \
        NEED();                                                                            \
        if (!profiling() || !cp_opts.block_rate)                                           \
            return call;                                                                   \
        uint64_t t0_ = cp_now_ns();                                                        \
        int r_ = call;                                                                     \
        int saved_ = errno;                                                                \
        blocked(t0_, cp_now_ns());                                                         \
        errno = saved_;                                                                    \
        return r_;                                                                         \
    } while (0)

EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    MEASURE(real_cond_wait(c, m));
}

EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abs)
{
    MEASURE(real_cond_timedwait(c, m, abs));
}

EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
    MEASURE(real_barrier_wait(b));
}

/* The timed variants validate their timeout before anything else, so a try first would
 * change what an invalid timeout returns: they are measured whole. */
EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *abs)
{
    MEASURE(real_timedrdlock(l, abs));
}

EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *abs)
{
    MEASURE(real_timedwrlock(l, abs));
}

/* Semaphores report through errno: a failed trywait's EAGAIN must not leak out. */
EXPORT int sem_wait(sem_t *s)
{
    NEED();
    int saved = errno;
    if (real_sem_trywait(s) == 0)
        return 0;
    errno = saved;
    if (!profiling() || !cp_opts.block_rate)
        return real_sem_wait(s);
    uint64_t t0 = cp_now_ns();
    int r = real_sem_wait(s);
    saved = errno;
    blocked(t0, cp_now_ns());
    errno = saved;
    return r;
}

EXPORT int sem_timedwait(sem_t *s, const struct timespec *abs)
{
    MEASURE(real_sem_timedwait(s, abs));
}
