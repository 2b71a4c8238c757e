/*
 * log.h — async-signal-safe diagnostics for code that runs inside the profiled process.
 *
 * One formatter into a stack buffer, one write(2) to fd 2, "ctrprof: " prefix and a
 * newline added, errno saved and restored. Supports %s (with .N or .* precision) %c %d
 * %i %u %x %o %p %%, a 0 flag and a width, and the l/ll/z length modifiers. No stdio, no malloc, no
 * locks: callable from hooks, signal handlers, the flusher and atfork handlers.
 */
#ifndef CP_LOG_H
#define CP_LOG_H

#include <stdarg.h>
#include <stddef.h>

void cp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only when CTRPROF_DEBUG=1 (cp_log_debug_enabled set by the options loader). */
void cp_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int cp_log_debug_enabled;

/* Format into buf (always NUL-terminated when len > 0); returns the length that the
 * full output would have. Same conversions as cp_log. */
size_t cp_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t cp_vfmt(char *buf, size_t len, const char *fmt, va_list ap);

/* fd 2 inside a profiled process. A program that closes its standard error and opens a
 * file of its own, which then takes descriptor 2, found the profiler's lines written into
 * that file; a line also raised SIGXFSZ past the program's RLIMIT_FSIZE, SIGPIPE on a
 * pipe whose reader had gone and SIGTTOU in a background job under `stty tostop`, and
 * blocked on a full pipe: each ended, stopped or hung a program that never wrote there
 * itself. cp_log_pin_stderr (the constructor, before anything is said) notes fd 2's
 * device and inode; from then on a line goes to fd 2 only if fd 2 is that file, or a
 * stream the program put there (a pipe, socket or character device: a pipe it reads, a
 * terminal, /dev/null), never another regular file or a block device; not past
 * RLIMIT_FSIZE, only if it takes the line now (ppoll), with SIGPIPE and SIGTTOU blocked
 * (log.c's careful_write). Lines dropped so are still counted said for the tree. Not
 * pinned (the tools; a process that started under a seccomp filter, where fstat and
 * ppoll may be forbidden): written plainly. cp_log_freeze_stderr: just before a seccomp
 * filter goes in, checked one last time, then written plainly if it was to be written
 * (never, if not). */
void cp_log_pin_stderr(void);
void cp_log_freeze_stderr(void);

/* Say something once per call site: `static int once; cp_log_once(&once, "...")`. */
#define cp_log_once(flagp, ...)                                                                    \
    do {                                                                                           \
        if (!__atomic_exchange_n((flagp), 1, __ATOMIC_RELAXED))                                    \
            cp_log(__VA_ARGS__);                                                                   \
    } while (0)

