/*
 * sandbox.c — the ways a program installs a seccomp filter, interposed: prctl
 * (PR_SET_SECCOMP; its per-thread credential options go to alone.c) and syscall
 * (SYS_seccomp, SYS_prctl; libseccomp calls the system call through syscall(2), and glibc
 * has no seccomp() wrapper; the numbers of the calls alone.c steps aside for go there, and
 * a raw fork refused under RLIMIT_NPROC is made again as nproc.c's fork). Just before the real call
 * the engine does everything that would later need a system call the filter may forbid
 * (core/publish.c, "sandboxes"); a strict-mode thread (read, write, exit and sigreturn only)
 * stops profiling altogether. Each filter is first run here for the calls the profiler's
 * SIGBUS handling makes ("what a filter allows the profiler's SIGBUS handling", below);
 * a TSYNC filter that forbids them retires the flusher thread before it goes in.
 * And prctl's PR_SET_TSC (either way in): a thread forbidden the TSC dies at its next
 * rdtsc, and at its next vDSO clock_gettime, which reads it; so before the call the
 * engine's clocks leave it, process-wide (cp_prof_tsc_denied). (chroot, mount and the
 * like are paths.c's; the uid and capability calls identity.c's: this file's syscall hook
 * passes their raw system calls on.)
 *
 * Context: any application thread, the program's own call. Result and errno are the real
 * function's own. A process that starts with a filter already in place (inherited across
 * exec) is found at start-up instead (shim.c).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "prof.h"
#include "rawsys.h"
#include "shim.h"
#include "spin.h"

#define EXPORT __attribute__((visibility("default")))

/* ---- what a filter allows the profiler's SIGBUS handling ---------------------------- *
 *
 * A store into the file faults when the file was truncated under us, and a fault with
 * SIGBUS blocked ends the process (the kernel forces the default action); so a thread
 * that stores into the file has SIGBUS open for the store (preload/sigbus.c's handler
 * takes the fault), and a SIGBUS sent in that window that was not ours is queued back to
 * the process (sigbus.c). That takes two system calls: rt_sigprocmask (block, unblock, read
 * the mask) and rt_sigqueueinfo. The flusher makes both around each flush; a program's
 * thread whose program blocked SIGBUS makes both around its own stores (the inline flush,
 * exit: core/filebus.c). A filter binds the thread that installs it and the threads it
 * starts later; with SECCOMP_FILTER_FLAG_TSYNC, every thread of the process, ours too. So
 * before any filter goes in, the shim runs it itself, as the kernel will (classic BPF over
 * struct seccomp_data; the instructions the kernel's seccomp_check_filter accepts), for
 * those calls as the profiler makes them. If it refuses one (any action but ALLOW or LOG;
 * an instruction the reader does not know counts as a refusal), or the mode is strict:
 *   - a TSYNC filter: the flusher is retired before it goes in (cp_prof_aside_begin: it
 *     returns, and is gone from the kernel, before the program's call is made; none
 *     starts under a filter). No thread of ours is left to take a signal: a kill -BUS
 *     reaches the program's threads, or stays pending, as bare. Events are flushed inline
 *     from then on (core/flusher.c, "who flushes");
 *   - any filter: a program's thread whose SIGBUS is blocked may no longer open it, and
 *     stores nothing more into the file (cp_prof_bus_mask_forbidden; said once). Process-
 *     wide, though a filter without TSYNC binds only some threads: the flusher, which such
 *     a filter does not bind, goes on as ever.
 * A refused filter (the kernel's error) undoes both; a retired flusher starts again.
 * The filter is read from the program's memory after process_vm_readv has read it (a bad
 * pointer is the kernel's EFAULT, not our fault); that check is made only before the
 * first filter, as a call a filter may forbid (the kernel has read every later one's
 * predecessors; a bad pointer in a second filter is read as is). */
#define SECCOMP_DATA_LEN 64 /* sizeof (struct seccomp_data) */

static bool action_allows(uint32_t ret)
{
    uint32_t act = ret & SECCOMP_RET_ACTION_FULL;
    return act == SECCOMP_RET_ALLOW || act == SECCOMP_RET_LOG;
}

