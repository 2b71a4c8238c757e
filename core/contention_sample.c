/*
 * contention_sample.c — Go's block and mutex sampling, pure functions of (duration, rate,
 * a random number): the block profile's exactly as runtime/mprof.go's
 * blocksampled/saveblockevent; the mutex profile's by the wait, as the Go runtime's own
 * lock profile samples (lockTimer: 1 in rate waits timed), before any bookkeeping; and
 * the clock the waits are measured with (see contention.h). Split from
 * contention.c, which keeps the waiter table.
 *
 * The mutex profile, sampled by the wait (CTRPROF_MUTEX_FRACTION f). Each wait is tracked
 * with probability p = 1/f, decided by its thread before it registers (preload/pthread.c,
 * tracked()), and only tracked waits are in the table at all: an untracked one costs the
 * table nothing (the unlock that releases it reads contention.c's `used` hint, 0 unless a
 * tracked wait is in its bucket). An unlock's charge is then the waiting of the tracked
 * waits alone, and its count the tracked waits it counts first (`fresh`: each wait is
 * counted once, at the first unlock charged for it; one that ends before any charge, by
 * none); the hook scales both by f. Proof that both are unbiased, per unlock stack: the
 * truth is a sum over waits i of x_i (wait i's waiting charged to that stack, or its count
 * there, 0 or 1); the estimate is the sum of f * T_i * x_i with T_i independent
 * Bernoulli(p) decided before the wait, so independent of x_i (what a wait is charged does
 * not depend on whether it is tracked: an untracked wait is charged nothing and changes no
 * other wait's charge, the charge being a sum per wait); E = sum f * p * x_i = sum x_i.
 * The variance is (f - 1) sum x_i^2: (f - 1) N for N counted waits (tests/e2e/locks.sh,
 * the fraction checks). Before (session lockcost), every wait was registered and each
 * charged unlock kept with p, counted once whatever number of waits it ended: the
 * bookkeeping was paid for every wait at any fraction, and the count was of unlocks, not
 * waits (a broadcast's re-acquisitions were one).
 *
 * Contexts: hooks (preload/pthread.c), after a wait or a charge, any thread; tests. No
 * state, no locks; async-signal-safe (the clock is the vDSO's).
 */
#include "contention.h"

#include <time.h>

/* ---- sampling ---------------------------------------------------------------------- */

bool cp_block_sample(uint64_t d, uint64_t rate, uint64_t rnd, uint64_t *count_q16, uint64_t *delay)
{
    if (rate == 0)
        return false;
    if (d == 0)
        d = 1; /* a zero-length wait still happened; Go's cycles are never 0 either */
    if (d < rate) {
        /* kept with probability d/rate: Go's `cheaprand64() % rate > cycles` rejects */
        if (rnd % rate > d)
            return false;
        /* counts rate/d events of rate ns each: E[count] = 1, E[delay] = d */
        *count_q16 = (uint64_t)(((unsigned __int128)rate * CP_Q16) / d);
        *delay = rate;
        return true;
    }
    *count_q16 = CP_Q16;
    *delay = d;
    return true;
}

bool cp_mutex_tracked(uint64_t fraction, uint64_t rnd)
{
    return fraction == 1 || (fraction != 0 && rnd % fraction == 0);
}

bool cp_mutex_scale(uint64_t waits, uint64_t d, uint64_t fraction, uint64_t *count_q16,
                    uint64_t *delay)
{
    if (fraction == 0 || (waits == 0 && d == 0))
        return false;
    unsigned __int128 c = (unsigned __int128)fraction * waits * CP_Q16;
    unsigned __int128 t = (unsigned __int128)fraction * d;
    *count_q16 = c > UINT64_MAX ? UINT64_MAX : (uint64_t)c;
    *delay = t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
    return true;
}

uint64_t cp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
