/*
 * nproc.c — RLIMIT_NPROC counts threads, ours too (issue 29: a pre-forking server under
 * `ulimit -u` started fewer workers). When the kernel refuses the program a process or a
 * thread with EAGAIN while a thread of ours exists, ours steps aside for good
 * (core/flusher.c, cp_prof_aside_begin: this process and its children flush inline from
 * then on) and the call is made once more, into the place ours had, with the errno the
 * program had before it. So a thread of ours never costs the program a process or
 * thread it could otherwise start; and ours is never started against the limit
 * (start_thread takes EAGAIN quietly and flushes inline). Exact, where the rule before
 * was a guess from the limit's value. A single-threaded process has no thread of ours at
 * all. pthread_create's EAGAIN may have other causes (a stack that cannot be mapped,
 * threads-max, a cgroup's pids.max, a SCHED_DEADLINE caller): ours steps aside for the
 * retry only, and stays aside only if the retry worked (cp_shim_nproc_retry_begin/end);
 * otherwise it starts again. (The process-making calls keep the rule above: a fork
 * child would inherit a step-aside in progress.) Every way glibc 2.36 starts a process or thread,
 * and how each says EAGAIN:
 *   - fork, clone (the wrapper returns only in the parent: the child runs fn on its own
 *     stack and exits), posix_spawn and posix_spawnp: -1 and errno EAGAIN, or the error
 *     returned; pthread_create: its hook in pthread.c;
 *   - vfork: vfork.S, an assembly hook (a C frame cannot return twice, in the child and
 *     then in the parent, on one shared stack); on -EAGAIN in the parent, where no child
 *     exists, it calls cp_shim_vfork_failed below and makes the call again;
 *   - system: its child comes from glibc's internal posix_spawn (no PLT call we see);
 *     the refusal is the status of a shell that exited 127 with errno EAGAIN (0 with
 *     errno EAGAIN for system(NULL)), which a shell that ran never leaves (errno is set
 *     to 0 around the call to tell, and given back when the call did not set it);
 *   - popen: glibc's internal posix_spawn too, and every failure of the spawn says
 *     ENOMEM (iopopen.c: a refused clone, a failed malloc, no /bin/sh). So on NULL with
 *     ENOMEM ours steps aside for that one call and it is made again; only when the
 *     second call succeeds was ours in the way, and then ours stays aside for good. A
 *     real ENOMEM costs one more attempt that fails the same way, and the flusher
 *     may start again afterwards.
 * A raw fork or clone through syscall(2) (SYS_fork, SYS_clone, SYS_clone3) is retried by
 * sandbox.c's syscall hook (raw_new_task), but for a CLONE_VM one without a stack of its
 * own, which cannot work through glibc's syscall() bare either (its child's next call
 * overwrites the parent's return address) and is passed through untouched.
 *
 * posix_spawn and posix_spawnp also give the new image CTRPROF_SAID, as exec.c's hooks
 * do (what this tree has said, base/log.h); system and popen, whose children get environ
 * itself, bring environ's CTRPROF_SAID entry up to date first (said.c).
 *
 * Context: any application thread, the program's own call; fork also from a signal
 * handler (then, if it interrupted profiler code, the guard is held and nothing steps
 * aside); vfork's failure only in the parent. Results and errno are the real functions'.
 */
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
                     const posix_spawnattr_t *, char *const[], char *const[]);
typedef int clone_fn(int (*)(void *), void *, int, void *, ...);
static pid_t (*real_fork)(void);
static spawn_fn *real_spawn, *real_spawnp;
static int (*real_system)(const char *);
static FILE *(*real_popen)(const char *, const char *);
static clone_fn *real_clone;

void cp_shim_nproc_init(void)
{
    static void *slot, *slot_spawn, *slot_spawnp, *slot_system, *slot_popen, *slot_clone;
    real_fork = (pid_t(*)(void))cp_shim_next(&slot, "fork");
    real_spawn = (spawn_fn *)cp_shim_next(&slot_spawn, "posix_spawn");
    real_spawnp = (spawn_fn *)cp_shim_next(&slot_spawnp, "posix_spawnp");
    real_system = (int (*)(const char *))cp_shim_next(&slot_system, "system");
    real_popen = (FILE * (*)(const char *, const char *)) cp_shim_next(&slot_popen, "popen");
    real_clone = (clone_fn *)cp_shim_next(&slot_clone, "clone");
}

/* Step aside: for good, or (began set) for one call, ended by cp_prof_aside_end. Returns
 * whether a thread of ours was stopped. */
static bool step_aside(bool for_good, bool *began)
{
    if (cp_shim_state != CP_SHIM_ON || cp_tls.guard)
        return false;
    int saved = errno;
    int64_t cd = cp_shim_enter();
    bool stopped = cp_prof_aside_begin(for_good);
    if (began)
        *began = true;
    else
        cp_prof_aside_end();
    cp_shim_leave(cd);
    errno = saved;
    return stopped;
}

