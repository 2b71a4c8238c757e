/*
 * sigexit.c — a program whose signal handler ends it with exit() (a daemon's SIGTERM
 * handler does; not async-signal-safe, but common), for shim.sh: SIGALRM every 137 us
 * while the main thread allocates and frees, the handler calling exit(7) (or quick_exit)
 * at its third signal. At rate 1 the signal often lands while the main thread is in the
 * profiler's code, holding the flush lock; the profiler's final flush then waited on it
 * for ever (until session 29: a hang in half the runs).
 *
 *   sigexit [quick]    exit status 7, whenever the signal lands
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static volatile sig_atomic_t n, quick;

static void handler(int sig)
{
    (void)sig;
    if (++n == 3) {
        if (quick)
            quick_exit(7);
        exit(7);
    }
}

int main(int argc, char **argv)
{
    quick = argc > 1 && !strcmp(argv[1], "quick");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 137}, {0, 137}};
    setitimer(ITIMER_REAL, &it, NULL);
    void *keep[8] = {0};
    for (unsigned long i = 0;; i++) {
        free(keep[i % 8]);
        keep[i % 8] = malloc(16 + i % 64);
    }
}
