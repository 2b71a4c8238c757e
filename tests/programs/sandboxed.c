/*
 * sandboxed.c — a program that sandboxes itself with seccomp mid-run, as OpenSSH's
 * pre-auth child and hardened daemons do (issue 28), then allocates.
 *
 *   sandboxed FILTER HOW THREADS
 *     FILTER   deny: open and openat kill the process, everything else is allowed
 *              allow: an allow-list modelled on OpenSSH's pre-auth sandbox (plus what
 *              glibc needs to start a thread), anything else kills the process
 *              all: a filter that allows everything
 *     HOW      prctl (PR_SET_SECCOMP) | syscall (SYS_seccomp, as libseccomp does) |
 *              tsync (SYS_seccomp with SECCOMP_FILTER_FLAG_TSYNC: every thread)
 *     THREADS  1, or 2: a second thread started after the filter allocates too, or
 *              many: 30,000 sites after the filter (more counters than the room made), or
 *              alt: a signal handler on an alternate stack allocates after the filter (a
 *              walk on another stack must not ask the kernel for its bounds)
 * Sites (exact at rate 1): before: 1000 x 64 B kept, 4 x 4 MiB; after_small: 500 x 96 B;
 * after_big: 4 x 16 MiB; after_thread: 300 x 128 B; thread_big: 4 x 16 MiB; on_signal:
 * 4 x 16 MiB. The sites checked at the default rate (524288) are 16 MiB blocks: each is
 * sampled but with probability exp(-32) ~ 1e-14, so a sample short is a lost one (at
 * 4 MiB a block went unsampled with probability exp(-8), 1 in 2981, and a site of 4
 * came up 3 in ~1 of 750 runs; sandbox.sh checks 20 such sites).
 *   sandboxed exec PROG ARG...   installs a filter that allows everything (the process is
 *                                then "under seccomp", mode 2) and execs PROG
 *   sandboxed exec-nolink PROG...  the same with a filter that kills the process at link,
 *                                linkat or any chmod (an allow-list that has open but not
 *                                those: the profiler's file is then made by open alone)
 * Output by write(2) only (stdio's first use would fstat, which the allow-list forbids).
 */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "manysites.h"

static void *keep[1000];

static __attribute__((noinline)) void before(void)
{
    for (int i = 0; i < 1000; i++)
        keep[i] = malloc(64);
    for (int i = 0; i < 4; i++) {
        void *volatile p = malloc(4 << 20);
        free(p);
    }
}

static __attribute__((noinline)) void after_small(void)
{
    for (int i = 0; i < 500; i++) {
        void *volatile p = malloc(96);
        free(p);
    }
}

static __attribute__((noinline)) void after_big(void)
{
    for (int i = 0; i < 4; i++) {
        void *volatile p = malloc(16 << 20);
        free(p);
    }
}

/* the innermost function of 30,000 sites (manysites.h) */
static __attribute__((noinline)) void after_many(size_t size)
{
    void *volatile p = malloc(size);
    free(p);
}
MANY_SITES(many_sites, after_many)

static __attribute__((noinline)) void after_many_loop(void)
{
    for (unsigned i = 0; i < 30000; i++)
        many_sites(i, 1000 + i);
}

static __attribute__((noinline)) void on_signal(int sig)
{
    (void)sig;
    for (int i = 0; i < 4; i++) {
        void *volatile p = malloc(16 << 20);
        free(p);
    }
}

static __attribute__((noinline)) void thread_big(void)
{
    for (int i = 0; i < 4; i++) {
        void *volatile p = malloc(16 << 20);
        free(p);
    }
}

static __attribute__((noinline)) void *after_thread(void *arg)
{
    for (int i = 0; i < 300; i++) {
        void *volatile p = malloc(128);
        free(p);
    }
    thread_big();
    return arg;
}

#define ALLOW(nr)                                                                                  \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define KILL(nr)                                                                                   \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                                               \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)
#define HEAD                                                                                       \
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),                       \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),                              \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),                                       \
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))

static struct sock_filter deny[] = {HEAD, KILL(__NR_open), KILL(__NR_openat),
                                    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
static struct sock_filter allow[] = {
    HEAD,
    /* OpenSSH's pre-auth list (the part a program like this uses) */
    ALLOW(__NR_read), ALLOW(__NR_write), ALLOW(__NR_brk), ALLOW(__NR_mmap), ALLOW(__NR_munmap),
    ALLOW(__NR_mremap), ALLOW(__NR_madvise), ALLOW(__NR_futex), ALLOW(__NR_clock_gettime),
    ALLOW(__NR_nanosleep), ALLOW(__NR_clock_nanosleep), ALLOW(__NR_getpid), ALLOW(__NR_gettid),
    ALLOW(__NR_rt_sigprocmask), ALLOW(__NR_rt_sigreturn), ALLOW(__NR_poll), ALLOW(__NR_select),
    ALLOW(__NR_close), ALLOW(__NR_exit), ALLOW(__NR_exit_group),
    /* what glibc's pthread_create and a new thread's first malloc need */
    ALLOW(__NR_clone), ALLOW(__NR_clone3), ALLOW(__NR_mprotect), ALLOW(__NR_set_robust_list),
    ALLOW(__NR_rseq), ALLOW(__NR_rt_sigaction),
    /* raise() */
    ALLOW(__NR_tgkill), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)};

static void say(const char *s)
{
    (void)!write(1, s, strlen(s));
}

static struct sock_filter all[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
static struct sock_filter nolink[] = {HEAD,
                                      KILL(__NR_link),
                                      KILL(__NR_linkat),
                                      KILL(__NR_chmod),
                                      KILL(__NR_fchmod),
                                      KILL(__NR_fchmodat),
                                      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};

int main(int argc, char **argv)
{
    if (argc >= 3 && (!strcmp(argv[1], "exec") || !strcmp(argv[1], "exec-nolink"))) {
        struct sock_fprog p = {1, all};
        if (!strcmp(argv[1], "exec-nolink"))
            p = (struct sock_fprog){sizeof nolink / sizeof nolink[0], nolink};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p, 0, 0) != 0)
            return 4;
        execv(argv[2], argv + 2);
        return 127;
    }
    if (argc != 4)
        return 2;
    int threads = atoi(argv[3]), many = !strcmp(argv[3], "many"), alt = !strcmp(argv[3], "alt");
    static char altstack[64 << 10];
    if (alt) {
        stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
        struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_ONSTACK};
        if (sigaltstack(&ss, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
            return 6;
    }
    before();
    struct sock_fprog prog;
    if (!strcmp(argv[1], "deny"))
        prog = (struct sock_fprog){sizeof deny / sizeof deny[0], deny};
    else if (!strcmp(argv[1], "all"))
        prog = (struct sock_fprog){sizeof all / sizeof all[0], all};
    else
        prog = (struct sock_fprog){sizeof allow / sizeof allow[0], allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return 3;
    long r;
    if (!strcmp(argv[2], "prctl"))
        r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
    else if (!strcmp(argv[2], "tsync"))
        r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
    else
        r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
    if (r != 0)
        return 4;
    after_small();
    after_big();
    if (many)
        after_many_loop();
    if (alt)
        raise(SIGUSR1);
    if (threads > 1) {
        pthread_t t;
        if (pthread_create(&t, NULL, after_thread, NULL) != 0)
            return 5;
        pthread_join(t, NULL);
    }
    for (int i = 0; i < 1000; i++)
        free(keep[i]);
    say("done\n");
    return 0;
}
