/* stacks — allocations, frees, mutex waits, a fork and the exit, made on the stacks a
 * program may run code on besides a thread's ordinary one (issue 25):
 *   - a makecontext coroutine on a 64 KiB heap stack (alloc_in_coroutine);
 *   - a SIGUSR1 handler on an alternate signal stack of sysconf(_SC_MINSIGSTKSZ) +
 *     ALT_EXTRA bytes, mmap'd with a guard page below (alloc_in_handler);
 *   - two threads with PTHREAD_STACK_MIN stacks (pthread_attr_setstacksize, glibc's
 *     default guard page) that allocate (alloc_on_small_thread), contend for a mutex,
 *     one of them forks (the child allocates and exits), and a third one calls exit().
 * Usage: stacks N SIZE [ALTSIZE]. Each site allocates (and frees) N blocks of SIZE bytes;
 * ALTSIZE replaces the alternate stack's size. Prints
 * on stderr how much of the alternate stack and of a small thread's stack was used (the
 * lowest byte written, found by painting the stack first), and how deep two paths went
 * below their starting frame: "fork child" and "fork parent" (each side of fork, on the
 * forking thread's stack painted again just before it) and "exit" (a thread of the
 * forked child, on a PTHREAD_STACK_MIN stack the parent mapped shared and painted,
 * allocates and calls exit(): the parent reads the paint once the child is gone). Exits
 * 0, or 1 if the forked child did not. An overflow of any stack faults on its guard page
 * (SIGSEGV). */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define ALT_EXTRA                                                                                  \
    (4096 + 1024) /* the profiler's bound (core/ownstack.h), and the handler's                     \
                     and malloc's own frames */
#define PAINT 0x5a

static int n;
static size_t size;
static void *volatile keep;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static __attribute__((noinline)) void alloc_in_coroutine(void)
{
    keep = malloc(size);
    free(keep);
}

static __attribute__((noinline)) void alloc_in_handler(void)
{
    keep = malloc(size);
    free(keep);
}

static __attribute__((noinline)) void alloc_on_small_thread(void)
{
    void *p = malloc(size);
    keep = p;
    free(p);
}

/* ---- coroutine ---- */
static ucontext_t co_main, co_ctx;
static void co_body(void)
{
    for (int i = 0; i < n; i++) {
        alloc_in_coroutine();
        if (i % 100 == 99)
            swapcontext(&co_ctx, &co_main); /* back and forth, as a scheduler would */
    }
}

/* ---- alternate signal stack ---- */
static char *alt_lo;
static size_t alt_size;
static int per_signal;
static void on_usr1(int sig)
{
    (void)sig;
    for (int i = 0; i < per_signal; i++)
        alloc_in_handler();
}

static size_t used_from(const char *lo, size_t len)
{
    size_t i = 0;
    while (i < len && (unsigned char)lo[i] == PAINT)
        i++;
    return len - i;
}

/* ---- small threads ---- */
static size_t small_used;
/* shared with the forked child: [0] the child's fork depth, [1] the exit thread's frame,
 * [2] the parent's fork depth */
static volatile uintptr_t *shared;
static char *exit_lo; /* the exit thread's stack: MAP_SHARED, painted, guard page below */
#define EXIT_STACK PTHREAD_STACK_MIN

/* fork and exit through pointers (GOT entries bound at start-up): a first call through
 * the PLT would bind it lazily, and the dynamic linker's resolver saves the whole register
 * state on the stack (~3.3 KiB here), deeper than anything the path itself does */
static pid_t (*volatile fork_fn)(void) = fork;
static void (*volatile exit_fn)(int) = exit;

