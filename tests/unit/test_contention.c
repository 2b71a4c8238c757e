/* test_contention.c — Go's block/mutex sampling and the waiter table (core/contention.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <pthread.h>
#include <time.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "contention.h"
#include "prof.h"
#include "stampclock.h"

static __thread uint32_t cw; /* the waits a charge counts, where a test does not look */

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The waiter table is mapped at the first wait, not at init (issue 29: 1.6 MiB of an
 * mlockall'd program's 8 MiB): unlocks, ends, holds and signals of locks nobody waits
 * on find no table and make none; the first wait, a condition variable's sleeper here,
 * makes it and is registered (a sleeper that found no table went unregistered: locks.sh
 * counted 56 of 60 re-acquisitions in CI). First in the list: the other tests map it. */
static void test_table_mapped_at_first_wait(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    assert_false(cp_contention_mapped());
    static int mu, cv;
    uint64_t now, charged;
    assert_int_equal(cp_contention_charge(&mu, &now, &cw), 0);
    cp_contention_end(&mu, 1, 2);
    assert_null(cp_contention_hold(&mu));
    cp_cond_signal(&cv, true);
    assert_false(cp_contention_mapped());
    assert_true(cp_cond_sleep(&cv, &mu, false, &charged, &now, &cw));
    assert_true(cp_contention_mapped());
    cp_cond_signal(&cv, true); /* the sleeper, woken: registered on mu */
    assert_true(cp_contention_charge_at(&mu, cp_now_ns() + 1000) > 0);
    cp_cond_woke(&cv, &mu, 0);
    assert_true(cp_contention_begin_at(&mu, 10));
    assert_int_equal(cp_contention_charge_at(&mu, 50), 40);
    cp_contention_end(&mu, 10, 50);
}

/* The worked example at the top of contention.c, step by step. */
static void test_worked_example(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    static int mu;
    const void *m = &mu;
    assert_true(cp_contention_begin_at(m, 10));           /* A */
    assert_true(cp_contention_begin_at(m, 30));           /* B */
    assert_int_equal(cp_contention_charge_at(m, 50), 60); /* H unlocks */
    cp_contention_end(m, 10, 52);                         /* A acquires */
    assert_int_equal(cp_contention_charge_at(m, 90), 40); /* A unlocks */
    cp_contention_end(m, 30, 91);                         /* B acquires */
    assert_int_equal(cp_contention_charge_at(m, 200), 0); /* nobody waits */
    uint64_t now;
    assert_int_equal(cp_contention_charge(m, &now, &cw), 0);
    assert_int_equal(now, 0); /* no clock read when nobody waits */
}

/* A lock held while 5 threads wait costs 5x the hold time; nothing is charged twice over
 * a series of unlocks, whatever the order in which waiters arrive and leave. */
static void test_charges_sum_to_waits(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    static int mu;
    const void *m = &mu;
    uint64_t t0[5];
    for (int i = 0; i < 5; i++) {
        t0[i] = 1000 + 10 * i;
        assert_true(cp_contention_begin_at(m, t0[i]));
    }
    uint64_t total = 0, t = 2000;
    for (int i = 0; i < 5; i++) {
        total += cp_contention_charge_at(m, t); /* the holder unlocks at t ... */
        cp_contention_end(m, t0[i], t);         /* ... and waiter i gets the mutex */
        t += 100;
    }
    /* waiter i waited t_i - t0[i] with t_i = 2000 + 100 i */
    uint64_t expect = 0;
    for (int i = 0; i < 5; i++)
        expect += 2000 + 100 * i - t0[i];
    assert_int_equal(total, expect);
}

static void test_unknown_mutex_is_free(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    static int never_contended;
    uint64_t now = 1;
    assert_int_equal(cp_contention_charge(&never_contended, &now, &cw), 0);
    assert_int_equal(now, 0);
    cp_contention_end(&never_contended, 1, 2); /* unmatched end is harmless */
}

/* Block: d >= rate always kept as is; shorter events are unbiased. Over many events the
 * estimated totals are within 5 sigma of the truth (fixed seed, printed). */
static void test_block_unbiased(void **state)
{
    uint64_t c, d;
    assert_false(cp_block_sample(100, 0, 0, &c, &d));
    assert_true(cp_block_sample(5000, 1000, rnd(), &c, &d));
    assert_int_equal(c, CP_Q16);
    assert_int_equal(d, 5000);
    assert_true(cp_block_sample(250, 1000, 100, &c, &d)); /* 100 % 1000 <= 250: kept */
    assert_int_equal(c, 4 * CP_Q16);
    assert_int_equal(d, 1000);
    assert_false(cp_block_sample(250, 1000, 600, &c, &d));

    printf("seed 0x%llx\n", (unsigned long long)rng_state);
    const uint64_t rate = 10000;
    const int n = 400000;
    double true_delay = 0, est_delay = 0, est_count = 0, var = 0, cvar = 0;
    for (int i = 0; i < n; i++) {
        uint64_t dur = 1 + rnd() % 4000; /* all shorter than the rate: all sampled */
        true_delay += dur;
        /* variance of the estimator of one event's delay: rate*dur - dur^2 */
        var += (double)rate * dur - (double)dur * dur;
        /* and of its count: rate/dur with probability dur/rate */
        cvar += (double)rate / dur - 1;
        if (cp_block_sample(dur, rate, rnd(), &c, &d)) {
            est_delay += d;
            est_count += (double)c / CP_Q16;
        }
    }
    double sigma = sqrt(var);
    printf("block: true delay %.0f, estimated %.0f, sigma %.0f\n", true_delay, est_delay, sigma);
    assert_true(fabs(est_delay - true_delay) < 5 * sigma);
    printf("block: true count %d, estimated %.0f, sigma %.0f\n", n, est_count, sqrt(cvar));
    assert_true(fabs(est_count - n) < 5 * sqrt(cvar));
}

