/*
 * shim.c — start-up, per-thread state, the re-entrancy guard, fork and exit, the file's
 * name: everything the hooks (malloc.c, exec.c) need that is not a hook itself. Builds
 * into libctrprof.so.
 *
 * Contexts: the constructor (before main, single-threaded in practice), hooks (any
 * application thread), the atfork handlers, the destructor / at_quick_exit (exit path on
 * whichever thread exits), the pthread key destructor (thread exit).
 *
 * Invariants:
 *   - nothing here runs unless the process was set up (a process with AT_SECURE, a bad
 *     file or a failed mmap forwards every call, untouched);
 *   - the guard: while a thread runs profiler code, its countdown is parked at INT64_MAX,
 *     so any malloc the profiler causes (libunwind, dl_iterate_phdr, pthread_create)
 *     takes the unsampled path and is not recorded; the flusher thread is parked for
 *     good (thread_enter_profiler, which the engine calls through the host table);
 *   - errno is saved around everything the profiler does on a hook's behalf.
 */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "early.h"
#include "line.h"
#include "log.h"
#include "prof.h"
#include "spin.h"

__thread struct cp_tls cp_tls __attribute__((tls_model("initial-exec")));
CP_READ_MOSTLY struct cp_options cp_opts;
CP_READ_MOSTLY int cp_shim_state; /* CP_SHIM_* */
bool cp_shim_inert;
CP_READ_MOSTLY uintptr_t cp_shim_lo, cp_shim_hi;
int cp_shim_pid;

static pthread_key_t thread_key;
static char program[64];
static char file_path[CP_PATH_MAX];

const char *cp_shim_profile_path(void)
{
    return file_path;
}
static int per_process_file;
static char meta[CP_SHIM_META_BUF];
static size_t meta_len;

/* The flusher's first call (the host table, cp_prof_set_host) */
static void thread_enter_profiler(void)
{
    cp_tls.countdown = INT64_MAX;
    cp_tls.guard = 1;
    cp_tls.flusher = 1;
}

/* ---- per-thread state -------------------------------------------------------------- */

/* Bytes allocated through malloc by threads that have exited (those with a ring), for
 * the notes of the process `ctrprof run` started (at_exit_flush). Atomic. */
static uint64_t bytes_gone;
static pid_t run_pid; /* CTRPROF_RUN_PID: the pid `ctrprof run` started, or 0 */

bool cp_shim_run_top(void)
{
    return run_pid && run_pid == getpid();
}

static uint64_t thread_bytes(int64_t countdown)
{
    if (!cp_tls.seeded || countdown < 0 || (uint64_t)countdown > cp_tls.drawn)
        return 0;
    return cp_tls.drawn - (uint64_t)countdown;
}

/* The main thread leaving by pthread_exit or a cancellation: the destructor of a key only
 * it has a value for (the constructor's thread, or a fork child's one thread), run by glibc
 * before it counts the thread gone. The engine's thread must then not outlive the
 * program's (core/flusher.c, "the program's last thread"). */
static pthread_key_t main_key;
static bool main_key_made;
static const int *glibc_nthreads; /* glibc's thread count, GLIBC_PRIVATE: NULL if absent */

static void main_left(void *arg)
{
    (void)arg;
    int saved = errno;
    cp_prof_main_gone(glibc_nthreads);
    errno = saved;
}

static void main_key_set(void)
{
    if (main_key_made)
        pthread_setspecific(main_key, (void *)1);
}

static void thread_gone(void *arg)
{
    __atomic_add_fetch(&bytes_gone, thread_bytes(cp_tls.countdown), __ATOMIC_RELAXED);
    struct cp_thread *t = arg;
    if (cp_tls.t == t)
        cp_tls.t = NULL;
    cp_thread_release(t);
}

struct cp_thread *cp_shim_thread_slow(void)
{
    struct cp_thread *t = cp_thread_get();
    if (t) {
        cp_tls.t = t;
        /* keys below 32 live in the thread descriptor: no allocation */
        pthread_setspecific(thread_key, t);
    }
    return t;
}

void cp_shim_seed_thread(void)
{
    /* (the waits' clock: it leaves the TSC when the program forbids it, contention.h) */
    uint64_t now = cp_now_ns();
    cp_tls.rng = ((uint64_t)(uintptr_t)&cp_tls * 0x9E3779B97F4A7C15ull) ^
                 ((now % 1000000000u) << 20) ^ (now / 1000000000u) ^ 0x2545F4914F6CDD1Dull;
    if (!cp_tls.rng)
        cp_tls.rng = 1;
    cp_tls.seeded = 1;
}

