/* handoff: a producer and a consumer (tests/e2e/heaptime.sh). main allocates N objects of
 * 64 bytes at one site (made_here) and hands each through a small queue to a second
 * thread, which frees it. Each free is recorded on the consumer's ring and its allocation
 * on the producer's; the flusher drains one ring after the other, so a free is often
 * drained before its allocation (resolve.c's "pending" frees). At rate 1 every one of the
 * N frees must still have its lifetime class (core/heaptime.c: the free's record carries
 * its object's birth, and a pending free's class waits with it).
 *
 *   handoff N     prints "ok" */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define Q 1024
static void *q[Q];
static long head, tail, n;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nonempty = PTHREAD_COND_INITIALIZER, nonfull = PTHREAD_COND_INITIALIZER;

__attribute__((noinline)) static void *made_here(void)
{
    return malloc(64);
}

static void *consumer(void *arg)
{
    (void)arg;
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&m);
        while (head == tail)
            pthread_cond_wait(&nonempty, &m);
        void *p = q[tail++ % Q];
        pthread_cond_signal(&nonfull);
        pthread_mutex_unlock(&m);
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atol(argv[1]) : 100000;
    if (n < 1)
        return 2;
    pthread_t t;
    if (pthread_create(&t, NULL, consumer, NULL))
        return 1;
    for (long i = 0; i < n; i++) {
        void *p = made_here();
        if (!p)
            return 1;
        pthread_mutex_lock(&m);
        while (head - tail == Q)
            pthread_cond_wait(&nonfull, &m);
        q[head++ % Q] = p;
        pthread_cond_signal(&nonempty);
        pthread_mutex_unlock(&m);
    }
    pthread_join(t, NULL);
    const char ok[] = "ok\n";
    return write(1, ok, sizeof ok - 1) == (ssize_t)(sizeof ok - 1) ? 0 : 1;
}
