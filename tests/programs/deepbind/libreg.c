/* A plugin that registers itself from its constructor (static registrars, factories):
 * loaded with RTLD_DEEPBIND by reg_main.c, which then never calls dlsym, so the shim's
 * rewrite of its calls to malloc and free (preload/deepbind.c) cannot wait for one. */
#include <stdlib.h>
#include <string.h>

void reg_plugin(void (*alloc)(void **, int), void (*release)(void **, int)) __attribute__((weak));

static __attribute__((noinline)) void *reg_site(size_t n)
{
    void *p = malloc(n);
    if (p)
        memset(p, 1, 16);
    return p;
}

static void reg_alloc(void **out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = reg_site(1000 + (size_t)i);
}

static void reg_free(void **p, int n)
{
    for (int i = 0; i < n; i++)
        free(p[i]);
}

__attribute__((constructor)) static void reg_init(void)
{
    if (reg_plugin) /* (the program's, found in the global scope after this object's) */
        reg_plugin(reg_alloc, reg_free);
}
