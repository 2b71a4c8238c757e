/* test_sample.c — Poisson sampling by bytes (core/sample.h): the libm-free -ln(u) against
 * libm's log, and the distribution of the bytes between samples (exponential with mean
 * rate). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h> /* after the headers it needs */

#include "sample.h"

static double ulps(double got, double want)
{
    if (got == want)
        return 0;
    return fabs(got - want) / fabs(nextafter(want, INFINITY) - want);
}

static void test_neg_log_matches_libm(void **state)
{
    /* the exact ends and the boundaries of the mantissa reduction */
    assert_true(cp_neg_log(1.0) == 0.0);
    const double edge[] = {0x1p-53,
                           0x1p-1,
                           0.25,
                           0.7071067811865475,
                           0.7071067811865476,
                           0.7071067811865477,
                           0.9999999999999999,
                           1.4142135623730951 / 2,
                           0x1.6a09e667f3bcdp-1,
                           0x1.6a09e667f3bccp-1,
                           0.1,
                           1e-10};
    double worst = 0;
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        double d = ulps(cp_neg_log(edge[i]), -log(edge[i]));
        if (d > worst)
            worst = d;
    }
    /* every u the sampler can draw has the form (k + 1) / 2^53; a million of them */
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 1000000; i++) {
        double u = (double)((cp_rand64(&rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
        double d = ulps(cp_neg_log(u), -log(u));
        if (d > worst)
            worst = d;
    }
    fprintf(stderr, "cp_neg_log: worst error %.2f ulp\n", worst);
    assert_true(worst <= 4.0);
}

static void test_next_is_exponential(void **state)
{
    /* mean rate; P(next > rate) = 1/e; P(next > 3 rate) = e^-3. n = 1e6 draws: the mean's
     * sigma is rate/1000, a proportion p's is sqrt(p(1-p)/n); bounds at 5 sigma */
    const uint64_t rate = 524288;
    const int n = 1000000;
    uint64_t rng = 12345;
    double sum = 0;
    int over1 = 0, over3 = 0;
    for (int i = 0; i < n; i++) {
        int64_t x = cp_sample_next(&rng, rate);
        assert_true(x >= 0);
        sum += (double)x;
        over1 += x > (int64_t)rate;
        over3 += x > 3 * (int64_t)rate;
    }
    double mean = sum / n, p1 = (double)over1 / n, p3 = (double)over3 / n;
    fprintf(stderr, "mean %.1f (rate %llu), P(>rate) %.5f, P(>3 rate) %.5f\n", mean,
            (unsigned long long)rate, p1, p3);
    assert_true(fabs(mean - (double)rate) < 5 * (double)rate / 1000);
    assert_true(fabs(p1 - exp(-1)) < 5 * sqrt(exp(-1) * (1 - exp(-1)) / n));
    assert_true(fabs(p3 - exp(-3)) < 5 * sqrt(exp(-3) * (1 - exp(-3)) / n));
    /* rate 1 (and 0) samples every allocation */
    assert_int_equal(cp_sample_next(&rng, 1), 0);
}

/* The hooks' rule (malloc.c's countdown_expired: sampled when n >= the countdown, the
 * rest carried to the next allocation): allocations of 64 bytes at rate 64, each sampled
 * with p = 1 - e^-1 = 0.63212 (the weight the report gives it), whether the countdown was
 * just drawn or carried. n = 2e6 allocations: p's sigma is 0.00034; 5 sigma is 0.0017
 * (the countdown floor(X) sampled with p = 1 - e^-65/64 = 0.63789: 17 sigma off). */
static void test_sampled_with_the_weighed_probability(void **state)
{
    (void)state;
    uint64_t rng = 777;
    const uint64_t rate = 64, size = 64;
    const int n = 2000000;
    int64_t countdown = cp_sample_next(&rng, rate);
    int sampled = 0;
    for (int i = 0; i < n; i++) {
        if ((uint64_t)countdown <= size) {
            sampled++;
            countdown = cp_sample_next(&rng, rate);
        } else {
            countdown -= (int64_t)size;
        }
    }
    double p = (double)sampled / n, want = 1 - exp(-(double)size / (double)rate);
    fprintf(stderr, "sampled %.5f, want %.5f\n", p, want);
    assert_true(fabs(p - want) < 5 * sqrt(want * (1 - want) / n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_neg_log_matches_libm),
        cmocka_unit_test(test_sampled_with_the_weighed_probability),
        cmocka_unit_test(test_next_is_exponential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
