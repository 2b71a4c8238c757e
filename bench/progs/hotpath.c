/* Per-call hot paths, for callgrind: `hotpath malloc N` does N malloc+free pairs over a
 * loop of mixed small sizes; `hotpath lock N` does N uncontended lock+unlock pairs;
 * `hotpath lockmt N` does the same in a process that has a second (idle) thread, so that
 * glibc takes its multi-threaded unlock path with and without the profiler alike (the
 * profiler's flusher thread otherwise makes that difference look like ours); `hotpath
 * mallocmt N` is `malloc` after the same thread, so that the profiler's own flusher thread
 * publishes (a single-threaded process publishes inline: core/flusher.c). The bench
 * runs it for N and 2N and divides the difference by N, which cancels start-up. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const size_t sizes[] = {16, 24, 32, 48, 64, 96, 128, 256};

static void *idle(void *arg)
{
    return arg;
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
    if (!strcmp(argv[1], "malloc") || !strcmp(argv[1], "mallocmt")) {
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