bool cp_shim_nproc_refused(void)
{
    return step_aside(true, NULL);
}

bool cp_shim_nproc_retry_begin(bool *began)
{
    *began = false;
    bool stopped = step_aside(false, began);
    if (*began && !stopped) { /* (no thread of ours was in the way: no retry) */
        int saved = errno;
        int64_t cd = cp_shim_enter();
        cp_prof_aside_end();
        cp_shim_leave(cd);
        errno = saved;
        *began = false;
    }
    return stopped;
}

void cp_shim_nproc_retry_end(bool began, bool worked)
{
    if (!began)
        return;
    int saved = errno;
    int64_t cd = cp_shim_enter();
    if (worked) { /* ours took the place: barred for good, as cp_shim_nproc_refused does */
        cp_prof_aside_begin(true);
        cp_prof_aside_end();
    }
    cp_prof_aside_end();
    if (!worked)
        cp_prof_flusher_resume();
    cp_shim_leave(cd);
    errno = saved;
}

/* vfork.S: the system call failed with neg (-errno), in the parent. Returns 1 to make it
 * again (ours was in the way, and is gone), or 0 with errno set. */
int cp_shim_vfork_failed(long neg);
int cp_shim_vfork_failed(long neg)
{
    if (neg == -EAGAIN && cp_shim_nproc_refused())
        return 1;
    errno = (int)-neg;
    return 0;
}

EXPORT pid_t fork(void)
{
    if (!real_fork)
        cp_shim_nproc_init(); /* (a fork before our constructor ran) */
    int saved = errno;
    pid_t p = real_fork();
    if (p < 0 && errno == EAGAIN && cp_shim_nproc_refused()) {
        errno = saved;
        p = real_fork();
    }
    return p;
}

/* The clone wrapper's optional arguments (parent_tid, tls, child_tid) are read whether or
 * not the caller passed them, as the sanitizers' interceptors do: what is not a flag's
 * argument is not used by the kernel. */
EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    if (!real_clone)
        cp_shim_nproc_init();
    va_list ap;
    va_start(ap, arg);
    pid_t *ptid = va_arg(ap, pid_t *);
    void *tls = va_arg(ap, void *);
    pid_t *ctid = va_arg(ap, pid_t *);
    va_end(ap);
    int saved = errno;
    int r = real_clone(fn, stack, flags, arg, ptid, tls, ctid);
    if (r < 0 && errno == EAGAIN && cp_shim_nproc_refused()) {
        errno = saved;
        r = real_clone(fn, stack, flags, arg, ptid, tls, ctid);
    }
    return r;
}

/* posix_spawn returns its error (errno is whatever the real call left). The new image's
 * environment names what this tree has said, as an exec's (exec.c, base/log.h). */
static int spawn_retry(spawn_fn *real, pid_t *pid, const char *path,
                       const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
                       char *const argv[], char *const envp[])
{
    CP_SHIM_TREE_ENV(envp);
    int saved = errno;
    int r = real(pid, path, fa, attr, argv, e_);
    if (r == EAGAIN && cp_shim_nproc_refused()) {
        errno = saved;
        r = real(pid, path, fa, attr, argv, e_);
    }
    return r;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (!real_spawn)
        cp_shim_nproc_init();
    return spawn_retry(real_spawn, pid, path, fa, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (!real_spawnp)
        cp_shim_nproc_init();
    return spawn_retry(real_spawnp, pid, file, fa, attr, argv, envp);
}

/* system's and popen's children get environ as it is (glibc's internal posix_spawn): its
 * CTRPROF_SAID entry is brought up to date first (said.c), with what a forked child of
 * this process said, and with a CTRPROF_DIR found unusable now (as exec.c does). */
static void tell_children(void)
{
    extern char **environ;
    int saved = errno;
    if (cp_shim_keeps_shim(environ))
        cp_shim_check_dir();
    cp_shim_said_refresh();
    errno = saved;
}

EXPORT int system(const char *line)
{
    if (!real_system)
        cp_shim_nproc_init();
    tell_children();
    int saved = errno;
    errno = 0;
    int r = real_system(line);
    if (errno == EAGAIN && (r == W_EXITCODE(127, 0) || (!line && r == 0)) &&
        cp_shim_nproc_refused()) {
        errno = 0;
        r = real_system(line);
    }
    if (errno == 0)
        errno = saved;
    return r;
}

EXPORT FILE *popen(const char *command, const char *mode)
{
    if (!real_popen)
        cp_shim_nproc_init();
    tell_children();
    int saved = errno;
    FILE *f = real_popen(command, mode);
    if (f || errno != ENOMEM)
        return f;
    bool began = false;
    if (step_aside(false, &began)) {
        errno = saved;
        f = real_popen(command, mode);
        if (f) /* ours was in the way: it would be again */
            step_aside(true, NULL);
    }
    if (began)
        cp_prof_aside_end(); /* (errno untouched) */
    return f;
}
