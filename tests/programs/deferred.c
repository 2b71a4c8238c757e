/* deferred: a process that starts with one thread and then makes a second (tests/e2e/
 * shim.sh: at rate 1 with CTRPROF_FLUSHER=thread the live table is the flusher's until the
 * second thread comes: core/live.h's cp_live_deferred). main allocates N objects of 24..87
 * bytes at made_alone, grows every third to 200 bytes with realloc at grown_alone (the old
 * block freed), frees every fifth, and frees and allocates 64 bytes at again_alone N times
 * (an address freed, then the same address again); then it makes a thread, which frees
 * every object main left and allocates N / 2 of 40 bytes at made_by_thread, of which it
 * frees every other one; main allocates N / 4 more at made_alone meanwhile and frees them.
 * Live at the end: the thread's N / 4 (N a multiple of 4).
 *
 *   deferred N     prints "ok" */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void **obj;
static long n;

__attribute__((noinline)) static void *made_alone(size_t s)
{
    return malloc(s);
}

__attribute__((noinline)) static void *grown_alone(void *p)
{
    return realloc(p, 200);
}

__attribute__((noinline)) static void *again_alone(void)
{
    return malloc(64);
}

__attribute__((noinline)) static void *made_by_thread(void)
{
    return malloc(40);
}

static void *second(void *arg)
{
    (void)arg;
    for (long i = 0; i < n; i++)
        free(obj[i]);
    void **mine = malloc((size_t)(n / 2) * sizeof *mine);
    if (!mine)
        abort();
    for (long i = 0; i < n / 2; i++)
        mine[i] = made_by_thread();
    for (long i = 0; i < n / 2; i += 2)
        free(mine[i]);
    free(mine);
    return NULL;
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atol(argv[1]) : 100000;
    obj = calloc((size_t)n, sizeof *obj);
    if (!obj)
        return 1;
    for (long i = 0; i < n; i++) {
        obj[i] = made_alone(24 + (size_t)(i % 64));
        memset(obj[i], 1, 24);
    }
    for (long i = 0; i < n; i += 3) {
        void *q = grown_alone(obj[i]);
        if (!q)
            return 1;
        obj[i] = q;
    }
    for (long i = 0; i < n; i += 5) {
        free(obj[i]);
        obj[i] = NULL;
    }
    for (long i = 0; i < n; i++) {
        void *p = again_alone();
        free(p);
    }
    pthread_t t;
    if (pthread_create(&t, NULL, second, NULL))
        return 1;
    for (long i = 0; i < n / 4; i++)
        free(made_alone(32));
    pthread_join(t, NULL);
    free(obj);
    if (write(1, "ok\n", 3) != 3)
        return 1;
    return 0;
}
