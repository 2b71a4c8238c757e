/*
 * exits.c — the ways a process ends, each after known allocations, for the exit-path
 * checks of tests/e2e/shim.sh (issue 4: exit from any thread, atexit order, quick_exit
 * publish everything). At CTRPROF_MEM_RATE=1 the profile must hold exactly:
 *   site_kept:  7 objects of 1000 bytes, all live at exit
 *   site_freed: 5 objects of 2000 bytes, all freed
 *   site_late:  3 objects of 3000 bytes, live, allocated in an atexit handler (mode atexit)
 *   exits MODE   MODE: quick_exit (status 3) | thread (exit(4) from a second thread while
 *                main waits) | atexit (return 5 from main; the handler allocates) |
 *                exit_group (a thread made, so the flusher runs; then
 *                syscall(SYS_exit_group, 6), which runs no exit handler) | abort (a
 *                thread made; then abort(): SIGABRT, status 134 in the shell) |
 *                race (4 threads each make site_freed's 5 objects, then they and main
 *                call exit() at once, statuses 10-14: whichever thread ends the process
 *                gives its status; the atexit handler allocates site_late's 3) |
 *                quick_race (the same with quick_exit, an at_quick_exit handler)
 *   In the race modes site_freed counts 20 objects and site_late 0 or 3 (a thread may
 *   end the process before the handler has run, as it may without the profiler).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *volatile keep[16];

static __attribute__((noinline)) void site_kept(void)
{
    for (int i = 0; i < 7; i++)
        keep[i] = malloc(1000);
}

static __attribute__((noinline)) void site_freed(void)
{
    for (int i = 0; i < 5; i++) {
        void *volatile p = malloc(2000);
        free(p);
    }
}

static __attribute__((noinline)) void site_late(void)
{
    for (int i = 0; i < 3; i++)
        keep[8 + i] = malloc(3000);
}

static __attribute__((noinline)) void *site_late_one(void)
{
    return malloc(3000);
}

static int race_mode;

static void late_handler(void)
{
    if (!race_mode) {
        site_late();
        return;
    }
    /* one at a time, each said once made: another thread may end the process before the
     * handler is done, and the profile must hold at least the objects said */
    for (int i = 0; i < 3; i++) {
        keep[8 + i] = site_late_one();
        (void)!write(1, "L", 1);
    }
}

static void *exiter(void *arg)
{
    site_freed();
    exit(4);
    return arg;
}

static void *idle(void *arg)
{
    for (;;)
        pause();
    return arg;
}

/* the race modes: every thread and main at the barrier, then all of them exit at once */
#define RACERS 4
static pthread_barrier_t start;
static int quick;

static void leave(int status)
{
    if (quick)
        quick_exit(status);
    exit(status);
}

static void *racer(void *arg)
{
    site_freed();
    pthread_barrier_wait(&start);
    leave(11 + (int)(long)arg);
    return NULL;
}

static void race(void)
{
    if (quick)
        at_quick_exit(late_handler);
    else
        atexit(late_handler);
    pthread_barrier_init(&start, NULL, RACERS + 1);
    for (long i = 0; i < RACERS; i++) {
        pthread_t t;
        pthread_create(&t, NULL, racer, (void *)i);
    }
    pthread_barrier_wait(&start);
    leave(10);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    site_kept();
    if (!strcmp(argv[1], "quick_exit")) {
        site_freed();
        quick_exit(3);
    }
    if (!strcmp(argv[1], "thread")) {
        pthread_t t;
        pthread_create(&t, NULL, exiter, NULL);
        for (;;)
            pause();
    }
    if (!strcmp(argv[1], "exit_group")) {
        pthread_t t;
        pthread_create(&t, NULL, idle, NULL);
        site_freed();
        syscall(SYS_exit_group, 6);
    }
    if (!strcmp(argv[1], "abort")) {
        pthread_t t;
        pthread_create(&t, NULL, idle, NULL);
        site_freed();
        abort();
    }
    if (!strcmp(argv[1], "race") || !strcmp(argv[1], "quick_race")) {
        quick = argv[1][0] == 'q';
        race_mode = 1;
        race();
    }
    if (!strcmp(argv[1], "atexit")) {
        atexit(late_handler);
        site_freed();
        return 5;
    }
    return 2;
}
