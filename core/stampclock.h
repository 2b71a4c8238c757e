/*
 * stampclock.h — the clock of the sampled heap records' time stamps (heaptime.h's
 * cp_ht_stamp): CLOCK_MONOTONIC read in the hook (the vDSO, ~25 ns), or, at the dense
 * rates on an invariant TSC that the kernel itself keeps time with, the TSC alone (rdtsc,
 * ~10 ns: two clock reads an allocation pair were 11% of a small-object program's CPU at
 * rate 1), converted to CLOCK_MONOTONIC nanoseconds when the record is drained.
 *
 * Contexts: cp_stamp_tsc_on and cp_stamp_tsc in hooks (sampled events only); cp_stamp_ns
 * where heaptime.c applies an event (the flusher, or whoever holds cp_flush_lock);
 * cp_stamp_init at start-up (flusher.c's init, before a second thread).
 *
 * A TSC stamp has bit 63 set (CP_STAMP_TSC; neither clock reaches 2^63 in 290 years), so
 * a drained record says which clock stamped it, and the hooks can go back to
 * CLOCK_MONOTONIC at any moment (a TSC found to go backwards) without a record being
 * misread. The conversion (stampclock.c): ns = ns0 + (tsc - tsc0) * r, with (tsc0, ns0) a
 * pair read together at start and r the ratio over the longest baseline so far, read
 * again when a stamp passes the last pair by more than its baseline (so the baseline
 * doubles; the first is at least 2^16 ticks, waited for if need be) and at least every
 * 2^24 ticks (~5-8 ms). Each pair is
 * read inside a window of at most 1 us of TSC (the midpoint is taken), so r's relative
 * error is at most ~2 x the half window over the baseline, and a converted time is within
 * a few times the window's half of CLOCK_MONOTONIC: lifetimes keep their decade classes
 * (1 us, 10 us, ...) except within ~100 ns of a boundary, as with the clock read in the
 * hook, whose own place in the hook moves by as much.
 */
#ifndef CP_STAMPCLOCK_H
#define CP_STAMPCLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <x86intrin.h>

#include "line.h"
#include "contention.h" /* cp_clock_notsc */

#define CP_STAMP_TSC (1ull << 63)
/* A free's stamp left to the consumer, in a run of frees (events.c's free_ptr_stamp;
 * resolve.c brackets it between the stamps around it): the TSC flag with no ticks, which
 * no read gives. */
#define CP_STAMP_IN_RUN CP_STAMP_TSC
/* On the TSC stamp that ends a run of frees whose stamps were left to the consumer: the
 * thread was switched off its CPU after the run's read (events.c's free_ptr_stamp,
 * switchwatch.h). Bit 62: 2^62 ticks are 48 years at 3 GHz. Ignored by the conversion. */
#define CP_STAMP_SWITCHED (1ull << 62)

/* Stamp s with sw (CP_STAMP_SWITCHED or 0) added where it may be: on a TSC stamp only (a
 * CLOCK_MONOTONIC one uses bit 62). */
static inline uint64_t cp_stamp_with_switch(uint64_t s, uint64_t sw)
{
    return s & CP_STAMP_TSC ? s | sw : s;
}

/* The hooks stamp with the TSC (atomic: set at start-up, cleared at a fallback, or when
 * the program forbids the TSC). */
extern struct cp_line_bool cp_stamp_tsc_mode __attribute__((visibility("hidden"))); /* (line.h) */

/* The program forbade a thread the TSC (contention.h, cp_prof_tsc_denied): no rdtsc and
 * no vDSO CLOCK_MONOTONIC anywhere in the process from then on, ours included (a thread
 * made after the call by the thread that made it inherits the ban, the flusher too).
 * Atomic; set once, never cleared. */
extern int cp_tsc_denied __attribute__((visibility("hidden")));

/* CLOCK_MONOTONIC in ns: the vDSO's (no system call), or cp_clock_notsc's once the
 * program has forbidden the TSC (the vDSO's reads it). The engine's one reading of it
 * outside the lock hooks' clock (heaptime.h's cp_ht_now, the calibrations here). */
static inline uint64_t cp_mono_ns(void)
{
    if (__builtin_expect(__atomic_load_n(&cp_tsc_denied, __ATOMIC_RELAXED), 0))
        return cp_clock_notsc();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC_COARSE in ns, never 0: the vDSO's (no system call), a tick's
 * resolution, and no TSC read (so also where the program forbade it): for the engine's
 * once-a-second-or-so decisions (flusher.c's retry of its thread and its coarse
 * publication clock, ring.c's stall of the flusher). */
static inline uint64_t cp_coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 1;
}

static inline bool cp_stamp_tsc_on(void)
{
    return __atomic_load_n(&cp_stamp_tsc_mode.v, __ATOMIC_RELAXED);
}

static inline uint64_t cp_stamp_tsc(void)
{
    return __rdtsc() | CP_STAMP_TSC;
}

/* Start-up: the TSC is used when dense (the only rates where the stamps' cost shows), the
 * CPU says it is invariant (cpuid 0x80000007 EDX bit 8: constant and nonstop) and the
 * kernel's clock source is "tsc" (so it found the TSCs of all CPUs in step); otherwise
 * CLOCK_MONOTONIC. In a fork child the calibration goes on as it was. */
void cp_stamp_init(bool dense);

/* The conversion (stampclock.c; guarded by cp_flush_lock): ns = ns0 + (tsc - tsc0) x
 * mult / 2^32 for a tsc with tsc - tsc0 <= lim (lim 0: no pair read yet, so every stamp
 * takes the slow path, which reads one). */
struct cp_stamp_cal {
    uint64_t tsc0, ns0, lim, mult;
};
extern struct cp_stamp_cal cp_stamp_cal __attribute__((visibility("hidden")));
uint64_t cp_stamp_ns_slow(uint64_t tsc);

/* A record's stamp (a TSC one or nanoseconds; 0: none) in CLOCK_MONOTONIC nanoseconds
 * (0 stays 0). cp_flush_lock held. Inline, in integers: three a pair at rate 1, where a
 * call and double arithmetic were ~33 instructions each (callgrind). */
static inline uint64_t cp_stamp_ns(uint64_t t)
{
    if (!(t & CP_STAMP_TSC))
        return t;
    t &= ~(CP_STAMP_TSC | CP_STAMP_SWITCHED);
    uint64_t d = t - cp_stamp_cal.tsc0;
    if (__builtin_expect(d > cp_stamp_cal.lim, 0))
        return cp_stamp_ns_slow(t);
    return cp_stamp_cal.ns0 + (uint64_t)(((unsigned __int128)d * cp_stamp_cal.mult) >> 32);
}

/* The lock hooks' wait clock (contention.h's cp_now_ns), calibrated once: the flusher
 * thread calls this when it asked to be woken (its state is that thread's alone; in a
 * sandbox it does nothing and returns 0: it reads the kernel's clock source from /sys). The first
 * call reads a pair of TSC and CLOCK_MONOTONIC readings if the TSC is trusted (as cp_stamp_init's),
 * a call 20 ms on or more a second one, and then the TSC is the waits' clock. Returns the ns after
 * which it wants to be called again, 0 once done (or never to be). */
uint64_t cp_waitclock_step(void);

/* For tests: how many pairs have been read since start-up. */
unsigned cp_stamp_calibrations(void);

#endif
