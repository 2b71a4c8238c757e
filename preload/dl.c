/*
 * dl.c — dlclose: once an object is unloaded its addresses may be given to other code,
 * so the CFI walker's cached frame shapes, keyed by return address, are dropped
 * (cp_unwind_invalidate: a new generation; every shape is parsed again when next met).
 *
 * Context: any thread, the program's own call. Result and errno are dlclose's own.
 */
#include <dlfcn.h>
#include <errno.h>

#include "unwind.h"

__attribute__((visibility("default"))) int dlclose(void *handle)
{
    static int (*real)(void *); /* atomic */
    int (*f)(void *) = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!f) {
        int saved = errno;
        f = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
        errno = saved;
        if (!f)
            return -1; /* no libc dlclose: cannot happen with glibc */
        __atomic_store_n(&real, f, __ATOMIC_RELEASE);
    }
    int r = f(handle);
    if (r == 0)
        cp_unwind_invalidate();
    return r;
}
