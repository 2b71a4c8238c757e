/*
 * identity.c — the calls that set the process's effective or file-system uid: setuid,
 * seteuid, setreuid, setresuid, setfsuid; capset (from alone.c's hook); and the same as
 * raw system calls (from sandbox.c's syscall hook, cp_shim_identity_syscall).
 *
 * A daemon started as root drops to its own user once it has bound its port (setuid or
 * setresuid: dnsmasq, chronyd, lighttpd...), and a file server takes each request's user
 * for the request (Samba's per-request seteuid). The profile is 0600 and the old uid's,
 * and its directory may be closed to the new one; the file grows by opening its path
 * again (cfile.c, "No descriptor is kept"), which the new uid was refused: every sample
 * that needed a new counter was lost from the drop on (a daemon's whole run, said as "the
 * profile's path no longer leads to the file"), and at the default rate a process that
 * had sampled nothing before the drop could not make its file at all. Before such a call
 * the engine makes the file if it waited, and room in it (core/publish.c's
 * cp_prof_identity_changing); a growth refused later waits for the process to get its
 * right back. Handing the file to the new uid (fchown) was not done: a process of that
 * uid could then read the profile (the addresses of a process the kernel keeps
 * non-dumpable, hence unreadable to them, after its drop).
 *
 * And capset (alone.c's hook, and the raw call), which may take CAP_DAC_OVERRIDE from a
 * root that writes its profile into a directory that is not root's (a file waiting for
 * its first sample could then not be made there): treated as a change to the same uid
 * without the override. A uid the call would not change (-1, or the effective uid
 * already) asks nothing. Not from profiler code (the guard), nor in a vfork child
 * (getpid() is not the shim's).
 *
 * Context: any application thread, the program's own call. Result and errno are the real
 * function's own; nothing is recorded.
 */
#include <errno.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

/* The effective (or file-system) uid is about to become u (caps: the capabilities are
 * about to be set, u the same) */
static void changing(uid_t u, bool caps)
{
    if (!cp_shim_may_act())
        return;
    int64_t cd = cp_shim_enter();
    /* root's uid change keeps CAP_DAC_OVERRIDE only to root (glibc's setuid to another
     * clears it); capset may drop it: whether it does is in the program's memory, which
     * is not read (a bad pointer is the kernel's EFAULT to give, not a fault of ours) */
    cp_prof_identity_changing(u, !caps && u == 0);
    cp_shim_leave(cd);
}

static void before(uid_t u)
{
    int saved = errno;
    if (u != (uid_t)-1 && u != geteuid())
        changing(u, false);
    errno = saved;
}

void cp_shim_identity_caps(void)
{
    int saved = errno;
    changing(geteuid(), true);
    errno = saved;
}

void cp_shim_identity_syscall(long n, long a1, long a2)
{
    if (n == SYS_setuid || n == SYS_setfsuid)
        before((uid_t)a1);
    else if (n == SYS_setreuid || n == SYS_setresuid)
        before((uid_t)a2);
    else if (n == SYS_capset)
        cp_shim_identity_caps();
}

EXPORT int setuid(uid_t u)
{
    static void *real;
    int (*f)(uid_t) = (int (*)(uid_t))cp_shim_next(&real, "setuid");
    before(u);
    return f(u);
}

EXPORT int seteuid(uid_t e)
{
    static void *real;
    int (*f)(uid_t) = (int (*)(uid_t))cp_shim_next(&real, "seteuid");
    before(e);
    return f(e);
}

EXPORT int setreuid(uid_t r, uid_t e)
{
    static void *real;
    int (*f)(uid_t, uid_t) = (int (*)(uid_t, uid_t))cp_shim_next(&real, "setreuid");
    before(e);
    return f(r, e);
}

EXPORT int setresuid(uid_t r, uid_t e, uid_t s)
{
    static void *real;
    int (*f)(uid_t, uid_t, uid_t) = (int (*)(uid_t, uid_t, uid_t))cp_shim_next(&real, "setresuid");
    before(e);
    return f(r, e, s);
}

EXPORT int setfsuid(uid_t u)
{
    static void *real;
    int (*f)(uid_t) = (int (*)(uid_t))cp_shim_next(&real, "setfsuid");
    before(u);
    return f(u);
}
