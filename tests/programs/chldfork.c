/*
 * chldfork.c — fork() from a SIGCHLD handler while the main loop allocates (issue 29).
 *
 * POSIX lists fork among the async-signal-safe functions; glibc keeps that promise only
 * in a single-threaded process: with a second thread, fork takes malloc's arena locks,
 * and the malloc the signal interrupted may hold one (a deadlock). So a program that
 * never creates a thread may do this, and the profiler must not make it multi-threaded.
 *
 * The main loop churns (1 MiB blocks, fast enough to make inline flushing busy at the
 * default rate, and small blocks) while each child's SIGCHLD forks the next child from
 * the handler, 300 in all; each child exits at once. Prints "forked 300" and exits 0.
 * A deadlock shows as a timeout.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORKS 300
static volatile sig_atomic_t forked, reaped;

static void spawn(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    if (p > 0)
        forked++;
}

static void on_chld(int sig)
{
    int saved = 0;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        reaped++;
    if (forked < FORKS)
        spawn();
    (void)saved;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    spawn();
    while (reaped < FORKS) {
        char *volatile big = malloc(1 << 20);
        big[0] = 1;
        for (int i = 0; i < 64; i++) {
            char *volatile p = malloc(16 + (size_t)i * 8);
            free(p);
        }
        free(big);
    }
    printf("forked %d\n", (int)forked);
    return 0;
}