/* ---- names ------------------------------------------------------------------------- */

static void set_program(void)
{
    extern char *program_invocation_short_name;
    const char *n = program_invocation_short_name;
    if (!n || !*n)
        n = "program";
    size_t o = 0;
    for (; *n && o < sizeof program - 1; n++)
        program[o++] = (*n == '/' || *n == ':' || *n == '\n' || *n == ' ' || *n == '\t') ? '_' : *n;
    program[o] = 0;
}

static void build_meta(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    meta_len = cp_meta_build(meta, sizeof meta, (long)(ts.tv_sec / 86400),
                             per_process_file ? program : "shared", CP_VERSION, &cp_opts);
}

/* Name k of this pid into out: 1 if something is there already, 0 if not, or an error. */
static int name_taken(char *out, size_t len, pid_t pid, unsigned k)
{
    size_t n = k ? cp_fmt(out, len, "%s/ctrprof.%s.%d.%u.count", cp_opts.dir, program, (int)pid, k)
                 : cp_fmt(out, len, "%s/ctrprof.%s.%d.count", cp_opts.dir, program, (int)pid);
    if (n >= len)
        return -ENAMETOOLONG;
    struct stat st;
    return lstat(out, &st) == 0;
}

/* ctrprof.<program>.<pid>.count in CTRPROF_DIR; ctrprof.<program>.<pid>.<k>.count if that
 * name is taken: a pid reused since an earlier run wrote there, or an earlier image of
 * this process, which exec'd this program (each image publishes before it execs, so its
 * file exists by now). Any number of those (a supervisor that re-execs itself for ever):
 * k doubles until a free name, then a binary search between the last taken k and that
 * one finds a free name next to a taken one, in O(log k) lstat calls. (Taken names need
 * not be contiguous: any free name will do.) */
static int default_path(char *out, size_t len, pid_t pid)
{
    int r = name_taken(out, len, pid, 0);
    if (r <= 0)
        return r;
    unsigned lo = 0, hi = 1; /* lo taken; hi unknown, then free */
    while ((r = name_taken(out, len, pid, hi)) > 0) {
        if (hi >= 1u << 30)
            return -EEXIST;
        lo = hi;
        hi *= 2;
    }
    if (r < 0)
        return r;
    while (hi - lo > 1) {
        unsigned mid = lo + (hi - lo) / 2;
        if ((r = name_taken(out, len, pid, mid)) < 0)
            return r;
        if (r)
            lo = mid;
        else
            hi = mid;
    }
    return name_taken(out, len, pid, hi) < 0 ? -ENAMETOOLONG : 0;
}

/* The engine found the per-process file's name taken when it came to create the file
 * (lazily, at the first flush with something to say: core/publish.c, cp_open_pending): a
 * process with the same pid in another pid namespace, writing to the same directory, made
 * it since this one chose the name. The next free name, probed again now (the other's
 * file is there to be seen); the engine never opens a file it did not make. Any thread,
 * under the engine's flush lock: lstat and cp_fmt only. (No lock on file_path: it is read
 * only by the start-up message, before the first flush.) */
static int file_taken(char *path, size_t size)
{
    int err = default_path(path, size, getpid());
    if (err == 0 && strlen(path) < sizeof file_path)
        memcpy(file_path, path, strlen(path) + 1);
    return err;
}

/* A directory no file can be made in is said once per process tree, not by every
 * process and every exec'd image of it (a build under an unwritable CTRPROF_DIR would
 * print it from each compiler): the first to say it leaves CTRPROF_DIR_UNUSABLE=<dir> in
 * the environment its children and exec'd images inherit, and they stay quiet about that
 * directory. Constructor only (getenv and setenv before the program's own code). */
static void say_dir_unusable(int err)
{
    const char *said = getenv("CTRPROF_DIR_UNUSABLE");
    if (said && strcmp(said, cp_opts.dir) == 0)
        return;
    if (cp_log_tree_first(CP_LOG_TREE_NOT_PROFILING))
        cp_log("CTRPROF_DIR=%s: %s; not profiling", cp_opts.dir, cp_prof_strerror(err));
    setenv("CTRPROF_DIR_UNUSABLE", cp_opts.dir, 1);
}

