/*
 * flame_deep.c — a profile with one heavy shallow path and one thin deep one, for the
 * flame page's first screen (tests/e2e/flame.sh): shallow() recurses 12 frames and
 * allocates 4 MB in 1000 blocks; deep() recurses 100 frames (cut at CTRPROF_DEPTH) and
 * allocates 16 bytes, far under half a pixel of the chart.
 */
#include <stdlib.h>

static void *volatile keep[1001]; /* volatile: the allocations are not optimized away */

static int __attribute__((noinline)) deep(int n)
{
    if (n == 0) {
        keep[1000] = malloc(16);
        return 0;
    }
    return deep(n - 1) + 1; /* not a tail call: one frame per level */
}

static int __attribute__((noinline)) shallow(int n)
{
    if (n == 0) {
        for (int i = 0; i < 1000; i++)
            keep[i] = malloc(4096);
        return 0;
    }
    return shallow(n - 1) + 1;
}

int main(void)
{
    volatile int r = shallow(12) + deep(100);
    (void)r;
    return 0;
}
