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
 *                thread made; then abort(): SIGABRT, status 134 in the shell)
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

static void late_handler(void)
{
    site_late();
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
    if (!strcmp(argv[1], "atexit")) {
        atexit(late_handler);
        site_freed();
        return 5;
    }
    return 2;
}
