/*
 * waitvariants.c — blocking through every clock, C11 and spin variant glibc exports
 * (issue 30). For each variant, 3 threads (1 for the spin lock: spinners starve the CPU
 * they would be measured on) block in wait_<variant>() while the main thread
 * holds the lock (or withholds the signal/post) ~20 ms, then releases at
 * release_<variant>(). Each waiter measures its own wait around the call. Prints
 *   <variant> <sum of the waits, ns> <sum of the waits up to the hand-over, ns>
 * the first for the block profile (at wait_<variant>), the second, for the locks an
 * unlock releases, for the mutex profile (at release_<variant>; 0 for the others).
 * A call that returns anything but success prints BAD. The joins (pthread_timedjoin_np,
 * pthread_clockjoin_np, C11's thrd_join): waiter k joins a thread of its own that returns
 * at the release.
 * x86-64: also the condition-variable ABI before glibc 2.3.2 (pthread_cond_*@GLIBC_2.2.5,
 * which old binaries and valgrind's drd call; its variable holds a pointer to a current one,
 * made at first use): old_cond_wait (one made by the old init, woken by a broadcast) and
 * old_cond_timedwait (a static one, first used by the wait, woken by three signals); both
 * destroyed at the end by the old destroy, which frees that pointer. Until the shim's
 * hooks carried glibc's versions (session 28), these calls reached the current functions,
 * which wrote over the pointer: the destroy crashed in free().
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#define WAITERS 3
#define HOLD_MS 20

static uint64_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct timespec far(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    ts.tv_sec += 60;
    return ts;
}

static pthread_mutex_t mu;
static pthread_rwlock_t rw;
static pthread_cond_t cv;
static sem_t sem;
static pthread_spinlock_t spin;
static mtx_t cm;
static cnd_t cc;
static int go;                     /* guarded by mu / cm: the condition waited for */
static pthread_t targets[WAITERS]; /* the joins': waiter k joins targets[k] */
static sem_t tsem;                 /* posted at the release: the targets return */
static __thread int wk;            /* this waiter's k */
static int entered;
static uint64_t waited, handed_sum, handed;
static uint64_t t0s[WAITERS];

#if defined(__x86_64__)
/* (each the size of a current one: the old shim's way of failing is the destroy's free,
 * not a write past the end) */
static union {
    void *cur;
    pthread_cond_t pad;
} ocv1, ocv2;
int old_cond_init(void *c, const pthread_condattr_t *a);
int old_cond_destroy(void *c);
int old_cond_wait(void *c, pthread_mutex_t *m);
int old_cond_timedwait(void *c, pthread_mutex_t *m, const struct timespec *abs);
int old_cond_signal(void *c);
int old_cond_broadcast(void *c);
__asm__(".symver old_cond_init, pthread_cond_init@GLIBC_2.2.5\n"
        ".symver old_cond_destroy, pthread_cond_destroy@GLIBC_2.2.5\n"
        ".symver old_cond_wait, pthread_cond_wait@GLIBC_2.2.5\n"
        ".symver old_cond_timedwait, pthread_cond_timedwait@GLIBC_2.2.5\n"
        ".symver old_cond_signal, pthread_cond_signal@GLIBC_2.2.5\n"
        ".symver old_cond_broadcast, pthread_cond_broadcast@GLIBC_2.2.5\n");
#endif

static void bad(const char *what, int r)
{
    printf("BAD %s returned %d\n", what, r);
}