/* The mutex profile is sampled by the wait (1 in f tracked) and each charge of the
 * tracked waits scaled by f: over many waits the estimates of the count and the delay
 * are within 5 sigma of the truth. */
static void test_mutex_fraction(void **state)
{
    uint64_t c, d;
    assert_false(cp_mutex_tracked(0, 0));
    assert_true(cp_mutex_tracked(1, rnd()));
    assert_false(cp_mutex_scale(0, 0, 1, &c, &d));   /* nothing to record */
    assert_false(cp_mutex_scale(1, 100, 0, &c, &d)); /* off */
    assert_true(cp_mutex_scale(1, 100, 1, &c, &d));
    assert_int_equal(c, CP_Q16);
    assert_int_equal(d, 100);
    assert_true(cp_mutex_scale(3, 70, 10, &c, &d));
    assert_int_equal(c, 30 * CP_Q16);
    assert_int_equal(d, 700);
    const int n = 100000, f = 10;
    double est_n = 0, est_d = 0, true_d = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        uint64_t dur = 1 + rnd() % 1000;
        true_d += dur;
        sq += (double)dur * dur;
        if (cp_mutex_tracked(f, rnd()) && cp_mutex_scale(1, dur, f, &c, &d)) {
            est_n += (double)c / CP_Q16;
            est_d += d;
        }
    }
    /* each wait contributes f x Bernoulli(1/f): variance (f - 1) per unit */
    assert_true(fabs(est_n - n) < 5 * sqrt((f - 1.0) * n));
    assert_true(fabs(est_d - true_d) < 5 * sqrt((f - 1.0) * sq));
}

/* A lock wait measured 1 in f for the block profile (CTRPROF_BLOCK_LOCK_FRACTION, drawn
 * before the wait) and kept by Go's law is counted f times (cp_block_scale, saturating):
 * over many waits, shorter and longer than the rate, both estimates are within 5 sigma of
 * the truth, the variance being the sum over waits of f x E[X^2] - d^2 (X: the unscaled
 * estimate, rate x d with probability d/rate below the rate, d above). */
static void test_block_lock_fraction(void **state)
{
    uint64_t c = 3 * CP_Q16, d = 700;
    cp_block_scale(1, &c, &d);
    assert_int_equal(c, 3 * CP_Q16);
    assert_int_equal(d, 700);
    cp_block_scale(10, &c, &d);
    assert_int_equal(c, 30 * CP_Q16);
    assert_int_equal(d, 7000);
    c = UINT64_MAX / 3;
    d = UINT64_MAX / 2 + 1;
    cp_block_scale(4, &c, &d);
    assert_true(c == UINT64_MAX && d == UINT64_MAX);
    const uint64_t rate = 10000, f = 10;
    const int n = 200000;
    double true_n = 0, true_d = 0, est_n = 0, est_d = 0, vn = 0, vd = 0;
    for (int i = 0; i < n; i++) {
        uint64_t dur = 1 + rnd() % 20000; /* half shorter than the rate, half longer */
        true_n += 1;
        true_d += dur;
        double ex2 = dur < rate ? (double)rate * dur : (double)dur * dur; /* E[X^2], delay */
        double cx2 = dur < rate ? (double)rate / dur : 1;                 /* and count */
        vd += f * ex2 - (double)dur * dur;
        vn += f * cx2 - 1;
        if (!cp_mutex_tracked(f, rnd()))
            continue;
        if (cp_block_sample(dur, rate, rnd(), &c, &d)) {
            cp_block_scale(f, &c, &d);
            est_n += (double)c / CP_Q16;
            est_d += d;
        }
    }
    printf("block, 1 in %llu lock waits: count %.0f of %.0f (sigma %.0f), delay %.0f of %.0f "
           "(sigma %.0f)\n",
           (unsigned long long)f, est_n, true_n, sqrt(vn), est_d, true_d, sqrt(vd));
    assert_true(fabs(est_n - true_n) < 5 * sqrt(vn));
    assert_true(fabs(est_d - true_d) < 5 * sqrt(vd));
}

/* The hooks' countdown (preload/pthread.c, tracked()): gaps drawn by cp_mutex_gap, each
 * wait tracked when its countdown ends. Its law is the per-wait draw's: P(gap = 0) = 1/f
 * and mean f - 1 (within 5 sigma, geometric variance (f - 1) f), and the tracked waits'
 * scaled estimates of count and delay are unbiased as in test_mutex_fraction; huge
 * fractions give gaps of their order, not 0 or overflow. */
