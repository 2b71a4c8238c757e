/*
 * rawfork_aside.c — _Fork() in a multi-threaded process, the child's first profiled call
 * being unshare(CLONE_NEWUSER), as a container runtime's child makes it (issue 20): no
 * atfork handler runs (core/newproc.h), the child inherits the parent's "flusher
 * running" and, maybe, its flush lock held; the unshare hook steps the engine aside
 * (preload/alone.c), which must not wait for a flusher or a lock the child does not have.
 *
 *   rawfork_aside [N]   a thread allocates and frees in a loop (at CTRPROF_MEM_RATE=1 the
 *                       flusher drains it all the time); main _Fork()s N children
 *                       (default 100), each of which calls unshare(CLONE_NEWUSER) (the
 *                       kernel may refuse it: only the hook matters) and _exit(0)s under
 *                       a 5 s alarm. Prints "children N, exited E, hung H" (hung: killed
 *                       by the alarm).
 *
 * Only async-signal-safe calls in the child: the parent's allocating thread may hold
 * malloc's locks at the fork, and _Fork resets none of glibc's.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int stop; /* atomic */

static void *allocator(void *arg)
{
    for (unsigned i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
        char *volatile p = malloc(16 + i % 512);
        free(p);
    }
    return arg;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    unshare(0); /* resolves the hook's real function now, not in a child (dlsym) */
    pthread_t t;
    if (pthread_create(&t, NULL, allocator, NULL))
        return 2;
    int exited = 0, hung = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = _Fork();
        if (pid == 0) {
            alarm(5);
            unshare(CLONE_NEWUSER);
            _exit(0);
        }
        if (pid < 0)
            return 2;
        int st;
        if (waitpid(pid, &st, 0) != pid)
            return 2;
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
            hung++;
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            exited++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    printf("children %d, exited %d, hung %d\n", n, exited, hung);
    return 0;
}
