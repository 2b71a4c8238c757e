/* A plugin the program loads with RTLD_DEEPBIND (deep_main.c): its calls to malloc and
 * free bind to libc's unless the shim rewrites them (preload/deepbind.c). */
#include <stdlib.h>
#include <string.h>

static __attribute__((noinline)) void *deep_site(size_t n)
{
    void *p = malloc(n);
    if (p)
        memset(p, 1, 16);
    return p;
}

void deep_alloc(void **out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = deep_site(1000 + (size_t)i);
}

/* frees what it is given: its own objects or the program's */
void deep_free(void **p, int n)
{
    for (int i = 0; i < n; i++)
        free(p[i]);
}
