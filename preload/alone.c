/*
 * alone.c — calls that assume the calling thread is the process's only one: unshare and
 * setns, which the kernel refuses to a process with a second thread, and the per-thread
 * credential calls (capset, prctl's capability and securebits options) that a
 * single-threaded program makes on its one thread, expecting them to hold process-wide.
 *
 * unshare(CLONE_NEWUSER) (and CLONE_THREAD, CLONE_SIGHAND, CLONE_VM) needs the caller to
 * be the only thread of its process; setns into a mount or user namespace needs the
 * file-system context unshared with any other thread (which pthreads always share).
 * With our flusher thread there, util-linux `unshare -U` and `nsenter -m` failed with
 * EINVAL (issue 29). And util-linux `setpriv --reuid --regid --clear-groups` at rate 1
 * died of SIGABRT: it sets PR_SET_KEEPCAPS and capabilities on its thread, then
 * setresuid (glibc applies it to every thread: ours lost its capabilities, the program's
 * kept them), then setresgid, which failed on ours only, and glibc aborts when threads
 * disagree. Before such a call the engine steps aside (cp_prof_step_aside: the flusher
 * stops; events are flushed inline), so the call sees the threads the program made. A
 * flusher started later is created by a program thread and copies its credentials.
 * Other calls were considered: setuid and friends (glibc broadcasts them to every thread
 * itself), execve (ends every thread). Not seccomp filters (PR_SET_SECCOMP, seccomp(2)):
 * a flusher started again after one would run under the program's filter, which may
 * forbid its system calls; the one that was there goes on unfiltered, as before.
 *
 * Context: any application thread, the program's own call. Result and errno are the real
 * function's own; nothing is recorded.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/prctl.h>

#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

/* the flags with which the kernel needs this thread alone */
#define UNSHARE_ALONE (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)
/* nstype 0 takes the namespace's own type, which may be either */
#define SETNS_ALONE (CLONE_NEWNS | CLONE_NEWUSER)

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
    int (*f)(int) = (int (*)(int))cp_shim_next(&slot, "unshare");
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
    int (*f)(int, int) = (int (*)(int, int))cp_shim_next(&slot, "setns");
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (nstype == 0 || (nstype & SETNS_ALONE))
        step_aside();
    return f(fd, nstype);
}

/* prctl options that change the calling thread's credentials or filters only */
static int per_thread_option(int option)
{
    switch (option) {
    case PR_SET_KEEPCAPS:
    case PR_SET_SECUREBITS:
    case PR_CAPBSET_DROP:
    case PR_CAP_AMBIENT:
    case PR_SET_NO_NEW_PRIVS:
        return 1;
    default:
        return 0;
    }
}

/* For prctl (sandbox.c holds the hook, which also prepares for PR_SET_SECCOMP) */
void cp_shim_prctl_alone(int option)
{
    if (per_thread_option(option))
        step_aside();
}

/* <sys/capability.h> is libcap's; glibc exports the function */
EXPORT int capset(void *hdr, const void *data);
EXPORT int capset(void *hdr, const void *data)
{
    static void *slot;
    int (*f)(void *, const void *) = (int (*)(void *, const void *))cp_shim_next(&slot, "capset");
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    step_aside();
    return f(hdr, data);
}
