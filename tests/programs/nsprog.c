/*
 * nsprog.c — namespaces, which the kernel gives only to a process with one thread (or an
 * unshared file-system context): unshare(CLONE_NEWUSER), setns() into a mount namespace.
 * The profiler's thread must not be the second thread that makes these fail (issue 29).
 *
 *   nsprog user|mnt|caps [thread] [raw]
 *
 * "thread" first creates and joins a thread of the program's own (and waits until the
 * kernel has let it go), so that the profiler's flusher exists. Then it allocates a
 * little, makes the call, and prints its result: "ok" or the error. "raw" makes the call
 * through syscall(2) (SYS_unshare, SYS_setns, SYS_capset), as libraries that predate a
 * glibc wrapper do. "caps" sets its capabilities to what they are (capget, capset) and
 * prints how many threads the process has right after the call (read without malloc):
 * the program's own, 1, as a credential change on "the" thread expects.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

int capset(cap_user_header_t, const cap_user_data_t); /* glibc's, without libcap */

static int threads_now(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    const char *t = strstr(buf, "\nThreads:");
    return t ? atoi(t + 9) : -1;
}

static pid_t tid;

static void *body(void *arg)
{
    __atomic_store_n(&tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    for (int i = 0; i < 1000; i++) {
        char *volatile p = malloc(1 << 16);
        free(p);
    }
    return arg;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "user";
    int thread = 0, raw = 0;
    for (int i = 2; i < argc; i++) {
        thread |= !strcmp(argv[i], "thread");
        raw |= !strcmp(argv[i], "raw");
    }
    if (thread) {
        pthread_t t;
        pthread_create(&t, NULL, body, NULL);
        pthread_join(t, NULL);
        /* a joined thread leaves the kernel's thread group a moment after join returns */
        while (syscall(SYS_tgkill, getpid(), tid, 0) == 0)
            sched_yield();
    }
    for (int i = 0; i < 1000; i++) {
        char *volatile p = malloc(100 + i);
        free(p);
    }
    int r, n = 0;
    if (!strcmp(what, "mnt")) {
        int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
        r = fd < 0 ? -1 : raw ? (int)syscall(SYS_setns, fd, CLONE_NEWNS) : setns(fd, CLONE_NEWNS);
    } else if (!strcmp(what, "caps")) {
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        r = (int)syscall(SYS_capget, &h, d);
        if (r == 0)
            r = raw ? (int)syscall(SYS_capset, &h, d) : capset(&h, d);
        n = threads_now();
    } else {
        r = raw ? (int)syscall(SYS_unshare, CLONE_NEWUSER) : unshare(CLONE_NEWUSER);
    }
    if (n)
        printf("%s: %s, threads %d\n", what, r == 0 ? "ok" : strerror(errno), n);
    else
        printf("%s: %s\n", what, r == 0 ? "ok" : strerror(errno));
    return 0;
}
