/*
 * lock_check.c — the interposed pthread and semaphore calls on their edge cases; prints
 * each result and errno. Run with and without the shim (mutex fraction 1, block rate 1,
 * so every contended path is profiled): the output must be identical.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#define SHOW(what, call)                                                                           \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        printf("%-46s r=%d (%s) errno=%d\n", what, r_, r_ > 0 ? strerror(r_) : "-", errno);        \
    } while (0)

static pthread_mutex_t robust;

static void *die_holding(void *arg)
{
    pthread_mutex_lock(&robust);
    return arg; /* exits holding it */
}

/* Handshakes, not sleeps: a holder says it holds the mutex (held), and the lock word says
 * when a waiter sleeps on it (glibc: 2 for a normal, error-checking or recursive mutex,
 * FUTEX_WAITERS for a priority-inheritance one). */
static sem_t held, release;

static int has_waiter(pthread_mutex_t *m)
{
    int w = __atomic_load_n(&m->__data.__lock, __ATOMIC_ACQUIRE);
    return w == 2 || (w & 0x80000000) != 0;
}

static void wait_for_waiter(pthread_mutex_t *m)
{
    /* a poll of the lock word, 5 s at most */
    for (int i = 0; i < 5000 && !has_waiter(m); i++)
        usleep(1000);
}

/* holds m until a waiter sleeps on it: the main thread's lock is contended */
static void *hold_until_waited(void *arg)
{
    pthread_mutex_t *m = arg;
    pthread_mutex_lock(m);
    sem_post(&held);
    wait_for_waiter(m);
    pthread_mutex_unlock(m);
    return NULL;
}

/* holds m until told to let go */
static void *hold_until_released(void *arg)
{
    pthread_mutex_t *m = arg;
    pthread_mutex_lock(m);
    sem_post(&held);
    sem_wait(&release);
    pthread_mutex_unlock(m);
    return NULL;
}

static void *lock_once(void *arg)
{
    pthread_mutex_t *m = arg;
    pthread_mutex_lock(m);
    pthread_mutex_unlock(m);
    return NULL;
}

static struct timespec in_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    return ts;
}

