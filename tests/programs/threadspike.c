/*
 * threadspike.c — a spike of threads, then few (issue 23, item 4): N threads alive at once
 * each allocate and free enough to wrap their profiler rings (at rate 1), all are joined,
 * and the process idles past a flush. The rings of the gone threads must not stay
 * resident: what the profiler keeps should follow the live threads.
 *
 *   threadspike [N]   default 48 threads of 64 KiB stacks; prints on stdout
 *                     "vmhwm_kib H vmrss_kib R" (the peak, and the resident set after
 *                     the idle second)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_barrier_t all_up;

static void *body(void *arg)
{
    pthread_barrier_wait(&all_up); /* alive at the same time */
    for (int i = 0; i < 60000; i++) {
        char *volatile p = malloc(32 + (size_t)(i & 7));
        free(p);
    }
    return arg;
}

static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n))
            v = atol(line + n);
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 48;
    pthread_t t[256];
    if (n > 256)
        n = 256;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 << 10);
    pthread_barrier_init(&all_up, NULL, (unsigned)n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], &a, body, NULL) != 0)
            return 1;
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    usleep(1000000); /* past a flush (run with a short CTRPROF_FLUSH_MS) */
    printf("vmhwm_kib %ld vmrss_kib %ld\n", status_kib("VmHWM:"), status_kib("VmRSS:"));
    return 0;
}