static void test_mutex_gap(void **state)
{
    assert_int_equal(cp_mutex_gap(0, rnd()), 0);
    assert_int_equal(cp_mutex_gap(1, rnd()), 0);
    const uint64_t fs[] = {2, 10, 100, 3000000};
    for (unsigned j = 0; j < sizeof fs / sizeof fs[0]; j++) {
        const uint64_t f = fs[j];
        const int draws = 200000;
        double sum = 0, zeros = 0;
        for (int i = 0; i < draws; i++) {
            uint64_t g = cp_mutex_gap(f, rnd());
            sum += (double)g;
            zeros += g == 0;
        }
        double mean = sum / draws, sd = sqrt((f - 1.0) * f / draws);
        printf("gap: f %llu mean %.2f (want %llu, sigma %.2f), P(0) %.5f\n", (unsigned long long)f,
               mean, (unsigned long long)(f - 1), sd, zeros / draws);
        assert_true(fabs(mean - (f - 1.0)) < 5 * sd);
        double p = 1.0 / f;
        assert_true(fabs(zeros / draws - p) < 5 * sqrt(p * (1 - p) / draws) + 1e-9);
    }
    /* the countdown over waits, as the hook runs it */
    const int n = 100000, f = 10;
    uint64_t left = 0, c, d;
    double est_n = 0, est_d = 0, true_d = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        uint64_t dur = 1 + rnd() % 1000;
        true_d += dur;
        sq += (double)dur * dur;
        if (left == 0)
            left = cp_mutex_gap(f, rnd()) + 1;
        if (--left == 0 && cp_mutex_scale(1, dur, f, &c, &d)) {
            est_n += (double)c / CP_Q16;
            est_d += d;
        }
    }
    printf("countdown: %d waits, estimated %.0f\n", n, est_n);
    assert_true(fabs(est_n - n) < 5 * sqrt((f - 1.0) * n));
    assert_true(fabs(est_d - true_d) < 5 * sqrt((f - 1.0) * sq));
}

/* The block decision with its threshold drawn first (the hooks'): the same as
 * cp_block_sample for the same r, and r = cp_block_threshold(rate, x) uniform on [0, rate). */
static void test_block_threshold(void **state)
{
    uint64_t c, d, c2, d2;
    assert_int_equal(cp_block_threshold(1000, 0), 0);
    assert_int_equal(cp_block_threshold(1000, UINT64_MAX), 999);
    assert_int_equal(cp_block_threshold(1000, 1ull << 63), 500);
    for (int i = 0; i < 100000; i++) {
        uint64_t rate = 1 + rnd() % 100000, dur = rnd() % 150000, x = rnd();
        bool a = cp_block_sample(dur, rate, x, &c, &d);
        bool b = cp_block_sample_at(dur, rate, x % rate, &c2, &d2);
        assert_int_equal(a, b);
        if (a) {
            assert_int_equal(c, c2);
            assert_int_equal(d, d2);
        }
        /* the inline test agrees with the decision whenever the wait is shorter */
        uint64_t r = cp_block_threshold(rate, x);
        assert_true(r < rate);
        if (dur < rate)
            assert_int_equal(cp_block_keeps(dur, r), cp_block_sample_at(dur, rate, r, &c, &d));
    }
    /* uniform: 10 bins of rate 1000, 100000 draws, each within 5 sigma of 10000 */
    unsigned bins[10] = {0};
    for (int i = 0; i < 100000; i++)
        bins[cp_block_threshold(1000, rnd()) / 100]++;
    for (int i = 0; i < 10; i++)
        assert_true(fabs(bins[i] - 10000.0) < 5 * sqrt(10000 * 0.9));
}

/* The block profile's pace (CTRPROF_BLOCK_BUDGET): the law of cp_block_pace_kept and the
 * shift's bounds. Budget 1000 a second: 100 samples a 100 ms window. */
static void test_block_pace(void **state)
{
    (void)state;
    assert_int_equal(cp_block_shift_max(100000), CP_BLOCK_SHIFT_MAX);
    assert_int_equal(cp_block_shift_max(1), CP_BLOCK_SHIFT_MAX);
    assert_int_equal(cp_block_shift_max(1ull << 50), 7); /* 2^57 < 2^58 */
    assert_int_equal(cp_block_shift_max(1ull << 57), 0);
    assert_int_equal(cp_block_shift_max(0), 0);

    const uint64_t ms = 1000000, t0 = 5000 * ms;
    struct cp_block_pace p = {0};
    /* 100 samples in 10 ms: within the budget */
    for (int i = 0; i < 100; i++)
        assert_int_equal(cp_block_pace_kept(&p, t0 + (uint64_t)i * 100000, 1000, 16), 0);
    /* the 101st before the window is out: twice the rate, a new window from it */
    assert_int_equal(cp_block_pace_kept(&p, t0 + 10 * ms, 1000, 16), 1);
    assert_int_equal(p.kept, 0);
    assert_int_equal(p.since, t0 + 10 * ms);
    /* and again */
    uint64_t t = t0 + 10 * ms;
    for (int i = 0; i < 101; i++)
        cp_block_pace_kept(&p, t += 100000, 1000, 16);
    assert_int_equal(p.shift, 2);
    /* never past the most the rate allows */
    struct cp_block_pace q = {0};
    for (int i = 0; i < 5000; i++)
        cp_block_pace_kept(&q, t0 + (uint64_t)i, 1000, 3);
    assert_int_equal(q.shift, 3);
    /* a window out with 30 samples (>= a quarter of 100): the rate stays */
    t = p.since;
    for (int i = 0; i < 29; i++)
        cp_block_pace_kept(&p, t += ms, 1000, 16);
    assert_int_equal(cp_block_pace_kept(&p, p.since + 100 * ms, 1000, 16), 2);
    /* a window out with 20 (under a quarter): half the rate */
    t = p.since;
    for (int i = 0; i < 19; i++)
        cp_block_pace_kept(&p, t += ms, 1000, 16);
    assert_int_equal(cp_block_pace_kept(&p, p.since + 100 * ms, 1000, 16), 1);
    /* a thread quiet for a minute: one step down at its next sample */
    assert_int_equal(cp_block_pace_kept(&p, p.since + 60000 * ms, 1000, 16), 0);
    assert_int_equal(cp_block_pace_kept(&p, p.since + 60000 * ms, 1000, 16), 0);
    /* a clock that went back (the waits' clock calibrated): a new window, nothing else */
    p.shift = 2;
    assert_int_equal(cp_block_pace_kept(&p, 1000, 1000, 16), 2);
    assert_int_equal(p.since, 1000);
    assert_int_equal(p.kept, 1);
    /* a shift past the most (a signal handler's update overwritten) comes back within it */
    struct cp_block_pace w = {t0, 0, 20};
    assert_int_equal(cp_block_pace_kept(&w, t0 + ms, 1000, 3), 3);
    assert_int_equal(w.shift, 3);
    /* a budget under 10 a second: one sample a window */
    struct cp_block_pace r = {0};
    cp_block_pace_kept(&r, t0, 3, 16);
    assert_int_equal(cp_block_pace_kept(&r, t0 + ms, 3, 16), 1);
}

