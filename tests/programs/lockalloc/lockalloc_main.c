/* Threads that allocate through liblockalloc.so: each new thread's first profiled event is
 * a contended wait on the allocator's mutex (heap profiling off), so its first stack is
 * captured inside the allocator's critical section. Prints "done" when every thread
 * finished. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *worker(void *arg)
{
    for (int i = 0; i < 2000; i++) {
        void *volatile p = malloc(32 + (size_t)(i % 7) * 16);
        free(p);
    }
    return arg;
}

int main(void)
{
    for (int round = 0; round < 10; round++) { /* fresh threads: fresh first captures */
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, worker, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    }
    puts("done");
    return 0;
}