static void *child_exiter(void *arg)
{
    (void)arg;
    shared[1] = (uintptr_t)__builtin_frame_address(0);
    alloc_on_small_thread();
    exit_fn(0); /* the exit flush, measured */
    return NULL;
}
static void *small_thread(void *arg)
{
    int forker = arg != NULL;
    pthread_attr_t a;
    void *lo;
    size_t len;
    pthread_getattr_np(pthread_self(), &a);
    pthread_attr_getstack(&a, &lo, &len);
    pthread_attr_destroy(&a);
    /* paint from the bottom (above the guard, which getattr does not include) to a bit
     * below where this frame is */
    char *here = __builtin_frame_address(0);
    size_t paint = (size_t)(here - (char *)lo) - 256;
    memset(lo, PAINT, paint);
    for (int i = 0; i < n; i++) {
        alloc_on_small_thread();
        if (i % 64 == 0) {
            pthread_mutex_lock(&mu);
            usleep(50); /* the hold: the workload (a contended lock) */
            pthread_mutex_unlock(&mu);
        }
    }
    int status = 0;
    size_t deepest = used_from(lo, paint); /* the allocations and waits above */
    if (forker) {
        memset(lo, PAINT, paint); /* the fork alone, from here */
        pid_t pid = fork_fn();
        if (pid > 0) /* the parent's side */
            shared[2] = (uintptr_t)(here - ((char *)lo + (paint - used_from(lo, paint))));
        if (pid == 0) {
            /* the child's side of fork went this deep below this frame */
            shared[0] = (uintptr_t)(here - ((char *)lo + (paint - used_from(lo, paint))));
            alloc_on_small_thread();
            pthread_attr_t ea;
            pthread_t et;
            pthread_attr_init(&ea);
            if (pthread_attr_setstack(&ea, exit_lo, EXIT_STACK) != 0 ||
                pthread_create(&et, &ea, child_exiter, NULL) != 0)
                _exit(1);
            for (;;)
                pause();
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            status = 1;
    }
    size_t after = used_from(lo, paint);
    size_t used = (after > deepest ? after : deepest) + ((char *)lo + len - (here - 256));
    if (forker)
        small_used = used;
    return (void *)(intptr_t)status;
}

static int result;
static void *exiter(void *arg)
{
    (void)arg;
    alloc_on_small_thread();
    exit(result); /* the exit flush, on a PTHREAD_STACK_MIN stack */
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atoi(argv[1]) : 1000;
    size = argc > 2 ? (size_t)atol(argv[2]) : 64;

    /* a coroutine on a heap stack */
    size_t co_size = 64 * 1024;
    char *co_stack = malloc(co_size);
    getcontext(&co_ctx);
    co_ctx.uc_stack.ss_sp = co_stack;
    co_ctx.uc_stack.ss_size = co_size;
    co_ctx.uc_link = &co_main;
    makecontext(&co_ctx, co_body, 0);
    for (int i = 0; i <= n / 100; i++)
        swapcontext(&co_main, &co_ctx);
    free(co_stack);

    /* a handler on a small alternate stack, a guard page below it */
    long pg = sysconf(_SC_PAGESIZE);
    alt_size = argc > 3 ? (size_t)atol(argv[3]) : (size_t)sysconf(_SC_MINSIGSTKSZ) + ALT_EXTRA;
    char *m = mmap(NULL, (size_t)pg + alt_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (m == MAP_FAILED || mprotect(m, (size_t)pg, PROT_NONE) != 0)
        return 2;
    alt_lo = m + pg;
    memset(alt_lo, PAINT, alt_size);
    stack_t ss = {.ss_sp = alt_lo, .ss_size = alt_size};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_ONSTACK;
    if (sigaltstack(&ss, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
        return 2;
    per_signal = n / 10;
    for (int i = 0; i < 10; i++)
        raise(SIGUSR1);
    fprintf(stderr, "stacks: alternate stack: %zu of %zu bytes used\n", used_from(alt_lo, alt_size),
            alt_size);

    /* the forked child's exit thread's stack and the page it reports through */
    shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *em = mmap(NULL, (size_t)pg + EXIT_STACK, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED || em == MAP_FAILED || mprotect(em, (size_t)pg, PROT_NONE) != 0)
        return 2;
    exit_lo = em + pg;
    memset(exit_lo, PAINT, EXIT_STACK);

    /* threads on minimum-size stacks */
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, PTHREAD_STACK_MIN);
    pthread_t t[2], x;
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], &a, small_thread, i ? NULL : (void *)1) != 0)
            return 2;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        result |= (int)(intptr_t)r;
    }
    fprintf(stderr, "stacks: small thread: %zu of %d bytes used\n", small_used,
            (int)PTHREAD_STACK_MIN);
    size_t untouched = 0;
    while (untouched < EXIT_STACK && (unsigned char)exit_lo[untouched] == PAINT)
        untouched++;
    fprintf(stderr, "stacks: fork child: %zu bytes below the forking frame\n", (size_t)shared[0]);
    fprintf(stderr, "stacks: fork parent: %zu bytes below the forking frame\n", (size_t)shared[2]);
    fprintf(stderr, "stacks: exit: %zu bytes below the exiting thread's frame\n",
            shared[1] ? (size_t)(shared[1] - (uintptr_t)(exit_lo + untouched)) : (size_t)0);
    if (pthread_create(&x, &a, exiter, NULL) != 0)
        return 2;
    pthread_join(x, NULL); /* never returns: the exiter ends the process */
    return 3;
}
