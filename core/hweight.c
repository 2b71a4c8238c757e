/*
 * hweight.c — a heap sample's unbiasing weight (hweight.h has the design).
 *
 * Contexts: cp_hw_q16 and cp_hw_exp_neg from the flusher or whoever holds cp_flush_lock
 * (resolve.c counting a sample, heaptime.c); cp_hw_init from init and the fork child,
 * before anything is counted. Guards: none of its own; the one-entry cache is the flush
 * lock's.
 */
#include "hweight.h"

uint64_t cp_hw_rate;
static uint64_t last_size, last_w; /* cp_flush_lock: the last size weighed (sizes repeat) */

void cp_hw_init(uint64_t mem_rate)
{
    cp_hw_rate = mem_rate;
    last_size = 0;
    last_w = 0;
}

double cp_hw_exp_neg(double x)
{
    /* x = k ln2 + r, 0 <= r < ln2: exp(-r) by its series, then 2^-k */
    if (x > 700)
        return 0;
    int k = (int)(x / 0.6931471805599453);
    double r = x - k * 0.6931471805599453, term = 1, sum = 1;
    for (int i = 1; i < 24; i++) {
        term *= -r / i;
        sum += term;
    }
    union {
        double d;
        uint64_t u;
    } two = {.u = (uint64_t)(1023 - k) << 52}; /* 2^-k, k <= 1010 */
    return sum * two.d;
}

uint64_t cp_hw_q16_sampled(uint64_t size)
{
    uint64_t rate = cp_hw_rate;
    if (size == last_size && last_w)
        return last_w;
    double p = 1 - cp_hw_exp_neg((double)size / (double)rate);
    double w = p > 0 ? 65536.0 / p : 65536.0 * (double)rate; /* (p > 0 for any size >= 1) */
    if (w > 9.0e18)
        w = 9.0e18;
    last_size = size;
    last_w = (uint64_t)(w + 0.5);
    return last_w;
}