/* The filter's answer for system call nr with args (x86-64): does it let it through? */
static bool filter_allows(const struct sock_fprog *fp, int nr, const uint64_t args[6])
{
    struct seccomp_data d;
    memset(&d, 0, sizeof d);
    d.nr = nr;
    d.arch = AUDIT_ARCH_X86_64;
    memcpy(d.args, args, sizeof d.args);
    uint32_t a = 0, x = 0, m[BPF_MEMWORDS] = {0};
    /* (clang-format off: the instruction set as a table, an instruction a line) */
    // clang-format off
    for (unsigned pc = 0; pc < fp->len; pc++) {
        const struct sock_filter *in = &fp->filter[pc];
        uint32_t k = in->k, v = BPF_SRC(in->code) == BPF_X ? x : k;
        switch (in->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (k >= SECCOMP_DATA_LEN || (k & 3))
                return false;
            memcpy(&a, (const char *)&d + k, 4);
            continue;
        case BPF_LD | BPF_W | BPF_LEN: a = SECCOMP_DATA_LEN; continue;
        case BPF_LDX | BPF_W | BPF_LEN: x = SECCOMP_DATA_LEN; continue;
        case BPF_LD | BPF_IMM: a = k; continue;
        case BPF_LDX | BPF_IMM: x = k; continue;
        case BPF_MISC | BPF_TAX: x = a; continue;
        case BPF_MISC | BPF_TXA: a = x; continue;
        case BPF_RET | BPF_K: return action_allows(k);
        case BPF_RET | BPF_A: return action_allows(a);
        case BPF_JMP | BPF_JA: pc += k; continue;
        }
        if (k < BPF_MEMWORDS) {
            switch (in->code) {
            case BPF_LD | BPF_MEM: a = m[k]; continue;
            case BPF_LDX | BPF_MEM: x = m[k]; continue;
            case BPF_ST: m[k] = a; continue;
            case BPF_STX: m[k] = x; continue;
            }
        }
        if (BPF_CLASS(in->code) == BPF_JMP) {
            bool t;
            switch (BPF_OP(in->code)) {
            case BPF_JEQ: t = a == v; break;
            case BPF_JGT: t = a > v; break;
            case BPF_JGE: t = a >= v; break;
            case BPF_JSET: t = (a & v) != 0; break;
            default: return false;
            }
            pc += t ? in->jt : in->jf;
            continue;
        }
        if (BPF_CLASS(in->code) != BPF_ALU)
            return false;
        switch (BPF_OP(in->code)) {
        case BPF_ADD: a += v; break;
        case BPF_SUB: a -= v; break;
        case BPF_MUL: a *= v; break;
        case BPF_DIV: if (!v) return false; a /= v; break; /* the kernel: the filter returns 0 */
        case BPF_MOD: if (!v) return false; a %= v; break;
        case BPF_AND: a &= v; break;
        case BPF_OR: a |= v; break;
        case BPF_XOR: a ^= v; break;
        case BPF_LSH: a = v < 32 ? a << v : 0; break;
        case BPF_RSH: a = v < 32 ? a >> v : 0; break;
        case BPF_NEG: a = -a; break;
        default: return false;
        }
    }
    // clang-format on
    return false; /* (the kernel refuses a filter that can fall off its end) */
}

/* Can the filter be read (before the first filter only: see above)? */
static bool readable(const void *p, size_t n)
{
    char buf[512];
    for (size_t at = 0; at < n; at += sizeof buf) {
        size_t k = n - at < sizeof buf ? n - at : sizeof buf;
        struct iovec l = {buf, k}, r = {(char *)p + at, k};
        if (cp_raw_syscall(SYS_process_vm_readv, (long)getpid(), (long)&l, 1, (long)&r, 1, 0) !=
            (long)k)
            return false;
    }
    return true;
}

#define FROZE 1    /* before(): the engine froze now (to thaw if the filter is refused) */
#define RETIRED 2  /* before(): the flusher was stopped for it (started again if so) */
#define MASK_OFF 4 /* before(): the program's threads may no longer open SIGBUS */
#define TREE_OFF 8 /* before(): the process tree may no longer be asked (treesaid.c) */

/* Can the filter be read (else the kernel will refuse it: EFAULT)? */
static bool filter_readable(const struct sock_fprog *fp, bool first)
{
    return fp && (!first || (readable(fp, sizeof *fp) &&
                             readable(fp->filter, (size_t)fp->len * sizeof *fp->filter)));
}

/* What the filter allows of the profiler's SIGBUS window (see above): SIGBUS blocked and
 * unblocked around a store into the file, the mask read (core/filebus.c, core/
 * flusher.c), and a sent SIGBUS queued back to the process (preload/sigbus.c).
 * CP_BUS_WINDOW_OK: all; CP_BUS_MAY_ASK: not the window, but reading the mask;
 * CP_BUS_MAY_NOT_ASK: neither. */
