/*
 * nproc.c — RLIMIT_NPROC counts threads, ours too (issue 29: a pre-forking server under
 * `ulimit -u` started fewer workers). When the kernel refuses the program a process
 * (fork, posix_spawn, posix_spawnp) or a thread (pthread_create, pthread.c) with EAGAIN
 * while a thread of ours
 * exists, ours steps aside for good (core/flusher.c, cp_prof_aside_begin: this process and
 * its children flush inline from then on) and the call is made once more, into the
 * place ours had. So a thread of ours never costs the program a process or thread it
 * could otherwise start; and ours is never started against the limit (start_thread takes
 * EAGAIN quietly and flushes inline). Exact, where the rule before was a guess from the
 * limit's value. A single-threaded process has no thread of ours at all.
 *
 * Not covered: a clone the program makes without these (system and popen, whose
 * posix_spawn is glibc's internal one; a raw clone or vfork), which fails as it would have
 * with one more thread in the process.
 *
 * Context: any application thread, the program's own call; fork also from a signal
 * handler (then, if it interrupted profiler code, the guard is held and nothing steps
 * aside). Results and errno are the real functions'.
 */
#include <errno.h>
#include <spawn.h>
#include <sys/types.h>
#include <unistd.h>

#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
                     const posix_spawnattr_t *, char *const[], char *const[]);
static pid_t (*real_fork)(void);
static spawn_fn *real_spawn, *real_spawnp;

void cp_shim_nproc_init(void)
{
    static void *slot, *slot_spawn, *slot_spawnp;
    real_fork = (pid_t(*)(void))cp_shim_next(&slot, "fork");
    real_spawn = (spawn_fn *)cp_shim_next(&slot_spawn, "posix_spawn");
    real_spawnp = (spawn_fn *)cp_shim_next(&slot_spawnp, "posix_spawnp");
}

bool cp_shim_nproc_refused(void)
{
    if (cp_shim_state != CP_SHIM_ON || cp_tls.guard)
        return false;
    int saved = errno;
    int64_t cd = cp_shim_enter();
    bool stopped = cp_prof_aside_begin(true);
    cp_prof_aside_end();
    cp_shim_leave(cd);
    errno = saved;
    return stopped;
}

EXPORT pid_t fork(void)
{
    if (!real_fork)
        cp_shim_nproc_init(); /* (a fork before our constructor ran) */
    pid_t p = real_fork();
    if (p < 0 && errno == EAGAIN && cp_shim_nproc_refused())
        p = real_fork();
    return p;
}

/* posix_spawn returns its error (errno is whatever the real call left) */
static int spawn_retry(spawn_fn *real, pid_t *pid, const char *path,
                       const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
                       char *const argv[], char *const envp[])
{
    int r = real(pid, path, fa, attr, argv, envp);
    if (r == EAGAIN && cp_shim_nproc_refused())
        r = real(pid, path, fa, attr, argv, envp);
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