/* The hooks' decision at a paced rate: the threshold carries the shift it was drawn with;
 * the inline test masks it; each kept sample is scaled by its own rate. A thread whose
 * waits would keep ~60% at the base rate, under a budget that makes it raise its rate
 * several times: the delay and count estimates stay within 5 sigma of the truth (the
 * variance from each wait's own rate), and it keeps far fewer samples. */
static void test_block_paced_unbiased(void **state)
{
    (void)state;
    uint64_t c, d;
    for (int i = 0; i < 100000; i++) {
        uint64_t rate = 1 + rnd() % 100000, dur = rnd() % 4000000, x = rnd();
        unsigned sh = (unsigned)(rnd() % (cp_block_shift_max(rate) + 1));
        uint64_t th = cp_block_threshold_shifted(rate, sh, x);
        assert_int_equal(th >> CP_BLOCK_SHIFT_AT, sh);
        assert_int_equal(cp_block_rate_of(rate, th), rate << sh);
        assert_true((th & CP_BLOCK_R_MASK) < rate << sh);
        assert_int_equal(th & CP_BLOCK_R_MASK, cp_block_threshold(rate << sh, x));
        if (dur < rate << sh)
            assert_int_equal(cp_block_keeps(dur, th),
                             cp_block_sample_at(dur, rate << sh, th & CP_BLOCK_R_MASK, &c, &d));
    }

    printf("seed 0x%llx\n", (unsigned long long)rng_state);
    const uint64_t rate = 1000, budget = 200;
    const int n = 400000;
    struct cp_block_pace p = {0};
    uint64_t now = 1000000000, kept = 0;
    unsigned most = 0;
    double truth = 0, est = 0, est_count = 0, var = 0, cvar = 0;
    for (int i = 0; i < n; i++) {
        uint64_t dur = 1 + rnd() % 2000;
        uint64_t th = cp_block_threshold_shifted(rate, p.shift, rnd());
        uint64_t eff = cp_block_rate_of(rate, th);
        now += dur + 2000; /* the wait, and the work between two */
        truth += dur;
        if (dur < eff) {
            var += (double)eff * dur - (double)dur * dur;
            cvar += (double)eff / dur - 1;
        }
        if (!cp_block_keeps(dur, th) && dur < eff)
            continue;
        if (!cp_block_sample_at(dur, eff, th & CP_BLOCK_R_MASK, &c, &d))
            continue;
        kept++;
        est += d;
        est_count += (double)c / CP_Q16;
        cp_block_pace_kept(&p, now, budget, cp_block_shift_max(rate));
        if (p.shift > most)
            most = p.shift;
    }
    printf("paced: %llu kept of %d, shift up to %u; delay %.0f estimated %.0f sigma %.0f; count "
           "estimated %.0f sigma %.0f\n",
           (unsigned long long)kept, n, most, truth, est, sqrt(var), est_count, sqrt(cvar));
    assert_true(most >= 5);
    /* 1.6 s of waits and work: at the budget's rate ~320, and a window's worth over */
    assert_true(kept < 2000);
    assert_true(fabs(est - truth) < 5 * sqrt(var));
    assert_true(fabs(est_count - n) < 5 * sqrt(cvar));
}

/* Each wait is counted once, at the first charge after its registration; one that ended
 * before any charge is counted by none. */
