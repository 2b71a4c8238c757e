/* heapphases: a program that knows its own heap over time (tests/e2e/heaptime.sh).
 *
 *   heapphases [SCALE [PHASE_MS [KILL [BIG]]]]
 *
 * Phases, each announced on stdout with its start time (ms since start, CLOCK_MONOTONIC):
 *   1 grow   peak_a allocates 4000*SCALE objects of 1000 bytes, peak_b 1000*SCALE of
 *            16000 bytes, interleaved, and big_site BIG objects of 1 MiB (default 0),
 *            all live at once: the peak (20 MB * SCALE + BIG MiB), then PHASE_MS of quiet
 *   2 free   every one of them freed, then PHASE_MS of quiet
 *   3 churn  temp_fast: 5000 objects of 64 bytes freed at once (lifetime < 1 ms);
 *            temp_slow: 20 objects of 128 bytes, allocated together and freed together
 *            20 ms later (lifetime >= 20 ms: nanosleep's bound), then PHASE_MS of quiet
 *   4 hold   keep_live: 300 objects of 2000 bytes, never freed (live past exit), then
 *            PHASE_MS of quiet; with KILL, the program SIGKILLs itself here.
 * Between and after the phases ("quiet"), ticker allocates and frees 16 bytes every 5 ms:
 * so the peak is 20 MB * SCALE + BIG MiB + 16 (the first tick after the growth, one ticker
 * object live) and each phase's heap is its own value or 16 bytes more. Every site is a
 * noinline function so its frame names it in the profile. Nothing else allocates (stdout
 * is written with write(2)).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static struct timespec start;

static long ms_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - start.tv_sec) * 1000 + (t.tv_nsec - start.tv_nsec) / 1000000;
}

static void say(const char *what)
{
    char buf[96];
    int n = snprintf(buf, sizeof buf, "phase %s %ld\n", what, ms_now());
    if (write(1, buf, (size_t)n) < 0)
        _exit(3);
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&t, NULL);
}

/* A program's steady background: one 16-byte object allocated and freed every 5 ms.
 * (A single-threaded process publishes at its own events, so a phase without any would
 * have no timeline point; this is what lets each phase have some.) */
__attribute__((noinline)) static void ticker(void)
{
    void *volatile p = malloc(16);
    free(p);
}

static void quiet(long ms)
{
    for (long t = 0; t < ms; t += 5) {
        sleep_ms(5); /* the workload: a quiet phase's tick */
        ticker();
    }
}

__attribute__((noinline)) static void *peak_a(void)
{
    void *p = malloc(1000);
    memset(p, 1, 1000);
    return p;
}

__attribute__((noinline)) static void *peak_b(void)
{
    void *p = malloc(16000);
    memset(p, 2, 16000);
    return p;
}

__attribute__((noinline)) static void *big_site(void)
{
    void *p = malloc(1 << 20);
    memset(p, 3, 1 << 20);
    return p;
}

__attribute__((noinline)) static void temp_fast(void)
{
    void *volatile p = malloc(64);
    free(p);
}

__attribute__((noinline)) static void *temp_slow(void)
{
    return malloc(128);
}

__attribute__((noinline)) static void *keep_live(void)
{
    return malloc(2000);
}

/* pointer arrays from mmap: not heap objects, so the sites above are all the heap */
static void **slots(long n)
{
    void *p = mmap(NULL, (size_t)n * sizeof(void *), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        _exit(4);
    return p;
}

int main(int argc, char **argv)
{
    long scale = argc > 1 ? atol(argv[1]) : 1;
    long phase_ms = argc > 2 ? atol(argv[2]) : 400;
    int kill_self = argc > 3 && atoi(argv[3]);
    long nbig = argc > 4 ? atol(argv[4]) : 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long na = 4000 * scale, nb = 1000 * scale;
    void **a = slots(na), **b = slots(nb), **s = slots(20), **k = slots(300);
    void **g = slots(nbig + 1);

    say("grow");
    for (long i = 0, j = 0; i < na; i++) {
        a[i] = peak_a();
        if (i % 4 == 3)
            b[j++] = peak_b();
    }
    for (long i = 0; i < nbig; i++)
        g[i] = big_site();
    quiet(phase_ms);

    say("free");
    for (long i = 0; i < na; i++)
        free(a[i]);
    for (long i = 0; i < nb; i++)
        free(b[i]);
    for (long i = 0; i < nbig; i++)
        free(g[i]);
    quiet(phase_ms);

    say("churn");
    for (int i = 0; i < 5000; i++)
        temp_fast();
    for (int i = 0; i < 20; i++)
        s[i] = temp_slow();
    sleep_ms(20); /* the workload: temp_slow's lifetime, >= 20 ms */
    for (int i = 0; i < 20; i++)
        free(s[i]);
    quiet(phase_ms);

    say("hold");
    for (int i = 0; i < 300; i++)
        k[i] = keep_live();
    quiet(phase_ms);
    if (kill_self)
        kill(getpid(), SIGKILL);
    say("end");
    return 0;
}
