/* sigalloc — allocations made in a signal handler (raised from main, so no allocation is
 * interrupted). The CFI walker goes through the signal frame (__restore_rt) to main by
 * itself. With a third argument "nocfi" the handler allocates through a frame whose
 * CFA is a DWARF expression, where the walker gives up and the stack goes to libunwind: to
 * frame pointers until the flusher has loaded libunwind (core/stack.c). Usage: sigalloc
 * N SIZE [nocfi]: N signals, one after the other, each handler allocating and freeing
 * SIZE bytes; with nocfi, after the first signal the program reads one byte from its
 * standard input before it raises the others: the handshake, in which the driver waits
 * until the profile says libunwind is loaded and usable
 * (ctrprof/health:libunwind-loaded, published by the flusher after the load), so that
 * exactly the first stack goes by frame pointers. (It used to wait for libunwind in
 * /proc/self/maps, which dlopen shows before the load is done, and then 20 ms more.)
 * "alt" instead of nocfi: N SIGALRMs 5 ms apart, handled on an alternate signal stack. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "exprframe.h"

static size_t size;
static void *volatile keep;

static int nocfi, alt;
static volatile int handled;

static __attribute__((noinline)) void alloc_free(void)
{
    keep = malloc(size);
    free(keep);
}

/* fn() from a frame whose CFA the CFI gives as a DWARF expression (exprframe.h), which
 * the CFI walker does not take; it keeps a frame pointer. (Until session 31 this was a
 * frame with no CFI at all, which the walker now follows by its frame pointer, as
 * libunwind does.) */
static __attribute__((noinline)) void nocfi_call(void (*fn)(void))
{
    (void)expr_call((uintptr_t(*)(uintptr_t))(uintptr_t)fn, 0);
    __asm__ volatile("" ::: "memory"); /* (not a tail call: this frame stays) */
}

static __attribute__((noinline)) void handler(int sig)
{
    (void)sig;
    if (nocfi)
        nocfi_call(alloc_free);
    else
        alloc_free();
    handled++;
}

/* "alt": the handler runs on an alternate signal stack, for SIGALRM from an interval
 * timer, interrupting this loop (code with a frame pointer: the frame-pointer walk goes
 * on from the interrupted frame to main) */
static __attribute__((noinline)) void spin_until(int want)
{
    while (handled < want)
        __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10;
    size = argc > 2 ? (size_t)atol(argv[2]) : 100;
    nocfi = argc > 3 && strcmp(argv[3], "nocfi") == 0;
    alt = argc > 3 && strcmp(argv[3], "alt") == 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    if (alt) {
        static char altstack[64 << 10];
        stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
        sa.sa_flags = SA_ONSTACK | SA_RESTART;
        if (sigaltstack(&ss, NULL) != 0 || sigaction(SIGALRM, &sa, NULL) != 0)
            return 2;
        struct itimerval it = {{0, 5000}, {0, 5000}};
        setitimer(ITIMER_REAL, &it, NULL);
        spin_until(n);
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        return 0;
    }
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 0; i < n; i++) {
        raise(SIGUSR1);
        char go;
        if (nocfi && i == 0 && read(0, &go, 1) < 0) /* the driver's go (EOF: go too) */
            return 3;
    }
    return 0;
}
