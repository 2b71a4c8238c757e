/* The cost of walking a coroutine's stack (issue 25, BENCHMARKS.md "Walks on other
 * stacks"): `coro main N` does N malloc+free pairs, 8 frames deep, on the main thread's
 * stack; `coro coro N` the same inside a makecontext coroutine on a 64 KiB heap stack.
 * Run at CTRPROF_MEM_RATE=1 under callgrind for N and 2N (the difference over N cancels
 * start-up); it also prints the wall time per pair. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

static long n;
static void *volatile keep;
static ucontext_t main_ctx, co_ctx;

static __attribute__((noinline)) void leaf(void)
{
    keep = malloc(32);
    free(keep);
}

static __attribute__((noinline)) void deep(int d)
{
    if (d == 0)
        leaf();
    else
        deep(d - 1);
    __asm__ volatile("" ::: "memory"); /* not a tail call: a frame each */
}

static void body(void)
{
    for (long i = 0; i < n; i++)
        deep(8);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    n = atol(argv[2]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (!strcmp(argv[1], "coro")) {
        size_t sz = 64 * 1024;
        char *stk = malloc(sz);
        getcontext(&co_ctx);
        co_ctx.uc_stack.ss_sp = stk;
        co_ctx.uc_stack.ss_size = sz;
        co_ctx.uc_link = &main_ctx;
        makecontext(&co_ctx, body, 0);
        swapcontext(&main_ctx, &co_ctx);
        free(stk);
    } else {
        body();
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    fprintf(stderr, "%.0f ns per pair\n",
            ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n);
    return 0;
}
