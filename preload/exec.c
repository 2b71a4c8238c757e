/*
 * exec.c — the exec family, interposed: everything recorded is published before the
 * process image is replaced (issue 30). Hooks only.
 *
 * Context: any application thread, any time (execve is async-signal-safe: a signal
 * handler may call it), in a fork child, or in a vfork child that shares the parent's
 * memory.
 *
 * Why every exported name: glibc's execv, execvp, execl, execlp, execle and execvpe call
 * execve (or each other) inside libc, not through the PLT, so a hook on execve alone
 * never sees them. Each hook publishes (cp_prof_flush_all: waits for a flush in
 * progress, drains every thread's ring and creates the lazily created per-process file if
 * there is anything to put in it), then makes the real call. The list forms build their
 * argv on the stack and go to the real execve or execvpe, as glibc's own do; execv and
 * execvp are execve and execvpe with environ, as in glibc. posix_spawn, system and popen
 * publish nothing (nproc.c hooks them to retry under RLIMIT_NPROC, and posix_spawn's
 * environment gets CTRPROF_SAID as an exec's, below): their child runs glibc's internal
 * execve without the shim's code, and the parent goes on (and publishes as usual).
 * system and popen pass environ, which has what start-up said (shim.c), not what was
 * said later.
 *
 * Invariants:
 *   - if the exec fails, profiling goes on as before (the flush only published early) and
 *     the hook returns exactly what the real call returned, with its errno;
 *   - nothing is published from profiler code (the guard held: a signal handler that
 *     execs while this thread holds the flush lock or is mid-event would wait on itself),
 *     nor from a process the engine does not belong to (a vfork child, or a clone() that
 *     skipped the atfork handlers: getpid() is not the shim's pid) — there the parent's
 *     engine is the parent's to publish;
 *   - events that other threads record after the flush and before the kernel replaces
 *     the image are lost;
 *   - what the profiler says once per process tree (base/log.h: "not profiling" and its
 *     causes, bad options) is said once across exec too: when this tree has said any of
 *     it, the environment passed to the new image (a copy on this stack, up to ENV_MAX
 *     entries; the program's own environ is left alone) has CTRPROF_SAID=<names> naming
 *     all of it, which its start-up reads (shim.c). And an image that
 *     could not create its file in CTRPROF_DIR (a worker that dropped privileges) is
 *     found out here, before the exec, where sibling workers still share the tree: the
 *     first says it, the others, and every image after them, stay quiet.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);

static execve_fn real_execve, real_execvpe;
static execveat_fn real_execveat;
static fexecve_fn real_fexecve;

/* Looked up at the first exec, not at start-up (most processes never exec). */
static void resolve(void)
{
    if (__atomic_load_n(&real_execve, __ATOMIC_ACQUIRE))
        return;
    __atomic_store_n(&real_execvpe, (execve_fn)dlsym(RTLD_NEXT, "execvpe"), __ATOMIC_RELAXED);
    __atomic_store_n(&real_execveat, (execveat_fn)dlsym(RTLD_NEXT, "execveat"), __ATOMIC_RELAXED);
    __atomic_store_n(&real_fexecve, (fexecve_fn)dlsym(RTLD_NEXT, "fexecve"), __ATOMIC_RELAXED);
    __atomic_store_n(&real_execve, (execve_fn)dlsym(RTLD_NEXT, "execve"), __ATOMIC_RELEASE);
}

/* Does this environment still preload the shim? (A wrapper such as env -i, or a launcher
 * that resets the environment, runs its program unprofiled: the process `ctrprof run`
 * started notes it, so that the run can say why the program left no profile.) */
bool cp_shim_keeps_shim(char *const envp[])
{
    for (size_t i = 0; envp && envp[i]; i++)
        if (!strncmp(envp[i], "LD_PRELOAD=", 11) && strstr(envp[i], "libctrprof"))
            return true;
    return false;
}

#define ENV_MAX CP_SHIM_ENV_MAX
#define SAID "CTRPROF_SAID="
#define SAID_LEN 13
#define SAID_MAX CP_SHIM_SAID_MAX

size_t cp_shim_env_count(char *const envp[])
{
    size_t n = 0;
    while (envp && envp[n] && n <= ENV_MAX)
        n++;
    return n;
}

/* A directory this process could not create its file in, found out before a child that
 * would find it too starts (and says it first): said now (errno changed). */
