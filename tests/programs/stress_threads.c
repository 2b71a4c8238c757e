/*
 * stress_threads.c — threads, cross-thread frees, thread churn, fork, signals (issue 8).
 *
 *   stress_threads THREADS ROUNDS [fork] [signals] [exit-from-thread]
 *
 * Each round starts THREADS threads and joins them (threads are created and joined
 * continuously). Every thread allocates from three call sites with distinct sizes (so a
 * profile can be checked per site without symbols), frees half of its objects itself and
 * hands the other half to a shared stack that other threads free (cross-thread frees),
 * and locks a shared mutex. With "fork", thread 0 of every round forks; the child
 * allocates, locks, forks again, and exits. With "signals", a 50 µs interval timer
 * interrupts everything, including malloc and the profiler's own work. With
 * "exit-from-thread", the last round ends with exit() called from a non-main thread
 * while the others still allocate (once half the round's allocations are counted, so
 * some of them are still to come: a handshake on the counts, not a sleep).
 *
 * At the end it writes the exact counts it made, one line per size:
 *     exact <size> <allocs> <frees>
 * to the file named by $STRESS_COUNTS (parent process only), so a driver can compare them
 * with a rate-1 profile. Allocations made in forked children are not in the counts: the
 * children profile themselves into their own files.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define SITE_A 1111
#define SITE_B 2222
#define SITE_C 3333
#define PER_THREAD 2000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long shared_counter;
static uint64_t n_alloc[3], n_free[3];
static int do_fork, do_signals, exit_from_thread;
static volatile sig_atomic_t signals_seen;

/* A lock-free stack of objects handed to other threads to free. */
struct node {
    struct node *next;
    int site;
};
static struct node *handoff;

static void push(struct node *n)
{
    struct node *old = __atomic_load_n(&handoff, __ATOMIC_RELAXED);
    do
        n->next = old;
    while (!__atomic_compare_exchange_n(&handoff, &old, n, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

static struct node *pop_all(void)
{
    return __atomic_exchange_n(&handoff, NULL, __ATOMIC_ACQUIRE);
}

static void count(uint64_t *a, int site)
{
    __atomic_fetch_add(&a[site], 1, __ATOMIC_RELAXED);
}

static __attribute__((noinline)) void *site_a(void)
{
    return malloc(SITE_A);
}
static __attribute__((noinline)) void *site_b(void)
{
    return calloc(1, SITE_B);
}
static __attribute__((noinline)) void *site_c(void)
{
    void *p = malloc(64);
    return realloc(p, SITE_C); /* a free of 64 bytes and an allocation of SITE_C */
}

static void free_list(struct node *n)
{
    while (n) {
        struct node *next = n->next;
        count(n_free, n->site);
        free(n);
        n = next;
    }
}

/* Thread 0 forks while the others may hold mu: without these the child could inherit mu
 * locked by a thread that does not exist there and wait forever (a real hang the soak
 * found, 1 run in ~15; the program's bug, not the profiler's). */
static void mu_prepare(void)
{
    pthread_mutex_lock(&mu);
}

static void mu_release(void)
{
    pthread_mutex_unlock(&mu);
}

static void child_work(int depth)
{
    for (int i = 0; i < 200; i++) {
        void *volatile p = malloc(100 + i); /* volatile: the compiler may not drop the pair */
        pthread_mutex_lock(&mu);
        shared_counter++;
        pthread_mutex_unlock(&mu);
        free(p);
    }
    if (depth < 2) { /* the child forks once more: a grandchild */
        pid_t pid = fork();
        if (pid == 0) {
            child_work(depth + 1);
            exit(0); /* exit, not _exit: the child's profile is flushed at exit */
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    struct node *mine = NULL;
    for (int i = 0; i < PER_THREAD; i++) {
        int site = i % 3;
        struct node *n = site == 0 ? site_a() : site == 1 ? site_b() : site_c();
        if (!n)
            abort();
        count(n_alloc, site);
        n->site = site;
        if (i & 1) {
            push(n);
        } else {
            n->next = mine;
            mine = n;
        }
        if ((i & 63) == 0) {
            pthread_mutex_lock(&mu);
            shared_counter++;
            pthread_mutex_unlock(&mu);
            free_list(pop_all());
        }
    }
    free_list(mine);
    if (do_fork && id == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            child_work(1);
            exit(0);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    return NULL;
}

static void on_alarm(int sig)
{
    int saved = errno;
    __atomic_fetch_add(&signals_seen, 1, __ATOMIC_RELAXED); /* any thread takes the signal */
    errno = saved;
}

static uint64_t last_round_base, last_round_half;

static uint64_t allocs_so_far(void)
{
    return __atomic_load_n(&n_alloc[0], __ATOMIC_RELAXED) +
           __atomic_load_n(&n_alloc[1], __ATOMIC_RELAXED) +
           __atomic_load_n(&n_alloc[2], __ATOMIC_RELAXED);
}

static void *exiter(void *arg)
{
    while (allocs_so_far() - last_round_base < last_round_half)
        usleep(100); /* a poll of the counts */
    exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s THREADS ROUNDS [fork] [signals] [exit-from-thread]\n", argv[0]);
        return 2;
    }
    pthread_atfork(mu_prepare, mu_release, mu_release);
    int threads = atoi(argv[1]), rounds = atoi(argv[2]);
    if (threads < 1 || threads > 256 || rounds < 1)
        return 2;
    for (int i = 3; i < argc; i++) {
        do_fork |= !strcmp(argv[i], "fork");
        do_signals |= !strcmp(argv[i], "signals");
        exit_from_thread |= !strcmp(argv[i], "exit-from-thread");
    }
    if (do_signals) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, 50}, {0, 50}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    pthread_t *t = calloc(threads, sizeof *t);
    for (int r = 0; r < rounds; r++) {
        last_round_base = allocs_so_far();
        last_round_half = (uint64_t)threads * PER_THREAD / 2;
        for (int i = 0; i < threads; i++)
            if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i))
                abort();
        if (exit_from_thread && r == rounds - 1) {
            pthread_t e;
            pthread_create(&e, NULL, exiter, NULL);
            for (;;)
                pause();
        }
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        free_list(pop_all());
    }
    free(t);
    if (do_signals) {
        struct itimerval it = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    const char *out = getenv("STRESS_COUNTS");
    if (out) {
        FILE *f = fopen(out, "w");
        if (!f)
            return 1;
        static const int sizes[3] = {SITE_A, SITE_B, SITE_C};
        for (int s = 0; s < 3; s++)
            fprintf(f, "exact %d %llu %llu\n", sizes[s], (unsigned long long)n_alloc[s],
                    (unsigned long long)n_free[s]);
        fclose(f);
    }
    printf("ok %ld\n", shared_counter);
    return 0;
}
