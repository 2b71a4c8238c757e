/*
 * report_target.c — a program with known allocations for the report tests (run at rate 1):
 *   outer() calls the always-inlined inl() 1000 times: 1000 x 1000 bytes, kept;
 *   other() allocates 500 x 64 bytes and frees them all.
 * So inuse_space is 1,000,000 bytes, all in inl (inlined into outer), and alloc_space is
 * 1,032,000 bytes.
 */
#include <stdio.h>
#include <stdlib.h>

static void *keep[1000];

static inline __attribute__((always_inline)) void *inl(size_t n)
{
    return malloc(n);
}

static __attribute__((noinline)) void outer(void)
{
    for (int i = 0; i < 1000; i++)
        keep[i] = inl(1000);
}

static __attribute__((noinline)) void other(void)
{
    for (int i = 0; i < 500; i++) {
        void *volatile p = malloc(64);
        free(p);
    }
}

int main(void)
{
    outer();
    other();
    printf("%d\n", keep[0] != NULL);
    return 0;
}
