/*
 * dl.c — dlclose: once an object is unloaded its addresses may be given to other code,
 * so the CFI walker's cached frame shapes, keyed by return address, are dropped
 * (cp_stack_code_changed: a new generation; every shape is parsed again when next met).
 *
 * Before the real call the module table is refreshed: a plugin that allocated and is
 * unloaded before the flusher next names a frame would otherwise never be registered,
 * and its frames would print as bare addresses (the table keeps unloaded modules; a
 * later one at the same addresses is looked up first).
 *
 * Context: any thread, the program's own call. Result and errno are dlclose's own.
 */
#include <dlfcn.h>
#include <errno.h>

#include "prof.h"
#include "shim.h"

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
    if (cp_shim_state == CP_SHIM_ON && !cp_tls.guard) {
        int saved = errno;
        cp_shim_deepbind_catch_up();  /* (before the object may go) */
        int64_t cd = cp_shim_enter(); /* dl_iterate_phdr may allocate */
        cp_prof_code_unloading();
        cp_shim_leave(cd);
        errno = saved;
    }
    int r = f(handle);
    if (r == 0)
        cp_stack_code_changed();
    return r;
}
