/* sigalloc — allocations made in a signal handler (raised from main, so no allocation is
 * interrupted), where the CFI walker gives up at the signal frame (__restore_rt) and the
 * stack goes to libunwind: to frame pointers until the flusher has loaded libunwind
 * (core/stack.c). Usage: sigalloc N SIZE: N signals, 20 ms apart, each handler allocating
 * and freeing SIZE bytes. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t size;
static void *volatile keep;

static __attribute__((noinline)) void handler(int sig)
{
    (void)sig;
    keep = malloc(size);
    free(keep);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10;
    size = argc > 2 ? (size_t)atol(argv[2]) : 100;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 0; i < n; i++) {
        raise(SIGUSR1);
        usleep(20 * 1000);
    }
    return 0;
}
