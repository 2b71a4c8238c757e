/*
 * sigdaemon.c — programs that take their signals the way daemons do (issue 29): the
 * profiler's threads must never receive a process-directed signal the program blocks in
 * all of its own threads. Each mode prints the same lines and exits 0 when nothing else
 * in the process takes the signals; a profiler thread with signals open is killed by the
 * default action (SIGUSR1, SIGTERM), swallows notifications (SIGCHLD), or runs a handler
 * while the program has the signal blocked (SIGALRM).
 *
 *   sigdaemon signalfd   main blocks SIGUSR1 and SIGTERM, reads 50 of each from a signalfd
 *   sigdaemon sigwait    main blocks them; a dedicated thread sigwait()s for 50 of each
 *   sigdaemon helper     a "library" helper thread starts first and blocks every signal
 *                        itself; then main blocks SIGTERM and shuts down gracefully on it
 *   sigdaemon faults     as helper, then main blocks SIGBUS, SIGSEGV, SIGFPE and SIGILL and
 *                        reads 20 of each, sent by kill(), from a signalfd (each pending
 *                        while main allocates first: the profiler flushes meanwhile)
 *   sigdaemon sigchld    SIGCHLD through a signalfd: 20 children, one at a time, each
 *                        notification counted (a 5 s poll timeout stands for "lost")
 *   sigdaemon alarm      a SIGALRM handler, a 200 us interval timer, and a main loop that
 *                        blocks SIGALRM around a critical section: counts handler runs
 *                        inside it (must be 0) and outside (must be some)
 *
 * Every mode allocates as it goes, so that at CTRPROF_MEM_RATE=1 the profiler is busy.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void churn(int n)
{
    for (int i = 0; i < n; i++) {
        char *volatile p = malloc(64 + (size_t)i % 1024);
        free(p);
    }
}

/* read one signal from fd within 5 s; returns its number, or -1 */
static int next_signal(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 5000) != 1)
        return -1;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof si) != sizeof si)
        return -1;
    return (int)si.ssi_signo;
}

static int mode_signalfd(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGTERM);
    sigprocmask(SIG_BLOCK, &s, NULL);
    int fd = signalfd(-1, &s, SFD_CLOEXEC);
    int got[2] = {0, 0};
    for (int i = 0; i < 100; i++) {
        int sig = i % 2 ? SIGTERM : SIGUSR1;
        churn(200);
        kill(getpid(), sig);
        int r = next_signal(fd);
        if (r == SIGUSR1)
            got[0]++;
        else if (r == SIGTERM)
            got[1]++;
    }
    printf("signalfd: SIGUSR1 %d SIGTERM %d\n", got[0], got[1]);
    return 0;
}

static sigset_t waited;
static int wgot[2];
static int wdone;

static void *waiter(void *arg)
{
    while (wgot[0] + wgot[1] < 100) {
        int sig;
        if (sigwait(&waited, &sig) != 0)
            break;
        __atomic_fetch_add(&wgot[sig == SIGUSR1 ? 0 : 1], 1, __ATOMIC_SEQ_CST);
        churn(50);
    }
    __atomic_store_n(&wdone, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int mode_sigwait(void)
{
    sigemptyset(&waited);
    sigaddset(&waited, SIGUSR1);
    sigaddset(&waited, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &waited, NULL);
    pthread_t t;
    pthread_create(&t, NULL, waiter, NULL);
    for (int i = 0; i < 100; i++) {
        int before = __atomic_load_n(&wgot[0], __ATOMIC_SEQ_CST) +
                     __atomic_load_n(&wgot[1], __ATOMIC_SEQ_CST);
        kill(getpid(), i % 2 ? SIGTERM : SIGUSR1);
        churn(200);
        /* one at a time (standard signals do not queue): wait until it was taken */
        for (int k = 0; k < 5000; k++) {
            if (__atomic_load_n(&wgot[0], __ATOMIC_SEQ_CST) +
                    __atomic_load_n(&wgot[1], __ATOMIC_SEQ_CST) >
                before)
                break;
            usleep(1000); /* a poll of wgot */
        }
    }
    if (!__atomic_load_n(&wdone, __ATOMIC_SEQ_CST))
        pthread_cancel(t);
    pthread_join(t, NULL);
    printf("sigwait: SIGUSR1 %d SIGTERM %d\n", wgot[0], wgot[1]);
    return 0;
}

static int helper_stop;

static int helper_ready;

static void *helper(void *arg)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    __atomic_store_n(&helper_ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&helper_stop, __ATOMIC_SEQ_CST)) {
        churn(100);
        usleep(1000); /* the helper's pace: the workload */
    }
    return NULL;
}

