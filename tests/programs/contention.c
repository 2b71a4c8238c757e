/*
 * contention.c — known contention for the mutex and block profiles (issue 6).
 * 4 threads share one mutex; each iteration takes it either at lock_short() and holds it
 * ~200 us, releasing at unlock_short(), or at lock_long() holding ~1 ms, releasing at
 * unlock_long(). Every thread measures its own waits (CLOCK_MONOTONIC around the lock
 * call). Prints the totals in ns:
 *   wait_total W   wait_short WS   wait_long WL
 * With a mutex fraction of 1 the mutex profile's delay should add up to about W, most of
 * it charged to unlock_long; with a block rate of 1 the block profile's delay at
 * lock_short and lock_long should be about WS and WL.
 *   contention [START_MS [SHORT_US LONG_US ITER GAP_US [sleep]]]
 *   the workers start START_MS after a first thread (default 0): under the shim, the
 *   flusher then has calibrated the waits' TSC clock (20 ms after it starts, where the TSC
 *   is trusted: core/contention.h) before the first wait; the holds are SHORT_US and
 *   LONG_US (200 and 1000), ITER iterations a thread (200), GAP_US between two (5): short
 *   holds and a gap longer than a wake-up make many waits shorter than the block rate,
 *   which its samples stand for by their weights (with a short gap the thread that
 *   unlocked mostly takes the mutex again before the one it woke runs: few, long waits);
 *   `sleep`: the holds and gaps sleep (nanosleep) instead of spinning, so that on two
 *   cores a woken waiter runs at once: many waits of tens of microseconds
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t wait_short, wait_long;
static uint64_t hold_short = 200000, hold_long = 1000000;
static uint64_t gap = 5000;
static int iter = 200;

static uint64_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int sleeping;

static void hold(uint64_t ns)
{
    if (sleeping) {
        struct timespec ts = {0, (long)ns};
        nanosleep(&ts, NULL);
        return;
    }
    uint64_t end = now() + ns;
    while (now() < end)
        ;
}

static __attribute__((noinline)) uint64_t lock_short(void)
{
    uint64_t t0 = now();
    pthread_mutex_lock(&mu);
    return now() - t0;
}
static __attribute__((noinline)) uint64_t lock_long(void)
{
    uint64_t t0 = now();
    pthread_mutex_lock(&mu);
    return now() - t0;
}
static __attribute__((noinline)) void unlock_short(void)
{
    pthread_mutex_unlock(&mu);
}
static __attribute__((noinline)) void unlock_long(void)
{
    pthread_mutex_unlock(&mu);
}

static void *worker(void *arg)
{
    uint64_t ws = 0, wl = 0;
    for (int i = 0; i < iter; i++) {
        if (i % 2) {
            ws += lock_short();
            hold(hold_short);
            unlock_short();
        } else {
            wl += lock_long();
            hold(hold_long);
            unlock_long();
        }
        hold(gap);
    }
    __atomic_add_fetch(&wait_short, ws, __ATOMIC_RELAXED);
    __atomic_add_fetch(&wait_long, wl, __ATOMIC_RELAXED);
    return arg;
}

static void *idle(void *arg)
{
    return arg;
}

int main(int argc, char **argv)
{
    pthread_t t[4];
    long start_ms = argc > 1 ? atol(argv[1]) : 0;
    if (argc > 4) {
        hold_short = (uint64_t)atol(argv[2]) * 1000;
        hold_long = (uint64_t)atol(argv[3]) * 1000;
        iter = atoi(argv[4]);
        if (argc > 5)
            gap = (uint64_t)atol(argv[5]) * 1000;
        sleeping = argc > 6 && !strcmp(argv[6], "sleep");
    }
    if (start_ms > 0) {
        pthread_t first;
        pthread_create(&first, NULL, idle, NULL);
        pthread_join(first, NULL);
        struct timespec ts = {start_ms / 1000, (start_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("wait_total %llu wait_short %llu wait_long %llu\n",
           (unsigned long long)(wait_short + wait_long), (unsigned long long)wait_short,
           (unsigned long long)wait_long);
    return 0;
}
