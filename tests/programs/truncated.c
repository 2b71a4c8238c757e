/*
 * truncated.c — SIGBUS and the profile's shared mapping (issue 29).
 *
 *   truncated grow GOFILE    phase 1 allocates, prints "ready", waits until GOFILE exists
 *                            (the test truncates the profile meanwhile), then phase 2
 *                            allocates at thousands of new sites (new counters: stores into
 *                            pages the file no longer has); prints "ok"
 *   truncated grow-blocked GOFILE   the same with SIGBUS blocked by the program first (a
 *                            single thread: its own events are flushed inline, on it)
 *   truncated exit-blocked GOFILE   as grow-blocked, but it exits at once after GOFILE
 *                            (no phase 2): the exit's flush is the first store after the
 *                            truncation, on the exiting thread, SIGBUS blocked there
 *   truncated exit-blocked-threads GOFILE   the same with a helper thread (which inherits
 *                            the mask): the profiler has its flusher, but the exit's flush
 *                            runs on the exiting thread
 *   truncated own            the program's own SIGBUS handling is unchanged: a handler it
 *                            installs catches a fault in its own truncated mapping (and
 *                            sigaction/signal report back what it set); prints "ok N"
 *   truncated die            a fault in its own truncated mapping with the default action
 *                            kills it with SIGBUS, as without a profiler
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "manysites.h"

static __attribute__((noinline)) void phase1(void)
{
    for (int i = 0; i < 3000; i++) {
        void *volatile p = malloc(16 + (size_t)i);
        free(p);
    }
    for (int i = 0; i < 20; i++) {
        void *volatile p = malloc(4 << 20);
        free(p);
    }
}

/* the innermost function of phase 2's 30,000 sites (manysites.h) */
static __attribute__((noinline)) void phase2_site(size_t size)
{
    void *volatile p = malloc(size);
    free(p);
}
MANY_SITES(phase2_sites, phase2_site)

static __attribute__((noinline)) void phase2(void)
{
    for (unsigned i = 0; i < 30000; i++)
        phase2_sites(i, 4000 + i);
    for (int i = 0; i < 2000; i++) {
        void *volatile p = malloc((1 << 20) + (size_t)i * 4096);
        free(p);
    }
}

/* a page of its own file, mapped shared, then the file truncated under it */
static volatile char *own_mapping(void)
{
    char path[] = "/tmp/ctrprof-truncated-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 8192) != 0)
        exit(3);
    unlink(path);
    volatile char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        exit(3);
    m[0] = 1;
    if (ftruncate(fd, 0) != 0)
        exit(3);
    return m;
}

static sigjmp_buf jb;
static volatile int caught;
static void on_bus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    caught += sig == SIGBUS && si->si_code > 0;
    siglongjmp(jb, 1);
}
static void on_bus_plain(int sig)
{
    caught += 100 * (sig == SIGBUS);
    siglongjmp(jb, 1);
}

static void *helper(void *arg)
{
    for (;;)
        pause(); /* (ends with the process) */
    return arg;
}

int main(int argc, char **argv)
{
    int exit_mode = argc >= 3 && !strncmp(argv[1], "exit-blocked", 12);
    if (argc >= 3 && (!strcmp(argv[1], "grow") || !strcmp(argv[1], "grow-blocked") || exit_mode)) {
        if (strcmp(argv[1], "grow")) { /* as a daemon that reads it from a signalfd */
            sigset_t bus;
            sigemptyset(&bus);
            sigaddset(&bus, SIGBUS);
            if (sigprocmask(SIG_BLOCK, &bus, NULL) != 0)
                return 2;
        }
        pthread_t t;
        if (!strcmp(argv[1], "exit-blocked-threads") &&
            pthread_create(&t, NULL, helper, NULL) != 0) /* (inherits the mask) */
            return 3;
        phase1();
        /* the test waits until phase 1 is in the file (its own handshake, on what the file
         * shows) before it touches the file and creates GOFILE */
        printf("ready\n");
        fflush(stdout);
        for (int i = 0; i < 6000 && access(argv[2], F_OK) != 0; i++)
            usleep(10000); /* a poll of GOFILE (at most 60 s) */
        if (!exit_mode)
            phase2();
        printf("ok\n");
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "own")) {
        struct sigaction a, o;
        memset(&a, 0, sizeof a);
        a.sa_sigaction = on_bus;
        a.sa_flags = SA_SIGINFO;
        sigaction(SIGBUS, &a, NULL);
        sigaction(SIGBUS, NULL, &o);
        int same = o.sa_sigaction == on_bus && (o.sa_flags & SA_SIGINFO);
        volatile char *m = own_mapping();
        if (!sigsetjmp(jb, 1))
            m[100] = 2;
        /* signal() answers with the handler the program set, and installs a plain one */
        void (*prev)(int) = signal(SIGBUS, on_bus_plain);
        same = same && (void *)prev == (void *)on_bus;
        if (!sigsetjmp(jb, 1))
            m[200] = 3;
        sigaction(SIGBUS, NULL, &o);
        same = same && o.sa_handler == on_bus_plain;
        printf("ok %d %d\n", caught, same);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "die")) {
        volatile char *m = own_mapping();
        m[100] = 2;
        printf("survived\n");
        return 0;
    }
    return 2;
}
