/* Shape (c) of issue 23: two threads, two allocation stacks, random sizes (1..8192 bytes):
 * a bucket per (stack, size) would make thousands of buckets from one site. Each thread
 * keeps a window of 64 live objects, replacing one per iteration.
 *   sizes_mt [ITERS]   iterations per thread (default 4 M); prints a checksum */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long iters = 4000000;

__attribute__((noinline)) static void *site_a(size_t n)
{
    return malloc(n);
}
__attribute__((noinline)) static void *site_b(size_t n)
{
    return malloc(n);
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    void *win[64] = {0};
    uint64_t x = 88172645463325252ull + (uint64_t)id, sum = 0;
    for (long i = 0; i < iters; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t sz = 1 + (x >> 20) % 8192;
        free(win[i & 63]);
        char *p = id ? site_b(sz) : site_a(sz);
        p[0] = (char)i;
        sum += (uint64_t)p[0];
        win[i & 63] = p;
    }
    for (int k = 0; k < 64; k++)
        free(win[k]);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iters = atol(argv[1]);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    uint64_t sum = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (uintptr_t)r;
    }
    printf("iterations %ld checksum %llu\n", 2 * iters, (unsigned long long)sum);
    return 0;
}
