/*
 * sandtrunc.c — a multi-threaded program that sandboxes itself with an allow-list of what
 * it uses from then on, then allocates while its profile is truncated under it (issue 29:
 * the flusher thread stores into the file; a SIGBUS there must end profiling into the
 * file, not the program).
 *
 *   sandtrunc HOW GOFILE
 *     HOW  tsync: SYS_seccomp with SECCOMP_FILTER_FLAG_TSYNC (the filter binds every
 *          thread, the profiler's too); thread: SYS_seccomp for this thread only;
 *          sigfd: as tsync, with SIGBUS blocked in both its threads and read from a
 *          signalfd (a daemon's signal loop); once GOFILE is there (the test sent it
 *          SIGBUS first) it reads the signalfd (30 s at most) and prints "got CODE PID"
 *          (the siginfo's si_code and sender) or "none", and skips phase 2. Bare: the
 *          signal stays pending till the read, "got 0 <the sender>" (SI_USER). Under the
 *          profiler the same: the filter forbids what the flusher's SIGBUS window needs,
 *          so the shim retired the flusher before it went in (preload/sandbox.c) and no
 *          thread of ours is there to take it;
 *          refused: as tsync, but the filter has no instructions and the kernel refuses
 *          it (EINVAL): no filter, the program runs on;
 *          alone: one thread only (no helper: no flusher, its events flushed inline on
 *          it), SIGBUS blocked there (a daemon that reads its signals from a signalfd),
 *          the filter for this thread; alone-mask: the same with rt_sigprocmask and
 *          rt_sigqueueinfo in the list (then the profiler may open SIGBUS around its
 *          stores, and does: a SIGBUS sent in that window is queued back to the
 *          process); alone-noqueue: rt_sigprocmask only (a sent SIGBUS could not be
 *          queued back: as alone, the profiler opens no window)
 * no_new_privs is set, a helper thread is started (so the process is multi-threaded and
 * the profiler has its flusher at every rate, till a TSYNC filter retires it), phase 1
 * allocates, the filter goes in, "ready" is
 * printed, GOFILE is polled (the test truncates the profile meanwhile), phase 2 allocates
 * at thousands of new sites and in 1 MiB blocks (every one a store into the file, at the
 * default rate too); "ok". The helper ends with the process (glibc's thread exit blocks
 * signals with rt_sigprocmask, which the list has not). Exit 0 as bare.
 *
 * The allow-list is what this program (and glibc under it) calls after the filter: read,
 * write, brk, mmap, munmap, madvise (malloc), futex (glibc's locks), access, clock_nanosleep
 * (the poll), getpid (the pid it prints), exit and exit_group, and rt_sigreturn (without
 * which no signal handler returns: the OpenSSH-style lists all have it). Not
 * rt_sigprocmask, not rt_sigqueueinfo: anything else kills the process (SIGSYS).
 */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "manysites.h"

static __attribute__((noinline)) void phase1(void)
{
    for (int i = 0; i < 3000; i++) {
        void *volatile p = malloc(16 + (size_t)i);
        free(p);
    }
    for (int i = 0; i < 20; i++) {
        void *volatile p = malloc(4 << 20);
        free(p);
    }
}

/* the innermost function of phase 2's 30,000 sites (manysites.h) */
static __attribute__((noinline)) void phase2_site(size_t size)
{
    void *volatile p = malloc(size);
    free(p);
}
MANY_SITES(phase2_sites, phase2_site)

static __attribute__((noinline)) void phase2(void)
{
    for (unsigned i = 0; i < 30000; i++)
        phase2_sites(i, 4000 + i);
    for (int i = 0; i < 2000; i++) {
        void *volatile p = malloc((1 << 20) + (size_t)i * 4096);
        free(p);
    }
}

static int wake[2], started[2]; /* wake: never written (the helper ends with the process) */

static void *helper(void *arg)
{
    char c;
    (void)!write(started[1], "s", 1); /* running (its start-up calls made) */
    (void)!read(wake[0], &c, 1);
    return arg;
}

