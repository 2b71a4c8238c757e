/* A plugin that allocates 64 MiB (kept) and is unloaded at once by plugin_main.c. */
#include <stdlib.h>
#include <string.h>

static __attribute__((noinline)) void *plugin_site(size_t n)
{
    void *p = malloc(n);
    if (p)
        memset(p, 1, 64);
    return p;
}

void plugin_alloc(void **out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = plugin_site((size_t)1 << 20);
}
