/*
 * hweight.h — how many objects one sampled heap object stands for (issue 23).
 *
 * Go's unbiasing (runtime/pprof's scaleHeapSample): at a mean sampling interval of r bytes,
 * an object of s bytes is sampled with probability 1 - exp(-s/r), so a sample of it stands
 * for w(s) = 1 / (1 - exp(-s/r)) objects and s·w(s) bytes; at r = 1 every object is
 * sampled and w = 1 exactly. The engine applies it per sample, with the sample's own size,
 * as it counts the sample into its bucket (resolve.c, heaptime.c): a bucket is a site, not
 * a (site, size) pair, and its counters are unbiased objects and bytes that need no size
 * to read (docs/SCHEMA.md, Ctrprof-Format 3).
 *
 * Fixed point: w in 1/65536 of an object, rounded to nearest (a relative error under
 * 2^-17 a sample); the sample's bytes are s·w_q16 exactly, so an object's free subtracts
 * exactly what its allocation added. At rate 1, w_q16 = 65536.
 *
 * Contexts: the flusher, or whoever holds cp_flush_lock (cp_hw_q16 keeps a one-entry
 * cache); cp_hw_init at init and in a fork child. No libm (the shim does not load it).
 */
#ifndef CP_HWEIGHT_H
#define CP_HWEIGHT_H

#include <stdint.h>

#pragma GCC visibility push(hidden)

/* The sampling rate (CTRPROF_MEM_RATE) the weights are for. */
void cp_hw_init(uint64_t mem_rate);
/* w(size) in 1/65536 of an object (>= 65536). Inline for rate 1 (every object weighs
 * one: at rate 1 the flusher weighs each event twice, its count and its heap over time). */
extern uint64_t cp_hw_rate;
uint64_t cp_hw_q16_sampled(uint64_t size);
static inline uint64_t cp_hw_q16(uint64_t size)
{
    if (cp_hw_rate <= 1 || size == 0)
        return 65536;
    return cp_hw_q16_sampled(size);
}
/* exp(-x) for x >= 0, without libm. */
double cp_hw_exp_neg(double x);

#pragma GCC visibility pop

#endif
