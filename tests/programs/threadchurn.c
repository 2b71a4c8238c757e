/*
 * threadchurn.c — many short-lived threads, one after another (issue 29): the profiler's
 * per-thread rings must be reused as soon as their threads are gone, not after the next
 * flush (at rate 1, 10k threads mapped 7.1 GB of address space).
 *
 *   threadchurn [N]   create and join N threads (default 10000) that allocate a little;
 *                     prints "threads N"; the peak address space in MiB on stderr
 *                     ("vmpeak_mib M", from /proc/self/status).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *body(void *arg)
{
    for (int i = 0; i < 20; i++) {
        char *volatile p = malloc(48 + (size_t)i);
        free(p);
    }
    return arg;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    int done = 0;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, body, NULL) != 0)
            break;
        pthread_join(t, NULL);
        done++;
    }
    printf("threads %d\n", done);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmPeak:", 7))
            fprintf(stderr, "vmpeak_mib %ld\n", atol(line + 7) / 1024);
    if (f)
        fclose(f);
    return 0;
}
