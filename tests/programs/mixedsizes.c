/*
 * mixedsizes.c — one allocation site of many sizes (issue 23 item 3: a heap bucket is a
 * site, and each sample is unbiased with its own size). tests/e2e/sizes.sh reads the
 * profiles it leaves against the truth it prints.
 *
 *   mixedsizes stats N RATE   N objects at site_mixed, sizes log-uniform in [16, 1 MiB]
 *                             (a fixed sequence), every 4th kept live to the end, the
 *                             others freed at once. Prints the truth, "truth <alloc_objects>
 *                             <alloc_space> <inuse_objects> <inuse_space>", then "sd" and
 *                             the standard deviations of the four estimates at sampling rate
 *                             RATE (an object of s bytes is sampled with p = 1 - exp(-s/RATE)
 *                             and stands for 1/p objects, s/p bytes: the variance of its
 *                             term is (1-p)/p, s^2 (1-p)/p)
 *   mixedsizes phases N       site_churn: N objects of mixed sizes, each freed at once; then
 *                             site_peak: N objects of mixed sizes, all live together (the
 *                             process's peak), kept 30 ms, then freed. Prints "churn
 *                             <objects> <bytes> peak <objects> <bytes>"
 * Sizes go through a volatile variable so that the compiler keeps every call.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

/* log-uniform in [16, 2^20] */
static size_t next_size(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    double u = (double)(rng >> 11) / 9007199254740992.0; /* [0, 1) */
    return (size_t)exp(log(16.0) + u * (log(1048576.0) - log(16.0)));
}

static volatile size_t vsize;

static __attribute__((noinline)) void *site_mixed(void)
{
    return malloc(vsize);
}

static __attribute__((noinline)) void *site_churn(void)
{
    return malloc(vsize);
}

static __attribute__((noinline)) void *site_peak(void)
{
    return malloc(vsize);
}

static void stats(long n, double rate)
{
    void **keep = calloc((size_t)n / 4 + 1, sizeof *keep);
    double t[4] = {0}, var[4] = {0};
    long nk = 0;
    for (long i = 0; i < n; i++) {
        size_t s = next_size();
        vsize = s;
        void *p = site_mixed();
        if (!p)
            abort();
        double pr = rate <= 1 ? 1 : -expm1(-(double)s / rate), v = (1 - pr) / pr;
        t[0] += 1;
        t[1] += (double)s;
        var[0] += v;
        var[1] += (double)s * (double)s * v;
        if (i % 4 == 0) {
            keep[nk++] = p;
            t[2] += 1;
            t[3] += (double)s;
            var[2] += v;
            var[3] += (double)s * (double)s * v;
        } else {
            free(p);
        }
    }
    printf("truth %.0f %.0f %.0f %.0f sd %.0f %.0f %.0f %.0f\n", t[0], t[1], t[2], t[3],
           sqrt(var[0]), sqrt(var[1]), sqrt(var[2]), sqrt(var[3]));
    (void)keep; /* kept live to the end */
}

static void phases(long n)
{
    double churn[2] = {0}, peak[2] = {0};
    if (n <= 0 || n > 1000000)
        abort();
    for (long i = 0; i < n; i++) {
        vsize = next_size();
        churn[0] += 1;
        churn[1] += (double)vsize;
        free(site_churn());
    }
    void **live = calloc((size_t)n, sizeof *live);
    for (long i = 0; i < n; i++) {
        vsize = next_size();
        peak[0] += 1;
        peak[1] += (double)vsize;
        live[i] = site_peak();
    }
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the workload: site_peak's lifetime, >= 30 ms (nanosleep's bound) */
    for (long i = 0; i < n; i++)
        free(live[i]);
    free(live);
    printf("churn %.0f %.0f peak %.0f %.0f\n", churn[0], churn[1], peak[0], peak[1]);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "stats")) {
        stats(atol(argv[2]), atof(argv[3]));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "phases")) {
        phases(atol(argv[2]));
        return 0;
    }
    fprintf(stderr, "usage: mixedsizes stats N RATE | phases N\n");
    return 2;
}
