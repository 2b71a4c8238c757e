/*
 * sample.h — Poisson sampling by bytes, as the Go runtime's nextSample: the number of
 * bytes until the next sample is drawn from an exponential distribution with mean
 * CTRPROF_MEM_RATE, so that every byte has the same chance 1/rate of being the sampled
 * one and an allocation of s bytes is sampled with probability 1 - exp(-s/rate) (the
 * report unbiases by its inverse). Per-thread state; no locks, no shared lines.
 */
#ifndef CP_SAMPLE_H
#define CP_SAMPLE_H

#include <stdint.h>
#include <string.h>

/* xorshift64* : a thread's own generator (seeded from its address and the clock). */
static inline uint64_t cp_rand64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* -ln(u) for u in (0, 1], to within a few ulps, without libm: the shim does not load
 * libm only for this (loading it costs every process ~20k instructions and five system
 * calls). u = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln(m) = 2 atanh(t), t = (m-1)/(m+1),
 * |t| < 0.172, whose odd series to t^21 leaves an error below 1e-18. */
static inline double cp_neg_log(double u)
{
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;                    /* u is normal: >= 2^-53 */
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* m in [1, 2) */
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    double t = (m - 1.0) / (m + 1.0), t2 = t * t;
    double p = 1.0 / 21;
    for (int k = 19; k >= 1; k -= 2)
        p = p * t2 + 1.0 / k;
    return -(2.0 * t * p + (double)e * 0.6931471805599453);
}

/* The countdown to the next sample at this rate: 0 for rate 1 (sample everything).
 * The hooks sample an allocation of n bytes when n >= the countdown (malloc.c's
 * countdown_expired: a countdown of 0 takes even malloc(0)), so for an exponential X
 * the countdown is floor(X) + 1: then n >= it exactly when X < n, with probability
 * 1 - exp(-n/rate), and what is left after n bytes, floor(X - n) + 1, is again such a
 * countdown. (floor(X) alone sampled when X < n + 1: a sample of 64 bytes at rate 64
 * was taken with p = 0.638, weighed as 0.632: +0.9%.) */
static inline int64_t cp_sample_next(uint64_t *rng, uint64_t rate)
{
    if (rate <= 1)
        return 0;
    /* u in (0, 1]: -log(u) * rate is exponential with mean rate */
    double u = (double)((cp_rand64(rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double next = cp_neg_log(u) * (double)rate;
    if (next > (double)INT64_MAX / 2)
        next = (double)INT64_MAX / 2;
    return (int64_t)next + 1;
}

#endif
