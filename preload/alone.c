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
 * disagree. Around such a call the engine steps aside (cp_prof_aside_begin: the flusher
 * stops, a start under way on another thread is waited for and stopped, and none starts
 * until the call has returned; events are flushed inline), so the call sees the threads
 * the program made. A flusher started later is created by a program thread and copies
 * its credentials. The same calls made through syscall(2) (SYS_unshare, SYS_setns,
 * SYS_capset, SYS_prctl) come here from sandbox.c's syscall hook.
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
#include <sys/syscall.h>

#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

/* the flags with which the kernel needs this thread alone */
#define UNSHARE_ALONE (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)
/* nstype 0 takes the namespace's own type, which may be either */
#define SETNS_ALONE (CLONE_NEWNS | CLONE_NEWUSER)

/* Before the call: returns whether to end the step-aside after it (aside_end). No thread
 * of ours starts in between (another thread's event might otherwise start one). */
static bool aside_begin(void)
{
    if (cp_shim_state != CP_SHIM_ON || cp_tls.guard)
        return false;
    int saved = errno;
    int64_t cd = cp_shim_enter();
    cp_prof_aside_begin(false);
    cp_shim_leave(cd);
    errno = saved;
    return true;
}

static void aside_end(bool began)
{
    if (began)
        cp_prof_aside_end(); /* errno untouched */
}

EXPORT int unshare(int flags)
{
    static void *slot;
    int (*f)(int) = (int (*)(int))cp_shim_next(&slot, "unshare");
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    bool b = (flags & UNSHARE_ALONE) && aside_begin();
    int r = f(flags);
    aside_end(b);
    return r;
}

EXPORT int setns(int fd, int nstype)
{
    static void *slot;
    int (*f)(int, int) = (int (*)(int, int))cp_shim_next(&slot, "setns");
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    cp_shim_paths_setns(fd, nstype); /* (into another mount namespace: paths.c) */
    bool b = (nstype == 0 || (nstype & SETNS_ALONE)) && aside_begin();
    int r = f(fd, nstype);
    aside_end(b);
    return r;
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

/* For prctl (sandbox.c holds the hook, which also prepares for PR_SET_SECCOMP): returns
 * what cp_shim_alone_end takes after the call */
bool cp_shim_alone_begin_prctl(int option)
{
    return per_thread_option(option) && aside_begin();
}

bool cp_shim_alone_begin_syscall(long n, long a1, long a2)
{
    switch (n) {
    case SYS_unshare:
        return (a1 & UNSHARE_ALONE) && aside_begin();
    case SYS_setns: /* (fd, nstype) */
        return (a2 == 0 || (a2 & SETNS_ALONE)) && aside_begin();
    case SYS_capset:
        return aside_begin();
    case SYS_prctl:
        return cp_shim_alone_begin_prctl((int)a1);
    default:
        return false;
    }
}

void cp_shim_alone_end(bool began)
{
    aside_end(began);
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
    cp_shim_identity_caps(); /* (it may drop CAP_DAC_OVERRIDE: identity.c) */
    bool b = aside_begin();
    int r = f(hdr, data);
    aside_end(b);
    return r;
}
