/* Condition-variable sleepers cancelled in their wait (pthread_cancel; a wait is a
 * cancellation point, and glibc unwinds the thread through the shim's hook), then a
 * contention of known bound on the same mutex: two workers take it 2,000 times each and
 * hold it ~20 us, so at most one thread waits at any moment and the mutex profile's delay
 * can be no more than the phase's length, which the program prints.
 *   cancelwait cancel|nocancel [wait|timed]
 *     cancel:   three sleepers in turn wait on the condition variable and are cancelled;
 *               after each, a fresh sleeper waits and is woken by a broadcast
 *     nocancel: the same sleepers woken by a broadcast instead
 *     timed:    the sleepers use pthread_cond_timedwait (a deadline an hour away)
 *   prints "phase_ns N" (the contention's length) and exits 0 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int go, timed;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void unlock_m(void *arg)
{
    pthread_mutex_unlock(arg);
}

static void *sleeper(void *arg)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 3600;
    pthread_mutex_lock(&m);
    pthread_cleanup_push(unlock_m, &m);
    while (!go) {
        if (timed)
            pthread_cond_timedwait(&c, &m, &dl);
        else
            pthread_cond_wait(&c, &m);
    }
    pthread_cleanup_pop(1);
    return arg;
}

static void wake_all(void)
{
    pthread_mutex_lock(&m);
    go = 1;
    pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&m);
}

static void *worker(void *arg)
{
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&m);
        uint64_t t = now_ns();
        while (now_ns() - t < 20000)
            ;
        pthread_mutex_unlock(&m);
    }
    return arg;
}

int main(int argc, char **argv)
{
    int cancel = argc > 1 && strcmp(argv[1], "cancel") == 0;
    timed = argc > 2 && strcmp(argv[2], "timed") == 0;
    for (int k = 0; k < 3; k++) {
        pthread_t a, b;
        go = 0;
        pthread_create(&a, NULL, sleeper, NULL);
        usleep(20000);
        if (cancel)
            pthread_cancel(a);
        else
            wake_all();
        pthread_join(a, NULL);
        go = 0;
        pthread_create(&b, NULL, sleeper, NULL);
        usleep(20000);
        wake_all();
        pthread_join(b, NULL);
    }
    uint64_t t0 = now_ns();
    pthread_t w[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&w[i], NULL, worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    printf("phase_ns %llu\n", (unsigned long long)(now_ns() - t0));
    return 0;
}
