/*
 * sample.h — Poisson sampling by bytes, as the Go runtime's nextSample: the number of
 * bytes until the next sample is drawn from an exponential distribution with mean
 * CTRPROF_MEM_RATE, so that every byte has the same chance 1/rate of being the sampled
 * one and an allocation of s bytes is sampled with probability 1 - exp(-s/rate) (the
 * report unbiases by its inverse). Per-thread state; no locks, no shared lines.
 */
#ifndef CP_SAMPLE_H
#define CP_SAMPLE_H

#include <math.h>
#include <stdint.h>

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

/* Bytes to the next sample at this rate: 0 for rate 1 (sample everything). */
static inline int64_t cp_sample_next(uint64_t *rng, uint64_t rate)
{
    if (rate <= 1)
        return 0;
    /* u in (0, 1]: -log(u) * rate is exponential with mean rate */
    double u = (double)((cp_rand64(rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double next = -log(u) * (double)rate;
    if (next > (double)INT64_MAX / 2)
        next = (double)INT64_MAX / 2;
    return (int64_t)next;
}

#endif
