/* A plugin with an allocator of its own, loaded with RTLD_DEEPBIND so that its calls
 * reach it (the usual reason for the flag): the shim must leave them to it. Its malloc
 * hands out pieces of a static arena and counts them; free counts. */
#include <stddef.h>

static char arena[1 << 20];
static size_t used;
static int nmalloc, nfree;

void *malloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (used + n > sizeof arena)
        return NULL;
    void *p = arena + used;
    used += n;
    nmalloc++;
    return p;
}

void free(void *p)
{
    if (p)
        nfree++;
}

static __attribute__((noinline)) void *own_site(size_t n)
{
    return malloc(n);
}

/* n objects from its own malloc, freed; returns how many its malloc and free counted */
int own_churn(int n)
{
    for (int i = 0; i < n; i++) {
        void *volatile p = own_site(64);
        free(p);
    }
    return nmalloc + nfree;
}
