/*
 * ns.c — unshare and setns: calls the kernel refuses to a process with a second thread.
 *
 * unshare(CLONE_NEWUSER) (and CLONE_THREAD, CLONE_SIGHAND, CLONE_VM) needs the caller to
 * be the only thread of its process; setns into a mount or user namespace needs the
 * file-system context unshared with any other thread (which pthreads always share).
 * With our flusher thread there, util-linux `unshare -U` and `nsenter -m` failed with
 * EINVAL (issue 29). Before such a call, the engine steps aside (cp_prof_step_aside:
 * the flusher is stopped and joined; events are flushed inline meanwhile), so the call
 * sees the threads the program made, and fails or succeeds as it would without us.
 * Other calls that need a single thread were considered: setuid and friends (glibc
 * broadcasts them to every thread itself), seccomp (per thread, or TSYNC), execve (ends
 * every thread); none needs more.
 *
 * Context: any application thread, the program's own call. Result and errno are the real
 * function's own; nothing is recorded.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>

#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

/* the flags with which the kernel needs this thread alone */
#define UNSHARE_ALONE (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)
/* nstype 0 takes the namespace's own type, which may be either */
#define SETNS_ALONE (CLONE_NEWNS | CLONE_NEWUSER)

static void *real(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!f) {
        int saved = errno;
        f = dlsym(RTLD_NEXT, name);
        errno = saved;
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    }
    return f;
}

static void step_aside(void)
{
    if (cp_shim_state != CP_SHIM_ON || cp_tls.guard)
        return;
    int saved = errno;
    int64_t cd = cp_shim_enter();
    cp_prof_step_aside();
    cp_shim_leave(cd);
    errno = saved;
}

EXPORT int unshare(int flags)
{
    static void *slot;
    int (*f)(int) = (int (*)(int))real(&slot, "unshare");
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (flags & UNSHARE_ALONE)
        step_aside();
    return f(flags);
}

EXPORT int setns(int fd, int nstype)
{
    static void *slot;
    int (*f)(int, int) = (int (*)(int, int))real(&slot, "setns");
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (nstype == 0 || (nstype & SETNS_ALONE))
        step_aside();
    return f(fd, nstype);
}
