/*
 * nproc.c — RLIMIT_NPROC counts threads, ours too (issue 29: a pre-forking server under
 * `ulimit -u` started fewer workers). When the kernel refuses the program a process
 * (fork) or a thread (pthread_create, pthread.c) with EAGAIN while a thread of ours
 * exists, ours steps aside for good (core/flusher.c, cp_prof_aside_begin: this process and
 * its children flush inline from then on) and the call is made once more, into the
 * place ours had. So a thread of ours never costs the program a process or thread it
 * could otherwise start; and ours is never started against the limit (start_thread takes
 * EAGAIN quietly and flushes inline). Exact, where the rule before was a guess from the
 * limit's value. A single-threaded process has no thread of ours at all.
 *
 * Not covered: a clone the program makes without these two (posix_spawn, system, a raw
 * clone or vfork), which fails as it would have with one more thread in the process.
 *
 * Context: any application thread, the program's own call; fork also from a signal
 * handler (then, if it interrupted profiler code, the guard is held and nothing steps
 * aside). Results and errno are the real functions'.
 */
#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

static pid_t (*real_fork)(void);

void cp_shim_nproc_init(void)
{
    static void *slot;
    real_fork = (pid_t(*)(void))cp_shim_next(&slot, "fork");
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
