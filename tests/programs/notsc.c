/* A program that forbids its threads the TSC, as deterministic-replay tools and some
 * sandboxes do (prctl PR_SET_TSC, PR_TSC_SIGSEGV: rdtsc then faults, and so does the
 * vDSO's CLOCK_MONOTONIC, which reads it; threads made later by the thread inherit it).
 * It runs bare; tests/e2e/sandbox.sh runs it under the shim.
 *   notsc first|later|raw
 *     first: the main thread forbids the TSC before any other thread exists
 *     later: two threads contend for ~150 ms first (the profiler's clocks are calibrated
 *            and on the TSC by then), then the main thread forbids it
 *     raw:   as first, through syscall(SYS_prctl)
 *     sandboxed: as first, after a seccomp filter that kills the process at a
 *            clock_gettime system call (what a profiler forbidden the TSC must not
 *            fall back on inside a sandbox)
 *   After it: 1,000 allocations in after_deny(), four new threads contending for one
 *   mutex held ~200 us at a time in contender(), a 5 ms condition-variable wait in
 *   cond_waiter(), and a forked child that allocates; prints "done", exits 0 (77: this
 *   machine has no PR_SET_TSC). */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int signalled;
static volatile int stop;
static volatile unsigned long sink;

static void *early(void *arg)
{
    while (!stop) {
        pthread_mutex_lock(&mu);
        for (int i = 0; i < 2000; i++)
            sink += (unsigned long)i;
        pthread_mutex_unlock(&mu);
    }
    return arg;
}

static __attribute__((noinline)) void contender_hold(void)
{
    usleep(200);
}

static __attribute__((noinline)) void *contender(void *arg)
{
    for (int i = 0; i < 50; i++) {
        pthread_mutex_lock(&mu);
        contender_hold();
        pthread_mutex_unlock(&mu);
    }
    return arg;
}

static __attribute__((noinline)) void *cond_waiter(void *arg)
{
    pthread_mutex_lock(&mu);
    while (!signalled)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return arg;
}

static __attribute__((noinline)) void after_deny(void)
{
    void *p[1000];
    for (int i = 0; i < 1000; i++)
        p[i] = malloc(100 + (size_t)i);
    for (int i = 0; i < 1000; i++)
        free(p[i]);
}

static __attribute__((noinline)) void in_child(void)
{
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = malloc(64);
    for (int i = 0; i < 100; i++)
        free(p[i]);
}

static int deny(int raw)
{
    int r = raw ? (int)syscall(SYS_prctl, PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0)
                : prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0);
    if (r != 0 && errno == EINVAL) {
        printf("unsupported\n");
        exit(77);
    }
    return r;
}

static int sandbox(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "first";
    if (strcmp(mode, "sandboxed") == 0 && sandbox() != 0) {
        perror("seccomp");
        return 1;
    }
    if (strcmp(mode, "later") == 0) {
        pthread_t e[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&e[i], NULL, early, NULL);
        usleep(150000);
        stop = 1;
        for (int i = 0; i < 2; i++)
            pthread_join(e[i], NULL);
    }
    if (deny(strcmp(mode, "raw") == 0) != 0) {
        perror("prctl");
        return 1;
    }
    after_deny();
    pthread_t t[4], w;
    pthread_create(&w, NULL, cond_waiter, NULL);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, contender, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    usleep(5000);
    pthread_mutex_lock(&mu);
    signalled = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(w, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        in_child();
        _exit(0);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("child failed\n");
        return 1;
    }
    printf("done\n");
    return 0;
}
