/*
 * exit.c — _exit, _Exit and abort, interposed (and syscall(SYS_exit_group), through
 * sandbox.c's syscall hook): what this process recorded is published before it ends
 * without running exit handlers (a fork child's usual end, a worker's, a program's after
 * a fatal error). And exit and quick_exit: published before their handlers run, for
 * another thread may end the process meanwhile (below).
 *
 * Why: with a flusher thread, up to an interval's events would end with the process (a
 * pre-forking server's workers at rate 1, made by a parent with a flusher, left no file
 * when the flusher ran in them). A process that never made a thread has no flusher
 * (core/flusher.c, "who flushes") and has published everything already: the flush finds
 * nothing to do.
 *
 * Context: any application thread, any time (_exit is async-signal-safe), a fork child,
 * or a vfork child sharing the parent's memory. As in exec.c, nothing is published from
 * profiler code (the guard held: a signal handler that exits while this thread holds the
 * flush lock would wait on itself), nor from a process the engine does not belong to (a
 * vfork child, or a clone() that skipped the atfork handlers: getpid() is not the shim's
 * pid). Never returns; the exit status is the program's.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prof.h"
#include "rawsys.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

static void *slot_exit, *slot_Exit, *slot_abort, *slot_exitfn, *slot_quick;

void cp_shim_exit_init(void)
{
    (void)cp_shim_next(&slot_exit, "_exit");
    (void)cp_shim_next(&slot_Exit, "_Exit");
    (void)cp_shim_next(&slot_abort, "abort");
    (void)cp_shim_next(&slot_exitfn, "exit");
    (void)cp_shim_next(&slot_quick, "quick_exit");
}

/* Publish what this process recorded (see above; tree: a root's tree markers go too,
 * treesaid.c, not a vfork child's), the guard taken (for dlsym's allocations, which in a
 * vfork child would go to the parent's ring): its countdown to give back. */
static int64_t publish_last(bool tree)
{
    bool publish = cp_shim_may_act();
    int64_t cd = cp_shim_enter();
    if (publish) {
        cp_prof_ending(); /* (the flusher process reaped: not left for init) */
        cp_prof_flush_all();
    }
    if (tree && getpid() == cp_shim_pid)
        cp_shim_treesaid_exit();
    return cd;
}

/* Publish, then end the process through the real function (resolved at start-up:
 * cp_shim_exit_init). tree: the tree's part too (publish_last), where no exit handler
 * of ours will run after. */
static __attribute__((noreturn)) void end(void **slot, const char *name, int status, bool tree)
{
    int saved = errno;
    int64_t cd = publish_last(tree);
    void (*f)(int) = (void (*)(int))cp_shim_next(slot, name);
    cp_shim_leave(cd);
    errno = saved;
    if (f)
        f(status);
    for (;;)
        cp_raw_syscall(SYS_exit_group, status, 0, 0, 0, 0, 0);
}

EXPORT void _exit(int status)
{
    end(&slot_exit, "_exit", status, true);
}

EXPORT void _Exit(int status)
{
    end(&slot_Exit, "_Exit", status, true);
}

/* abort: the same publication first (with a flusher thread the last interval was lost
 * with the process: a C++ program's uncaught exception ends in std::terminate's call to
 * abort). glibc's own calls to it (assert, a heap corruption found by malloc) do not come
 * through here. Then the real abort, which raises SIGABRT as it would have. */
EXPORT void abort(void)
{
    int saved = errno;
    int64_t cd = publish_last(false); /* (a SIGABRT handler may jump out: the tree stays) */
    void (*f)(void) = (void (*)(void))cp_shim_next(&slot_abort, "abort");
    cp_shim_leave(cd);
    errno = saved;
    if (f)
        f();
    for (;;) /* (no libc abort: the signal's default action, as abort would end) */
        cp_raw_syscall(SYS_exit_group, 128 + SIGABRT, 0, 0, 0, 0, 0);
}

/* exit and quick_exit: the same publication first, then the real function, which runs
 * the handlers (the profiler's final flush among them, with the tree's part: shim.c's
 * destructor, its at_quick_exit handler) and ends the process by glibc's own _exit, which
 * no hook sees. Why first: two threads that call exit at once run the handlers between
 * them, each taking the next, and the one that finds none left goes on to _exit while
 * the other may still be in a handler, the final flush too; a multi-threaded program
 * that ended so lost every event its flusher had not published yet, and with no flush
 * before, its whole profile (exits.c's race modes: the threads' 20 objects lost in 11
 * runs of 40). Now each caller publishes what was recorded before it called, the flush
 * lock making a later caller wait for an earlier one's publication; what a handler
 * records may still end with the process, as the handler itself may, bare. Main's return
 * from main reaches exit inside glibc, without this hook: a thread's exit meanwhile is
 * then the one that publishes first, and main's handlers include the final flush, which
 * waits for it. */
EXPORT void exit(int status)
{
    end(&slot_exitfn, "exit", status, false);
}

EXPORT void quick_exit(int status)
{
    end(&slot_quick, "quick_exit", status, false);
}

/* syscall(SYS_exit_group, status): the same end as _exit's (sandbox.c's syscall hook) */
void cp_shim_exit_group(int status)
{
    end(&slot_exit, "_exit", status, true);
}
