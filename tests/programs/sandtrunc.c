/*
 * sandtrunc.c — a multi-threaded program that sandboxes itself with an allow-list of what
 * it uses from then on, then allocates while its profile is truncated under it (issue 29:
 * the flusher thread stores into the file; a SIGBUS there must end profiling into the
 * file, not the program).
 *
 *   sandtrunc HOW GOFILE
 *     HOW  tsync: SYS_seccomp with SECCOMP_FILTER_FLAG_TSYNC (the filter binds every
 *          thread, the profiler's too); thread: SYS_seccomp for this thread only;
 *          kill: as tsync, with a SIGBUS handler of its own and SIGBUS blocked in both
 *          its threads; once GOFILE is there (the test sent it SIGBUS first) it waits
 *          for its handler (30 s at most), prints "handled" or "pending" (bare: it
 *          stays pending; under the profiler the flusher, the one thread with SIGBUS
 *          open, takes it and carries out the program's disposition: preload/sigbus.c)
 *          and skips phase 2;
 *          refused: as tsync, but the filter has no instructions and the kernel refuses
 *          it (EINVAL): no filter, the program runs on;
 *          alone: one thread only (no helper: no flusher, its events flushed inline on
 *          it), SIGBUS blocked there (a daemon that reads its signals from a signalfd),
 *          the filter for this thread; alone-mask: the same with rt_sigprocmask in the
 *          list (then the profiler may open SIGBUS around its stores, and does)
 * no_new_privs is set, a helper thread is started (so the process is multi-threaded and
 * the profiler has its flusher at every rate), phase 1 allocates, the filter goes in, "ready" is
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

static volatile sig_atomic_t bus_seen;
static void on_bus(int sig)
{
    (void)sig;
    bus_seen = 1;
}

static int wake[2], started[2]; /* wake: never written (the helper ends with the process) */

static void *helper(void *arg)
{
    char c;
    (void)!write(started[1], "s", 1); /* running (its start-up calls made) */
    (void)!read(wake[0], &c, 1);
    return arg;
}

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define LIST(...)                                                                                  \
    {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),                     \
     BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),                                \
     BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),                                         \
     BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),                       \
     ALLOW(__NR_read), ALLOW(__NR_write), ALLOW(__NR_brk), ALLOW(__NR_mmap), ALLOW(__NR_munmap),  \
     ALLOW(__NR_madvise), ALLOW(__NR_futex), ALLOW(__NR_access), ALLOW(__NR_clock_nanosleep),    \
     ALLOW(__NR_getpid), ALLOW(__NR_exit), ALLOW(__NR_exit_group), ALLOW(__NR_rt_sigreturn),     \
     __VA_ARGS__ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)}
static struct sock_filter allow[] = LIST();
static struct sock_filter allow_mask[] = LIST(ALLOW(__NR_rt_sigprocmask),); /* alone-mask */

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    /* no_new_privs first, as a daemon's start-up does (the profiler steps aside for it,
     * its flusher too: preload/alone.c), then a thread and work, then the filter */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return 4;
    int kill_mode = !strcmp(argv[1], "kill");
    int alone = !strncmp(argv[1], "alone", 5);
    if (alone) { /* SIGBUS blocked in its one thread */
        sigset_t bus;
        sigemptyset(&bus);
        sigaddset(&bus, SIGBUS);
        if (sigprocmask(SIG_BLOCK, &bus, NULL) != 0)
            return 5;
    }
    if (kill_mode) { /* its own SIGBUS handler; SIGBUS blocked in both its threads */
        struct sigaction a;
        memset(&a, 0, sizeof a);
        a.sa_handler = on_bus;
        sigset_t bus;
        sigemptyset(&bus);
        sigaddset(&bus, SIGBUS);
        if (sigaction(SIGBUS, &a, NULL) != 0 || sigprocmask(SIG_BLOCK, &bus, NULL) != 0)
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
    if (kill_mode) { /* the test sent SIGBUS before GOFILE: did its handler run? */
        for (int i = 0; i < 3000 && !bus_seen; i++)
            usleep(10000); /* (at most 30 s; bare, it stays pending: "pending") */
        (void)!write(1, bus_seen ? "handled\n" : "pending\n", 8);
    } else {
        phase2();
    }
    (void)!write(1, "ok\n", 3);
    return 0;
}
