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
 * Under a seccomp filter that forbids rt_sigprocmask or rt_sigqueueinfo (preload/
 * sandbox.c runs each filter before it goes in: cp_prof_bus_mask_forbidden) no window may
 * be opened: a thread whose SIGBUS is blocked stores nothing into the file from then on
 * (said once, bus-blocked: its events stay in its ring till another thread's flush
 * takes them, or are counted lost), others store as ever. Which threads those are: the
 * flag where the hooks or an earlier flush left it, else (a thread that inherited its
 * mask and never called them: every thread glibc's pthread_create makes) the kernel's
 * answer if the filter lets the mask be read, else the mask /proc/self/task showed for
 * it when the filter went in (snapshot below; not there, a thread made later or past
 * its bound, or one still in glibc's start-up, which blocks every signal: taken as
 * blocked). A window open on
 * another thread when the filter goes in is waited for (windows_open), so none is left
 * open that could not be closed. (The flusher thread has its own window, flusher.c's
 * flusher_main; a filter that would bind it to this retires it first.) */
#include "prof_int.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "log.h"
#include "rawsys.h"
#include "spin.h"

__thread uint8_t cp_bus_blocked __attribute__((tls_model("initial-exec")));
static __thread uint8_t bus_window __attribute__((tls_model("initial-exec")));
static __thread uint8_t on_flusher __attribute__((tls_model("initial-exec")));
static int bus_mask_forbidden; /* atomic: CP_BUS_*: a filter in place forbids the window */
static uint32_t windows_open;  /* atomic: program threads' windows open now */

/* The program's threads when a filter forbade the window: tid, negated if SIGBUS was
 * blocked (SigBlk in /proc/self/task/<tid>/status). Written before bus_mask_forbidden is
 * set (release), read after it is seen (acquire); guarded by snap_lock while written. */
#define SNAP_MAX 1024
static int32_t snap[SNAP_MAX];
static unsigned snap_n;
static cp_spin snap_lock = CP_SPIN_INIT;
static char snap_buf[1024]; /* guarded by snap_lock */

/* Does /proc/self/task/<tid>/status say SIGBUS is blocked (1), open (0), or not say (-1)? */
static int task_bus_blocked(const char *tid)
{
    char path[64] = "/proc/self/task/";
    size_t n = strlen(path), k = strlen(tid);
    if (n + k + 8 > sizeof path)
        return -1;
    memcpy(path + n, tid, k);
    memcpy(path + n + k, "/status", 8);
    int fd = (int)cp_raw_syscall(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
    if (fd < 0)
        return -1;
    /* "SigBlk:\t" then 16 hex digits, at a line's start; read in pieces (Groups may be long) */
    static const char key[] = "\nSigBlk:\t";
    unsigned matched = 0, digits = 0;
    uint64_t mask = 0;
    int r = -1;
    long got;
    while (r < 0 &&
           (got = cp_raw_syscall(SYS_read, fd, (long)snap_buf, sizeof snap_buf, 0, 0, 0)) > 0)
        for (long i = 0; i < got && r < 0; i++) {
            char c = snap_buf[i];
            if (matched < sizeof key - 1) {
                matched = c == key[matched] ? matched + 1 : c == '\n';
                continue;
            }
            int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (v < 0 || ++digits > 16)
                r = digits == 16 ? (int)((mask >> (SIGBUS - 1)) & 1) : -1;
            else
                mask = mask << 4 | (uint64_t)v;
        }
    cp_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
    return r;
}

/* One thread's entry of /proc/self/task into snap; more while there is room */
static int snapshot_task(const char *name, void *ctx)
{
    (void)ctx;
    int32_t tid = 0;
    for (const char *c = name; *c >= '0' && *c <= '9' && tid < (1 << 27); c++)
        tid = tid * 10 + (*c - '0');
    int b = tid > 0 ? task_bus_blocked(name) : -1;
    if (b >= 0)
        snap[snap_n++] = b ? -tid : tid;
    return snap_n < SNAP_MAX;
}

/* Every thread's SIGBUS mask now, into snap (bounded; one read of each thread's status) */
static void snapshot_masks(void)
{
    cp_spin_lock(&snap_lock);
    snap_n = 0;
    cp_raw_each_entry("/proc/self/task", snapshot_task, NULL);
    cp_spin_unlock(&snap_lock);
}

/* This thread's flag, unknown, under a filter: what the snapshot says (kept: the filter
 * lets its mask change only through the hooks, which set the flag), or unknown still */
static uint8_t flag_from_snapshot(void)
{
    int32_t tid = (int32_t)cp_raw_syscall(SYS_gettid, 0, 0, 0, 0, 0, 0);
    for (unsigned i = 0; i < snap_n; i++)
        if (snap[i] == tid || snap[i] == -tid)
            return snap[i] > 0 ? CP_BUS_OPEN : CP_BUS_BLOCKED;
    return CP_BUS_UNKNOWN;
}

/* This thread's SIGBUS as the kernel has it now: CP_BUS_OPEN or CP_BUS_BLOCKED, or
 * CP_BUS_UNKNOWN if the call failed */
static uint8_t flag_from_kernel(void)
{
    uint64_t cur = 0;
    if (cp_raw_syscall(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&cur, 8, 0, 0) != 0)
        return CP_BUS_UNKNOWN;
    return cur & (1ull << (SIGBUS - 1)) ? CP_BUS_BLOCKED : CP_BUS_OPEN;
}

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

void cp_prof_bus_mask_forbidden(int level)
{
    bool forbidden = level != CP_BUS_WINDOW_OK;
    if (level == CP_BUS_MAY_NOT_ASK)
        snapshot_masks();
    __atomic_store_n(&bus_mask_forbidden, level, __ATOMIC_SEQ_CST);
    /* a window opened before this was seen closes soon (its store, then the close);
     * bounded, in case its thread is stopped (2 s) */
    for (int i = 0; forbidden && i < 2000 && __atomic_load_n(&windows_open, __ATOMIC_SEQ_CST);
         i++) {
        struct timespec ms = {0, 1000 * 1000};
        cp_raw_syscall(SYS_nanosleep, (long)&ms, 0, 0, 0, 0, 0);
    }
}

unsigned cp_bus_windows_open(void)
{
    return __atomic_load_n(&windows_open, __ATOMIC_SEQ_CST);
}

/* SIGBUS open on this thread for a store into the file: 1 opened now (cp_bus_close after), 0
 * open already (or the flusher, which has its own), -1 blocked and may not be opened
 * (store nothing). ask: read the mask from the kernel rather than the flag. */
int cp_bus_open(bool ask)
{
    if (on_flusher)
        return 0;
    uint64_t bus = 1ull << (SIGBUS - 1);
    int forbidden = __atomic_load_n(&bus_mask_forbidden, __ATOMIC_ACQUIRE);
    if (forbidden) {
        if (cp_bus_blocked == CP_BUS_UNKNOWN)
            cp_bus_blocked =
                forbidden == CP_BUS_MAY_ASK ? flag_from_kernel() : flag_from_snapshot();
        return cp_bus_blocked == CP_BUS_OPEN ? 0 : -1; /* (unknown still: taken as blocked) */
    }
    if (ask || cp_bus_blocked == CP_BUS_UNKNOWN) {
        uint8_t now = flag_from_kernel();
        if (now == CP_BUS_UNKNOWN)
            return cp_bus_blocked == CP_BUS_BLOCKED ? -1 : 0;
        if (!ask) /* this thread's first inline flush: known from now on (the hooks) */
            cp_bus_blocked = now;
        if (now == CP_BUS_OPEN)
            return 0;
    } else if (cp_bus_blocked == CP_BUS_OPEN) {
        return 0;
    }
    /* counted open, then the filter looked at again: a filter going in either waits for
     * this window, or is seen here (seq_cst both ways: cp_prof_bus_mask_forbidden) */
    __atomic_add_fetch(&windows_open, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&bus_mask_forbidden, __ATOMIC_SEQ_CST)) {
        __atomic_sub_fetch(&windows_open, 1, __ATOMIC_RELEASE);
        return -1;
    }
    __atomic_store_n(&bus_window, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (cp_raw_syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&bus, 0, 8, 0, 0) == 0)
        return 1;
    __atomic_store_n(&bus_window, 0, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&windows_open, 1, __ATOMIC_RELEASE);
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
    __atomic_sub_fetch(&windows_open, 1, __ATOMIC_RELEASE);
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
