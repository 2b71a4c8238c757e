/* liblate.so for tests/e2e/shim.sh: a library finalised after the shim (the preloaded
 * shim comes earlier in the link map), whose destructor frees objects allocated from main:
 * frees made after the profiler's own final flush. */
#include <stdlib.h>
static void *keep[4];
__attribute__((noinline)) void late_keep(void)
{
    for (int i = 0; i < 4; i++)
        keep[i] = malloc(500);
}
__attribute__((destructor)) static void late_fini(void)
{
    for (int i = 0; i < 4; i++)
        free(keep[i]);
}
