/*
 * forkbooks.c — what a fork child pays for the profile its parent has made (sigfork.sh):
 * the parent allocates from 4^DEPTH distinct stacks, then forks; the child, which does
 * nothing but _exit, reports the page faults it took (its minor faults from its first
 * instruction in main, by getrusage: the atfork handlers' writes included, as the child
 * runs them before fork returns). The profiler reset every bucket's books in the child's
 * atfork handler, a copy of every page of them (7.2 ms a fork with 65,536 stacks at rate
 * 1, against 0.2 bare); since session 29 a child resets them at its first flush, and one
 * that records nothing never does.
 *
 *   forkbooks DEPTH [late]   prints "child faults N"; exit status 0. late: the child
 *                  ends by exit(), not _exit, so that a library finalised after the
 *                  profiler (tests/programs/late/libfirstlate.c) records its first event
 *                  after the child's final flush, which had nothing to publish; and the
 *                  parent keeps 1,000 blocks of 1 KiB, which are not the child's
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void *keep;

static __attribute__((noinline)) void rec(int d, unsigned path)
{
    if (d == 0) {
        free(keep);
        keep = malloc(32);
        return;
    }
    switch (path & 3) {
    case 0:
        rec(d - 1, path >> 2);
        break;
    case 1:
        rec(d - 1, path >> 2);
        __asm__ volatile("");
        break;
    case 2:
        rec(d - 1, path >> 2);
        __asm__ volatile("nop");
        break;
    default:
        rec(d - 1, path >> 2);
        __asm__ volatile("nop; nop");
        break;
    }
    __asm__ volatile("");
}

int main(int argc, char **argv)
{
    int depth = argc > 1 ? atoi(argv[1]) : 4;
    int late = argc > 2 && argv[2][0] == 'l';
    static void *parents[1000];
    if (late)
        for (int i = 0; i < 1000; i++)
            parents[i] = malloc(1024);
    for (unsigned p = 0; p < (1u << (2 * depth)); p++)
        rec(depth, p);
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    pid_t c = fork();
    if (c == 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        long n = ru.ru_minflt;
        (void)!write(fds[1], &n, sizeof n);
        if (late)
            exit(0);
        _exit(0);
    }
    long n = -1;
    (void)!read(fds[0], &n, sizeof n);
    int st;
    waitpid(c, &st, 0);
    printf("child faults %ld\n", n);
    return parents[999] == NULL && late;
}
