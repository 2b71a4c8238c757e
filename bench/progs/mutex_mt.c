/* Mutex contention microbenchmark: T threads share two mutexes with short and long
 * critical sections. Deterministic work; prints a checksum. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t ca, cb;
static long iters = 300000;

static void spin(int n)
{
    for (volatile int i = 0; i < n; i++)
        ;
}

static void *worker(void *arg)
{
    for (long i = 0; i < iters; i++) {
        pthread_mutex_lock(&a);
        ca++;
        spin(20);
        pthread_mutex_unlock(&a);
        spin(50);
        if ((i & 3) == 0) {
            pthread_mutex_lock(&b);
            cb += ca;
            spin(200);
            pthread_mutex_unlock(&b);
        }
    }
    return arg;
}

int main(int argc, char **argv)
{
    int n = 4;
    if (argc > 1)
        iters = atol(argv[1]);
    if (argc > 2)
        n = atoi(argv[2]);
    if (n < 1 || n > 64)
        n = 4;
    pthread_t t[64];
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("%llu\n", (unsigned long long)ca);
    return 0;
}
