/*
 * namestacks.c — issue 23's first shape: a recursive program with ~262k distinct
 * allocation stacks of depth ~27, each allocating many times (a logic minimiser's shape:
 * 228k stacks, 33 M allocations). Every third level of the recursion chooses one of four
 * call sites by a base-4 digit of the stack's number, the outermost level by the highest
 * digit, so stack i (0 <= i < 4^9) is its own path and consecutive stacks share their
 * outer frames, as a depth-first search's do; a window of live objects is kept, the
 * oldest freed.
 *
 *   namestacks [ROUNDS [STACKS]]   ROUNDS passes over STACKS stacks (default 8, 262144)
 *
 * Prints "stacks N allocs M"; the allocations are ROUNDS * STACKS.
 */
#include <stdio.h>
#include <stdlib.h>

#define DEPTH 27
#define WINDOW 4096

static void *live[WINDOW];
static unsigned long nalloc;
static volatile unsigned sink;

static __attribute__((noinline)) void leaf(unsigned long i)
{
    size_t size = 16 + (i % 7) * 8;
    unsigned w = (unsigned)(nalloc % WINDOW);
    free(live[w]);
    live[w] = malloc(size);
    if (live[w])
        *(volatile char *)live[w] = 1;
    nalloc++;
}

static __attribute__((noinline)) void rec(int d, unsigned long code, unsigned long i)
{
    if (d == DEPTH) {
        leaf(i);
        return;
    }
    if (d % 3 != 0) {
        rec(d + 1, code, i);
        sink += 1;
        return;
    }
    switch ((code >> (2 * (DEPTH / 3 - 1 - d / 3))) & 3) {
    case 0:
        rec(d + 1, code, i);
        sink += 2;
        break;
    case 1:
        rec(d + 1, code, i);
        sink += 3;
        break;
    case 2:
        rec(d + 1, code, i);
        sink += 5;
        break;
    default:
        rec(d + 1, code, i);
        sink += 7;
        break;
    }
}

int main(int argc, char **argv)
{
    unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 8;
    unsigned long stacks = argc > 2 ? strtoul(argv[2], NULL, 10) : 1ul << 18;
    for (unsigned long r = 0; r < rounds; r++)
        for (unsigned long i = 0; i < stacks; i++)
            rec(0, i, i);
    for (unsigned w = 0; w < WINDOW; w++)
        free(live[w]);
    printf("stacks %lu allocs %lu\n", stacks, nalloc);
    return 0;
}