static int window_allowed(const struct sock_fprog *fp)
{
    uint64_t set = 0, block[6] = {SIG_BLOCK, (uintptr_t)&set, 0, 8, 0, 0};
    uint64_t unblock[6] = {SIG_UNBLOCK, (uintptr_t)&set, 0, 8, 0, 0};
    uint64_t query[6] = {SIG_BLOCK, 0, (uintptr_t)&set, 8, 0, 0};
    uint64_t queue[6] = {(uint64_t)getpid(), SIGBUS, (uintptr_t)&set, 0, 0, 0};
    if (!filter_allows(fp, __NR_rt_sigprocmask, query))
        return CP_BUS_MAY_NOT_ASK;
    return filter_allows(fp, __NR_rt_sigprocmask, block) &&
                   filter_allows(fp, __NR_rt_sigprocmask, unblock) &&
                   filter_allows(fp, __NR_rt_sigqueueinfo, queue)
               ? CP_BUS_WINDOW_OK
               : CP_BUS_MAY_ASK;
}

/* Does the filter allow the system calls preload/treesaid.c makes to ask the process tree
 * whether a line was said (a marker directory and files under the runtime dir, /proc reads,
 * the sweep and the root's removal), as it makes them? Each with the arguments it passes
 * but the pointers (a filter cannot read those). */
