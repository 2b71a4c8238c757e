/*
 * threadspike.c — a spike of threads, then few (issue 23, item 4): N threads alive at once
 * each allocate and free enough to wrap their profiler rings (at rate 1), all are joined,
 * and the process idles until the test has seen flushes after the joins. The rings of the
 * gone threads must not stay resident: what the profiler keeps should follow the live
 * threads.
 *
 *   threadspike N GOFILE   N threads of 64 KiB stacks; once all are joined, prints
 *                          "joined" and waits until GOFILE exists (the test creates it
 *                          once the profile shows flushes after that: a handshake, not a
 *                          guess at the flush interval); then prints on stdout
 *                          "vmhwm_kib H vmrss_kib R" (the peak, and the resident set then)
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
    if (argc != 3)
        return 2;
    int n = atoi(argv[1]);
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
    printf("joined\n");
    fflush(stdout);
    for (int i = 0; i < 6000 && access(argv[2], F_OK) != 0; i++)
        usleep(10000); /* a poll of GOFILE (at most 60 s) */
    printf("vmhwm_kib %ld vmrss_kib %ld\n", status_kib("VmHWM:"), status_kib("VmRSS:"));
    return 0;
}
