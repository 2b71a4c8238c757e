/*
 * filebus.c — SIGBUS on the program's threads while the profiler stores into the file.
 *
 * Callers: the engine's stores on a program's thread (flusher.c: the inline flush, the
 * exit's flush, fork; publish.c: the notes, late events, the sandbox's set-up; events.c:
 * the drain of a gone thread's ring), through cp_file_lock or cp_bus_open; the shim's
 * mask hooks (cp_prof_note_bus_blocked) and its SIGBUS handler (cp_prof_bus_window);
 * preload/sandbox.c before a filter goes in (cp_prof_bus_mask_forbidden). Any thread,
 * hook context; nothing here allocates or takes a lock but cp_flush_lock (cp_file_lock).
 * State: this thread's flags (TLS) and one process-wide flag.
 *
 * A program's thread stores into the file whenever it flushes or publishes: the inline
 * flush (no flusher thread), the exit's and exec's flush, the notes at exit, an event
 * after the exit's flush, a step-aside's flush, the drain of a gone thread's ring it
 * takes, the fork child's set-up. A fault there (a file truncated under us) with SIGBUS
 * blocked ends the process, as the kernel forces SIG_DFL: a daemon that blocks every
 * signal and reads them from a signalfd died at exit (135) when its profile had been
 * truncated. So each of those opens SIGBUS on its thread for its length if the program
 * blocked it there, by the raw system call (the shim's own hooks are not for us), and
 * blocks it again after; a sent SIGBUS that lands in the window is the shim's handler's to
 * hand back (cp_prof_bus_window). The inline flush, once an event at rate 1, goes by the
 * mask the program's own calls left (prof.h, cp_prof_note_bus_blocked: this thread's flag;
 * a fork child inherits it with the mask; a thread that has not called them yet, which
 * inherited its creator's mask, asks the kernel at its first inline flush); the others,
 * rare, ask the kernel each time (one call more).
 * Under a seccomp filter that forbids rt_sigprocmask (preload/sandbox.c runs each filter
 * before it goes in: cp_prof_bus_mask_forbidden) none of this may be called: a thread
 * whose flag says SIGBUS is blocked stores nothing into the file from then on (said once,
 * bus-blocked: its events stay in its ring, then are counted lost), others store as
 * ever. (The flusher thread has its own window: flusher.c, flusher_main.) */
#include "prof_int.h"

#include <signal.h>
#include <sys/syscall.h>

#include "log.h"
#include "rawsys.h"
#include "spin.h"

__thread uint8_t cp_bus_blocked __attribute__((tls_model("initial-exec")));
static __thread uint8_t bus_window __attribute__((tls_model("initial-exec")));
static __thread uint8_t on_flusher __attribute__((tls_model("initial-exec")));
static int bus_mask_forbidden; /* atomic: a filter in place forbids rt_sigprocmask */

void cp_bus_on_flusher(void)
{
    on_flusher = 1;
}

void cp_prof_note_bus_blocked(bool blocked)
{
    cp_bus_blocked = blocked ? CP_BUS_BLOCKED : CP_BUS_OPEN;
}

bool cp_prof_bus_window(void)
{
    return __atomic_load_n(&bus_window, __ATOMIC_RELAXED);
}

void cp_prof_bus_mask_forbidden(bool forbidden)
{
    __atomic_store_n(&bus_mask_forbidden, forbidden, __ATOMIC_RELEASE);
}

/* SIGBUS open on this thread for a store into the file: 1 opened now (cp_bus_close after), 0
 * open already (or the flusher, which has its own), -1 blocked and may not be opened
 * (store nothing). ask: read the mask from the kernel rather than the flag. */
int cp_bus_open(bool ask)
{
    if (on_flusher)
        return 0;
    uint64_t bus = 1ull << (SIGBUS - 1);
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE) &&
        __atomic_load_n(&bus_mask_forbidden, __ATOMIC_ACQUIRE))
        return cp_bus_blocked == CP_BUS_BLOCKED ? -1 : 0; /* (unknown: taken as open) */
    if (ask || cp_bus_blocked == CP_BUS_UNKNOWN) {
        uint64_t cur = 0;
        if (cp_raw_syscall(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&cur, 8, 0, 0) != 0)
            return cp_bus_blocked == CP_BUS_BLOCKED ? -1 : 0;
        if (!ask) /* this thread's first inline flush: known from now on (the hooks) */
            cp_bus_blocked = cur & bus ? CP_BUS_BLOCKED : CP_BUS_OPEN;
        if (!(cur & bus))
            return 0;
    } else if (cp_bus_blocked == CP_BUS_OPEN) {
        return 0;
    }
    __atomic_store_n(&bus_window, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (cp_raw_syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&bus, 0, 8, 0, 0) == 0)
        return 1;
    __atomic_store_n(&bus_window, 0, __ATOMIC_RELAXED);
    return -1;
}

void cp_bus_close(int opened)
{
    if (opened <= 0)
        return;
    uint64_t bus = 1ull << (SIGBUS - 1);
    cp_raw_syscall(SYS_rt_sigprocmask, SIG_BLOCK, (long)&bus, 0, 8, 0, 0);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&bus_window, 0, __ATOMIC_RELAXED);
}

void cp_bus_refused(void)
{
    if (cp_log_tree_first(CP_LOG_TREE_BUS_BLOCKED))
        cp_log("SIGBUS is blocked on a thread of the program and its seccomp filter forbids "
               "unblocking it: that thread's events are no longer written to the profile "
               "(a store into a truncated profile would end the program)");
}

bool cp_file_lock(int *bus)
{
    *bus = cp_bus_open(true);
    if (*bus < 0) {
        cp_bus_refused();
        return false;
    }
    cp_spin_lock(&cp_flush_lock);
    return true;
}

void cp_file_unlock(int bus)
{
    cp_spin_unlock(&cp_flush_lock);
    cp_bus_close(bus);
}
