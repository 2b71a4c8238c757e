/* directmix: a single-threaded phase, then a second thread (tests/e2e/inline.sh). A
 * single-threaded process's events go to their flush without the ring (core/flusher.c's
 * cp_flush_direct; alone with nothing waiting: flush_alone), a multi-threaded one's through
 * the rings and the flusher thread that pthread_create starts. Objects made on the first
 * path are freed on the second, by the thread that made them and by another.
 *
 *   directmix N [SCALE]
 *
 *   1 alone   kept_a: N objects of 48 bytes, kept; temp_b: N of 24 bytes, each freed at once;
 *             mixed_e: N objects of sizes 16, 32, ..., 128, kept (a mixed-size site)
 *   2 thread  a second thread frees kept_a's N objects and half of mixed_e's (allocated
 *             alone), makes thread_c: N objects of 40 bytes, and frees every other one;
 *             meanwhile main makes main_d: N objects of 56 bytes, kept
 *   3 after the join (the flusher thread stays: the ring path from now on), main frees
 *             main_d's objects and the other half of mixed_e's
 * Every size is multiplied by SCALE (default 1; 64 puts every object in the live table's
 * wide map, core/shadow.h). main_d is made beside the second thread on purpose: an
 * allocation of main's that got back a block the second thread had freed can be drained
 * before that free (another ring); each free still carries its own object's birth (the
 * live table keeps it), so every free has its lifetime class whatever the drain order
 * (until session 21 such a free found the newer birth and went unclassed).
 *
 * At rate 1 the profile must say, per site: kept_a N allocated, 0 in use; temp_b N, 0;
 * thread_c N, N/2 in use (N/2 * 40 bytes); main_d N, 0; mixed_e N, 0 in use, its bytes
 * the sum of its sizes (bytes x SCALE). Prints "ok". Every site is a noinline function, so its
 * frame names it; nothing else allocates (stdout is written with write(2)). */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static long n;
static size_t scale = 1;
static void **a, **c, **d, **e;

__attribute__((noinline)) static void *kept_a(void)
{
    return malloc(48 * scale);
}
__attribute__((noinline)) static void *temp_b(void)
{
    return malloc(24 * scale);
}
__attribute__((noinline)) static void *thread_c(void)
{
    return malloc(40 * scale);
}
__attribute__((noinline)) static void *main_d(void)
{
    return malloc(56 * scale);
}
__attribute__((noinline)) static void *mixed_e(long i)
{
    return malloc((size_t)(16 + 16 * (i % 8)) * scale);
}

static void *second(void *arg)
{
    (void)arg;
    for (long i = 0; i < n; i++) {
        free(a[i]);
        if (i % 2 == 0)
            free(e[i]);
        c[i] = thread_c();
        if (!c[i])
            abort();
        if (i % 2 == 0)
            free(c[i]);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atol(argv[1]) : 10000;
    scale = argc > 2 ? (size_t)atol(argv[2]) : 1;
    if (n < 1 || scale < 1)
        return 2;
    /* (the tables from mmap: the program's own bookkeeping is not a site) */
    size_t bytes = (size_t)n * sizeof(void *);
    void **t[4];
    for (int k = 0; k < 4; k++)
        if ((t[k] = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                         0)) == MAP_FAILED)
            return 1;
    a = t[0], c = t[1], d = t[2], e = t[3];
    for (long i = 0; i < n; i++) {
        a[i] = kept_a();
        void *t = temp_b();
        e[i] = mixed_e(i);
        if (!a[i] || !t || !e[i])
            return 1;
        free(t);
    }
    pthread_t th;
    if (pthread_create(&th, NULL, second, NULL))
        return 1;
    for (long i = 0; i < n; i++)
        if (!(d[i] = main_d()))
            return 1;
    pthread_join(th, NULL);
    for (long i = 0; i < n; i++) {
        free(d[i]);
        if (i % 2)
            free(e[i]);
    }
    const char ok[] = "ok\n";
    return write(1, ok, sizeof ok - 1) == (ssize_t)(sizeof ok - 1) ? 0 : 1;
}
