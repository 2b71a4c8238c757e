/*
 * spawnkinds.c — a program with a thread of its own that starts children by each of the
 * ways glibc offers besides fork and posix_spawn, under a process limit (issue 29): each
 * thread counts against RLIMIT_NPROC, so a profiler thread could cost the program a child
 * it would start without the profiler.
 *
 *   spawnkinds N MODE  keep a helper thread waiting (as a server's signal or logging
 *                  thread does), then start N children by MODE, each kept alive until
 *                  all are started; stop at the first that fails. Print "started K of N
 *                  (MODE)" and, for a failure, what the call returned and its errno
 *                  ("popen: NULL ENOMEM"). Then let the children go, reap them, exit 0.
 *     popen        popen("read x", "w"): a shell that waits for a line on the pipe
 *     vfork        vfork, then cat with its stdin on a pipe (exec'd from the child)
 *     clone        clone(SIGCHLD) onto a stack of its own: the child reads a pipe
 *     rawclone     syscall(SYS_clone, SIGCHLD, 0, ...): a raw fork, the child reads a pipe
 *     rawclonevm   syscall(SYS_clone, CLONE_VM | SIGCHLD, a stack of its own): the child,
 *                  sharing the parent's memory and TLS, returns from glibc's syscall()
 *                  onto its stack, into vm_child, which reads the pipe with raw system
 *                  calls only (nothing of glibc's, nor the shim's)
 *     rawclone3    syscall(SYS_clone3, {exit_signal SIGCHLD}): a raw fork by clone3
 *     system       system() waits for its child, so it cannot keep one alive: N - 1
 *                  children by fork, kept alive, then system("exit 0") as the Nth
 *                  (started if it returns 0)
 *   spawnkinds 1 gone DIR  remove DIR (the profile's directory, usable when the profiler
 *                  started), allocate 16 MiB (sampled at any rate: the profile cannot be
 *                  made now), then posix_spawn /bin/true twice and wait for them
 *   spawnkinds 1 errno  each of them once, unlimited, on its paths that succeed and
 *                  fail without a limit: what it returned and errno after it (set to a
 *                  value of our own before), one line each (the same with a shim as
 *                  without: errno and results exactly glibc's)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int hold[2], fds[2];

static void *helper(void *arg)
{
    char c;
    while (read(hold[0], &c, 1) > 0)
        ;
    return arg;
}

static int held(void *arg)
{
    close(fds[1]);
    close(hold[1]);
    char c;
    while (read(fds[0], &c, 1) > 0)
        ;
    return 0;
}

/* rawclonevm's children: a stack each; the child enters vm_child by the return address
 * placed at the top of its stack, and never returns. */
static char vmstacks[16][16 * 1024] __attribute__((aligned(16)));

static long raw3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static void vm_child(void)
{
    char c;
    raw3(SYS_close, fds[1], 0, 0);
    raw3(SYS_close, hold[1], 0, 0);
    while (raw3(SYS_read, fds[0], (long)&c, 1) > 0)
        ;
    for (;;)
        raw3(SYS_exit, 0, 0, 0);
}

static const char *errname(int e)
{
    switch (e) {
    case 0:
        return "0";
    case EAGAIN:
        return "EAGAIN";
    case EINVAL:
        return "EINVAL";
    case ENOENT:
        return "ENOENT";
    case 1234:
        return "1234";
    case ENOMEM:
        return "ENOMEM";
    case ENOSYS:
        return "ENOSYS";
    default:
        return strerror(e);
    }
}

static char stack[64 * 1024] __attribute__((aligned(16)));

static int exits3(void *arg)
{
    return 3;
}

#define SHOW(what, ret)                                                                            \
    do {                                                                                           \
        long r_ = (long)(ret);                                                                     \
        printf("%-36s %ld errno=%s\n", what, r_, errname(errno));                                  \
    } while (0)