void cp_shim_check_dir(void)
{
    if (cp_shim_state == CP_SHIM_ON && cp_opts.file[0] == 0 &&
        !cp_log_tree_said(CP_LOG_TREE_NOT_PROFILING) && access(cp_opts.dir, W_OK | X_OK) != 0) {
        int err = -errno;
        if (cp_log_tree_first(CP_LOG_TREE_NOT_PROFILING))
            cp_log("CTRPROF_DIR=%s: %s; not profiling", cp_opts.dir, cp_prof_strerror(err));
    }
}

/* The environment for the new image: envp, or a copy in out (room for n + 2) whose
 * CTRPROF_SAID (in said, SAID_MAX bytes) names everything this tree has said (see
 * above). Also for nproc.c's posix_spawn and posix_spawnp. */
char *const *cp_shim_tree_env(char *const envp[], char **out, size_t n, char *said)
{
    if (cp_shim_inert || !cp_shim_keeps_shim(envp))
        return envp;
    cp_shim_check_dir();
    memcpy(said, SAID, SAID_LEN);
    size_t l = cp_log_tree_list(said + SAID_LEN, SAID_MAX - SAID_LEN);
    if (l == 0 || SAID_LEN + l >= SAID_MAX || n > ENV_MAX)
        return envp;
    size_t at = n; /* the entry getenv would find, replaced; or one more */
    for (size_t i = 0; i < n && at == n; i++)
        if (!strncmp(envp[i], SAID, SAID_LEN)) {
            if (!strcmp(envp[i], said))
                return envp;
            at = i;
        }
    for (size_t i = 0; i < n; i++)
        out[i] = envp[i];
    out[at] = said;
    out[at == n ? n + 1 : n] = NULL;
    return out;
}

/* Publish everything before the image may be replaced; resolve the real functions. */
static void before_exec(char *const envp[])
{
    int saved = errno;
    bool publish = cp_shim_may_act();
    /* the guard also for dlsym's allocations: in a vfork child they would go to the
     * parent's ring */
    int64_t cd = cp_shim_enter();
    if (publish && cp_shim_run_top() && !cp_shim_keeps_shim(envp))
        cp_prof_note_exec_unprofiled();
    if (publish)
        cp_prof_flush_last();
    resolve();
    cp_shim_leave(cd);
    errno = saved;
}

static int no_real(void)
{
    errno = ENOSYS;
    return -1;
}

#define TREE_ENV(envp) CP_SHIM_TREE_ENV(envp)

static int do_execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec(envp);
    TREE_ENV(envp);
    return real_execve ? real_execve(path, argv, e_) : no_real();
}

static int do_execvpe(const char *file, char *const argv[], char *const envp[])
{
    before_exec(envp);
    TREE_ENV(envp);
    return real_execvpe ? real_execvpe(file, argv, e_) : no_real();
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return do_execve(path, argv, envp);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    before_exec(envp);
    TREE_ENV(envp);
    return real_execveat ? real_execveat(dirfd, path, argv, e_, flags) : no_real();
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    before_exec(envp);
    TREE_ENV(envp);
    return real_fexecve ? real_fexecve(fd, argv, e_) : no_real();
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return do_execvpe(file, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
    return do_execve(path, argv, environ);
}

EXPORT int execvp(const char *file, char *const argv[])
{
    return do_execvpe(file, argv, environ);
}

/* The list forms: count the arguments, then copy them into an array on the stack (as
 * glibc's execl does); envp for execle follows the terminating NULL. */
#define LIST_TO_ARGV(arg0, last, envp_out)                                                         \
    size_t argc = 1;                                                                               \
    va_list ap;                                                                                    \
    va_start(ap, last);                                                                            \
    while (va_arg(ap, char *))                                                                     \
        argc++;                                                                                    \
    va_end(ap);                                                                                    \
    char *argv[argc + 1];                                                                          \
    argv[0] = (char *)(arg0);                                                                      \
    va_start(ap, last);                                                                            \
    for (size_t i = 1; i <= argc; i++)                                                             \
        argv[i] = va_arg(ap, char *); /* argv[argc] is the NULL */                                 \
    envp_out;                                                                                      \
    va_end(ap)

EXPORT int execl(const char *path, const char *arg, ...)
{
    LIST_TO_ARGV(arg, arg, (void)0);
    return do_execve(path, argv, environ);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    LIST_TO_ARGV(arg, arg, (void)0);
    return do_execvpe(file, argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    char **envp;
    LIST_TO_ARGV(arg, arg, envp = va_arg(ap, char **));
    return do_execve(path, argv, envp);
}