#define ALLOW(nr)                                                                                  \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define LIST(...)                                                                                  \
    {                                                                                              \
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),                   \
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),                          \
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),                                   \
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),                 \
            ALLOW(__NR_read), ALLOW(__NR_write), ALLOW(__NR_brk), ALLOW(__NR_mmap),                \
            ALLOW(__NR_munmap), ALLOW(__NR_madvise), ALLOW(__NR_futex), ALLOW(__NR_access),        \
            ALLOW(__NR_clock_nanosleep), ALLOW(__NR_getpid), ALLOW(__NR_exit),                     \
            ALLOW(__NR_exit_group), ALLOW(__NR_rt_sigreturn),                                      \
            __VA_ARGS__ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)                        \
    }
static struct sock_filter allow[] = LIST();
static struct sock_filter allow_mask[] = /* alone-mask */
    LIST(ALLOW(__NR_rt_sigprocmask), ALLOW(__NR_rt_sigqueueinfo), );
static struct sock_filter allow_noqueue[] = LIST(ALLOW(__NR_rt_sigprocmask), ); /* alone-noqueue */

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    /* no_new_privs first, as a daemon's start-up does (the profiler steps aside for it,
     * its flusher too: preload/alone.c), then a thread and work, then the filter */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return 4;
    int sigfd_mode = !strcmp(argv[1], "sigfd"), sfd = -1;
    int alone = !strncmp(argv[1], "alone", 5);
    if (alone) { /* SIGBUS blocked in its one thread */
        sigset_t bus;
        sigemptyset(&bus);
        sigaddset(&bus, SIGBUS);
        if (sigprocmask(SIG_BLOCK, &bus, NULL) != 0)
            return 5;
    }
    if (sigfd_mode) { /* SIGBUS blocked in both its threads, read from a signalfd */
        sigset_t bus;
        sigemptyset(&bus);
        sigaddset(&bus, SIGBUS);
        if (sigprocmask(SIG_BLOCK, &bus, NULL) != 0 ||
            (sfd = signalfd(-1, &bus, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
            return 5;
    }
    pthread_t t;
    char c;
    if (!alone && (pipe(wake) != 0 || pipe(started) != 0 ||
                   pthread_create(&t, NULL, helper, NULL) != 0 || read(started[0], &c, 1) != 1))
        return 3;
    phase1();
    struct sock_fprog prog = {sizeof allow / sizeof allow[0], allow};
    if (!strcmp(argv[1], "alone-mask"))
        prog = (struct sock_fprog){sizeof allow_mask / sizeof allow_mask[0], allow_mask};
    if (!strcmp(argv[1], "alone-noqueue"))
        prog = (struct sock_fprog){sizeof allow_noqueue / sizeof allow_noqueue[0], allow_noqueue};
    unsigned long flags = strcmp(argv[1], "thread") && !alone ? SECCOMP_FILTER_FLAG_TSYNC : 0;
    if (!strcmp(argv[1], "refused")) { /* a filter of no instructions: EINVAL */
        prog.len = 0;
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) != -1)
            return 4;
    } else if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) != 0) {
        return 4;
    }
    char line[64];
    int n = snprintf(line, sizeof line, "ready %d\n", (int)getpid());
    (void)!write(1, line, (size_t)n);
    for (int i = 0; i < 6000 && access(argv[2], F_OK) != 0; i++)
        usleep(10000); /* a poll of GOFILE (at most 60 s) */
    if (sigfd_mode) {  /* the test sent SIGBUS before GOFILE: is it there to read? */
        struct signalfd_siginfo si;
        ssize_t got = -1;
        for (int i = 0; i < 3000 && (got = read(sfd, &si, sizeof si)) != (ssize_t)sizeof si; i++)
            usleep(10000); /* (at most 30 s) */
        if (got == (ssize_t)sizeof si)
            n = snprintf(line, sizeof line, "got %d %u\n", si.ssi_code, si.ssi_pid);
        else
            n = snprintf(line, sizeof line, "none\n");
        (void)!write(1, line, (size_t)n);
    } else {
        phase2();
    }
    (void)!write(1, "ok\n", 3);
    return 0;
}