/* A relative CTRPROF_DIR or CTRPROF_FILE is relative to the directory at start-up: the
 * file is created later (core/publish.c), maybe after the program changed its working
 * directory (a daemon's chdir("/")). The absolute form also goes into the environment, so
 * that children started elsewhere (make -C, a script that cd's, a daemon) write to the
 * same place, not to a path relative to their own directory (which may not exist). */
static void make_absolute(char *path, size_t size, const char *name)
{
    if (path[0] == '/' || path[0] == 0)
        return;
    char cwd[CP_PATH_MAX], abs[CP_PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return; /* left relative */
    size_t n = strcmp(path, ".") == 0 ? cp_fmt(abs, sizeof abs, "%s", cwd)
                                      : cp_fmt(abs, sizeof abs, "%s/%s", cwd, path);
    if (n >= sizeof abs || n >= size)
        return;
    /* only the value in use: a bad one (empty, too long) was warned about and replaced by
     * the default, and stays as it is for the children to warn about too. getenv and
     * setenv here run in the constructor, before the program's own code. */
    const char *env = getenv(name);
    int exported = env && strcmp(env, path) == 0;
    memcpy(path, abs, n + 1);
    if (exported)
        setenv(name, abs, 1);
}

/* Does the process run under a seccomp filter already (inherited across exec: systemd's
 * SystemCallFilter=, a container runtime)? Then the file is created at start-up, while
 * the program's own start-up shows that open is allowed, not lazily at a moment the
 * filter may forbid it. Read from /proc/self/status ("Seccomp: 2"); no /proc: no. */
static bool started_sandboxed(void)
{
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    const char *s = strstr(buf, "\nSeccomp:");
    if (!s)
        return false;
    s += 9;
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '1' || *s == '2';
}

/* ---- fork and exit ----------------------------------------------------------------- */

/* A fork from a signal handler that interrupted this very thread inside profiler code
 * (an inline flush holding cp_flush_lock: a SIGCHLD handler that forks, issue 29) would
 * wait in prepare for a lock its own thread holds. Then no lock is taken; the parent
 * goes on as it was and counts the child in ctrprof/health:lost:reentry; the child, whose
 * copy of the engine may be half way through an update, runs unprofiled, silently (such
 * children come by the hundred and mostly exec or _exit at once). Per thread: the
 * child's copy of the flag tells it too. */
static __thread bool fork_inside_profiler __attribute__((tls_model("initial-exec")));

static void atfork_prepare(void)
{
    fork_inside_profiler = cp_tls.guard != 0;
    cp_tls.guard++;
    if (!fork_inside_profiler)
        cp_prof_atfork_prepare();
}

static uint64_t forks; /* atomic: children this process forked (notes, at exit) */

static void atfork_parent(void)
{
    if (!fork_inside_profiler)
        cp_prof_atfork_parent();
    else
        cp_prof_lost(CP_LOST_REENTRY, 1);
    fork_inside_profiler = false;
    __atomic_add_fetch(&forks, 1, __ATOMIC_RELAXED);
    cp_tls.guard--;
}

/* The child's reset: from the atfork child handler, or from the engine when it notices
 * a child that no handler saw (_Fork, a raw clone: core/newproc.h), which has it from the
 * host table (struct cp_host's child_reset). */
static void child_reset(void)
{
    /* (not reset by fork: the parent has had a second thread, which may have been in the
     * dynamic loader when this child was made) */
    if (!__libc_single_threaded)
        cp_stack_loader_suspect();
    /* static, not on the stack of the thread that forked (a 16 KiB one, maybe): the
     * child has no other thread yet */
    static char path[CP_PATH_MAX];
    const char *np = NULL;
    cp_shim_said_child();
    cp_shim_deepbind_child();
    cp_shim_pid = getpid();
    /* (a sandboxed child could not create its file: no lstat either, see sandbox.c) */
    if (per_process_file && !__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE) &&
        default_path(path, sizeof path, getpid()) == 0)
        np = path;
    cp_prof_atfork_child(per_process_file ? (np ? np : "/nonexistent/ctrprof") : NULL);
    if (per_process_file && np)
        memcpy(file_path, path, strlen(path) + 1);
    if (!per_process_file) { /* the shared file: the child is one more process in it */
        char name[128];
        cp_fmt(name, sizeof name, "ctrprof/process:%s", program);
        cp_prof_add_named(name, 1);
    }
}