static int mode_helper(void)
{
    /* the library's helper, which blocks every signal itself first thing */
    pthread_t t;
    pthread_create(&t, NULL, helper, NULL);
    while (!__atomic_load_n(&helper_ready, __ATOMIC_SEQ_CST))
        usleep(100); /* a poll of helper_ready */
    /* then the program's own set-up: SIGTERM means "shut down gracefully" */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigprocmask(SIG_BLOCK, &s, NULL);
    int fd = signalfd(-1, &s, SFD_CLOEXEC);
    churn(2000);
    kill(getpid(), SIGTERM);
    int r = next_signal(fd);
    __atomic_store_n(&helper_stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    printf("helper: %s\n", r == SIGTERM ? "graceful shutdown on SIGTERM" : "no SIGTERM");
    return 0;
}

/* The fault signals as a daemon may get them from another process (kill -BUS, -SEGV):
 * a thread of the program's own that blocks everything (so that a profiler's thread
 * exists at any rate), main blocking the four and reading 20 of each, sent by kill(),
 * from a signalfd. */
static int mode_faults(void)
{
    pthread_t t;
    pthread_create(&t, NULL, helper, NULL);
    while (!__atomic_load_n(&helper_ready, __ATOMIC_SEQ_CST))
        usleep(100); /* a poll of helper_ready */
    static const int sigs[4] = {SIGBUS, SIGSEGV, SIGFPE, SIGILL};
    sigset_t s;
    sigemptyset(&s);
    for (int k = 0; k < 4; k++)
        sigaddset(&s, sigs[k]);
    sigprocmask(SIG_BLOCK, &s, NULL);
    int fd = signalfd(-1, &s, SFD_CLOEXEC);
    int got[4] = {0, 0, 0, 0};
    for (int i = 0; i < 80; i++) {
        kill(getpid(), sigs[i % 4]);
        churn(2000); /* pending meanwhile: at rate 1 a flush or more of ours runs */
        int r = next_signal(fd);
        for (int k = 0; k < 4; k++)
            got[k] += r == sigs[k];
    }
    __atomic_store_n(&helper_stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    printf("faults: SIGBUS %d SIGSEGV %d SIGFPE %d SIGILL %d\n", got[0], got[1], got[2], got[3]);
    return 0;
}

static int mode_sigchld(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    sigprocmask(SIG_BLOCK, &s, NULL);
    int fd = signalfd(-1, &s, SFD_CLOEXEC);
    int notified = 0, reaped = 0;
    for (int i = 0; i < 20; i++) {
        churn(500);
        pid_t pid = fork();
        if (pid == 0) {
            churn(100);
            _exit(0);
        }
        if (next_signal(fd) == SIGCHLD)
            notified++;
        while (waitpid(-1, NULL, WNOHANG) > 0)
            reaped++;
    }
    while (waitpid(-1, NULL, 0) > 0)
        reaped++;
    printf("sigchld: %d notifications, %d children reaped\n", notified, reaped);
    return 0;
}

static volatile sig_atomic_t in_critical;
static volatile sig_atomic_t inside, outside;

static void on_alarm(int sig)
{
    if (in_critical)
        inside++;
    else
        outside++;
}

static int mode_alarm(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    for (int i = 0; i < 200; i++) {
        sigprocmask(SIG_BLOCK, &s, NULL);
        in_critical = 1;
        churn(3000);
        in_critical = 0;
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        usleep(200); /* the workload: time outside the blocked section for SIGALRM */
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("alarm: inside the blocked section %d, outside %s\n", (int)inside,
           outside > 0 ? "some" : "none");
    return 0;
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "signalfd"))
        return mode_signalfd();
    if (!strcmp(m, "sigwait"))
        return mode_sigwait();
    if (!strcmp(m, "helper"))
        return mode_helper();
    if (!strcmp(m, "sigchld"))
        return mode_sigchld();
    if (!strcmp(m, "alarm"))
        return mode_alarm();
    if (!strcmp(m, "faults"))
        return mode_faults();
    fprintf(stderr, "usage: sigdaemon signalfd|sigwait|helper|faults|sigchld|alarm\n");
    return 2;
}
