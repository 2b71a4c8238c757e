/*
 * wait.c — waits for any child that would see the flusher process (core/flushproc.c).
 *
 * The flusher process is the program's child, one that sends no signal when it ends: a
 * wait without __WALL or __WCLONE never sees it (wait, waitpid(-1, ...), the program's
 * own children). One with either flag, for any child (pid -1, waitid's P_ALL), does:
 * strace waits so (wait4(-1, ..., __WALL)) until it has no child left, and under the
 * profiler at rate 1 it waited for ours for ever, which ends only with the program. So
 * before such a wait the flusher process is stopped, reaped and not made again in this
 * process (its events are flushed as they happen: cp_prof_no_flusher_process); the wait
 * then sees the program's children only. A wait for one pid or a process group (ours
 * left the program's) is passed on as it is. waitid and the raw system calls too
 * (sandbox.c's syscall hook calls cp_shim_wait_any).
 *
 * Context: any application thread, the program's own call. Result and errno are the real
 * function's own; nothing is recorded.
 */
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

/* The real functions, found in the constructor (cp_shim_wait_init): a wait's first call
 * may come from a dl_iterate_phdr callback, holding the loader's lock, where a dlsym
 * waits for another lock of the loader that a thread in dlopen holds while it waits for
 * this one (tests/programs/loaderlock.c's plugins mode hung so), or from a signal
 * handler. */
static void *slot_waitpid, *slot_wait4, *slot_wait3, *slot_waitid;

void cp_shim_wait_init(void)
{
    (void)cp_shim_next(&slot_waitpid, "waitpid");
    (void)cp_shim_next(&slot_wait4, "wait4");
    (void)cp_shim_next(&slot_wait3, "wait3");
    (void)cp_shim_next(&slot_waitid, "waitid");
}

void cp_shim_wait_any(long pid_or_idtype, long options, bool waitid)
{
    bool any = waitid ? pid_or_idtype == P_ALL : pid_or_idtype == -1;
    if (!any || !(options & (__WALL | __WCLONE)) || cp_shim_state != CP_SHIM_ON || cp_tls.guard)
        return;
    int saved = errno;
    int64_t cd = cp_shim_enter();
    cp_prof_no_flusher_process();
    cp_shim_leave(cd);
    errno = saved;
}

EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
    pid_t (*f)(pid_t, int *, int) =
        (pid_t(*)(pid_t, int *, int))cp_shim_next(&slot_waitpid, "waitpid");
    cp_shim_wait_any(pid, options, false);
    return f(pid, status, options);
}

EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
    pid_t (*f)(pid_t, int *, int, struct rusage *) =
        (pid_t(*)(pid_t, int *, int, struct rusage *))cp_shim_next(&slot_wait4, "wait4");
    cp_shim_wait_any(pid, options, false);
    return f(pid, status, options, ru);
}

EXPORT pid_t wait3(int *status, int options, struct rusage *ru)
{
    pid_t (*f)(int *, int, struct rusage *) =
        (pid_t(*)(int *, int, struct rusage *))cp_shim_next(&slot_wait3, "wait3");
    cp_shim_wait_any(-1, options, false);
    return f(status, options, ru);
}

EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
    int (*f)(idtype_t, id_t, siginfo_t *, int) =
        (int (*)(idtype_t, id_t, siginfo_t *, int))cp_shim_next(&slot_waitid, "waitid");
    cp_shim_wait_any(idtype, options, true);
    return f(idtype, id, info, options);
}
