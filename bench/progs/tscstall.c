/* What a clock read costs a program whose loads miss (session 37): four independent
 * pointer chases through a 64 MiB random cycle (misses that overlap), each step followed
 * by the clock read under test. On the 2-core VMs this project is measured on, a plain
 * rdtsc took a step from ~50 ns to ~130 ns (it waited for the chases' misses in flight,
 * as lfence + rdtsc does), while CLOCK_MONOTONIC_COARSE (no TSC read: the vDSO's data
 * page) cost nothing visible. The heap's time stamps at rate 1 are a TSC read an event
 * (core/stampclock.h): on perl, whose frees come in runs of misses, that read slowed
 * perl's own code by ~0.15 s of its ~0.6 s overhead (BENCHMARKS.md, "Session 37").
 *   tscstall [STEPS]   prints ns a step for: none, rdtsc, lfence+rdtsc, rdtscp,
 *                      CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* a 64-bit LCG's high half (Knuth's MMIX constants) */
static uint64_t rnd = 1;
static uint64_t next(void)
{
    rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
    return rnd >> 32;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 5000000;
    size_t n = (size_t)1 << 24;
    uint32_t *a = malloc(n * sizeof *a);
    if (!a)
        return 1;
    /* one random cycle through every slot (Sattolo), so no chase falls into a short loop */
    for (size_t i = 0; i < n; i++)
        a[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = next() % i;
        uint32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
    static const char *names[] = {
        "none", "rdtsc", "lfence+rdtsc", "rdtscp", "CLOCK_MONOTONIC_COARSE", "CLOCK_MONOTONIC"};
    uint64_t acc = 0;
    for (int mode = 0; mode < 6; mode++) {
        uint32_t p0 = 1, p1 = 2, p2 = 3, p3 = 4;
        double t0 = now();
        for (long s = 0; s < steps; s++) {
            p0 = a[p0];
            p1 = a[p1];
            p2 = a[p2];
            p3 = a[p3];
            for (int k = 0; k < 20; k++) /* a little work between the steps */
                acc = acc * 31 + (uint64_t)k;
            struct timespec ts;
            unsigned aux;
            switch (mode) {
            case 1:
                acc += __rdtsc();
                break;
            case 2:
                _mm_lfence();
                acc += __rdtsc();
                break;
            case 3:
                acc += __rdtscp(&aux);
                break;
            case 4:
                clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
                acc += (uint64_t)ts.tv_nsec;
                break;
            case 5:
                clock_gettime(CLOCK_MONOTONIC, &ts);
                acc += (uint64_t)ts.tv_nsec;
                break;
            default:
                break;
            }
        }
        double t1 = now();
        acc += p0 + p1 + p2 + p3;
        printf("%-24s %6.1f ns a step\n", names[mode], (t1 - t0) / (double)steps * 1e9);
    }
    return acc == 42; /* (keeps acc live) */
}