#define WAITER(name, body)                                                                         \
    static __attribute__((noinline)) int wait_##name(void)                                         \
    {                                                                                              \
        body                                                                                       \
    }                                                                                              \
    static void *run_##name(void *arg)                                                             \
    {                                                                                              \
        int k = __atomic_fetch_add(&entered, 1, __ATOMIC_ACQ_REL);                                 \
        wk = k;                                                                                    \
        uint64_t t0 = t0s[k] = now();                                                              \
        int r = wait_##name();                                                                     \
        __atomic_add_fetch(&waited, now() - t0, __ATOMIC_RELAXED);                                 \
        if (r)                                                                                     \
            bad(#name, r);                                                                         \
        return arg;                                                                                \
    }

WAITER(mutex_clocklock, {
    struct timespec t = far(CLOCK_MONOTONIC);
    int r = pthread_mutex_clocklock(&mu, CLOCK_MONOTONIC, &t);
    pthread_mutex_unlock(&mu);
    return r;
})
WAITER(rwlock_clockrdlock, {
    struct timespec t = far(CLOCK_REALTIME);
    int r = pthread_rwlock_clockrdlock(&rw, CLOCK_REALTIME, &t);
    pthread_rwlock_unlock(&rw);
    return r;
})
WAITER(rwlock_clockwrlock, {
    struct timespec t = far(CLOCK_MONOTONIC);
    int r = pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &t);
    pthread_rwlock_unlock(&rw);
    return r;
})
WAITER(cond_clockwait, {
    struct timespec t = far(CLOCK_MONOTONIC);
    int r = 0;
    pthread_mutex_lock(&mu);
    while (!go && !r)
        r = pthread_cond_clockwait(&cv, &mu, CLOCK_MONOTONIC, &t);
    pthread_mutex_unlock(&mu);
    return r;
})
WAITER(sem_clockwait, {
    struct timespec t = far(CLOCK_MONOTONIC);
    return sem_clockwait(&sem, CLOCK_MONOTONIC, &t);
})
WAITER(spin_lock, {
    int r = pthread_spin_lock(&spin);
    pthread_spin_unlock(&spin);
    return r;
})
WAITER(mtx_lock, {
    int r = mtx_lock(&cm);
    mtx_unlock(&cm);
    return r;
})
WAITER(mtx_timedlock, {
    struct timespec t = far(CLOCK_REALTIME);
    int r = mtx_timedlock(&cm, &t);
    mtx_unlock(&cm);
    return r;
})
WAITER(cnd_wait, {
    int r = 0;
    mtx_lock(&cm);
    while (!go && !r)
        r = cnd_wait(&cc, &cm);
    mtx_unlock(&cm);
    return r;
})
WAITER(cnd_timedwait, {
    struct timespec t = far(CLOCK_REALTIME);
    int r = 0;
    mtx_lock(&cm);
    while (!go && !r)
        r = cnd_timedwait(&cc, &cm, &t);
    mtx_unlock(&cm);
    return r;
})
WAITER(timedjoin_np, {
    struct timespec t = far(CLOCK_REALTIME);
    return pthread_timedjoin_np(targets[wk], NULL, &t);
})
WAITER(clockjoin_np, {
    struct timespec t = far(CLOCK_MONOTONIC);
    return pthread_clockjoin_np(targets[wk], NULL, CLOCK_MONOTONIC, &t);
})
WAITER(thrd_join, { return thrd_join((thrd_t)targets[wk], NULL) == thrd_success ? 0 : 1; })
#if defined(__x86_64__)
WAITER(old_cond_wait, {
    int r = 0;
    pthread_mutex_lock(&mu);
    while (!go && !r)
        r = old_cond_wait(&ocv1, &mu);
    pthread_mutex_unlock(&mu);
    return r;
})
WAITER(old_cond_timedwait, {
    struct timespec t = far(CLOCK_REALTIME);
    int r = 0;
    pthread_mutex_lock(&mu);
    while (!go && !r)
        r = old_cond_timedwait(&ocv2, &mu, &t);
    pthread_mutex_unlock(&mu);
    return r;
})
#endif

#define RELEASE(name, call)                                                                        \
    static __attribute__((noinline)) void release_##name(void)                                     \
    {                                                                                              \
        handed = now();                                                                            \
        call;                                                                                      \
    }
RELEASE(mutex_clocklock, pthread_mutex_unlock(&mu))
RELEASE(rwlock_clockrdlock, pthread_rwlock_unlock(&rw))
RELEASE(rwlock_clockwrlock, pthread_rwlock_unlock(&rw))
RELEASE(spin_lock, pthread_spin_unlock(&spin))
RELEASE(mtx_lock, mtx_unlock(&cm))
RELEASE(mtx_timedlock, mtx_unlock(&cm))
RELEASE(cond_clockwait,
        (pthread_mutex_lock(&mu), go = 1, pthread_cond_broadcast(&cv), pthread_mutex_unlock(&mu)))
RELEASE(sem_clockwait, (sem_post(&sem), sem_post(&sem), sem_post(&sem)))
RELEASE(cnd_wait, (mtx_lock(&cm), go = 1, cnd_broadcast(&cc), mtx_unlock(&cm)))
RELEASE(cnd_timedwait, (mtx_lock(&cm), go = 1, cnd_broadcast(&cc), mtx_unlock(&cm)))
RELEASE(joins, (sem_post(&tsem), sem_post(&tsem), sem_post(&tsem)))
#if defined(__x86_64__)
RELEASE(old_cond_wait,
        (pthread_mutex_lock(&mu), go = 1, old_cond_broadcast(&ocv1), pthread_mutex_unlock(&mu)))
