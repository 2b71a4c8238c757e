/* sigalloc — allocations made in a signal handler (raised from main, so no allocation is
 * interrupted). The CFI walker goes through the signal frame (__restore_rt) to main by
 * itself. With a third argument "nocfi" the handler allocates through a frame without
 * unwind information, where the walker gives up and the stack goes to libunwind: to
 * frame pointers until the flusher has loaded libunwind (core/stack.c). Usage: sigalloc
 * N SIZE [nocfi]: N signals, 20 ms apart, each handler allocating and freeing SIZE bytes;
 * with nocfi, after the first signal the program waits until libunwind is mapped (the
 * flusher has begun loading it: a handshake on /proc/self/maps, where it used to be
 * assumed within the gaps), and the gaps after that bound how long the loading may take.
 * "alt" instead of nocfi: N SIGALRMs 5 ms apart, handled on an alternate signal stack. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static size_t size;
static void *volatile keep;

static int nocfi, alt;
static volatile int handled;

static __attribute__((noinline)) void alloc_free(void)
{
    keep = malloc(size);
    free(keep);
}

/* fn() from a frame with a frame pointer and no CFI */
void nocfi_call(void (*fn)(void));
__asm__(".text\n"
        ".globl nocfi_call\n"
        ".type nocfi_call, @function\n"
        "nocfi_call:\n"
        "    pushq %rbp\n"
        "    movq %rsp, %rbp\n"
        "    call *%rdi\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size nocfi_call, .-nocfi_call\n");

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

/* libunwind in /proc/self/maps (read without stdio or malloc) */
static int libunwind_mapped(void)
{
    static char buf[4096 + 16];
    const char *key = "libunwind";
    size_t keep = 0;
    int fd = open("/proc/self/maps", O_RDONLY), found = 0;
    ssize_t n;
    while (fd >= 0 && !found && (n = read(fd, buf + keep, 4096)) > 0) {
        size_t len = keep + (size_t)n;
        buf[len] = 0;
        found = memmem(buf, len, key, strlen(key)) != NULL;
        keep = len < 8 ? len : 8; /* a name cut between two reads */
        memmove(buf, buf + len - keep, keep);
    }
    if (fd >= 0)
        close(fd);
    return found;
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
        for (int k = 0; nocfi && i == 0 && k < 5000 && !libunwind_mapped(); k++)
            usleep(1000);  /* a poll (5 s at most) */
        usleep(20 * 1000); /* the gap: how long the loading may take after the mapping */
    }
    return 0;
}