static void test_waits_counted_once(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    static int mu;
    const void *m = &mu;
    uint32_t w;
    assert_true(cp_contention_begin_at(m, 10)); /* A */
    assert_true(cp_contention_begin_at(m, 30)); /* B */
    assert_int_equal(cp_contention_charge_counted_at(m, 50, &w), 60);
    assert_int_equal(w, 2);                     /* both, once */
    cp_contention_end(m, 10, 52);               /* A acquires */
    assert_true(cp_contention_begin_at(m, 60)); /* C */
    assert_int_equal(cp_contention_charge_counted_at(m, 90, &w), 70);
    assert_int_equal(w, 1);                     /* C only: B was counted */
    cp_contention_end(m, 30, 91);               /* B acquires */
    assert_true(cp_contention_begin_at(m, 95)); /* D: ends uncharged */
    cp_contention_end(m, 95, 99);
    assert_int_equal(cp_contention_charge_counted_at(m, 100, &w), 10);
    assert_int_equal(w, 0); /* C's again, D none */
    cp_contention_end(m, 60, 101);
    assert_int_equal(cp_contention_charge_counted_at(m, 200, &w), 0);
    assert_int_equal(w, 0);
}

struct hammer {
    const void *m;
    uint64_t base;
};

/* Many threads registering and leaving concurrently while another charges: the table's
 * counts stay consistent (after all leave, nothing is left to charge). */
static void *hammer(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 20000; i++) {
        uint64_t t0 = h->base + i;
        if (cp_contention_begin_at(h->m, t0))
            cp_contention_end(h->m, t0, t0 + 1);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    static int mu;
    pthread_t t[8];
    struct hammer h[8];
    for (int i = 0; i < 8; i++) {
        h[i] = (struct hammer){&mu, 1000000};
        pthread_create(&t[i], NULL, hammer, &h[i]);
    }
    for (int i = 0; i < 2000; i++)
        cp_contention_charge_at(&mu, 2000000 + i);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(cp_contention_charge_at(&mu, 9000000), 0);
}

/* Issue 31: a million distinct addresses, each contended once (one waiter through one
 * unlock, then gone), leave no entry behind; the last one is charged exactly. The old
 * table kept a slot per address ever contended and lost every mutex after 65,536. */
static void test_million_distinct(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    static char mutexes[1000000];
    uint32_t before = cp_contention_entries();
    for (int i = 0; i < 1000000; i++) {
        const void *m = &mutexes[i];
        uint64_t t0 = 1000 + (uint64_t)i * 10;
        assert_true(cp_contention_begin_at(m, t0));
        assert_int_equal(cp_contention_charge_at(m, t0 + 7), 7);
        cp_contention_end(m, t0, t0 + 8);
    }
    assert_int_equal(cp_contention_entries(), before);
    const void *last = &mutexes[999999];
    assert_true(cp_contention_begin_at(last, 5000000000ull));
    assert_true(cp_contention_begin_at(last, 5000000100ull));
    assert_int_equal(cp_contention_charge_at(last, 5041000000ull), 2 * 41000000ull - 100);
    cp_contention_end(last, 5000000000ull, 5041000001ull);
    cp_contention_end(last, 5000000100ull, 5041000002ull);
    assert_int_equal(cp_contention_entries(), before);
}

/* Many more addresses with a wait in progress at once than a bucket holds: a wait is
 * refused only when its own bucket is full, each refused one says so (false), and
 * every accepted one is charged exactly. */
static void test_waits_in_progress(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    static char many[40000];
    uint32_t before = cp_contention_entries();
    bool ok[40000];
    int accepted = 0;
    for (int i = 0; i < 40000; i++)
        accepted += ok[i] = cp_contention_begin_at(&many[i], 100);
    /* 40,000 over 4096 buckets of 8 (32,768 entries): some buckets overflow */
    printf("waits in progress: %d of 40000 registered\n", accepted);
    assert_true(accepted > 30000 && accepted < 40000);
    assert_int_equal(cp_contention_entries(), before + (uint32_t)accepted);
    for (int i = 0; i < 40000; i++) {
        assert_int_equal(cp_contention_charge_at(&many[i], 150), ok[i] ? 50 : 0);
        if (ok[i])
            cp_contention_end(&many[i], 100, 151);
    }
    assert_int_equal(cp_contention_entries(), before);
}

/* Condition variables: a broadcast registers every sleeper on the mutex from the
 * signal's time; a signal one; a waiter back from the wait ends one registration, or, with
 * none pending (a timeout), just leaves; nothing is left behind either way. The
 * condition variable's entry is in its mutex's bucket, an entry of the table while it has
 * sleepers or woken waiters not yet back. */
