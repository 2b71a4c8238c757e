/*
 * sites.c — two allocation sites with known totals, for the sampling-accuracy test:
 *   site_small: 1048576 objects of 1 KiB  = 1 GiB
 *   site_big:   4096 objects of 256 KiB   = 1 GiB
 *   site_mixed: 524288 objects of 64..4095 bytes (~1.1 GB), deterministic, total printed
 * Every object is freed at once (the test is about alloc_space).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static __attribute__((noinline)) void site_small(void)
{
    for (int i = 0; i < 1048576; i++) {
        void *volatile p = malloc(1024);
        free(p);
    }
}

static __attribute__((noinline)) void site_big(void)
{
    for (int i = 0; i < 4096; i++) {
        void *volatile p = malloc(256 * 1024);
        free(p);
    }
}

static __attribute__((noinline)) uint64_t site_mixed(void)
{
    uint64_t x = 88172645463325252ull, total = 0;
    for (int i = 0; i < 524288; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = 64 + x % 4032;
        void *volatile p = malloc(n);
        free(p);
        total += n;
    }
    return total;
}

int main(void)
{
    site_small();
    site_big();
    printf("%llu\n", (unsigned long long)site_mixed());
    return 0;
}
