/*
 * forkless.c — children the atfork handlers never see (issue 29): _Fork() and a raw
 * clone(SIGCHLD) copy the process without running pthread_atfork handlers, so the
 * profiler's state ("the flusher is running", its locks, the parent's rings, live table
 * and file) arrives in the child as it was in the parent.
 *
 *   forkless fork|clone [thread]
 *
 * The parent (after creating and joining a thread first with "thread", so that the
 * flusher exists at the default rate too) allocates 1000 blocks of 64 KiB in
 * parent_site, then makes a child with _Fork() or syscall(SYS_clone, SIGCHLD, ...). The
 * child frees the parent's 1000 blocks (its first events), then allocates and frees
 * 100000 blocks of 64 bytes in child_site (enough to fill its event ring at rate 1) and
 * 40000 of 64 KiB in child_big (enough at the default rate), then exits with exit(0).
 * The parent waits up to 20 s: a child that hangs is killed and reported. Prints one
 * line.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *volatile keep[1000];

__attribute__((noinline)) void parent_site(void)
{
    for (int i = 0; i < 1000; i++)
        keep[i] = malloc(65536);
}

__attribute__((noinline)) void child_site(void)
{
    for (int i = 0; i < 100000; i++) {
        char *volatile p = malloc(64);
        free(p);
    }
}

__attribute__((noinline)) void child_big(void)
{
    for (int i = 0; i < 40000; i++) {
        char *volatile p = malloc(65536);
        p[0] = 1;
        free(p);
    }
}

static void *nothing(void *arg)
{
    return arg;
}

int main(int argc, char **argv)
{
    int use_clone = argc > 1 && !strcmp(argv[1], "clone");
    if (argc > 2 && !strcmp(argv[2], "thread")) {
        pthread_t t;
        pthread_create(&t, NULL, nothing, NULL);
        pthread_join(t, NULL);
    }
    parent_site();
    pid_t pid = use_clone ? (pid_t)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0) : _Fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        /* the parent's sampled objects, freed here first: not the child's to count, and
         * never written into the parent's profile */
        for (int i = 0; i < 1000; i++)
            free(keep[i]);
        child_site();
        child_big();
        exit(0);
    }
    int st = 0;
    for (int i = 0; i < 2000; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            printf("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            return 0;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL); /* a poll of waitpid (a hang shows as 20 s) */
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    printf("child hung\n");
    return 0;
}
