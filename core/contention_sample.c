/*
 * contention_sample.c — Go's block and mutex sampling, pure functions of (duration, rate,
 * a random number): the block profile's exactly as runtime/mprof.go's
 * blocksampled/saveblockevent; the mutex profile's by the wait, as the Go runtime's own
 * lock profile samples (lockTimer: 1 in rate waits timed), before any bookkeeping; and
 * the clock the waits are measured with (see contention.h). Split from
 * contention.c, which keeps the waiter table.
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
