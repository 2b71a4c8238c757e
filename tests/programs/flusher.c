/*
 * flusher.c — who publishes a process's events (core/flusher.c, "who flushes"), seen from
 * the program: its thread count before and after, and what a SIGKILL leaves behind.
 *
 *   flusher start    print the thread count at the start of main
 *   flusher kill     allocate 8 MiB (sampled at the default rate: p = 1 - e^-16), print
 *                    the thread count, then SIGKILL itself: the sample must be in the file
 *   flusher create   print the count, create and join a thread, print the count again
 *   flusher fast     print the count, 4000 malloc+free pairs of 1 MiB (events far faster
 *                    than one by one flushing is meant for), print the count again
 *   flusher timer    arm a SIGEV_THREAD timer (glibc starts its helper thread itself, not
 *                    through the interposed pthread_create), wait for it, print the count,
 *                    allocate 8 MiB, print the count again
 *
 * Counts come from /proc/self/status, read without stdio or malloc.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int threads(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    const char *t = strstr(buf, "\nThreads:");
    return t ? atoi(t + 9) : -1;
}

static void *nothing(void *arg)
{
    return arg;
}

static volatile pid_t fired; /* the notification thread's id */

static void on_timer(union sigval v)
{
    (void)v;
    fired = gettid();
}

/* true once the thread tid has exited (its /proc entry is gone) */
static int gone(pid_t tid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/self/task/%d", (int)tid);
    return access(p, F_OK) != 0;
}

static void *volatile keep;

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int before = threads();
    if (!strcmp(mode, "start")) {
        printf("%d\n", before);
    } else if (!strcmp(mode, "kill")) {
        keep = malloc(8 << 20);
        printf("%d\n", threads());
        fflush(stdout);
        kill(getpid(), SIGKILL);
    } else if (!strcmp(mode, "create")) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) || pthread_join(t, NULL))
            return 2;
        printf("%d %d\n", before, threads());
    } else if (!strcmp(mode, "fast")) {
        for (int i = 0; i < 4000; i++) {
            keep = malloc(1 << 20);
            free(keep);
        }
        printf("%d %d\n", before, threads());
    } else if (!strcmp(mode, "timer")) {
        timer_t tm;
        struct sigevent ev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_timer};
        struct itimerspec it = {.it_value = {0, 1000000}};
        if (timer_create(CLOCK_MONOTONIC, &ev, &tm) || timer_settime(tm, 0, &it, NULL))
            return 2;
        while (!fired)
            usleep(1000); /* a poll of fired */
        for (int i = 0; i < 5000 && !gone(fired); i++)
            usleep(1000); /* a poll: until the callback's thread is gone again (5 s at most) */
        int mid = threads();
        keep = malloc(8 << 20);
        printf("%d %d\n", mid, threads());
    } else {
        return 2;
    }
    return 0;
}
