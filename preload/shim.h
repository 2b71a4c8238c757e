/*
 * shim.h — what the hooks share with the shim's start-up code (preload/ only).
 */
#ifndef CP_SHIM_H
#define CP_SHIM_H

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "options.h"
#include "prof.h"
#include "version.h"

#define CP_SHIM_META_BUF (CP_META_MAX + 1)

enum { CP_SHIM_UNINIT = 0, CP_SHIM_ON = 1, CP_SHIM_OFF = 2 };

/* Per-thread state, initial-exec TLS (no allocation, no lazy TLS resolution). The
 * unsampled malloc path reads and writes only `countdown`. */
struct cp_tls {
    int64_t countdown; /* bytes until the next heap sample, compared unsigned (malloc.c,
                        * countdown_expired); INT64_MAX parks sampling */
    uint64_t rng;
    struct cp_thread *t;
    uint32_t guard; /* > 0 while this thread runs profiler code */
    uint8_t seeded;
    uint8_t flusher;
    uint64_t drawn; /* sum of the countdowns drawn: drawn - countdown = bytes allocated */
};

extern __thread struct cp_tls cp_tls __attribute__((tls_model("initial-exec")));
extern struct cp_options cp_opts;
extern int cp_shim_state;
/* another copy of the shim is ahead of this one (company.c's cp_shim_copy_ahead): this one is off
 * and leaves the environment to it (said.c, exec.c); set by the constructor */
extern bool cp_shim_inert;
extern uintptr_t cp_shim_lo, cp_shim_hi; /* the shim's own text */
extern int cp_shim_pid; /* the process the engine belongs to (set at start and in a fork child) */

/* May the program's call at hand reach the engine: profiling, not from profiler code
 * (a signal handler's call there would wait on a lock its own thread holds), and in the
 * process the engine belongs to (not a vfork child sharing the parent's memory, nor a
 * clone() that skipped the atfork handlers). The exit, exec, uid and path hooks. */
static inline bool cp_shim_may_act(void)
{
    return cp_shim_state == CP_SHIM_ON && !cp_tls.guard && getpid() == cp_shim_pid;
}

/* Profiler code on an application thread: the guard held and the countdown parked, so
 * that any allocation it causes goes to the real allocator unsampled. leave() takes what
 * enter() returned. (errno is the caller's to keep.) */
static inline int64_t cp_shim_enter(void)
{
    cp_tls.guard++;
    int64_t cd = cp_tls.countdown;
    cp_tls.countdown = INT64_MAX;
    return cd;
}

static inline void cp_shim_leave(int64_t cd)
{
    cp_tls.countdown = cd;
    cp_tls.guard--;
}

/* company.c (the constructor): any valgrind tool runs the program */
bool cp_shim_under_valgrind(void);
/* company.c (the constructor): valgrind's helgrind or drd runs the program (said once);
 * another copy of the shim is loaded ahead of this one (said once); the program is Go's */
bool cp_shim_thread_checker(void);
bool cp_shim_copy_ahead(void);
bool cp_shim_go_program(void);

/* sanitizers.c: a sanitizer's runtime (or another interposer of libc's string and memory
 * functions) is in the process (the constructor sets it) */
extern bool cp_shim_sanitized;
/* sanitizers.c: the shim's own slots for libc's string, memory and file functions that
 * point elsewhere (a sanitizer's interceptors) pointed at libc's (the constructor) */
void cp_shim_bind_libc(void);
/* sanitizers.c: LeakSanitizer's __lsan_ignore_object (NULL without it; atomic) and the
 * dynamic linker's span: a block the linker allocated through a hook's slow path is
 * handed to it (malloc.c), as LeakSanitizer's own rule for the linker's blocks does */
extern void (*cp_shim_lsan_ignore)(const void *);
extern uintptr_t cp_shim_ldso_lo, cp_shim_ldso_len;
/* sanitizers.c: the end of an allocation slow path where LeakSanitizer is: the stack
 * below the caller's frame, and ymm16-31, zeroed */