static void test_cond_reacquisition(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    static int cv, mu;
    uint64_t charged, at0;
    uint32_t before = cp_contention_entries();
    for (int i = 0; i < 3; i++)
        assert_true(cp_cond_sleep(&cv, &mu, false, &charged, &at0, &cw));
    assert_int_equal(charged, 0);
    assert_int_equal(at0, 0); /* no release: no clock read */
    assert_int_equal(cp_contention_entries(), before + 1);
    uint64_t t0 = cp_now_ns();
    cp_cond_signal(&cv, true);
    uint64_t t1 = cp_now_ns();
    assert_int_equal(cp_contention_entries(), before + 2);
    uint64_t at = t1 + 1000000;
    uint64_t c = cp_contention_charge_at(&mu, at);
    assert_true(c >= 3 * (at - t1) && c <= 3 * (at - t0));
    for (int i = 0; i < 3; i++)
        cp_cond_woke(&cv, &mu, at + 10);
    assert_int_equal(cp_contention_entries(), before);
    assert_int_equal(cp_contention_charge_at(&mu, at + 20), 0);

    /* two sleepers, one signal, both return (one timed out): one registration, ended once */
    assert_true(cp_cond_sleep(&cv, &mu, false, &charged, &at0, &cw));
    assert_true(cp_cond_sleep(&cv, &mu, false, &charged, &at0, &cw));
    cp_cond_signal(&cv, false);
    assert_true(cp_contention_charge_at(&mu, cp_now_ns() + 1000) >= 1000);
    cp_cond_woke(&cv, &mu, cp_now_ns());
    assert_int_equal(cp_contention_entries(), before + 1); /* the other still sleeps */
    cp_cond_woke(&cv, &mu, cp_now_ns());
    assert_int_equal(cp_contention_entries(), before);
    cp_cond_signal(&cv, true); /* nobody sleeps: nothing registered */
    assert_int_equal(cp_contention_entries(), before);

    /* a wait whose release hands the mutex over is charged its waiters' waiting so far,
     * at the clock read it returns */
    uint64_t w0 = cp_now_ns() - 5000;
    assert_true(cp_contention_begin_at(&mu, w0));
    assert_true(cp_cond_sleep(&cv, &mu, true, &charged, &at0, &cw));
    assert_true(at0 >= w0 + 5000);
    assert_int_equal(charged, at0 - w0);
    cp_contention_end(&mu, w0, cp_now_ns());
    cp_cond_woke(&cv, &mu, cp_now_ns());
    assert_int_equal(cp_contention_entries(), before);
}

/* The condition-variable map (contention.c) holds WAYS = 8 pairs a set: a ninth condition
 * variable of the same set replaces the first one's pair. A signal on the first then
 * registers nothing (its re-acquisition is charged to nobody), its woken waiter is taken
 * for a timeout, and nothing is left behind; the other eight are registered as usual. */
static void test_cond_map_forgets(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    static uint64_t space[1 << 16], mus[9];
    const void *cv[9];
    unsigned n = 0, set = 0;
    for (unsigned i = 0; i < (1u << 16) && n < 9; i++) { /* the map's hash of an address */
        unsigned h =
            (unsigned)((((uint64_t)(uintptr_t)&space[i] * 0x9E3779B97F4A7C15ull) >> 40) & 1023);
        if (n == 0)
            set = h;
        if (h == set)
            cv[n++] = &space[i];
    }
    assert_int_equal(n, 9);
    uint64_t charged, at0;
    uint32_t before = cp_contention_entries();
    for (int i = 0; i < 9; i++)
        assert_true(cp_cond_sleep(cv[i], &mus[i], false, &charged, &at0, &cw));
    assert_int_equal(cp_contention_entries(), before + 9);
    /* (the set may hold other tests' pairs too: then which of ours were replaced depends
     * on them, but at least one was) */
    int forgotten = 0;
    for (int i = 0; i < 9; i++) {
        uint32_t asleep = cp_contention_entries();
        cp_cond_signal(cv[i], false);
        uint64_t c = cp_contention_charge_at(&mus[i], cp_now_ns() + 1000);
        if (c == 0) { /* not registered: no mutex entry either */
            forgotten++;
            assert_int_equal(cp_contention_entries(), asleep);
        } else {
            assert_true(c >= 1000);
            assert_int_equal(cp_contention_entries(), asleep + 1);
        }
        cp_cond_woke(cv[i], &mus[i], cp_now_ns());
        assert_int_equal(cp_contention_entries(), asleep - 1);
    }
    printf("condition-variable map: %d of 9 in one set forgotten\n", forgotten);
    assert_true(forgotten >= 1);
    assert_int_equal(cp_contention_entries(), before);
}

/* Condition variables from many threads at once, as the shim calls in: sleep and signal
 * holding the program's mutex, the woken's return too, and signals without it (which
 * read the map and the bucket's hints unlocked, while the others write them), beside
 * plain waits on the same mutex. Every sleep is followed by one woke, so at the end
 * nothing is left: no entry, no registration (and, under TSan, no race reported). */
static pthread_mutex_t cc_real = PTHREAD_MUTEX_INITIALIZER;
static int cc_cv, cc_mu;
static int cc_stop;

static void *cond_worker(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 20000; i++) {
        uint64_t charged, at0;
        pthread_mutex_lock(&cc_real);
        bool slept = (i + id) % 2 && cp_cond_sleep(&cc_cv, &cc_mu, i % 3 == 0, &charged, &at0, &cw);
        cp_cond_signal(&cc_cv, i % 7 == 0);
        pthread_mutex_unlock(&cc_real);
        if (i % 5 == 0) { /* a plain wait on the same mutex */
            uint64_t t0;
            if (cp_contention_begin(&cc_mu, &t0, NULL))
                cp_contention_end(&cc_mu, t0, cp_now_ns());
        }
        pthread_mutex_lock(&cc_real);
        if (slept)
            cp_cond_woke(&cc_cv, &cc_mu, cp_now_ns());
        uint64_t now;
        cp_contention_charge(&cc_mu, &now, &cw);
        pthread_mutex_unlock(&cc_real);
    }
    return NULL;
}

static void *cond_outsider(void *arg)
{
    while (!__atomic_load_n(&cc_stop, __ATOMIC_RELAXED))
        cp_cond_signal(&cc_cv, false);
    return arg;
}

