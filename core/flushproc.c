/*
 * flushproc.c — the flusher as a process of its own that shares the program's memory and
 * descriptors: a clone with CLONE_VM and CLONE_FILES but not CLONE_THREAD, whose loop is
 * flusher.c's (process_main). This file makes it, tells it whether the program is still
 * there, and reaps it.
 *
 * Why a process. At rate 1 a single-threaded program's events are best accounted on
 * another core (BENCHMARKS.md, sessions 31 and 34), but a thread of ours would make the
 * program multi-threaded for the kernel and for glibc (issue 29: unshare(CLONE_NEWUSER),
 * setns, a fork from a signal handler, glibc's slower paths for the rest of the run). A
 * task outside the program's thread group is none of that: glibc never learns of it
 * (__libc_single_threaded stays true; the engine's own one-thread shortcuts look at
 * live.h's cp_vm_shared as well), the kernel counts the thread group as one thread, a
 * filter installed with TSYNC does not reach it, and a SIGKILL of the program, or its
 * crash, leaves it the memory to drain the rings and publish them (nothing lost).
 *
 * What it shares and what it copies. The memory and the descriptor table are the
 * program's (no descriptor of the program's is kept open by a copy of ours: a pipe's
 * reader sees its end when the program closes it); its working directory, root,
 * credentials and signal dispositions are copies taken when it is made; its own signal
 * mask blocks everything. glibc's thread state (the TCB, errno, every initial-exec
 * thread-local variable, the shim's among them) is a copy of the making thread's static
 * TLS block, given to the process with CLONE_SETTLS, so its errno and the shim's guard
 * are its own. glibc's own idea of the calling thread (its tid in the copy) is the
 * program thread's, so the process never takes a lock of glibc's that records an owner:
 * no dl_iterate_phdr (modules.h's cp_modules_no_loader), no dlopen (libunwind is not
 * loaded there), no malloc, no stdio.
 *
 * Its parent is the program's thread that made it; it sends no signal when it ends (no
 * SIGCHLD; a wait without __WALL or __WCLONE does not see it), and is reaped by whoever
 * stops it (cp_fp_reap), or, if the program ends first, by init. It leaves the program's
 * process group for one of its own, so that a signal to the group (a shell's job control,
 * `timeout`) does not end it before it has drained what a killed program left.
 *
 * Contexts: cp_fp_init from cp_prof_init (the constructor); cp_fp_start from an inline
 * flush (a program thread, cp_flush_lock held, on the profiler's own stack: no lock of
 * glibc's taken, its errno saved by the hook); cp_fp_reap on a program thread; cp_fp_gone
 * on the flusher process; cp_fp_fence on the process, or on a program thread where a
 * clone would be allowed (flusher.c). No lock of its own.
 */
#include "flushproc.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "rawsys.h"

#define FP_STACK (256 * 1024)
/* how much of the TCB above the thread pointer is copied: glibc's struct pthread (about
 * 2.3 KiB in 2.36) and what follows it in the same allocation */
#define FP_TCB 4096
#define KCMP_VM 1
#define FP_NPROC_ROOM 4096 /* an RLIMIT_NPROC from which a process of ours is no cost */

typedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);
static clone_fn libc_clone;
static void (*tls_info)(size_t *, size_t *);

void cp_fp_init(void)
{
#if defined(__x86_64__) && defined(__GLIBC__)
    /* glibc's own clone, not a hook of the same name (the shim exports one; a
     * sanitizer's runtime intercepts it) */
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (libc) {
        libc_clone = (clone_fn)dlsym(libc, "clone");
        dlclose(libc);
    }
    /* the size of the static TLS block: a GLIBC_PRIVATE function, stable since glibc 2.3,
     * which the sanitizers' runtimes call for the same reason */
    tls_info = (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
#endif
}

bool cp_fp_available(void)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    return false; /* (this code instrumented: its runtime's per-thread state would be the
                   * maker's, copied; the unit tests under sanitizers flush inline) */
#else
    return libc_clone && tls_info;
#endif
}

