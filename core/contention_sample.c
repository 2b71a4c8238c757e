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
 * tracked(): a countdown from a geometric draw, cp_mutex_gap, which decides the waits
 * of a thread as independent Bernoulli(p) trials, from one draw per tracked wait), and only tracked
 * waits are in the table at all: an untracked one costs the table nothing (the unlock that releases
 * it reads contention.c's `used` hint, 0 unless a tracked wait is in its bucket). An unlock's
 * charge is then the waiting of the tracked waits alone, and its count the tracked waits it counts
 * first (`fresh`: each wait is counted once, at the first unlock charged for it; one that ends
 * before any charge, by none); the hook scales both by f. Proof that both are unbiased, per unlock
 * stack: the truth is a sum over waits i of x_i (wait i's waiting charged to that stack, or its
 * count there, 0 or 1); the estimate is the sum of f * T_i * x_i with T_i independent Bernoulli(p)
 * decided before the wait, so independent of x_i (what a wait is charged does not depend on whether
 * it is tracked: an untracked wait is charged nothing and changes no other wait's charge, the
 * charge being a sum per wait); E = sum f * p * x_i = sum x_i. The variance is (f - 1) sum x_i^2:
 * (f - 1) N for N counted waits (tests/e2e/locks.sh, the fraction checks). Before (session
 * lockcost), every wait was registered and each charged unlock kept with p, counted once whatever
 * number of waits it ended: the bookkeeping was paid for every wait at any fraction, and the count
 * was of unlocks, not waits (a broadcast's re-acquisitions were one).
 *
 * The block profile's decision is Go's, with its random part r (uniform in [0, rate))
 * drawn before the wait instead of after it (cp_block_sample_at): r is independent of the
 * wait's length either way, so the kept set has the same law. A lock wait (the thread
 * holds the lock after it) is first measured at all with probability 1/f
 * (CTRPROF_BLOCK_LOCK_FRACTION, drawn before the wait as the mutex profile's tracking
 * is, and with it when the two fractions are equal), and a kept one counted f times
 * (cp_block_scale): the product of two draws independent of the wait, so both sums stay
 * unbiased, per waiting stack (at block rate 1 the variances are (f - 1) x the number of
 * waits and (f - 1) x the sum of their squared lengths, as the mutex profile's).
 * Measuring every lock wait read the clock inside every contended critical section,
 * just after the lock was taken, where each nanosecond is every waiter's
 * (bench/progs/workqueue, 4 workers on one queue: 1.28x bare wall, all of it that one
 * read: a `pause` in its place cost the same).
 *
 * Contexts: hooks (preload/pthread.c), before and after a wait or a charge, any thread; tests. No
 * state but the block pace's two health counts (the pace itself is the caller's), no locks;
 * async-signal-safe (the clock, contention.h's cp_now_ns, is a TSC read or the vDSO's).
 */
#include "contention.h"

#include <time.h>

#include "sample.h" /* cp_neg_log */

/* ---- sampling ---------------------------------------------------------------------- */

bool cp_block_sample(uint64_t d, uint64_t rate, uint64_t rnd, uint64_t *count_q16, uint64_t *delay)
{
    return rate != 0 && cp_block_sample_at(d, rate, rnd % rate, count_q16, delay);
}

bool cp_block_sample_at(uint64_t d, uint64_t rate, uint64_t r, uint64_t *count_q16, uint64_t *delay)
{
    if (rate == 0)
        return false;
    if (d == 0)
        d = 1; /* a zero-length wait still happened; Go's cycles are never 0 either */
    if (d < rate) {
        /* kept with probability d/rate: Go's `cheaprand64() % rate > cycles` rejects */
        if (r > d)
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

void cp_block_scale(uint64_t fraction, uint64_t *count_q16, uint64_t *delay)
{
    if (__builtin_mul_overflow(*count_q16, fraction, count_q16))
        *count_q16 = UINT64_MAX;
    if (__builtin_mul_overflow(*delay, fraction, delay))
        *delay = UINT64_MAX;
}

uint64_t cp_block_thinned;
uint64_t cp_block_rate_max;

unsigned cp_block_shift_max(uint64_t rate)
{
    if (!rate)
        return 0;
    /* rate << m < 2^58 while its top bit, 63 - clz, plus m stays under 58 */
    unsigned top = 63u - (unsigned)__builtin_clzll(rate);
    unsigned m = top >= CP_BLOCK_SHIFT_AT - 1 ? 0 : CP_BLOCK_SHIFT_AT - 1 - top;
    return m < CP_BLOCK_SHIFT_MAX ? m : CP_BLOCK_SHIFT_MAX;
}

/* Works on a copy written back whole at the end: a signal handler's wait on the same
 * thread that runs this meanwhile may have its update overwritten (a count or a step
 * lost), but the shift written is always one read here and bounded by max_shift, so a
 * threshold's rate never outgrows its 58 bits. */
unsigned cp_block_pace_kept(struct cp_block_pace *p, uint64_t now, uint64_t budget,
                            unsigned max_shift)
{
    struct cp_block_pace q = *p;
    if (q.since == 0 || now < q.since) {
        q.since = now ? now : 1;
        q.kept = 0;
    }
    if (q.shift > max_shift)
        q.shift = max_shift;
    uint64_t el = now - q.since;
    if (q.kept < UINT32_MAX)
        q.kept++;
    uint64_t per_window = budget / (1000000000ull / CP_BLOCK_WINDOW_NS);
    if (per_window == 0)
        per_window = 1;
    if (el < CP_BLOCK_WINDOW_NS) {
        /* over the budget before the window is out: twice the rate, a new window */
        if (q.kept > per_window) {
            if (q.shift < max_shift)
                q.shift++;
            q.since = now;
            q.kept = 0;
        }
    } else {
        /* the window is out (el ns, longer than a window if the thread kept nothing for a
         * while): under a quarter of the budget's rate, half the rate */
        if (q.shift > 0 &&
            (unsigned __int128)q.kept * 4 * CP_BLOCK_WINDOW_NS < (unsigned __int128)per_window * el)
            q.shift--;
        q.since = now;
        q.kept = 0;
    }
    *p = q;
    return q.shift;
}

bool cp_mutex_tracked(uint64_t fraction, uint64_t rnd)
{
    return fraction == 1 || (fraction != 0 && rnd % fraction == 0);
}

/* -ln(1 - p) for p = 1/fraction in (0, 1/2]: the series p + p^2/2 + ... where 1 - p
 * would round (p < 2^-20: four terms leave an error below 2^-80 relative), else the
 * logarithm of 1 - p, exact in a double there. */
static double neg_log1m(uint64_t fraction)
{
    double p = 1.0 / (double)fraction;
    if (p < 1.0 / (1 << 20))
        return p + p * p / 2 + p * p * p / 3 + p * p * p * p / 4;
    return cp_neg_log(1.0 - p);
}

uint64_t cp_mutex_gap(uint64_t fraction, uint64_t rnd)
{
    if (fraction <= 1)
        return 0;
    /* floor(E / lambda), E exponential (-ln u, u in (0, 1]), lambda = -ln(1 - p):
     * P(gap >= k) = P(E >= k lambda) = (1 - p)^k, the geometric law */
    double u = (double)((rnd >> 11) + 1) * (1.0 / 9007199254740992.0);
    double g = cp_neg_log(u) / neg_log1m(fraction);
    return g >= 9.2e18 ? (uint64_t)9.2e18 : (uint64_t)g;
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
