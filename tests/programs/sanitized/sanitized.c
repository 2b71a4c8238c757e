/* sanitized — a program built with a sanitizer (tests/e2e/sanitizers.sh compiles it with
 * gcc's -fsanitize=address and -fsanitize=thread), run bare and under the shim: the shim
 * must leave the sanitizer's verdict as it was, no report of its own and none hidden.
 *
 *   sanitized queue [N] 4 threads take N tasks (20,000) from a mutex and condition-
 *                       variable queue, each task a malloc'd block freed by its worker;
 *                       prints the sum (no race: the sanitizer says nothing, exit 0)
 *   sanitized dlopen LIB
 *                       4 threads each touch the thread-local storage of LIB
 *                       (libtlsbuf.c), loaded with dlopen: blocks the dynamic linker
 *                       allocates (exit 0, no leak)
 *   sanitized leak      loses 8 blocks of 1,234-1,346 bytes (ASan: a leak report of 8
 *                       allocations, exit 1; LeakSanitizer alone missed the last of them
 *                       under the shim at rate 1, ~1 run in 3, until the slow paths wiped
 *                       ymm16-31: preload/sanitizers.c)
 *   sanitized leak-exit PAD [thread]
 *                       the same, then exit() from a frame PAD bytes below main's; with
 *                       "thread", an idle thread alongside (the flusher runs, and the
 *                       exit flush takes the events). LeakSanitizer alone missed the last
 *                       block under the shim at rate 1 every time with PAD 128 or more
 *                       (its pointer left on the stack below main's frame by the engine's
 *                       frames, where exit's did not write) until session 28's scrub
 *                       (preload/malloc.c's leave_no_copy)
 *   sanitized race      two threads write one global without a lock (TSan: a data
 *                       race report, exit 66)
 *   sanitized dlerror   prints what its first dlerror() says: "(null)" (the shim's own
 *                       failed lookups at start-up must leave it so)
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NTHR = 4 };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t nonfull = PTHREAD_COND_INITIALIZER;
static long *queue[64];
static int qh, qt, qn, produced_all;
static long sum;

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (qn == 0 && !produced_all)
            pthread_cond_wait(&nonempty, &mu);
        if (qn == 0) {
            pthread_mutex_unlock(&mu);
            return NULL;
        }
        long *t = queue[qh];
        qh = (qh + 1) % 64;
        qn--;
        sum += *t;
        pthread_cond_signal(&nonfull);
        pthread_mutex_unlock(&mu);
        free(t);
    }
}

static __attribute__((noinline)) int run_queue(long ntask)
{
    pthread_t t[NTHR];
    for (int i = 0; i < NTHR; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    /* The producer waits for room rather than spinning on the lock: under valgrind's
     * serialised threads a spinning producer starved the workers (drd once ran the
     * bare program past the test's 300 s). */
    for (long k = 1; k <= ntask; k++) {
        pthread_mutex_lock(&mu);
        while (qn == 64)
            pthread_cond_wait(&nonfull, &mu);
        long *b = malloc(sizeof *b * (1 + k % 8));
        *b = k;
        queue[qt] = b;
        qt = (qt + 1) % 64;
        qn++;
        pthread_cond_signal(&nonempty);
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_lock(&mu);
    produced_all = 1;
    pthread_cond_broadcast(&nonempty);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < NTHR; i++)
        pthread_join(t[i], NULL);
    printf("sum %ld\n", sum);
    return 0;
}

static unsigned (*touch)(unsigned);

static void *toucher(void *arg)
{
    unsigned s = 0;
    for (unsigned k = 0; k < 100; k++)
        s += touch(k + (unsigned)(long)arg);
    return (void *)(long)s;
}

static int run_dlopen(const char *lib)
{
    void *h = dlopen(lib, RTLD_NOW);
    touch = h ? (unsigned (*)(unsigned))dlsym(h, "tls_touch") : NULL;
    if (!touch) {
        printf("%s: %s\n", lib, dlerror());
        return 1;
    }
    pthread_t t[NTHR];
    for (int i = 0; i < NTHR; i++)
        pthread_create(&t[i], NULL, toucher, (void *)(long)i);
    unsigned long s = 0;
    for (int i = 0; i < NTHR; i++) {
        void *r;
        pthread_join(t[i], &r);
        s += (unsigned long)r;
    }
    printf("touched %lu\n", s);
    return 0;
}

static int shared;

static void *racer(void *arg)
{
    for (int i = 0; i < 1000; i++)
        shared += (int)(long)arg;
    return NULL;
}

static int idle_fds[2];

static void *idle(void *arg)
{
    char c;
    return read(idle_fds[0], &c, 1) < 0 ? NULL : arg;
}

static __attribute__((noinline)) void exit_from(size_t pad)
{
    char *volatile room = alloca(pad + 16);
    room[0] = 0;
    printf("lost\n");
    exit(0);
}

static void leak_exit(size_t pad, bool thread)
{
    pthread_t t;
    if (thread && (pipe(idle_fds) != 0 || pthread_create(&t, NULL, idle, NULL) != 0))
        exit(3);
    for (int k = 0; k < 8; k++) {
        void *volatile p = malloc(1234 + 16 * (size_t)k);
        p = NULL;
    }
    exit_from(pad);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "dlerror")) {
        const char *e = dlerror();
        printf("%s\n", e ? e : "(null)");
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "queue"))
        return run_queue(argc >= 3 ? atol(argv[2]) : 20000);
    if (argc == 3 && !strcmp(argv[1], "dlopen"))
        return run_dlopen(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "leak")) {
        for (int k = 0; k < 8; k++) {
            void *volatile p = malloc(1234 + 16 * (size_t)k);
            p = NULL;
        }
        printf("lost\n");
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "leak-exit"))
        leak_exit(strtoul(argv[2], NULL, 10), argc >= 4 && !strcmp(argv[3], "thread"));
    if (argc >= 2 && !strcmp(argv[1], "race")) {
        pthread_t a, b;
        pthread_create(&a, NULL, racer, (void *)1L);
        pthread_create(&b, NULL, racer, (void *)2L);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        printf("raced\n");
        return 0;
    }
    fprintf(stderr,
            "usage: sanitized queue [N]|dlopen LIB|leak|leak-exit PAD [thread]|race|dlerror\n");
    return 2;
}