/* Say something once per process tree: `if (cp_log_tree_first(CP_LOG_TREE_...))
 * cp_log(...)`. The first of a process and every child it forks (however made) to get
 * here says it; the others do not (after setuid, every forked worker of a server said
 * its own "not profiling", issue 29). A shared anonymous page, mapped by cp_log_tree_init
 * at start-up and inherited by forks. Across exec, where the page is lost, what was said
 * travels in the environment as CTRPROF_SAID=<name>,<name>... (cp_log_tree_list; the
 * names below): the shim keeps an entry in environ whose value names what was said, from
 * start-up on, updated in place as more is said (preload/said.c, through the said hook
 * below), which every child inherits, however started (system, popen, posix_spawn,
 * exec); its exec and posix_spawn hooks pass a copy naming everything said (preload/
 * exec.c), and a new image marks each name said at start-up (cp_log_tree_mark_list).
 * Where the page cannot be mapped, once per process. One key per cause, each said once
 * per tree:
 *   not-profiling  the per-process file cannot be made in CTRPROF_DIR
 *   file           the shared file (CTRPROF_FILE) cannot be used: unwritable, written
 *                  with other options, not a profile
 *   memory         the profiler's memory cannot be mapped (RLIMIT_AS, overcommit)
 *   options        a CTRPROF_* value that is not valid (the default is used)
 *   truncated      a profile truncated under the program
 *   ring           a thread's event ring cannot be mapped (its samples are lost)
 *   flusher        the flusher thread cannot be started (events flushed as they happen)
 *   birth-table    no memory for a site's lifetime classes (lifetimes unclassed; named
 *                  for the birth table the lifetimes had until session 21)
 *   own-stack      no stack of its own for flushing (flushes on the program's stack)
 *   sandbox-room   no room made in the file before a seccomp filter
 *   counter        a counter cannot be added to the file (samples lost)
 *   counter-wait   a counter cannot be added for now (no descriptor or memory free to
 *                  grow the file: its samples wait in memory)
 *   deepbind       a library whose calls go past the hooks (RTLD_DEEPBIND in a sandbox,
 *                  dlmopen into another namespace)
 *   stalled        the flusher drained nothing for 2 s while a thread waited for room in
 *                  its ring (it waits for the loader's lock that thread holds): events
 *                  that find their ring full are lost meanwhile
 *   thread-checker valgrind's helgrind or drd runs the program: not profiling (they
 *                  cannot see the profiler's own synchronisation, and reported it)
 *   another-copy   another copy of the shim is loaded ahead of this one: it profiles,
 *                  this one does not (preload/company.c's cp_shim_copy_ahead)
 *   waiter-table   the mutex waiter table cannot be mapped (mutex profile off)
 *   early          allocations made before the profiler started, beyond what it keeps
 *   bus-blocked    a thread with SIGBUS blocked under a filter that forbids unblocking
 *                  it: what it would store into the profile is not stored
 *   file-mode      a file made under a seccomp filter whose umask took its owner's read
 *                  or write (cfile.h: the filter may forbid fchmod, so it stays so) */
enum {
    CP_LOG_TREE_NOT_PROFILING,
    CP_LOG_TREE_FILE,
    CP_LOG_TREE_MEMORY,
    CP_LOG_TREE_OPTIONS,
    CP_LOG_TREE_TRUNCATED,
    CP_LOG_TREE_RING,
    CP_LOG_TREE_FLUSHER,
    CP_LOG_TREE_BIRTH,
    CP_LOG_TREE_OWNSTACK,
    CP_LOG_TREE_SANDBOX_ROOM,
    CP_LOG_TREE_COUNTER,
    CP_LOG_TREE_WAITERS,
    CP_LOG_TREE_EARLY,
    CP_LOG_TREE_BUS_BLOCKED,
    CP_LOG_TREE_COUNTER_WAIT,
    CP_LOG_TREE_DEEPBIND,
    CP_LOG_TREE_STALLED,
    CP_LOG_TREE_THREAD_CHECKER,
    CP_LOG_TREE_ANOTHER_COPY,
    CP_LOG_TREE_FILE_MODE,
    CP_LOG_TREE_KEYS
};
void cp_log_tree_init(void);
/* 1 for the first caller in the tree (then, if one is set, the said hook runs first),
 * else 0. */
int cp_log_tree_first(unsigned key);
/* The said hook: called (with no lock of log.c's held) by whichever caller of
 * cp_log_tree_first is the first for its key, in any context that says something
 * (hooks, the flusher, a signal handler, a vfork child): it must be async-signal-safe.
 * The shim's keeps the environment's CTRPROF_SAID up to date (preload/said.c). */
void cp_log_tree_on_said(void (*fn)(void));
/* The first hook: asked by the first caller of cp_log_tree_first in this process's part
 * of the tree (the flags' page: itself and its fork children), before the said hook;
 * 0 means another image of the tree (exec'd) said it already, and nothing is said. The
 * shim's asks the whole tree (preload/treesaid.c). Same contexts as the said hook. */
void cp_log_tree_on_first(int (*fn)(unsigned key));
/* A key's name in CTRPROF_SAID ("" for no key) */
const char *cp_log_tree_name(unsigned key);
void cp_log_tree_mark(unsigned key);
int cp_log_tree_said(unsigned key);
/* Mark said every key named in a CTRPROF_SAID value (unknown names are ignored). */
void cp_log_tree_mark_list(const char *said);
/* The CTRPROF_SAID value for what this tree has said ("" if nothing), into buf (always
 * NUL-terminated when len > 0); returns its length. */
size_t cp_log_tree_list(char *buf, size_t len);

#endif