bool cp_fp_room(void)
{
    /* The kernel counts the process against the user's RLIMIT_NPROC (not root's), and a
     * tree of processes at rate 1 would have one each: under a limit a program can reach
     * (a pre-forking server, a shell script run with ulimit -u), it would cost the program
     * processes it could otherwise start (spawn.sh, sigfork.sh). Only a limit far beyond
     * what a profiled tree uses, or none. */
    struct rlimit rl;
    if (cp_raw_syscall(SYS_getuid, 0, 0, 0, 0, 0, 0) == 0)
        return true;
    return cp_raw_syscall(SYS_getrlimit, RLIMIT_NPROC, (long)&rl, 0, 0, 0, 0) == 0 &&
           (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= FP_NPROC_ROOM);
}

/* A page of this process's memory, or zeros where there is none (the TLS block's
 * neighbours need not be mapped) */
static void copy_page(uint8_t *dst, uintptr_t src)
{
    if (!cp_raw_read_self(dst, src, 4096))
        memset(dst, 0, 4096);
}

pid_t cp_fp_start(int (*fn)(void *), void *arg, struct cp_fp *fp)
{
#if defined(__x86_64__) && defined(__GLIBC__)
    if (!cp_fp_available())
        return -ENOSYS;
    size_t sz = 0, al = 0;
    tls_info(&sz, &al);
    if (!sz || sz > ((size_t)1 << 20))
        return -ENOSYS;
    uintptr_t tp;
    __asm__ volatile("mov %%fs:0, %0" : "=r"(tp));
    uintptr_t lo = (tp - sz) & ~(uintptr_t)4095, hi = (tp + FP_TCB + 4095) & ~(uintptr_t)4095;
    size_t len = FP_STACK + (hi - lo);
    /* (not the arena's cp_mmap_anon, which says a refusal: an address-space limit that
     * refuses this refuses a thread's stack too, and is the program's business) */
    long a = cp_raw_syscall(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a < 0 && a > -4096)
        return (pid_t)a;
    uint8_t *m = (uint8_t *)a;
    uint8_t *t = m + FP_STACK;
    for (uintptr_t pg = lo; pg < hi; pg += 4096)
        copy_page(t + (pg - lo), pg);
    uintptr_t ntp = (uintptr_t)t + (tp - lo);
    ((uintptr_t *)ntp)[0] = ntp; /* tcbhead_t's tcb: what %fs:0 reads */
    ((uintptr_t *)ntp)[2] = ntp; /* and its self: THREAD_SELF */
    /* every signal blocked from its first instruction (the mask is inherited), and on this
     * thread only between these two calls, which run no code of the program's */
    uint64_t all = ~(uint64_t)0, old = 0;
    cp_raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, (long)&old, 8, 0, 0);
    int saved = errno;
    int pid = libc_clone(fn, m + FP_STACK,
                         CLONE_VM | CLONE_FILES | CLONE_SETTLS | CLONE_PARENT_SETTID |
                             CLONE_CHILD_CLEARTID,
                         arg, &fp->tid, (void *)ntp, &fp->tid);
    int err = errno;
    errno = saved;
    cp_raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8, 0, 0);
    if (pid < 0) {
        cp_raw_syscall(SYS_munmap, (long)m, (long)len, 0, 0, 0, 0);
        return -err;
    }
    fp->pid = pid;
    fp->mem = m;
    fp->len = len;
    return pid;
#else
    (void)fn;
    (void)arg;
    (void)fp;
    return -ENOSYS;
#endif
}

void cp_fp_reap(struct cp_fp *fp, bool filtered)
{
    if (fp->pid <= 0)
        return;
    if (filtered) {
        /* Under the program's seccomp filter, which may forbid wait4 and munmap (and kill
         * the program for them): waited for by the word the kernel clears when it ends,
         * with no system call (bounded: 2^27 pauses, about two seconds here), and left a
         * zombie with its stack, which ends with the program. */
        for (unsigned long i = 0; i < (1ul << 27) && __atomic_load_n(&fp->tid, __ATOMIC_ACQUIRE);
             i++)
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        fp->pid = 0;
        fp->mem = NULL;
        fp->len = 0;
        return;
    }
    int st;
    long r;
    do
        r = cp_raw_syscall(SYS_wait4, fp->pid, (long)&st, __WCLONE, 0, 0, 0);
    while (r == -EINTR);
    /* (gone, or not ours to wait for any more: a program that reaps with __WALL) */
    cp_raw_syscall(SYS_munmap, (long)fp->mem, (long)fp->len, 0, 0, 0, 0);
    fp->pid = 0;
    fp->tid = 0;
    fp->mem = NULL;
    fp->len = 0;
}