static struct timespec mono_in_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += ms * 1000000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    return ts;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_mutexattr_t a;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    errno = 42;
    SHOW("lock (static initializer)", pthread_mutex_lock(&m));
    SHOW("trylock held -> EBUSY", pthread_mutex_trylock(&m));
    struct timespec t = in_ms(10);
    SHOW("timedlock held -> ETIMEDOUT", pthread_mutex_timedlock(&m, &t));
    SHOW("unlock", pthread_mutex_unlock(&m));

    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_t ec;
    pthread_mutex_init(&ec, &a);
    SHOW("errorcheck: unlock unowned -> EPERM", pthread_mutex_unlock(&ec));
    SHOW("errorcheck: lock", pthread_mutex_lock(&ec));
    SHOW("errorcheck: relock -> EDEADLK", pthread_mutex_lock(&ec));
    SHOW("errorcheck: unlock", pthread_mutex_unlock(&ec));

    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_t rec;
    pthread_mutex_init(&rec, &a);
    SHOW("recursive: lock", pthread_mutex_lock(&rec));
    SHOW("recursive: lock again", pthread_mutex_lock(&rec));
    SHOW("recursive: unlock", pthread_mutex_unlock(&rec));
    SHOW("recursive: unlock", pthread_mutex_unlock(&rec));
    SHOW("recursive: unlock once too often -> EPERM", pthread_mutex_unlock(&rec));

    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &a);
    pthread_t th;
    pthread_create(&th, NULL, die_holding, NULL);
    pthread_join(th, NULL);
    SHOW("robust: owner died -> EOWNERDEAD", pthread_mutex_lock(&robust));
    SHOW("robust: unlock without consistent", pthread_mutex_unlock(&robust));
    SHOW("robust: then ENOTRECOVERABLE", pthread_mutex_lock(&robust));

    pthread_mutexattr_init(&a);
    pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
    pthread_mutex_t pi;
    pthread_mutex_init(&pi, &a);
    sem_init(&held, 0, 0);
    sem_init(&release, 0, 0);
    pthread_create(&th, NULL, hold_until_waited, &pi);
    sem_wait(&held);
    SHOW("priority-inheritance: contended lock", pthread_mutex_lock(&pi));
    SHOW("priority-inheritance: unlock", pthread_mutex_unlock(&pi));
    pthread_join(th, NULL);

    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_t ps;
    pthread_mutex_init(&ps, &a);
    pthread_create(&th, NULL, hold_until_waited, &ps);
    sem_wait(&held);
    SHOW("process-shared: contended lock", pthread_mutex_lock(&ps));
    SHOW("process-shared: unlock", pthread_mutex_unlock(&ps));
    pthread_join(th, NULL);

    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&m);
    t = in_ms(10);
    SHOW("cond_timedwait -> ETIMEDOUT", pthread_cond_timedwait(&c, &m, &t));
    SHOW("... and the mutex is held again: trylock EBUSY", pthread_mutex_trylock(&m));
    pthread_mutex_unlock(&m);

    pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    SHOW("rwlock: wrlock", pthread_rwlock_wrlock(&rw));
    SHOW("rwlock: wrlock again -> EDEADLK", pthread_rwlock_wrlock(&rw));
    SHOW("rwlock: tryrdlock while writing -> EBUSY", pthread_rwlock_tryrdlock(&rw));
    pthread_rwlock_unlock(&rw);
    struct timespec bad = {0, 2000000000};
    SHOW("rwlock: timedrdlock bad timeout -> EINVAL", pthread_rwlock_timedrdlock(&rw, &bad));
    SHOW("rwlock: rdlock", pthread_rwlock_rdlock(&rw));
    pthread_rwlock_unlock(&rw);

    sem_t s;
    sem_init(&s, 0, 0);
    errno = 0;
    SHOW("sem_trywait empty -> -1 EAGAIN", sem_trywait(&s));
    errno = 7;
    sem_post(&s);
    SHOW("sem_wait posted -> 0, errno kept", sem_wait(&s));
    t = in_ms(10);
    SHOW("sem_timedwait -> -1 ETIMEDOUT", sem_timedwait(&s, &t));
    errno = 0;
    SHOW("sem_timedwait bad timeout -> EINVAL", sem_timedwait(&s, &bad));

    errno = 0;
    SHOW("join self -> EDEADLK", pthread_join(pthread_self(), NULL));
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, 1);
    SHOW("barrier of 1 -> SERIAL_THREAD", pthread_barrier_wait(&b));

    /* issue 30: the clock, C11 and spin variants; issue 31: rwlock unlock, recursive
     * and error-checking unlocks with a waiter */
    struct timespec mono = mono_in_ms(10);
    errno = 5;
    SHOW("clocklock free, bad clock -> EINVAL",
         pthread_mutex_clocklock(&m, CLOCK_PROCESS_CPUTIME_ID, &mono));
    SHOW("clocklock free -> 0", pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &mono));
    SHOW("clocklock held -> ETIMEDOUT", pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &mono));
    SHOW("clocklock held, bad timeout -> EINVAL",
         pthread_mutex_clocklock(&m, CLOCK_REALTIME, &bad));
    SHOW("unlock", pthread_mutex_unlock(&m));
    SHOW("rwlock: clockwrlock bad clock -> EINVAL", pthread_rwlock_clockwrlock(&rw, 12345, &mono));
    SHOW("rwlock: clockrdlock", pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &mono));
    SHOW("rwlock: clockwrlock while reading -> ETIMEDOUT",
         pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &mono));
    SHOW("rwlock: unlock", pthread_rwlock_unlock(&rw));
    SHOW("rwlock: clockwrlock",
         pthread_rwlock_clockwrlock(&rw, CLOCK_REALTIME, (t = in_ms(10), &t)));
    SHOW("rwlock: clockrdlock while writing -> EDEADLK",
         pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &mono));
    SHOW("rwlock: unlock", pthread_rwlock_unlock(&rw));
    pthread_mutex_lock(&m);
    mono = mono_in_ms(10);
    SHOW("cond_clockwait -> ETIMEDOUT", pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &mono));
    SHOW("cond_clockwait bad clock -> EINVAL", pthread_cond_clockwait(&c, &m, 99, &mono));
    pthread_mutex_unlock(&m);
    errno = 3;
    mono = mono_in_ms(10);
    SHOW("sem_clockwait -> -1 ETIMEDOUT", sem_clockwait(&s, CLOCK_MONOTONIC, &mono));
    errno = 3;
    SHOW("sem_clockwait bad clock -> -1 EINVAL", sem_clockwait(&s, 77, &mono));
    sem_post(&s);
    errno = 3;
    SHOW("sem_clockwait posted -> 0, errno kept", sem_clockwait(&s, CLOCK_MONOTONIC, &mono));

    pthread_spinlock_t sp;
    pthread_spin_init(&sp, PTHREAD_PROCESS_PRIVATE);
    SHOW("spin_lock", pthread_spin_lock(&sp));
    SHOW("spin_trylock held -> EBUSY", pthread_spin_trylock(&sp));
    SHOW("spin_unlock", pthread_spin_unlock(&sp));

    mtx_t cm, crm;
    cnd_t cc;
    SHOW("mtx_init plain|timed", mtx_init(&cm, mtx_timed));
    SHOW("mtx_init recursive", mtx_init(&crm, mtx_plain | mtx_recursive));
    cnd_init(&cc);
    SHOW("mtx_lock -> thrd_success", mtx_lock(&cm));
    SHOW("mtx_trylock held -> thrd_busy", mtx_trylock(&cm));
    SHOW("mtx_timedlock held -> thrd_timedout", mtx_timedlock(&cm, (t = in_ms(10), &t)));
    SHOW("cnd_timedwait -> thrd_timedout", cnd_timedwait(&cc, &cm, (t = in_ms(10), &t)));
    SHOW("mtx_unlock", mtx_unlock(&cm));
    SHOW("mtx_lock recursive", mtx_lock(&crm));
    SHOW("mtx_lock recursive again", mtx_lock(&crm));
    SHOW("mtx_unlock recursive", mtx_unlock(&crm));
    SHOW("mtx_unlock recursive", mtx_unlock(&crm));
    SHOW("mtx_timedlock free -> thrd_success", mtx_timedlock(&cm, (t = in_ms(10), &t)));
    SHOW("mtx_unlock", mtx_unlock(&cm));

    /* unlocks the hook charges before the real unlock: one that fails must not be
     * charged, and must fail as glibc's does, with a waiter present */
    pthread_t th2;
    pthread_create(&th, NULL, hold_until_released, &ec);
    sem_wait(&held);
    pthread_create(&th2, NULL, lock_once, &ec);
    wait_for_waiter(&ec); /* th2 waits: the lock word says so */
    SHOW("errorcheck: unlock by non-owner, waited on -> EPERM", pthread_mutex_unlock(&ec));
    sem_post(&release);
    pthread_join(th, NULL);
    pthread_join(th2, NULL);
    pthread_create(&th, NULL, hold_until_released, &rec);
    sem_wait(&held);
    pthread_create(&th2, NULL, lock_once, &rec);
    wait_for_waiter(&rec);
    SHOW("recursive: unlock by non-owner, waited on -> EPERM", pthread_mutex_unlock(&rec));
    sem_post(&release);
    pthread_join(th, NULL);
    pthread_join(th2, NULL);
    SHOW("rwlock: unlock unlocked", pthread_rwlock_unlock(&rw));
    return 0;
}