static void test_cond_concurrent(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    uint32_t before = cp_contention_entries();
    pthread_t t[4], o;
    pthread_create(&o, NULL, cond_outsider, NULL);
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, cond_worker, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    __atomic_store_n(&cc_stop, 1, __ATOMIC_RELAXED);
    pthread_join(o, NULL);
    assert_int_equal(cp_contention_entries(), before);
    assert_int_equal(cp_contention_charge_at(&cc_mu, cp_now_ns() + 1000), 0);
}

/* An rwlock's leaving readers decide under the table's lock (cp_contention_hold): nothing
 * is held when nobody waits; with a waiter, the charge taken holding it is the waiting so
 * far, and it is taken once (the next charge has only what accrued since). */
static void test_hold(void **state)
{
    assert_int_equal(cp_contention_init(), 0);
    static int rw;
    assert_null(cp_contention_hold(&rw));
    uint64_t t0 = cp_now_ns() - 1000;
    assert_true(cp_contention_begin_at(&rw, t0));
    void *h = cp_contention_hold(&rw);
    assert_non_null(h);
    uint64_t now, c = cp_contention_charge_held(h, &rw, &now, &cw);
    cp_contention_unhold(h);
    assert_true(now >= t0 + 1000);
    assert_int_equal(c, now - t0);
    assert_int_equal(cp_contention_charge_at(&rw, now + 5), 5);
    cp_contention_end(&rw, t0, now + 6);
    assert_null(cp_contention_hold(&rw));
}

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The waits' clock (contention.h's cp_now_ns): the vDSO until cp_waitclock_step has read
 * its two pairs 20 ms apart, then the TSC, converted: it reads CLOCK_MONOTONIC's time to
 * within a few us, and measures an interval as CLOCK_MONOTONIC does to within 0.1%.
 * Last in the list (the others' waits are timed by whichever clock is on). */
static void test_waitclock(void **state)
{
    assert_int_equal(cp_elapsed(3, 5), 2);
    assert_int_equal(cp_elapsed(5, 3), 0);
    cp_stamp_init(false); /* start-up's: reads cpuid (the step no longer does) */
    assert_false(__atomic_load_n(&cp_waitclock_on, __ATOMIC_ACQUIRE));
    uint64_t a = mono(), n = cp_now_ns(), b = mono();
    assert_true(n >= a && n <= b); /* the vDSO's, until calibrated */
    uint64_t t0 = mono();
    unsigned calls = 0;
    for (uint64_t d; (d = cp_waitclock_step()) != 0 && calls < 100; calls++) {
        assert_true(d <= 20000000u);
        struct timespec ts = {0, (long)d};
        nanosleep(&ts, NULL);
    }
    if (!__atomic_load_n(&cp_waitclock_on, __ATOMIC_ACQUIRE)) {
        /* no invariant TSC, or the kernel keeps time with another clock source */
        print_message("waitclock: the TSC is not trusted here: the vDSO stays the clock\n");
        skip();
    }
    assert_true(mono() - t0 >= 20000000u); /* the baseline */
    assert_true(calls <= 20);
    assert_int_equal(cp_waitclock_step(), 0); /* once only */
    assert_true(__atomic_load_n(&cp_waitclock_on, __ATOMIC_ACQUIRE));
    /* its time: inside a bracket of CLOCK_MONOTONIC readings, give or take 5 us (the
     * tightest of a few tries: a preemption between the reads widens one) */
    uint64_t best = UINT64_MAX;
    int64_t off = 0;
    for (int i = 0; i < 20; i++) {
        a = mono();
        n = cp_now_ns();
        b = mono();
        if (b - a < best) {
            best = b - a;
            off = n < a ? -(int64_t)(a - n) : n > b ? (int64_t)(n - b) : 0;
        }
    }
    print_message("waitclock: %lld ns outside a %llu ns bracket\n", (long long)off,
                  (unsigned long long)best);
    assert_true(off > -5000 && off < 5000);
    /* an interval: 50 ms by both clocks, each end a TSC reading between two of
     * CLOCK_MONOTONIC (their midpoint); the closest of five tries (a preemption between
     * the reads, or a sanitizer's interceptor, puts one off by ~100 us: TSan in CI) */
    double err = 1e18, dm = 0, dw = 0;
    for (int i = 0; i < 5 && err >= dm * 1e-3 + 20000; i++) {
        uint64_t m0 = mono(), w0 = cp_now_ns(), m0b = mono();
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
        uint64_t m1a = mono(), w1 = cp_now_ns(), m1 = mono();
        double m = ((double)m1a + (double)m1) / 2 - ((double)m0 + (double)m0b) / 2;
        double w = (double)cp_elapsed(w0, w1);
        /* the brackets' widths are what the midpoints may be off by */
        double e = fabs(w - m) - (double)(m0b - m0) / 2 - (double)(m1 - m1a) / 2;
        if (e < err) {
            err = e;
            dm = m;
            dw = w;
        }
    }
    print_message("waitclock: 50 ms slept: %.0f ns by CLOCK_MONOTONIC, %.0f by the TSC\n", dm, dw);
    assert_true(err < dm * 1e-3 + 20000);
    /* a million readings in a row never go back by more than a few ns (CPUs' TSCs in step) */
    uint64_t prev = cp_now_ns();
    for (int i = 0; i < 1000000; i++) {
        uint64_t t = cp_now_ns();
        assert_true(t + 1000 > prev);
        prev = t;
    }
}

/* A program that forbids its threads the TSC (prctl PR_SET_TSC, PR_TSC_SIGSEGV): the shim
 * calls cp_prof_tsc_denied before the call, and from then on the waits' clock is the
 * system call's, never the TSC nor the vDSO (both fault), whatever the calibration does
 * later. In a fork child that forbids itself the TSC for real (a fault kills it: its
 * status says so). */
static int denied_child(void)
{
    cp_prof_tsc_denied();
    if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) != 0)
        return 77;
    if (__atomic_load_n(&cp_waitclock_on, __ATOMIC_ACQUIRE) != CP_WAITCLOCK_NOTSC)
        return 2;
    uint64_t t0 = cp_now_ns();
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    uint64_t d = cp_elapsed(t0, cp_now_ns());
    if (d < 20000000u || d > 2000000000u)
        return 3;
    for (int i = 0; i < 5; i++)
        cp_waitclock_step(); /* reads nothing, and never turns the TSC back on */
    if (__atomic_load_n(&cp_waitclock_on, __ATOMIC_ACQUIRE) != CP_WAITCLOCK_NOTSC)
        return 4;
    uint64_t prev = cp_now_ns();
    for (int i = 0; i < 1000; i++) {
        uint64_t t = cp_now_ns();
        if (t < prev)
            return 5;
        prev = t;
    }
    return 0;
}