static void atfork_child(void)
{
    if (fork_inside_profiler) {
        fork_inside_profiler = false;
        cp_shim_state = CP_SHIM_OFF;
    } else {
        child_reset();
        main_key_set(); /* (this thread is the child's main thread) */
    }
    cp_tls.guard--;
}

static void at_exit_flush(void)
{
    /* A signal handler that called exit (a daemon's SIGTERM handler does) on a thread that
     * was in profiler code: that code may hold the flush lock or any lock of the engine's,
     * and the final flush would wait on it for ever (tests/programs/sigexit.c: a hang in
     * half the runs at rate 1, until session 29). Nothing is published, as _exit's hook
     * does not from there (exit.c): in a process with one thread every event but the one
     * interrupted is out already; with a flusher its last interval is lost. (The flusher
     * thread holds the guard once for good, and glibc may end the process on it, the
     * program's last thread gone: sigfork.sh's main-leaves-first; only a deeper guard
     * is profiler code there.) */
    if (cp_tls.guard > (cp_tls.flusher ? 1u : 0u))
        return;
    if (cp_shim_state != CP_SHIM_ON) {
        cp_shim_treesaid_exit(); /* (a process that said why it does not profile) */
        return;
    }
    int saved = errno;
    uint64_t bytes =
        __atomic_load_n(&bytes_gone, __ATOMIC_RELAXED) + thread_bytes(cp_tls.countdown);
    int64_t cd = cp_shim_enter();
    cp_prof_shutdown();
    if (cp_shim_run_top()) {
        /* the process `ctrprof run` started: say what it allocated and how long it ran,
         * so that an empty heap profile can say why (tools/why.c) */
        struct rusage ru;
        uint64_t cpu_ms = 0;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            cpu_ms = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
                     (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
        cp_prof_notes(bytes, cp_opts.mem_rate != 0, cpu_ms,
                      __atomic_load_n(&forks, __ATOMIC_RELAXED));
    }
    /* last: the final flush may say something (a profile found truncated), which makes
     * the tree's marker (treesaid.c) */
    cp_shim_treesaid_exit();
    cp_shim_leave(cd);
    errno = saved;
}

__attribute__((destructor)) static void ctrprof_fini(void)
{
    at_exit_flush();
}

/* ---- start-up ---------------------------------------------------------------------- */

__attribute__((constructor)) static void ctrprof_init(void)
{
    int saved = errno;
    cp_shim_resolve();
    /* fork and _exit may be called from a signal handler or a vfork child, where their
     * hooks must not be the first to dlsym: resolved now, whatever comes next */
    cp_shim_nproc_init();
    cp_shim_exit_init();
    cp_shim_wait_init();
    if (cp_shim_state != CP_SHIM_UNINIT) {
        errno = saved;
        return;
    }
    cp_tls.guard++;
    cp_tls.countdown = INT64_MAX;
    cp_shim_bind_libc(); /* (early: little of ours through a sanitizer's interceptors) */
    bool secure = getauxval(AT_SECURE) != 0;
    if (secure) {
        /* setuid/setgid: forward every call, write nothing (not even a warning) */
        cp_shim_state = CP_SHIM_OFF;
        goto out;
    }
    extern char **environ;
    cp_shim_pid = getpid();
    cp_log_tree_init();
    bool sandboxed0 = started_sandboxed();
    if (!sandboxed0)
        cp_log_pin_stderr();           /* (a filter already in place may forbid fstat: log.h) */
    cp_shim_treesaid_init(sandboxed0); /* (before anything is said: the options) */
    /* what an image before this one in its tree said already (exec.c), before the
     * options say what is wrong with them */
    cp_log_tree_mark_list(getenv("CTRPROF_SAID"));
    if (cp_shim_thread_checker()) {
        cp_shim_state = CP_SHIM_OFF;
        goto out;
    }
    if (cp_shim_copy_ahead()) {
        cp_shim_state = CP_SHIM_OFF;
        cp_shim_inert = true;
        goto out;
    }
    cp_options_load(&cp_opts, environ);
    const char *rp = getenv("CTRPROF_RUN_PID");
    run_pid = rp ? (pid_t)atoi(rp) : 0;
    set_program();
    per_process_file = cp_opts.file[0] == 0;
    if (per_process_file) {
        /* the file itself is created when there is something to put in it (publish.c);
         * a directory it could never be created in is said now */
        make_absolute(cp_opts.dir, sizeof cp_opts.dir, "CTRPROF_DIR");
        int err = default_path(file_path, sizeof file_path, getpid());
        if (!err && access(cp_opts.dir, W_OK | X_OK) != 0)
            err = -errno;
        if (err) {
            say_dir_unusable(err);
            cp_shim_state = CP_SHIM_OFF;
            goto out;
        }
    } else {
        make_absolute(cp_opts.file, sizeof cp_opts.file, "CTRPROF_FILE");
        memcpy(file_path, cp_opts.file, sizeof file_path);
    }
    build_meta();
    cp_stack_init();
    /* the unwinders that need libunwind from the first sample load it now; the default
     * loads it only if a walk ever needs it (stack.c) */
    if (cp_opts.unwind == CP_UNWIND_LIBUNWIND || cp_opts.unwind == CP_UNWIND_CHECK)
        cp_stack_load_libunwind();
    /* our own text range, so captured stacks can drop the shim's frames */
    uintptr_t lo, hi;
    if (cp_prof_code_range((const void *)(uintptr_t)&ctrprof_init, &lo, &hi) == 0) {
        cp_shim_lo = lo;
        cp_shim_hi = hi;
    }
    cp_contention_init(); /* (the table itself is mapped at the first wait) */
    if (sandboxed0) {
        cp_contention_prepare(); /* (under a filter from the start: now, as before) */
        cp_prof_started_filtered();
    }
    bool lazy = per_process_file && !sandboxed0;
    static struct cp_host host = {cp_shim_thread_create,
                                  thread_enter_profiler,
                                  child_reset,
                                  file_taken,
                                  cp_shim_deepbind_flusher,
                                  false};
    host.no_flusher_process = cp_shim_sanitized || cp_shim_under_valgrind();
    cp_prof_set_host(&host);
    int err = cp_prof_init(&cp_opts, file_path, meta, meta_len, lazy);
    if (cp_meta_mismatch(err) && !per_process_file &&
        cp_meta_adopt_shared(file_path, meta, &meta_len, sizeof meta) == 0)
        err = cp_prof_init(&cp_opts, file_path, meta, meta_len, false);
    if (err) {
        cp_shim_state = CP_SHIM_OFF; /* cp_prof_init said why, once */
        goto out;
    }
    char name[128];
    cp_fmt(name, sizeof name, "ctrprof/process:%s", program);
    cp_prof_set_process(name);
    if (pthread_key_create(&thread_key, thread_gone) != 0)
        cp_log("no thread-exit key; rings of exited threads are not reused");
    else /* bound now, not lazily at a thread's first event (maybe on a small stack) */
        pthread_setspecific(thread_key, NULL);
    glibc_nthreads = (const int *)dlvsym(RTLD_DEFAULT, "__nptl_nthreads", "GLIBC_PRIVATE");
    main_key_made = pthread_key_create(&main_key, main_left) == 0;
    main_key_set();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    at_quick_exit(at_exit_flush);
    cp_sigbus_install();
    cp_stack_learn_restorer();
    if (cp_shim_go_program()) {
        cp_debug("a Go program: every event published on its own thread");
        cp_prof_inline_only();
    }
    cp_prof_start();
    cp_debug("profiling %s into %s (rate %llu)", program, file_path,
             (unsigned long long)cp_opts.mem_rate);
    cp_shim_state = CP_SHIM_ON;
out:
    /* (a setuid program's environment is left alone, and another copy's) */
    if (!secure && !cp_shim_inert)
        cp_shim_said_init(); /* what start-up said, and later what is said (said.c) */
    cp_shim_seed_thread();
    /* This thread is seeded now, so its first countdown is drawn here: left at 0, its next
     * allocation would be sampled whatever its size, a phantom of ~rate bytes in every
     * process. Other threads draw theirs at their first allocation (sampled()). */
    cp_tls.countdown = cp_shim_state == CP_SHIM_ON && cp_opts.mem_rate
                           ? cp_sample_next(&cp_tls.rng, cp_opts.mem_rate)
                           : 0;
    cp_tls.drawn = (uint64_t)cp_tls.countdown;
    cp_tls.guard--;
    cp_early_replay(); /* what libraries initialised before us allocated (early.c) */
    errno = saved;
}
