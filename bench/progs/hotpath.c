/* Per-call hot paths, for callgrind: `hotpath malloc N` does N malloc+free pairs over a
 * loop of mixed small sizes; `hotpath lock N` does N uncontended lock+unlock pairs;
 * `hotpath lockmt N` does the same in a process that has a second (idle) thread, so that
 * glibc takes its multi-threaded unlock path with and without the profiler alike (the
 * profiler's flusher thread otherwise makes that difference look like ours); `hotpath
 * cond N` is a condition-variable ping-pong: two threads take turns N times under one
 * mutex, each signalling the other's condition variable and waiting on its own, so every
 * turn is a signal, a wait that sleeps and a wake-up (the profiler's condvar path); `hotpath
 * mallocmt N` is `malloc` after the same thread, so that the profiler's own flusher thread
 * publishes (a single-threaded process publishes inline: core/flusher.c); `hotpath
 * lockwait N` is a contended mutex handed over N times: the main thread holds it until
 * the other thread sleeps on it (the lock word says "waiters"), then unlocks, so every
 * round is one contended lock that waits and one unlock that wakes it (the profiler's
 * contended lock path; handshakes by sched_yield loops, the same in every build). The bench
 * runs each for N and 2N and divides the difference by N, which cancels start-up. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

static const size_t sizes[] = {16, 24, 32, 48, 64, 96, 128, 256};

static void *idle(void *arg)
{
    return arg;
}

static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pc[2] = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
static int turn;
static long rounds;

static void *pong(void *arg)
{
    int me = (int)(long)arg;
    pthread_mutex_lock(&pm);
    for (long i = 0; i < rounds; i++) {
        while (turn != me)
            pthread_cond_wait(&pc[me], &pm);
        turn = !me;
        pthread_cond_signal(&pc[!me]);
    }
    pthread_mutex_unlock(&pm);
    return arg;
}

static pthread_mutex_t lm = PTHREAD_MUTEX_INITIALIZER;
static int phase; /* 1: main holds lm, the other may wait on it; 0: the other is done */

static void *locker(void *arg)
{
    for (long i = 0; i < rounds; i++) {
        while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) != 1)
            sched_yield();
        pthread_mutex_lock(&lm); /* held by main: waits */
        pthread_mutex_unlock(&lm);
        __atomic_store_n(&phase, 0, __ATOMIC_RELEASE);
    }
    return arg;
}

static void lockwait(void)
{
    pthread_t t;
    pthread_create(&t, NULL, locker, NULL);
    for (long i = 0; i < rounds; i++) {
        pthread_mutex_lock(&lm);
        __atomic_store_n(&phase, 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&lm.__data.__lock, __ATOMIC_ACQUIRE) != 2) /* it sleeps */
            sched_yield();
        pthread_mutex_unlock(&lm); /* contended: wakes it */
        while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) != 0)
            sched_yield();
    }
    pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    long n = atol(argv[2]);
    if (!strcmp(argv[1], "lockmt") || !strcmp(argv[1], "mallocmt")) {
        /* glibc decides single-threadedness once a thread was ever created */
        pthread_t t;
        pthread_create(&t, NULL, idle, NULL);
        pthread_join(t, NULL);
    }
    if (!strcmp(argv[1], "lockwait")) {
        rounds = n;
        lockwait();
    } else if (!strcmp(argv[1], "cond")) {
        pthread_t t;
        rounds = n;
        pthread_create(&t, NULL, pong, (void *)1L);
        pong((void *)0L);
        pthread_join(t, NULL);
    } else if (!strcmp(argv[1], "malloc") || !strcmp(argv[1], "mallocmt")) {
        for (long i = 0; i < n; i++) {
            void *volatile p = malloc(sizes[i & 7]);
            free(p);
        }
    } else {
        static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        for (long i = 0; i < n; i++) {
            pthread_mutex_lock(&m);
            pthread_mutex_unlock(&m);
        }
    }
    return 0;
}