/* A real-time thread waiting for a waiter-table bucket that a normal thread holds, both on
 * one CPU: the holder runs only when the waiter stops spinning. It yielded (spin.h), which
 * lets no lower priority run, and waited until the kernel's real-time throttling gave the
 * holder its 5% (~0.95 s here; for ever where throttling is off); now it sleeps after
 * ~1,100 looks (cp_backoff). In a fork child (it changes its scheduling); needs the
 * privilege to set SCHED_FIFO (skipped visibly without it). */
static int inv_word;
static int inv_held, inv_go; /* atomic */

static void *inv_holder(void *arg)
{
    void *h = cp_contention_hold(&inv_word);
    __atomic_store_n(&inv_held, h ? 1 : -1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&inv_go, __ATOMIC_SEQ_CST))
        sched_yield();
    uint64_t t = mono();
    while (mono() - t < 2000000u) /* 2 ms of work, holding it */
        ;
    if (h)
        cp_contention_unhold(h);
    return arg;
}

static int inversion_child(void)
{
    alarm(20); /* (without the fix and with throttling off it never ends) */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0 || cp_contention_init() != 0)
        return 2;
    if (!cp_contention_begin_at(&inv_word, cp_now_ns()))
        return 3;
    pthread_t t;
    if (pthread_create(&t, NULL, inv_holder, NULL) != 0)
        return 4;
    while (!__atomic_load_n(&inv_held, __ATOMIC_SEQ_CST))
        sched_yield();
    struct sched_param rt = {.sched_priority = 10}, normal = {.sched_priority = 0};
    int rc = 0;
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &rt) != 0) {
        rc = 77;
        __atomic_store_n(&inv_go, 1, __ATOMIC_SEQ_CST);
    } else {
        __atomic_store_n(&inv_go, 1, __ATOMIC_SEQ_CST);
        uint64_t t0 = mono();
        cp_contention_charge_at(&inv_word, cp_now_ns()); /* the bucket's lock: spins */
        uint64_t waited = mono() - t0;
        pthread_setschedparam(pthread_self(), SCHED_OTHER, &normal);
        fprintf(stderr, "inversion: the real-time waiter waited %llu us for a 2 ms holder\n",
                (unsigned long long)(waited / 1000));
        rc = waited < 300000000u ? 0 : 5;
    }
    pthread_join(t, NULL);
    return rc;
}

/* body in a fork child: its exit status must be 0; 77 is a visible skip (why: unsupported) */
static void in_child(int (*body)(void), const char *unsupported)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(body());
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        print_message("%s: not run\n", unsupported);
        skip();
    }
    if (WIFSIGNALED(st))
        print_message("the child died of signal %d\n", WTERMSIG(st));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_rt_waiter_lets_holder_run(void **state)
{
    in_child(inversion_child, "inversion: SCHED_FIFO not allowed here");
}

static void test_waitclock_denied(void **state)
{
    in_child(denied_child, "waitclock: no PR_SET_TSC here");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_mapped_at_first_wait),
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_charges_sum_to_waits),
        cmocka_unit_test(test_unknown_mutex_is_free),
        cmocka_unit_test(test_block_unbiased),
        cmocka_unit_test(test_mutex_fraction),
        cmocka_unit_test(test_block_lock_fraction),
        cmocka_unit_test(test_mutex_gap),
        cmocka_unit_test(test_block_threshold),
        cmocka_unit_test(test_block_pace),
        cmocka_unit_test(test_block_paced_unbiased),
        cmocka_unit_test(test_waits_counted_once),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_million_distinct),
        cmocka_unit_test(test_waits_in_progress),
        cmocka_unit_test(test_cond_reacquisition),
        cmocka_unit_test(test_cond_map_forgets),
        cmocka_unit_test(test_cond_concurrent),
        cmocka_unit_test(test_hold),
        cmocka_unit_test(test_waitclock),
        cmocka_unit_test(test_waitclock_denied),
        cmocka_unit_test(test_rt_waiter_lets_holder_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
