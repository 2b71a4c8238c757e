/*
 * serve_live.c — a live program for `ctrprof serve`'s test: for argv[1] seconds it keeps
 * allocating (1000-byte objects, 1000 of them live, one replaced per millisecond) while a
 * second thread makes the program multi-threaded (so the flusher publishes every
 * CTRPROF_FLUSH_MS). The profile file grows and changes while the server reads it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;

static void *idle(void *arg)
{
    while (!stop)
        usleep(10000);
    return NULL;
}

static void __attribute__((noinline)) * live_alloc(size_t n)
{
    void *p = malloc(n);
    memset(p, 1, n);
    return p;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 5;
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    static void *ring[1000];
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long i = 0;; i++) {
        free(ring[i % 1000]);
        ring[i % 1000] = live_alloc(1000);
        usleep(1000);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec + (now.tv_nsec - t0.tv_nsec) / 1e9 > secs)
            break;
    }
    stop = 1;
    pthread_join(t, NULL);
    return 0;
}
