/* timers — a program that takes its own timer signals while it allocates: a CPU profiler
 * of its own (ITIMER_PROF and SIGPROF, as gperftools' and many runtimes' samplers do), or a
 * per-thread POSIX timer (timer_create with SIGEV_THREAD_ID, as runtimes preempt their
 * threads), at a high frequency and without SA_RESTART, so that every system call it or
 * anything in it makes may return EINTR (ftruncate, fallocate, futex, write...).
 *
 *   timers prof N      ITIMER_PROF every 100 us of the process's CPU; the SIGPROF handler
 *                      keeps the interrupted pc (ucontext) in a table; main allocates and
 *                      frees through 4,096 distinct stacks N times each, a second thread
 *                      spins; a pipe read between rounds is retried on EINTR
 *   timers thread N    a worker thread is the target of a SIGEV_THREAD_ID timer every 50
 *                      us (SIGRTMIN, blocked in every other thread), and allocates
 *                      through the same 4,096 stacks N times each; main waits for it
 *
 * Prints what it counted that does not depend on timing: the allocations made, the
 * blocks still live (0), and whether signals came at all and only where they were sent
 * ("signals yes, misdirected 0"). Exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define DEPTH 12 /* 2^12 distinct stacks */

static volatile sig_atomic_t ticks, misdirected, done;
static uintptr_t pcs[4096];
static pid_t target; /* the thread the signals are meant for (0: any program thread) */
static long allocs, live;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si;
    int saved = errno;
    if (target && syscall(SYS_gettid) != target)
        misdirected++;
    ucontext_t *u = uc;
    pcs[ticks % 4096] = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
    ticks++;
    errno = saved;
}

static __attribute__((noinline)) void leaf(int size)
{
    void *volatile p = malloc((size_t)size);
    if (p) {
        allocs++;
        live++;
        free(p);
        live--;
    }
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void left(int d, unsigned path);
static __attribute__((noinline)) void right(int d, unsigned path);

static __attribute__((noinline)) void step(int d, unsigned path)
{
    if (d == DEPTH) {
        leaf(16 + (int)(path % 64) * 8);
        return;
    }
    if (path >> d & 1)
        right(d + 1, path);
    else
        left(d + 1, path);
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void left(int d, unsigned path)
{
    step(d, path);
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void right(int d, unsigned path)
{
    step(d, path);
    __asm__ volatile("" ::: "memory");
}

static void rounds(int n)
{
    int fds[2];
    if (pipe(fds))
        exit(2);
    for (int r = 0; r < n; r++) {
        for (unsigned path = 0; path < 1u << DEPTH; path++)
            step(0, path);
        /* a system call between rounds, retried on EINTR as such a program must */
        char c = 'x';
        ssize_t w, got;
        while ((w = write(fds[1], &c, 1)) < 0 && errno == EINTR)
            ;
        while ((got = read(fds[0], &c, 1)) < 0 && errno == EINTR)
            ;
        if (w != 1 || got != 1)
            exit(3);
    }
    close(fds[0]);
    close(fds[1]);
}

static void *spinner(void *arg)
{
    (void)arg;
    while (!done)
        __asm__ volatile("pause");
    return NULL;
}

struct work {
    int n;
    pid_t tid;
    volatile int ready;
};

static void *worker(void *arg)
{
    struct work *w = arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN);
    w->tid = (pid_t)syscall(SYS_gettid);
    target = w->tid;
    __atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&w->ready, __ATOMIC_ACQUIRE) != 2)
        ;
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    rounds(w->n);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "prof") && strcmp(argv[1], "thread"))) {
        fprintf(stderr, "usage: timers prof|thread N\n");
        return 2;
    }
    int n = atoi(argv[2]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: system calls see EINTR */
    sigemptyset(&sa.sa_mask);
    if (!strcmp(argv[1], "prof")) {
        sigaction(SIGPROF, &sa, NULL);
        pthread_t t;
        if (pthread_create(&t, NULL, spinner, NULL))
            return 2;
        struct itimerval it = {{0, 100}, {0, 100}};
        setitimer(ITIMER_PROF, &it, NULL);
        rounds(n);
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_PROF, &off, NULL);
        done = 1;
        pthread_join(t, NULL);
    } else {
        sigaction(SIGRTMIN, &sa, NULL);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGRTMIN);
        pthread_sigmask(SIG_BLOCK, &s, NULL); /* (inherited by the worker, which unblocks) */
        struct work w = {n, 0, 0};
        pthread_t t;
        if (pthread_create(&t, NULL, worker, &w))
            return 2;
        while (!__atomic_load_n(&w.ready, __ATOMIC_ACQUIRE))
            ;
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_signo = SIGRTMIN;
        ev._sigev_un._tid = w.tid;
        timer_t tm;
        struct itimerspec its = {{0, 50000}, {0, 50000}};
        if (timer_create(CLOCK_MONOTONIC, &ev, &tm) || timer_settime(tm, 0, &its, NULL)) {
            perror("timers: timer_create");
            return 2;
        }
        __atomic_store_n(&w.ready, 2, __ATOMIC_RELEASE);
        pthread_join(t, NULL);
        timer_delete(tm);
    }
    printf("allocations %ld, live %ld, signals %s, misdirected %d\n", allocs, live,
           ticks > 0 ? "yes" : "no", (int)misdirected);
    return 0;
}