RELEASE(old_cond_timedwait,
        (pthread_mutex_lock(&mu), go = 1, old_cond_signal(&ocv2), old_cond_signal(&ocv2),
         old_cond_signal(&ocv2), pthread_mutex_unlock(&mu)))
#endif

static void run(const char *name, void *(*fn)(void *), void (*take)(void), void (*release)(void),
                int charged, int waiters)
{
    pthread_t t[WAITERS];
    waited = handed_sum = 0;
    entered = go = 0;
    if (take)
        take();
    for (int i = 0; i < waiters; i++)
        pthread_create(&t[i], NULL, fn, NULL);
    while (__atomic_load_n(&entered, __ATOMIC_ACQUIRE) < waiters)
        usleep(100); /* a poll of entered */
    /* the hold: the measured workload (each waiter measures its own wait, however much of
     * the hold it spent blocked; none is assumed blocked by now) */
    usleep(HOLD_MS * 1000);
    release();
    for (int i = 0; i < waiters; i++) {
        pthread_join(t[i], NULL);
        if (charged && handed > t0s[i])
            handed_sum += handed - t0s[i];
    }
    printf("%s %llu %llu\n", name, (unsigned long long)waited, (unsigned long long)handed_sum);
}

static void take_mu(void)
{
    pthread_mutex_lock(&mu);
}
static void take_wr(void)
{
    pthread_rwlock_wrlock(&rw);
}
static void take_rd(void)
{
    pthread_rwlock_rdlock(&rw);
}
static void take_spin(void)
{
    pthread_spin_lock(&spin);
}
static void take_cm(void)
{
    mtx_lock(&cm);
}
static void *target(void *arg)
{
    sem_wait(&tsem);
    return arg;
}
static void take_targets(void)
{
    for (int i = 0; i < WAITERS; i++)
        pthread_create(&targets[i], NULL, target, NULL);
}

int main(void)
{
    pthread_mutex_init(&mu, NULL);
    pthread_rwlock_init(&rw, NULL);
    pthread_cond_init(&cv, NULL);
    sem_init(&sem, 0, 0);
    pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
    mtx_init(&cm, mtx_timed);
    cnd_init(&cc);
    run("mutex_clocklock", run_mutex_clocklock, take_mu, release_mutex_clocklock, 1, WAITERS);
    run("rwlock_clockrdlock", run_rwlock_clockrdlock, take_wr, release_rwlock_clockrdlock, 1,
        WAITERS);
    run("rwlock_clockwrlock", run_rwlock_clockwrlock, take_rd, release_rwlock_clockwrlock, 1,
        WAITERS);
    run("cond_clockwait", run_cond_clockwait, NULL, release_cond_clockwait, 0, WAITERS);
    run("sem_clockwait", run_sem_clockwait, NULL, release_sem_clockwait, 0, WAITERS);
    run("spin_lock", run_spin_lock, take_spin, release_spin_lock, 0, 1);
    run("mtx_lock", run_mtx_lock, take_cm, release_mtx_lock, 1, WAITERS);
    run("mtx_timedlock", run_mtx_timedlock, take_cm, release_mtx_timedlock, 1, WAITERS);
    run("cnd_wait", run_cnd_wait, NULL, release_cnd_wait, 0, WAITERS);
    run("cnd_timedwait", run_cnd_timedwait, NULL, release_cnd_timedwait, 0, WAITERS);
    sem_init(&tsem, 0, 0);
    run("timedjoin_np", run_timedjoin_np, take_targets, release_joins, 0, WAITERS);
    run("clockjoin_np", run_clockjoin_np, take_targets, release_joins, 0, WAITERS);
    run("thrd_join", run_thrd_join, take_targets, release_joins, 0, WAITERS);
#if defined(__x86_64__)
    int r = old_cond_init(&ocv1, NULL);
    if (r)
        bad("old_cond_init", r);
    run("old_cond_wait", run_old_cond_wait, NULL, release_old_cond_wait, 0, WAITERS);
    run("old_cond_timedwait", run_old_cond_timedwait, NULL, release_old_cond_timedwait, 0, WAITERS);
    if ((r = old_cond_destroy(&ocv1)) != 0 || (r = old_cond_destroy(&ocv2)) != 0)
        bad("old_cond_destroy", r);
#endif
    return 0;
}
