/* thinsites N SIZE: N distinct allocation sites (manysites.h: codes 0 .. N-1, 16 frames
 * each, innermost function thin) each allocating one object of SIZE bytes; the even
 * codes' objects are kept to the end, the odd ones' freed at once. At a sampling rate
 * near SIZE each site is sampled once or not at all, and a sample weighs a fraction of an
 * object more than one (1.58 at SIZE = rate): what a per-site rounding of the published
 * counts loses shows in the sums. Prints "ok". */
#include <stdio.h>
#include <stdlib.h>

#include "manysites.h"

static void *volatile keep[65536]; /* (volatile: the stores are not dead) */
static unsigned cur;

static __attribute__((noinline)) void thin(size_t size)
{
    void *volatile p = malloc(size);
    if (cur % 2 == 0)
        keep[cur / 2] = p;
    else
        free(p);
}

MANY_SITES(route, thin)

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    unsigned n = (unsigned)atoi(argv[1]);
    size_t size = (size_t)atol(argv[2]);
    if (n > 65536)
        return 2;
    for (cur = 0; cur < n; cur++)
        route(cur, size);
    printf("ok\n");
    return 0;
}
