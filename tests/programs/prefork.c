/*
 * prefork.c — a pre-forking server's start-up under a process limit (issue 29): each
 * thread counts against RLIMIT_NPROC, so a profiler thread in the parent and in every
 * worker cost the server workers it could otherwise start.
 *
 *   prefork [N]    start N workers (default 12); each allocates a little and waits on a
 *                  pipe; print "started K of N workers", let them go, reap them, exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 12;
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    for (int i = 0; i < 1000; i++) {
        char *volatile p = malloc(100);
        free(p);
    }
    int started = 0;
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            close(fds[1]);
            for (int k = 0; k < 1000; k++) {
                char *volatile q = malloc(200);
                free(q);
            }
            char c;
            while (read(fds[0], &c, 1) > 0)
                ;
            _exit(0);
        }
        if (p > 0)
            started++;
        /* give a worker's start-up (and whatever it starts) time to happen */
        usleep(20000);
    }
    close(fds[1]);
    while (wait(NULL) > 0)
        ;
    printf("started %d of %d workers\n", started, n);
    return 0;
}
