/*
 * nsprog.c — namespaces, which the kernel gives only to a process with one thread (or an
 * unshared file-system context): unshare(CLONE_NEWUSER), setns() into a mount namespace.
 * The profiler's thread must not be the second thread that makes these fail (issue 29).
 *
 *   nsprog user|mnt [thread]
 *
 * "thread" first creates and joins a thread of the program's own (and waits until the
 * kernel has let it go), so that at the default rate the profiler's flusher exists. Then
 * it allocates a little, makes the call, and prints its result: "ok" or the error.
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
#include <sys/syscall.h>
#include <unistd.h>

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
    if (argc > 2 && !strcmp(argv[2], "thread")) {
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
    int r;
    if (!strcmp(what, "mnt")) {
        int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
        r = fd < 0 ? -1 : setns(fd, CLONE_NEWNS);
    } else {
        r = unshare(CLONE_NEWUSER);
    }
    printf("%s: %s\n", what, r == 0 ? "ok" : strerror(errno));
    return 0;
}
