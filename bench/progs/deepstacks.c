/* Shape (a) of issue 23: many distinct allocation stacks. A binary recursion LEVELS deep
 * calls itself from two call sites, so every root-to-leaf path is its own stack (2^LEVELS
 * of them, 131,072 at the default 17, each 22 frames deep with main's prefix); every leaf
 * allocates six short-lived and two longer-lived objects from two sites (262,144 distinct
 * allocation stacks, one size each), as a recursive minimiser building cube lists does.
 * PASSES walks of the tree (default 32: ~33.6 M allocations).
 *   deepstacks [LEVELS] [PASSES]   prints a checksum */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP 4096 /* longer-lived objects: a ring, the oldest freed as a new one enters */
static void *keep[KEEP];
static unsigned nkeep;
static int levels = 17;
static uint64_t sum;
static void *volatile sink;     /* keeps the compiler from eliding a malloc/free pair */
static volatile uint64_t after; /* a store after each call: no tail call, no loop */

__attribute__((noinline, noipa)) static void leaf(unsigned path)
{
    for (int i = 0; i < 6; i++) {
        size_t sz = 16 + (path & 127); /* one size per stack: sizes do not multiply buckets here */
        char *p = malloc(sz);
        p[0] = (char)path;
        sink = p;
        sum += (uintptr_t)p[0] + sz;
        free(p);
    }
    for (int i = 0; i < 2; i++) {
        unsigned k = nkeep++ % KEEP;
        free(keep[k]);
        keep[k] = malloc(32 + (path & 63));
    }
}

__attribute__((noinline, noipa)) static uint64_t rec(int d, unsigned path)
{
    if (d == levels) {
        leaf(path);
        return 1;
    }
    uint64_t a = rec(d + 1, path * 2);
    uint64_t b = rec(d + 1, path * 2 + 1);
    after = b;
    return a + b + (path & 1);
}

/* a fixed prefix, as a real program's main loop has */
__attribute__((noinline, noipa)) static uint64_t walk3(void)
{
    return rec(0, 1);
}
__attribute__((noinline, noipa)) static uint64_t walk2(void)
{
    return walk3() + 1;
}
__attribute__((noinline, noipa)) static uint64_t walk1(void)
{
    return walk2() + 1;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        levels = atoi(argv[1]);
    int passes = argc > 2 ? atoi(argv[2]) : 32;
    uint64_t n = 0;
    for (int p = 0; p < passes; p++)
        n += walk1();
    for (unsigned k = 0; k < KEEP; k++)
        free(keep[k]);
    printf("leaves %d allocations %llu checksum %llu\n", 1 << levels,
           (unsigned long long)passes * (1ull << levels) * 8, (unsigned long long)(n + sum));
    return 0;
}
