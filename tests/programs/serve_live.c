/*
 * serve_live.c — a live program for `ctrprof serve`'s and `ctrprof top`'s tests: until the
 * file CTL/stop exists it keeps allocating (1000-byte objects in live_alloc, 1000 of them
 * live, one replaced per millisecond) while a second thread makes the program
 * multi-threaded (so the flusher publishes every CTRPROF_FLUSH_MS). The profile file grows
 * and changes while the server reads it.
 *
 *   serve_live CTL    CTL: a directory the test and the program share
 *
 * Handshakes, not timing: the program runs until told to stop (CTL/stop), however slowly
 * the test gets through its requests; each SIGUSR1 makes the main loop allocate and free
 * exactly BURST objects of 3000 bytes in burst_alloc, then create CTL/burst.N (N-th
 * burst), so a test can put a known number of events inside a window it has seen open.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BURST 500

static volatile int stop;
static volatile sig_atomic_t bursts_asked;

static void *idle(void *arg)
{
    while (!stop)
        usleep(10000); /* a poll of stop: this thread only has to exist */
    return NULL;
}

static void on_usr1(int sig)
{
    bursts_asked++;
}

static void __attribute__((noinline)) * live_alloc(size_t n)
{
    void *p = malloc(n);
    memset(p, 1, n);
    return p;
}

static void __attribute__((noinline)) * burst_alloc(size_t n)
{
    void *p = malloc(n);
    memset(p, 2, n);
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    char stopfile[PATH_MAX], done[PATH_MAX];
    snprintf(stopfile, sizeof stopfile, "%s/stop", argv[1]);
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    static void *ring[1000];
    int bursts_done = 0;
    for (unsigned long i = 0; access(stopfile, F_OK) != 0; i++) {
        free(ring[i % 1000]);
        ring[i % 1000] = live_alloc(1000);
        while (bursts_done < bursts_asked) {
            for (int k = 0; k < BURST; k++)
                free(burst_alloc(3000));
            bursts_done++;
            snprintf(done, sizeof done, "%s/burst.%d", argv[1], bursts_done);
            FILE *f = fopen(done, "w");
            if (f)
                fclose(f);
        }
        usleep(1000); /* the workload's pace: about 1000 allocations a second */
    }
    stop = 1;
    pthread_join(t, NULL);
    return 0;
}