static int check_errno(void)
{
    int st;
    errno = 1234;
    pid_t p = vfork();
    if (p == 0)
        _exit(3);
    SHOW("vfork parent (>0)", p > 0);
    SHOW("... child's status", waitpid(p, &st, 0) == p ? st : -1);
    errno = 1234;
    p = vfork();
    if (p == 0) {
        execl("/nonexistent", "x", (char *)NULL);
        _exit(errno == ENOENT ? 4 : 5);
    }
    SHOW("vfork, exec fails in the child", p > 0);
    SHOW("... child's status", waitpid(p, &st, 0) == p ? st : -1);
    errno = 1234;
    p = clone(exits3, stack + sizeof stack, SIGCHLD, NULL);
    SHOW("clone(SIGCHLD) (>0)", p > 0);
    SHOW("... child's status", waitpid(p, &st, 0) == p ? st : -1);
    errno = 1234;
    SHOW("clone(NULL fn)", clone(NULL, stack + sizeof stack, SIGCHLD, NULL));
    errno = 1234;
    p = (pid_t)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    if (p == 0)
        _exit(7);
    SHOW("syscall(SYS_clone, SIGCHLD) (>0)", p > 0);
    SHOW("... child's status", waitpid(p, &st, 0) == p ? st : -1);
    errno = 1234;
    SHOW("system(\"exit 3\")", system("exit 3"));
    errno = 1234;
    SHOW("system(\"exit 127\")", system("exit 127"));
    errno = 1234;
    SHOW("system(NULL)", system(NULL));
    errno = 1234;
    FILE *f = popen("exit 5", "r");
    SHOW("popen(\"exit 5\", \"r\") (!NULL)", f != NULL);
    errno = 1234;
    SHOW("... pclose", f ? pclose(f) : -1);
    errno = 1234;
    SHOW("popen(mode \"rw\") (NULL)", popen("true", "rw") != NULL);
    errno = 1234;
    SHOW("posix_spawn(/nonexistent)",
         posix_spawn(&p, "/nonexistent", NULL, NULL, (char *[]){"x", NULL}, environ));
    errno = 1234;
    SHOW("fork (>0)", (p = fork()) == 0 ? (_exit(6), 0) : p > 0);
    SHOW("... child's status", waitpid(p, &st, 0) == p ? st : -1);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 12;
    const char *mode = argc > 2 ? argv[2] : "popen";
    if (n < 1 || n > 1000 || pipe2(fds, O_CLOEXEC) != 0 || pipe2(hold, O_CLOEXEC) != 0)
        return 1;
    if (!strcmp(mode, "errno"))
        return check_errno();
    if (!strcmp(mode, "gone") && argc > 3) {
        if (rmdir(argv[3]) != 0)
            return 3;
        char *volatile big = malloc(16 << 20);
        free(big);
        for (int i = 0; i < 2; i++) {
            pid_t p;
            if (posix_spawn(&p, "/bin/true", NULL, NULL, (char *[]){"true", NULL}, environ) != 0)
                return 4;
            waitpid(p, NULL, 0);
        }
        return 0;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, helper, NULL) != 0) {
        printf("no thread\n");
        return 1;
    }
    for (int i = 0; i < 1000; i++) {
        char *volatile p = malloc(100);
        free(p);
    }
    FILE **popened = calloc((size_t)n, sizeof *popened);
    int started = 0;
    char why[128] = "";
    for (int i = 0; i < n && !why[0]; i++) {
        errno = 0;
        if (!strcmp(mode, "popen")) {
            FILE *f = popen("read x", "w");
            if (f)
                popened[started++] = f;
            else
                snprintf(why, sizeof why, "popen: NULL %s", errname(errno));
        } else if (!strcmp(mode, "vfork")) {
            pid_t p = vfork();
            if (p == 0) {
                dup2(fds[0], 0);
                execl("/bin/cat", "cat", (char *)NULL);
                _exit(127);
            }
            if (p > 0)
                started++;
            else
                snprintf(why, sizeof why, "vfork: %d %s", (int)p, errname(errno));
        } else if (!strcmp(mode, "clone")) {
            int p = clone(held, stack + sizeof stack, SIGCHLD, NULL);
            if (p > 0)
                started++;
            else
                snprintf(why, sizeof why, "clone: %d %s", p, errname(errno));
        } else if (!strcmp(mode, "rawclone")) {
            long p = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
            if (p == 0)
                _exit(held(NULL));
            if (p > 0)
                started++;
            else
                snprintf(why, sizeof why, "rawclone: %ld %s", p, errname(errno));
        } else if (!strcmp(mode, "rawclonevm")) {
            char *top = vmstacks[i % 16] + sizeof vmstacks[0] - 16;
            void (*entry)(void) = vm_child;
            memcpy(top, &entry, sizeof entry);
            long p = syscall(SYS_clone, CLONE_VM | SIGCHLD, top, NULL, NULL, 0);
            if (p > 0)
                started++;
            else
                snprintf(why, sizeof why, "rawclonevm: %ld %s", p, errname(errno));
        } else if (!strcmp(mode, "rawclone3")) {
            uint64_t args[11] = {0}; /* struct clone_args: flags, ..., exit_signal at [4] */
            args[4] = SIGCHLD;
            long p = syscall(SYS_clone3, args, sizeof args);
            if (p == 0)
                _exit(held(NULL));
            if (p > 0)
                started++;
            else
                snprintf(why, sizeof why, "rawclone3: %ld %s", p, errname(errno));
        } else if (!strcmp(mode, "system")) {
            if (i < n - 1) {
                pid_t p = fork();
                if (p == 0)
                    _exit(held(NULL));
                if (p > 0)
                    started++;
                else
                    snprintf(why, sizeof why, "fork: %d %s", (int)p, errname(errno));
            } else {
                int st = system("exit 0");
                if (st == 0)
                    started++;
                else
                    snprintf(why, sizeof why, "system: %d %s", st, errname(errno));
            }
        } else {
            printf("unknown mode %s\n", mode);
            return 2;
        }
    }
    close(fds[1]);
    for (int i = 0; i < started; i++)
        if (popened[i])
            pclose(popened[i]);
    while (wait(NULL) > 0)
        ;
    close(hold[1]);
    pthread_join(th, NULL);
    printf("started %d of %d (%s)%s%s\n", started, n, mode, why[0] ? "; " : "", why);
    return 0;
}
