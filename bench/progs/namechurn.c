/*
 * namechurn.c — issue 23's second shape: small-object churn from a few hundred stacks
 * (a bignum program: ~10^8 short-lived allocations). Three levels of seven call sites
 * give 343 stacks; each allocation is freed a few allocations later.
 *
 *   namechurn [MILLIONS]   allocations, in millions (default 10)
 */
#include <stdio.h>
#include <stdlib.h>

#define KEEP 8

static void *keep[KEEP];
static unsigned long nalloc;
static volatile unsigned sink;

static __attribute__((noinline)) void leaf(unsigned long i)
{
    unsigned w = (unsigned)(nalloc % KEEP);
    free(keep[w]);
    keep[w] = malloc(8 + (i & 3) * 8);
    nalloc++;
}

#define SITES(d, next)                                                                             \
    switch (c % 7) {                                                                               \
    case 0:                                                                                        \
        next(c / 7, i);                                                                            \
        sink += 1;                                                                                 \
        break;                                                                                     \
    case 1:                                                                                        \
        next(c / 7, i);                                                                            \
        sink += 2;                                                                                 \
        break;                                                                                     \
    case 2:                                                                                        \
        next(c / 7, i);                                                                            \
        sink += 3;                                                                                 \
        break;                                                                                     \
    case 3:                                                                                        \
        next(c / 7, i);                                                                            \
        sink += 4;                                                                                 \
        break;                                                                                     \
    case 4:                                                                                        \
        next(c / 7, i);                                                                            \
        sink += 5;                                                                                 \
        break;                                                                                     \
    case 5:                                                                                        \
        next(c / 7, i);                                                                            \
        sink += 6;                                                                                 \
        break;                                                                                     \
    default:                                                                                       \
        next(c / 7, i);                                                                            \
        sink += 7;                                                                                 \
        break;                                                                                     \
    }

static __attribute__((noinline)) void l2(unsigned long c, unsigned long i)
{
    (void)c;
    leaf(i);
    sink++;
}
static __attribute__((noinline)) void l1(unsigned long c, unsigned long i)
{
    SITES(1, l2)
}
static __attribute__((noinline)) void l0(unsigned long c, unsigned long i)
{
    SITES(0, l1)
}
static __attribute__((noinline)) void top(unsigned long c, unsigned long i)
{
    SITES(-1, l0)
}

int main(int argc, char **argv)
{
    unsigned long n = (argc > 1 ? strtoul(argv[1], NULL, 10) : 10) * 1000000ul;
    for (unsigned long i = 0; i < n; i++)
        top(i % 343, i);
    for (unsigned w = 0; w < KEEP; w++)
        free(keep[w]);
    printf("allocs %lu\n", nalloc);
    return 0;
}
