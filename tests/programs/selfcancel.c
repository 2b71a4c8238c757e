/* A thread with a cancellation request pending (pthread_cancel of itself: deferred, it
 * acts at the next cancellation point) that allocates before it reaches one: 100,000
 * allocations in alloc_at(), then write(), the program's own cancellation point.
 *   selfcancel        in a second thread, which main joins: prints "joined canceled"
 *   selfcancel alone  in the main (only) thread: the process ends at the write, status 0,
 *                     printing nothing
 * Under a profiler whose own open/pwrite/write on the thread acted on the request, the
 * thread was unwound out of the profiler with its flush lock held, and the process hung. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *sink[64];

static __attribute__((noinline)) void alloc_at(int k)
{
    sink[k & 63] = malloc(16 + (size_t)k);
}

static void *body(void *arg)
{
    pthread_cancel(pthread_self());
    for (int i = 0; i < 100000; i++) {
        alloc_at(i);
        free(sink[i & 63]);
        sink[i & 63] = NULL;
    }
    ssize_t w = write(1, "reached\n", 8); /* cancelled here: never printed */
    (void)w;
    return arg;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        body(NULL);
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, body, NULL);
    void *r;
    pthread_join(t, &r);
    printf("joined %s\n", r == PTHREAD_CANCELED ? "canceled" : "returned");
    return 0;
}
