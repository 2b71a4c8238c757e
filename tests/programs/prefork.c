/*
 * prefork.c — a pre-forking server's start-up under a process limit (issue 29): each
 * thread counts against RLIMIT_NPROC, so a profiler thread in the parent and in every
 * worker cost the server workers it could otherwise start.
 *
 *   prefork [N [MODE]]  start N workers (default 12); each allocates a little and waits
 *                  on a pipe; print "started K of N workers", let them go, reap them, exit
 *                  0. MODE "thread": create and join a thread first (a profiler's thread
 *                  may start with it and stay); "helper": keep a thread of the program's
 *                  own waiting while the workers start (as a server with a signal or
 *                  logging thread does); "spawn": as "helper", with the workers
 *                  started by posix_spawn (each a cat reading the pipe).
 * Each worker is started once the one before has got through its start-up (and whatever
 * it starts) to waiting on the pipe: a forked one says so on a pipe of its own, a cat is
 * seen blocked in read(0) (/proc/PID/syscall): handshakes, not a sleep.
 */
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static int hold[2];

/* until process pid is blocked in read(0, ...) (5 s at most) */
static void wait_reading_stdin(pid_t pid)
{
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    for (int i = 0; i < 5000; i++) {
        int fd = open(path, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (n > 0 && (buf[n] = 0, !strncmp(buf, "0 0x0 ", 6)))
            return;
        usleep(1000); /* a poll */
    }
}

static void *helper(void *arg)
{
    char c;
    while (read(hold[0], &c, 1) > 0)
        ;
    return arg;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 12;
    const char *mode = argc > 2 ? argv[2] : "";
    int fds[2], ready[2];
    if (pipe(fds) != 0 || pipe(hold) != 0 || pipe(ready) != 0)
        return 1;
    pthread_t th;
    int spawn = !strcmp(mode, "spawn");
    if (spawn)
        mode = "helper";
    if (!strcmp(mode, "thread") || !strcmp(mode, "helper")) {
        if (pthread_create(&th, NULL, helper, NULL) != 0) {
            printf("no thread\n");
            return 1;
        }
    }
    if (!strcmp(mode, "thread")) {
        close(hold[1]);
        pthread_join(th, NULL);
    }
    for (int i = 0; i < 1000; i++) {
        char *volatile p = malloc(100);
        free(p);
    }
    int started = 0;
    for (int i = 0; i < n && spawn; i++) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
        posix_spawn_file_actions_addclose(&fa, fds[1]);
        posix_spawn_file_actions_addclose(&fa, hold[0]);
        posix_spawn_file_actions_addclose(&fa, hold[1]);
        char *argv[] = {"cat", NULL};
        extern char **environ;
        pid_t p;
        posix_spawn_file_actions_addclose(&fa, ready[0]);
        posix_spawn_file_actions_addclose(&fa, ready[1]);
        if (posix_spawn(&p, "/bin/cat", &fa, NULL, argv, environ) == 0) {
            started++;
            wait_reading_stdin(p);
        }
        posix_spawn_file_actions_destroy(&fa);
    }
    for (int i = 0; i < n && !spawn; i++) {
        pid_t p = fork();
        if (p == 0) {
            close(fds[1]);
            close(hold[0]);
            close(hold[1]);
            close(ready[0]);
            for (int k = 0; k < 1000; k++) {
                char *volatile q = malloc(200);
                free(q);
            }
            char c = 1;
            if (write(ready[1], &c, 1) != 1)
                _exit(3);
            close(ready[1]);
            while (read(fds[0], &c, 1) > 0)
                ;
            _exit(0);
        }
        if (p > 0) {
            started++;
            char c;
            if (read(ready[0], &c, 1) != 1) /* its start-up is done */
                return 1;
        }
    }
    close(fds[1]);
    while (wait(NULL) > 0)
        ;
    if (!strcmp(mode, "helper")) {
        close(hold[1]);
        pthread_join(th, NULL);
    }
    printf("started %d of %d workers\n", started, n);
    return 0;
}