bool cp_fp_ended(const struct cp_fp *fp)
{
    /* (set by the kernel before clone returns, CLONE_PARENT_SETTID; cleared when it ends
     * while this process lives, which shares the memory: CLONE_CHILD_CLEARTID) */
    return fp->pid > 0 && __atomic_load_n(&fp->tid, __ATOMIC_ACQUIRE) == 0;
}

/* membarrier(2)'s commands (linux/membarrier.h) */
#define MB_PRIVATE_EXPEDITED (1 << 3)
#define MB_REGISTER_PRIVATE_EXPEDITED (1 << 4)

bool cp_fp_fence_register(void)
{
    return cp_raw_syscall(SYS_membarrier, MB_REGISTER_PRIVATE_EXPEDITED, 0, 0, 0, 0, 0) == 0;
}

bool cp_fp_fence(void)
{
    /* (the kernel's private barriers go to the CPUs running a task of this memory: the
     * flusher process's and the program's alike, whatever their thread group) */
    return cp_raw_syscall(SYS_membarrier, MB_PRIVATE_EXPEDITED, 0, 0, 0, 0, 0) == 0;
}

bool cp_fp_gone(pid_t program)
{
    if (cp_raw_syscall(SYS_getppid, 0, 0, 0, 0, 0, 0) != program)
        return true; /* it ended (this process was given to another parent) */
    long self = cp_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0);
    /* it replaced its image (an exec no hook saw): its memory is not this any more */
    return cp_raw_syscall(SYS_kcmp, self, program, KCMP_VM, 0, 0, 0) > 0;
}

#if defined(__x86_64__)
/* the return from a signal handler of this process (the kernel's rt_sigreturn, which
 * glibc's sigaction would supply) */
void cp_fp_restorer(void);
__asm__(".text\n"
        ".align 16\n"
        ".globl cp_fp_restorer\n"
        ".hidden cp_fp_restorer\n"
        ".type cp_fp_restorer, @function\n"
        "cp_fp_restorer:\n"
        "    mov $15, %rax\n" /* SYS_rt_sigreturn */
        "    syscall\n"
        ".size cp_fp_restorer, .-cp_fp_restorer\n");
#endif

static uint32_t *wake_word;

static void woken(int sig)
{
    (void)sig;
    /* The wait it ends, or the one about to begin: a futex wait whose word changed after
     * its caller read it returns at once (cp_fp_gone then tells why). A signal between the
     * caller's last look and its wait would otherwise be lost, and the wait last an
     * interval (an hour at CTRPROF_FLUSH_MS=3600000: the killed program's pipe open as
     * long). */
    __atomic_add_fetch(wake_word, 1, __ATOMIC_SEQ_CST);
}

void cp_fp_detach(uint32_t *wake)
{
    wake_word = wake;
    /* its own process group (see the top), its own name in ps and top */
    cp_raw_syscall(SYS_setpgid, 0, 0, 0, 0, 0, 0);
    static const char name[16] = "ctrprof-flush";
    cp_raw_syscall(SYS_prctl, PR_SET_NAME, (long)name, 0, 0, 0, 0);
    /* Woken as soon as the program thread that made it ends (with the program: it exists
     * only while the program has one thread), not at its next interval: until it has
     * drained and ended, the program's descriptors stay open in the table it shares (a
     * reader of the killed program's pipe waits for its end). SIGUSR2 in its own copy of
     * the dispositions, its only open signal; the program's are untouched. */
#if defined(__x86_64__)
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        uint64_t mask;
    } sa = {woken, 0x04000000 /* SA_RESTORER */, cp_fp_restorer, 0};
    /* (the system call: glibc's sigaction is the shim's hook, which may dlsym) */
    if (cp_raw_syscall(SYS_rt_sigaction, SIGUSR2, (long)&sa, 0, 8, 0, 0) == 0) {
        uint64_t one = (uint64_t)1 << (SIGUSR2 - 1);
        cp_raw_syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&one, 0, 8, 0, 0);
        cp_raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0, 0);
    }
#endif
}