static bool tree_allowed(const struct sock_fprog *fp)
{
    static const struct {
        int nr;
        uint64_t a[3];
    } calls[] = {
        {__NR_mkdirat, {(uint64_t)(int64_t)AT_FDCWD, 0, 0700}},
        {__NR_fchmodat, {(uint64_t)(int64_t)AT_FDCWD, 0, 0700}},
        {__NR_newfstatat, {(uint64_t)(int64_t)AT_FDCWD, 0, 0}},
        {__NR_openat,
         {(uint64_t)(int64_t)AT_FDCWD, 0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC}},
        {__NR_openat, {(uint64_t)(int64_t)AT_FDCWD, 0, O_RDONLY | O_CLOEXEC}},
        {__NR_openat,
         {(uint64_t)(int64_t)AT_FDCWD, 0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC}},
        {__NR_read, {0, 0, 0}},
        {__NR_close, {0, 0, 0}},
        {__NR_readlinkat, {(uint64_t)(int64_t)AT_FDCWD, 0, 0}},
        {__NR_getdents64, {0, 0, 512}},
        {__NR_unlinkat, {(uint64_t)(int64_t)AT_FDCWD, 0, 0}},
        {__NR_unlinkat, {(uint64_t)(int64_t)AT_FDCWD, 0, AT_REMOVEDIR}},
        {__NR_getpid, {0, 0, 0}},
        {__NR_geteuid, {0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        uint64_t args[6] = {calls[i].a[0], calls[i].a[1], calls[i].a[2], 0600, 0, 0};
        if (!filter_allows(fp, calls[i].nr, args))
            return false;
    }
    return true;
}

/* what the filters in place allow of the SIGBUS window (CP_BUS_*, the strictest yet:
 * before()), and what it was before the last filter (after(): refused, back to it) */
static int bus_level, bus_level_was;

/* A line said from now on asks the tree only if the filter lets it (process-wide, as any
 * thread may say one): TREE_OFF if this turned the asking off. */
static int tree_before(int strict, bool readable_fp, const struct sock_fprog *fp)
{
    return (strict || (readable_fp && !tree_allowed(fp))) && !cp_shim_treesaid_filter(true)
               ? TREE_OFF
               : 0;
}

/* Before the filter: returns FROZE | RETIRED | MASK_OFF | TREE_OFF, what to undo if
 * refused. tsync: the filter (fp) binds every thread, the flusher too. A shim that does
 * not profile (a directory it cannot use, another copy ahead of it, valgrind's thread
 * checkers) still asks the tree at exit (treesaid.c: its root's directory) and when it
 * says something: until session 28 that was left on, and a program under a filter that
 * forbids openat was killed at exit (SIGSYS, exit status 159 after its own output). */
static int before(int strict, const struct sock_fprog *fp, bool tsync)
{
    if (cp_tls.guard)
        return 0;
    cp_log_freeze_stderr(); /* (fd 2 checked one last time: the filter may forbid fstat) */
    if (cp_shim_state != CP_SHIM_ON) {
        int saved = errno;
        int tree = tree_before(strict, !strict && filter_readable(fp, true), fp);
        errno = saved;
        return tree;
    }
    int saved = errno;
    int64_t cd = cp_shim_enter();
    (void)cp_shim_thread(); /* this thread's ring, while mmap is still allowed */
    cp_stack_note_altstack();
    bool first = !__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE);
    int froze = cp_prof_sandbox() ? FROZE : 0;
    /* an unreadable filter the kernel refuses (EFAULT): nothing to do for it */
    bool readable_fp = !strict && filter_readable(fp, first);
    int level = strict ? CP_BUS_MAY_NOT_ASK : readable_fp ? window_allowed(fp) : CP_BUS_WINDOW_OK;
    /* a TSYNC filter that would bind our thread to calls it may not make: retired now
     * (none starts again while cp_sandboxed) */
    if (tsync && level != CP_BUS_WINDOW_OK && cp_prof_enabled()) {
        if (cp_prof_aside_begin(false))
            froze |= RETIRED; /* (none was running: none to start again if refused) */
        cp_prof_aside_end();
    }
    /* Any filter binds this thread (and strict mode allows no rt_sigprocmask): a program's
     * thread whose SIGBUS is blocked may not open it for its stores from now on (core/
     * filebus.c). Filters stack: the strictest yet holds, process-wide. */
    if (cp_prof_enabled() && level > bus_level) {
        bus_level_was = bus_level;
        bus_level = level;
        cp_prof_bus_mask_forbidden(level);
        froze |= MASK_OFF;
    }
    froze |= tree_before(strict, readable_fp, fp);
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
    if (froze & TREE_OFF)
        cp_shim_treesaid_filter(false);
    if (froze & MASK_OFF) {
        bus_level = bus_level_was;
        cp_prof_bus_mask_forbidden(bus_level);
    }
    if (froze & FROZE) {
        cp_prof_sandbox_failed();
        if (strict) {
            cp_tls.guard--;
            cp_tls.countdown = 0; /* drawn again at the next allocation */
        }
    }
    if (froze & RETIRED) {
        int64_t cd = cp_shim_enter();
        cp_prof_flusher_resume(); /* (after the thaw: cp_sandboxed is off again) */
        cp_shim_leave(cd);
    }
    errno = saved;
}

/* prctl's PR_SET_TSC by either way in, before the call (see the top): the engine's
 * clocks leave the TSC for good unless the mode asked for is PR_TSC_ENABLE */
static void before_set_tsc(long option, unsigned long mode)
{
    if (option == PR_SET_TSC && mode != PR_TSC_ENABLE)
        cp_prof_tsc_denied();
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
    before_set_tsc(option, a2);
    if (option != PR_SET_SECCOMP) {
        bool b = cp_shim_alone_begin_prctl(option); /* alone.c: the per-thread options */
        int r = f(option, a2, a3, a4, a5);
        cp_shim_alone_end(b);
        return r;
    }
    int strict = a2 == SECCOMP_MODE_STRICT;
    const struct sock_fprog *fp = a2 == SECCOMP_MODE_FILTER ? (const struct sock_fprog *)a3 : NULL;
    int froze = before(strict, fp, false); /* (prctl has no TSYNC) */
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
    if (n == SYS_exit_group) /* (no exit handler runs: what was recorded goes first) */
        cp_shim_exit_group((int)a1);
    if (n == SYS_wait4) /* (wait.c: a wait for any child that would see ours) */
        cp_shim_wait_any(a1, a3, false);
    else if (n == SYS_waitid)
        cp_shim_wait_any(a1, a4, true);
    if (n == SYS_prctl)
        before_set_tsc(a1, (unsigned long)a2);
    cp_shim_paths_syscall(n, a1, a2, a3, a4); /* (chroot, mount, setns...: paths.c) */
    cp_shim_identity_syscall(n, a1, a2);
    int strict;
    bool tsync = false;
    if (n == SYS_seccomp && (a1 == SECCOMP_SET_MODE_FILTER || a1 == SECCOMP_SET_MODE_STRICT)) {
        strict = a1 == SECCOMP_SET_MODE_STRICT;
        tsync = !strict && (a2 & SECCOMP_FILTER_FLAG_TSYNC);
    } else if (n == SYS_prctl && a1 == PR_SET_SECCOMP) {
        strict = a2 == SECCOMP_MODE_STRICT;
    } else {
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
    int froze = before(strict, (const struct sock_fprog *)a3, tsync);
    long r = f(n, a1, a2, a3, a4, a5, a6);
    after(r, froze, strict);
    return r;
}