void cp_shim_scrub(void);

/* deepbind.c: the GOT slots of objects an RTLD_DEEPBIND load brought, pointed at the
 * hooks, if that is still to be done (dlclose's hook; dlopen, dlmopen and dlsym do it
 * themselves). The program's thread, outside the guard. */
void cp_shim_deepbind_catch_up(void);
/* The same on the flusher thread (the engine's host hook, outside its flush lock): a
 * program that calls no dl function after such a load (its plugin registered itself in
 * a constructor) has it rewritten within a flush interval. */
void cp_shim_deepbind_flusher(void);
/* The fork child's reset: deepbind.c's lock, which another thread may have held. */
void cp_shim_deepbind_child(void);

/* sigbus.c: keep a SIGBUS handler in place that survives a truncated profile (and hands
 * every other SIGBUS to the program's own disposition). Constructor only. */
void cp_sigbus_install(void);

/* Is this the process `ctrprof run` started (CTRPROF_RUN_PID)? Its notes say why a
 * profile is empty or missing (tools/why.c). */
bool cp_shim_run_top(void);

/* alone.c: around a prctl option that acts on the calling thread alone (capabilities,
 * securebits, no_new_privs) the flusher steps aside: begin returns what end takes. And
 * syscall(2) with a number that alone.c hooks by name (SYS_unshare, SYS_setns,
 * SYS_capset, SYS_prctl's per-thread options): the same, for sandbox.c's syscall hook. */
bool cp_shim_alone_begin_prctl(int option);
bool cp_shim_alone_begin_syscall(long n, long a1, long a2);
/* identity.c: a raw system call that sets the effective or file-system uid (SYS_setuid,
 * SYS_setreuid, SYS_setresuid, SYS_setfsuid) or the capabilities (SYS_capset): the
 * engine's file and room first; others nothing */
void cp_shim_identity_syscall(long n, long a1, long a2);
/* identity.c: before capset (alone.c's hook) */
void cp_shim_identity_caps(void);
/* paths.c: a raw system call after which the profile's path may lead elsewhere
 * (SYS_chroot, SYS_pivot_root, SYS_mount, SYS_setns): the engine's file and
 * room first; others nothing. And setns by name (alone.c's hook). */
void cp_shim_paths_syscall(long n, long a1, long a2, long a3, long a4);
void cp_shim_paths_setns(int fd, int nstype);
/* shim.c: the profile's absolute path (a per-process one: its name once made); "" if off */
const char *cp_shim_profile_path(void);
void cp_shim_alone_end(bool began);

/* nproc.c: the kernel refused the program a thread or process (EAGAIN): if a thread of
 * ours was in the way, it is gone for good now; returns whether to try again. init
 * resolves the real fork (constructor: not from a signal handler's first fork). */
bool cp_shim_nproc_refused(void);
/* The same for a call whose retry can be judged (pthread_create): ours steps aside for
 * that call only (begin: whether a thread of ours was stopped; then make the call again);
 * end with whether the retry worked: then ours was in the way and stays aside for good,
 * else the refusal was not ours (a stack that could not be mapped, threads-max, a cgroup's
 * pids.max) and ours starts again. errno kept. */
bool cp_shim_nproc_retry_begin(bool *began);
void cp_shim_nproc_retry_end(bool began, bool worked);
void cp_shim_nproc_init(void);
/* exec.c: the environment a new image gets (exec, posix_spawn): envp, or a copy on the
 * caller's frame whose CTRPROF_SAID names what this tree has said (base/log.h), into e_.
 * errno kept. */
#define CP_SHIM_ENV_MAX 512
#define CP_SHIM_SAID_MAX 256
size_t cp_shim_env_count(char *const envp[]);
/* Does envp preload the shim (LD_PRELOAD names libctrprof)? */
bool cp_shim_keeps_shim(char *const envp[]);
/* A CTRPROF_DIR this process cannot create its file in, said before a child starts that
 * would say it (exec, posix_spawn, system, popen). errno changed. */
