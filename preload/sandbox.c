/*
 * sandbox.c — the ways a program installs a seccomp filter, interposed: prctl
 * (PR_SET_SECCOMP; its per-thread credential options go to alone.c) and syscall
 * (SYS_seccomp, SYS_prctl; libseccomp calls the system call through syscall(2), and glibc
 * has no seccomp() wrapper; the numbers of the calls alone.c steps aside for go there, and
 * a raw fork refused under RLIMIT_NPROC is made again as nproc.c's fork). Just before the real call
 * the engine does everything that would later need a system call the filter may forbid
 * (core/publish.c, "sandboxes"); a strict-mode thread (read, write, exit and sigreturn only)
 * stops profiling altogether.
 *
 * Context: any application thread, the program's own call. Result and errno are the real
 * function's own. A process that starts with a filter already in place (inherited across
 * exec) is found at start-up instead (shim.c).
 */
#include <dlfcn.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

/* Before the filter: returns whether the engine froze now (to thaw if it is refused). */
static int before(int strict)
{
    if (cp_shim_state != CP_SHIM_ON || cp_tls.guard)
        return 0;
    int saved = errno;
    int64_t cd = cp_shim_enter();
    (void)cp_shim_thread(); /* this thread's ring, while mmap is still allowed */
    cp_stack_note_altstack();
    int froze = cp_prof_sandbox();
    cp_shim_leave(cd);
    if (strict) {
        /* strict mode allows read, write, _exit and sigreturn to this thread: its events
         * could need a futex wake. It records nothing more (other threads go on). */
        cp_tls.guard++;
        cp_tls.countdown = INT64_MAX;
    }
    errno = saved;
    return froze;
}

static void after(long r, int froze, int strict)
{
    if (r == 0 || !froze)
        return;
    int saved = errno;
    cp_prof_sandbox_failed();
    if (strict) {
        cp_tls.guard--;
        cp_tls.countdown = 0; /* drawn again at the next allocation */
    }
    errno = saved;
}

EXPORT int prctl(int option, ...)
{
    static void *real;
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
    unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    int (*f)(int, ...) = (int (*)(int, ...))cp_shim_next(&real, "prctl");
    if (option != PR_SET_SECCOMP) {
        bool b = cp_shim_alone_begin_prctl(option); /* alone.c: the per-thread options */
        int r = f(option, a2, a3, a4, a5);
        cp_shim_alone_end(b);
        return r;
    }
    int strict = a2 == SECCOMP_MODE_STRICT;
    int froze = before(strict);
    int r = f(option, a2, a3, a4, a5);
    after(r, froze, strict);
    return r;
}

/* A raw system call that makes a process or thread, for the RLIMIT_NPROC retry below. A
 * refused one made no child, so making it again is safe whatever its flags; what this C
 * frame cannot carry is a successful one whose child returns through it on the parent's
 * stack: CLONE_VM without a stack of its own (vfork's way). Such a call cannot work through
 * glibc's syscall() bare either (the child's next call overwrites the return address the
 * parent's syscall() returns to), so it is passed through and never retried. A fork-like
 * clone's child returns through its own copy of this frame; a CLONE_VM child with its own
 * stack returns from glibc's syscall() onto that stack, never into this frame. clone3's
 * struct clone_args: flags at byte 0, stack at byte 40 (linux/sched.h), read only after the
 * kernel read it and refused with EAGAIN, not EFAULT. */
static bool raw_new_task(long n, long a1, long a2)
{
    if (n == SYS_fork)
        return true;
    if (n == SYS_clone)
        return !(a1 & CLONE_VM) || a2 != 0;
#ifdef SYS_clone3
    if (n == SYS_clone3 && a1 && a2 >= 48) {
        uint64_t flags, stack;
        memcpy(&flags, (const char *)a1, 8);
        memcpy(&stack, (const char *)a1 + 40, 8);
        return !(flags & CLONE_VM) || stack != 0;
    }
#endif
    return false;
}

EXPORT long syscall(long n, ...)
{
    static void *real;
    va_list ap;
    va_start(ap, n);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    long (*f)(long, ...) = (long (*)(long, ...))cp_shim_next(&real, "syscall");
    int strict;
    if (n == SYS_seccomp &&
        (a1 == SECCOMP_SET_MODE_FILTER || a1 == SECCOMP_SET_MODE_STRICT))
        strict = a1 == SECCOMP_SET_MODE_STRICT;
    else if (n == SYS_prctl && a1 == PR_SET_SECCOMP)
        strict = a2 == SECCOMP_MODE_STRICT;
    else {
        /* alone.c: unshare, setns, capset and the per-thread prctls made as raw system
         * calls step aside as their named hooks do */
        bool b = cp_shim_alone_begin_syscall(n, a1, a2);
        int saved = errno;
        long r = f(n, a1, a2, a3, a4, a5, a6);
        cp_shim_alone_end(b);
        /* a raw fork or clone refused under RLIMIT_NPROC while ours runs: again, as fork
         * (nproc.c) */
        if (r == -1 && errno == EAGAIN && raw_new_task(n, a1, a2) && cp_shim_nproc_refused()) {
            errno = saved;
            r = f(n, a1, a2, a3, a4, a5, a6);
        }
        return r;
    }
    int froze = before(strict);
    long r = f(n, a1, a2, a3, a4, a5, a6);
    after(r, froze, strict);
    return r;
}