void cp_shim_check_dir(void);
/* said.c: the CTRPROF_SAID entry in environ, kept naming what this tree has said. init:
 * the constructor; refresh: anywhere (async-signal-safe, errno kept); child: the fork
 * child's reset. */
void cp_shim_said_init(void);
void cp_shim_said_refresh(void);
void cp_shim_said_child(void);
/* around the program's setenv, putenv, unsetenv, clearenv (setenv.c): before, after */
bool cp_shim_said_env_before(void);
void cp_shim_said_env_changed(bool held);
char *const *cp_shim_tree_env(char *const envp[], char **out, size_t n, char *said);
#define CP_SHIM_TREE_ENV(envp)                                                                     \
    size_t n_ = cp_shim_env_count(envp);                                                           \
    char *env_[n_ <= CP_SHIM_ENV_MAX ? n_ + 2 : 1];                                                \
    char said_[CP_SHIM_SAID_MAX];                                                                  \
    int saved_ = errno;                                                                            \
    char *const *e_ = cp_shim_tree_env(envp, env_, n_, said_);                                     \
    errno = saved_

/* exit.c: resolve the real _exit and _Exit (constructor); end the process as _exit does,
 * what it recorded published first (syscall(SYS_exit_group); never returns). */
void cp_shim_exit_init(void);
__attribute__((noreturn)) void cp_shim_exit_group(int status);

/* wait.c: before a wait (pid_or_idtype: waitpid's and wait4's pid, or waitid's idtype)
 * with these options; the raw system calls' from sandbox.c's syscall hook */
void cp_shim_wait_any(long pid_or_idtype, long options, bool waitid);
/* wait.c: the real wait functions, found now (the constructor) */
void cp_shim_wait_init(void);

/* The next definition of name (dlsym RTLD_NEXT), looked up once into *slot; errno kept.
 * For hooks that are not on a hot path (sandbox.c, alone.c). */
static inline void *cp_shim_next(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!f) {
        int saved = errno;
        f = dlsym(RTLD_NEXT, name);
        errno = saved;
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    }
    return f;
}

/* malloc.c: find the real functions (dlsym RTLD_NEXT), serving dlsym's own early
 * allocations from a static pool meanwhile. Idempotent. */
void cp_shim_resolve(void);

/* This thread's ring (made on first use; NULL if none can be had). */
struct cp_thread *cp_shim_thread_slow(void); /* when cp_tls.t is NULL */
static inline struct cp_thread *cp_shim_thread(void)
{
    struct cp_thread *t = cp_tls.t;
    return t ? t : cp_shim_thread_slow();
}
void cp_shim_seed_thread(void);
/* pthread_create without the hook (pthread.c), for the engine's host table (shim.c). */
int cp_shim_thread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);

/* The stack of the code that called the hook, without the shim's frames, in *k words
 * of raw (the returned pointer, not a copy); appends CP_PC_TRUNCATED when cut at
 * CTRPROF_DEPTH. entry, if not NULL, is the frame-pointer frame of the shim function the
 * program's call entered (the walk may start at its return address). Call with the
 * guard held. */
#define CP_SHIM_RAW (CP_MAX_DEPTH + 25) /* 24 frames of slack for the shim's, 1 marker */
const uintptr_t *cp_shim_stack(uintptr_t raw[CP_SHIM_RAW], unsigned *k, const uintptr_t *entry);

/* treesaid.c: a line said once per process tree across exec too. init from the
 * constructor (sandboxed: the process started under a seccomp filter, and the tree is
 * never asked); exit from the exit path (a root removes its tree's markers). */
void cp_shim_treesaid_init(bool sandboxed);
void cp_shim_treesaid_exit(void);
/* treesaid.c: a filter going in forbids (true) the system calls asking the tree makes
 * (sandbox.c runs it for them), or was refused (back to what it was). Returns what it was. */
bool cp_shim_treesaid_filter(bool forbids);

#endif
