/* test_heaptime.c — core/heaptime.c: the lazy peak snapshot against a brute-force copy of
 * every bucket at every new maximum, the lifetime classes and their boundaries, what is
 * published of them (every class that changed, only the change), an address
 * reused across rings (a free that finds a newer birth), the unbiased total at a sampling
 * rate, and what a fork child starts from. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h> /* after the headers it needs */

#include "bucket.h"
#include "heaptime.h"
#include "names.h"
#include "prof.h"
#include "timeline.h"

#define NB 16

static struct cp_bucket *bk[NB];

/* A bucket is a site (bucket.h): these tests give each of bk[] one size, 8 (b + 1), and
 * any other bucket 4096 bytes. */
static uint64_t bsize(const struct cp_bucket *b)
{
    for (int i = 0; i < NB; i++)
        if (bk[i] == b)
            return 8 * (uint64_t)(i + 1);
    return 4096;
}

static int setup(void **state)
{
    (void)state;
    static int done;
    if (!done) {
        assert_int_equal(cp_bucket_init(64 << 20, 16), 0);
        done = 1;
    }
    for (int b = 0; b < NB; b++) {
        uintptr_t pcs[2] = {0x1000 + (uintptr_t)b, 0x2000};
        bk[b] = cp_bucket_get(CP_HEAP, pcs, 2);
        assert_non_null(bk[b]);
        /* (as resolve.c's count_heap marks a site before heaptime.c sees its sample) */
        bk[b]->u.mem.size0 = bsize(bk[b]);
        bk[b]->u.mem.sized = 1;
        bk[b]->u.mem.mixed = 0;
    }
    return 0;
}

static void test_class_boundaries(void **state)
{
    (void)state;
    assert_int_equal(cp_ht_class(0), 0);
    assert_int_equal(cp_ht_class(999), 0);
    assert_int_equal(cp_ht_class(1000), 1);       /* 1 us */
    assert_int_equal(cp_ht_class(999999), 3);     /* under 1 ms */
    assert_int_equal(cp_ht_class(1000000), 4);    /* 1 ms */
    assert_int_equal(cp_ht_class(9999999999), 7); /* under 10 s */
    assert_int_equal(cp_ht_class(10000000000), 8);
    assert_int_equal(cp_ht_class(UINT64_MAX), 8);
    /* the tables against the definition: every decade bound and power of two, +-1, and
     * values between */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 64 * 3 + 20000; i++) {
        uint64_t ns;
        if (i < 64 * 3) {
            ns = ((uint64_t)1 << (i / 3)) + (uint64_t)(i % 3) - 1;
        } else if (i < 64 * 3 + 60) {
            uint64_t p = 1;
            for (int d = 0; d < (i - 64 * 3) / 3; d++)
                p *= 10;
            ns = p + (uint64_t)((i - 64 * 3) % 3) - 1;
        } else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            ns = x >> (x & 63);
        }
        unsigned k = 0;
        for (uint64_t lim = 1000; k < CP_NLIFE - 1 && ns >= lim; lim *= 10)
            k++;
        assert_int_equal(cp_ht_class(ns), k);
    }
}

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* TSC stamps (stampclock.h), converted when applied: each lifetime from 300 ns to 30 ms,
 * measured around by CLOCK_MONOTONIC, converts to within 1% + 150 ns of the clock's own
 * measure, in the same decade class (unless the clock's measure is within 2% of a
 * boundary), and a stamp converts to within 2 us of the clock's readings around it; the calibration
 * reads a logarithmic number of pairs, not one a stamp. Skipped where the TSC is not
 * used (not invariant, or not the kernel's clock source). */
static void test_tsc_stamps(void **state)
{
    (void)state;
    cp_ht_init(1, 1000, true);
    if (!cp_stamp_tsc_on()) {
        skip();
        return;
    }
    assert_int_equal(cp_stamp_ns(12345), 12345); /* a CLOCK_MONOTONIC stamp stays */
    assert_int_equal(cp_stamp_ns(0), 0);
    static const uint64_t dur[] = {300, 2000, 20000, 200000, 3000000, 30000000};
    for (int rep = 0; rep < 3; rep++)
        for (unsigned i = 0; i < sizeof dur / sizeof *dur; i++) {
            uint64_t na = mono();
            uint64_t s0 = cp_ht_stamp();
            uint64_t n0 = mono(), n1;
            while ((n1 = mono()) - n0 < dur[i])
                ;
            uint64_t s1 = cp_ht_stamp();
            uint64_t n2 = mono();
            assert_true(s0 & CP_STAMP_TSC);
            uint64_t c0 = cp_stamp_ns(s0), c1 = cp_stamp_ns(s1);
            assert_true(c1 >= c0);
            /* s0 lies between na and n0, s1 between n1 and n2 (a preemption anywhere
             * only widens the bounds) */
            uint64_t life = c1 - c0, lo = n1 - n0, hi = n2 - na;
            uint64_t tol = hi / 100 + 150;
            if (life + tol < lo || life > hi + tol)
                fail_msg("lifetime %llu ns converted, clock %llu..%llu ns",
                         (unsigned long long)life, (unsigned long long)lo, (unsigned long long)hi);
            if (c1 + 2000 < n1 || c1 > n2 + 2000)
                fail_msg("a stamp converts to %llu, read between %llu and %llu",
                         (unsigned long long)c1, (unsigned long long)n1, (unsigned long long)n2);
            /* classes: the same when the clock's measure is not near a boundary */
            bool near = false;
            for (uint64_t b = 1000; b <= 10000000000ull; b *= 10)
                if (hi + hi / 50 >= b && lo <= b + b / 50)
                    near = true;
            if (!near)
                assert_int_equal(cp_ht_class(life), cp_ht_class(lo));
        }
    assert_true(cp_stamp_calibrations() < 40);
}

/* Objects of ~50 ns lifetimes whose allocations and frees are applied with other events'
 * stamps converted in between, over 60 ms (so TSC calibrations fall between an object's
 * allocation and its free): every lifetime in the first class, none lost. (Converting the
 * birth when its allocation was applied, with the ratio of then, put some ~1 us off.) */
static void test_tsc_lifetimes_across_calibrations(void **state)
{
    (void)state;
    cp_ht_init(1, 1000, true);
    if (!cp_stamp_tsc_on()) {
        skip();
        return;
    }
    cp_ht_atfork_child(true);
    enum { N = 60 };
    static uint64_t sa[N], sf[N];
    uint64_t before = cp_ht_bucket_life(bk[0], 0, false);
    unsigned cal0 = cp_stamp_calibrations();
    for (int i = 0; i < N; i++) {
        /* two stamps ~50 ns apart: taken again if the thread was preempted between them
         * (a loaded CI under ASan once put one pair past 1 us: 59 of 60 in the class) */
        for (int tries = 0; tries < 1000; tries++) {
            uint64_t t0 = mono();
            sa[i] = cp_ht_stamp();
            sf[i] = cp_ht_stamp();
            if (mono() - t0 < 500)
                break;
        }
        uint64_t n0 = mono();
        while (mono() - n0 < 1000000) /* 1 ms */
            ;
        cp_ht_alloc(bk[0], 8, sa[i]);
        if (i > 0)
            cp_ht_free(bk[0], 8, sf[i - 1], sa[i - 1]);
    }
    cp_ht_free(bk[0], 8, sf[N - 1], sa[N - 1]);
    assert_true(cp_stamp_calibrations() > cal0); /* some fell in between */
    assert_int_equal(cp_ht_bucket_life(bk[0], 0, false) - before, N);
}

/* Random allocations and frees over NB buckets at rate 1: at every step the brute force
 * copies every bucket's count when the total passes its maximum; the lazy snapshot must
 * give the same counts, at the end and at checkpoints in between. */
static void test_peak_matches_brute_force(void **state)
{
    (void)state;
    cp_ht_init(1, 1000, true);
    cp_ht_atfork_child(true); /* a clean slate for the buckets made by earlier tests */
    static uint64_t born[20000];
    static int lb[20000];
    int nlive = 0;
    int64_t cur[NB] = {0}, atpk[NB] = {0};
    double total = 0, peak = 0;
    uint64_t rng = 12345, t = 1000;
    for (int step = 0; step < 200000; step++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(rng >> 33);
        /* drift up and down: grow for a while, then shrink */
        int grow = ((step / 5000) % 2 == 0) ? (r % 100 < 60) : (r % 100 < 40);
        t += 10;
        if ((grow || nlive == 0) && nlive < 20000) {
            int b = (int)(r % NB);
            cp_ht_alloc(bk[b], bsize(bk[b]), t);
            born[nlive] = t;
            lb[nlive++] = b;
            cur[b]++;
            total += 8.0 * (b + 1);
            if (total > peak) {
                peak = total;
                memcpy(atpk, cur, sizeof cur);
            }
        } else {
            int k = (int)((r >> 8) % (unsigned)nlive);
            cp_ht_free(bk[lb[k]], bsize(bk[lb[k]]), t, born[k]);
            cur[lb[k]]--;
            total -= 8.0 * (lb[k] + 1);
            born[k] = born[--nlive];
            lb[k] = lb[nlive];
        }
        if (step % 20011 == 0 || step == 199999)
            for (int b = 0; b < NB; b++)
                assert_int_equal(cp_ht_bucket_peak(bk[b], false), (uint64_t)atpk[b]);
    }
    double in, pk;
    uint64_t pk_ns;
    cp_ht_stats(&in, &pk, &pk_ns);
    assert_true(in == total);
    assert_true(pk == peak);
}

static void test_lifetimes(void **state)
{
    (void)state;
    cp_ht_init(1, 1000, true);
    cp_ht_atfork_child(true);
    const uint64_t d[] = {500,      5000,      50000,         500000,        5000000,
                          50000000, 500000000, 5000000000ull, 50000000000ull};
    for (unsigned k = 0; k < 9; k++) {
        cp_ht_alloc(bk[0], bsize(bk[0]), 100 + k);
        cp_ht_free(bk[0], bsize(bk[0]), 100 + k + d[k], 100 + k);
    }
    for (unsigned k = 0; k < 9; k++)
        assert_int_equal(cp_ht_bucket_life(bk[0], k, false), 1);
    /* an address freed on one ring and reused on another, the new allocation drained
     * first: each free carries its own object's birth (the live table kept it), so both
     * are classed, whatever the order (until session 21 the old free found the newer
     * birth and was left out) */
    cp_ht_alloc(bk[1], bsize(bk[1]), 1000);              /* old object */
    cp_ht_alloc(bk[1], bsize(bk[1]), 5000000);           /* the reuse, drained first */
    cp_ht_free(bk[1], bsize(bk[1]), 50000 + 1000, 1000); /* the old object's: 50 us */
    cp_ht_free(bk[1], bsize(bk[1]), 5000500, 5000000);   /* the new object's: 500 ns */
    uint64_t sum = 0;
    for (unsigned k = 0; k < 9; k++)
        sum += cp_ht_bucket_life(bk[1], k, false);
    assert_int_equal(sum, 2);
    assert_int_equal(cp_ht_bucket_life(bk[1], 0, false), 1);
    assert_int_equal(cp_ht_bucket_life(bk[1], 2, false), 1);
    /* a free whose time (t 0) or birth (0) is unknown, or whose birth is later than its
     * time, is not classed */
    cp_ht_alloc(bk[2], bsize(bk[2]), 10);
    cp_ht_free(bk[2], bsize(bk[2]), 0, 10);
    cp_ht_alloc(bk[2], bsize(bk[2]), 10);
    cp_ht_free(bk[2], bsize(bk[2]), 20, 0);
    cp_ht_alloc(bk[2], bsize(bk[2]), 10);
    cp_ht_free(bk[2], bsize(bk[2]), 20, 30);
    for (unsigned k = 0; k < 9; k++)
        assert_int_equal(cp_ht_bucket_life(bk[2], k, false), 0);
}

/* At a sampling rate each sampled object stands for size / (1 - exp(-size/rate)) bytes,
 * the report's unbiasing: the running total is that estimate. */
static void test_unbiased_total(void **state)
{
    (void)state;
    cp_ht_init(524288, 1000, true);
    cp_ht_atfork_child(true);
    struct cp_bucket *b;
    uintptr_t pcs[1] = {0x7777};
    b = cp_bucket_get(CP_HEAP, pcs, 1);
    for (int i = 0; i < 10; i++)
        cp_ht_alloc(b, bsize(b), 1);
    double in, pk;
    uint64_t ns;
    cp_ht_stats(&in, &pk, &ns);
    double want = 10 * 4096 / (1 - exp(-4096.0 / 524288));
    /* (the weight is kept in 1/65536 of an object, rounded: hweight.h) */
    assert_true(fabs(in - want) / want < 1e-5);
    assert_true(pk == in);
    /* a fork child starts from nothing */
    cp_ht_atfork_child(false);
    cp_ht_stats(&in, &pk, &ns);
    assert_true(in == 0 && pk == 0);
    assert_int_equal(cp_ht_bucket_peak(b, false), 0);
}

/* One site of many sizes at a sampling rate (a bucket is a site, bucket.h): each sample
 * weighs by its own size (hweight.h), so the site's objects and bytes at the peak and
 * freed per lifetime class are the sums of the samples' own weights, Go's 1/(1-exp(-s/r))
 * (to the 1/65536 the engine keeps it in), and freeing every object brings its in-use
 * back to exactly 0. */
static void test_mixed_sizes_weighted(void **state)
{
    (void)state;
    const double rate = 524288;
    cp_ht_init((uint64_t)rate, 1000, true);
    cp_ht_atfork_child(true);
    struct cp_bucket *b = bk[5];
    b->u.mem.size0 = 16;
    b->u.mem.mixed = 1; /* (its sizes differ from its first sample on) */
    double objs = 0, bytes = 0;
    uint64_t s = 16;
    for (int i = 0; i < 200; i++, s = s * 5 / 4 + 1) {
        if (s > (1u << 24))
            s = 16;
        double w = 1 / (1 - exp(-(double)s / rate));
        objs += w;
        bytes += w * (double)s;
        cp_ht_alloc(b, s, 100);
    }
    uint64_t po = cp_ht_bucket_peak(b, false), pb = cp_ht_bucket_peak(b, true);
    assert_true(fabs((double)po - objs) <= 1 + objs * 1e-5);
    assert_true(fabs((double)pb - bytes) <= 1 + bytes * 1e-5);
    s = 16;
    for (int i = 0; i < 200; i++, s = s * 5 / 4 + 1) {
        if (s > (1u << 24))
            s = 16;
        cp_ht_free(b, s, 100 + 500, 100);
    }
    /* every object freed in class 0 (500 ns): the class holds what the peak held */
    assert_int_equal(cp_ht_bucket_life(b, 0, false), po);
    assert_int_equal(cp_ht_bucket_life(b, 0, true), pb);
    double in, pk;
    uint64_t ns;
    cp_ht_stats(&in, &pk, &ns);
    assert_true(fabs(in) <= 1e-9 * pk); /* (a double sum: the same terms added, then taken) */
    assert_true(fabs(pk - bytes) <= 1e-5 * bytes);
}

/* The timeline through a sink that keeps the counters by name: bounded at CP_TL_MAX
 * points however many ticks, the whole run still covered, a spike kept by the pairing. */
static uint64_t tl_ctr[CP_TL_MAX][4], tl_n;
static uint64_t *tl_named(const char *name)
{
    static const char *const f[4] = {"ms", "heap", "rss", "alloc"};
    const char *c = strchr(name + 17, ':'); /* after "ctrprof/timeline:<pid>" */
    if (!c)
        return NULL;
    if (!strcmp(c + 1, "n"))
        return &tl_n;
    unsigned i = (unsigned)strtoul(c + 1, NULL, 10);
    const char *g = strchr(c + 1, ':');
    for (int k = 0; g && k < 4 && i < CP_TL_MAX; k++)
        if (!strcmp(g + 1, f[k]))
            return &tl_ctr[i][k];
    return NULL;
}
static uint64_t *tl_bucket(struct cp_bucket *b, int which)
{
    (void)b;
    (void)which;
    return NULL;
}

/* A site's bytes are kept only once it has had two sizes (until then they are its objects
 * times its first size): a site that becomes mixed after objects of its first size were
 * allocated, freed in two classes and live at a peak has, from then on, the bytes a
 * brute-force sum gives, at the peak and per class. */
static void test_bytes_once_mixed(void **state)
{
    (void)state;
    cp_ht_init(1, 1000, true);
    cp_ht_atfork_child(true);
    struct cp_bucket *b = bk[6]; /* 56 bytes, one size so far */
    /* 10 objects of 56: 4 freed at 500 ns (class 0, the implied one), 3 at 50 us (class 2) */
    for (int i = 0; i < 10; i++)
        cp_ht_alloc(b, 56, 1000);
    for (int i = 0; i < 7; i++)
        cp_ht_free(b, 56, 1000 + (i < 4 ? 500 : 50000), 1000);
    assert_int_equal(cp_ht_bucket_peak(b, true), 560);
    /* now another size (count_heap marks the site mixed before heaptime.c sees it): 5 of
     * 1000 bytes, a new peak of 3 x 56 + 5000; 2 of them freed in class 2, 1 in class 5 */
    b->u.mem.mixed = 1;
    for (int i = 10; i < 15; i++)
        cp_ht_alloc(b, 1000, 2000);
    assert_int_equal(cp_ht_bucket_peak(b, false), 8);
    assert_int_equal(cp_ht_bucket_peak(b, true), 3 * 56 + 5000);
    for (int i = 10; i < 13; i++)
        cp_ht_free(b, 1000, 2000 + (i < 12 ? 50000 : 50000000), 2000);
    assert_int_equal(cp_ht_bucket_life(b, 0, false), 4);
    assert_int_equal(cp_ht_bucket_life(b, 0, true), 4 * 56);
    assert_int_equal(cp_ht_bucket_life(b, 2, false), 5);
    assert_int_equal(cp_ht_bucket_life(b, 2, true), 3 * 56 + 2 * 1000);
    assert_int_equal(cp_ht_bucket_life(b, 5, true), 1000);
    assert_int_equal(cp_ht_bucket_peak(b, true), 3 * 56 + 5000); /* (the peak has not moved) */
    /* the last ones: in use 0 */
    for (int i = 7; i < 10; i++)
        cp_ht_free(b, 56, 3000, 1000);
    for (int i = 13; i < 15; i++)
        cp_ht_free(b, 1000, 3000, 2000);
    double in, pk;
    uint64_t ns;
    cp_ht_stats(&in, &pk, &ns);
    assert_true(in == 0 && pk == 3 * 56 + 5000);
}

/* What cp_ht_publish adds to the lifetime counters: every class that changed since the
 * last publication, several in one publication (a flusher's flush drains many frees), and
 * only the change; never the bucket's first class, which its free record implies
 * (Ctrprof-Format 4: stacktab.c names it after cp_ht_implied_class). */
static bool never_waits(void)
{
    return false;
}
static uint64_t life_ctr[CP_NCLASS], other_ctr;
static uint64_t *life_bucket(struct cp_bucket *b, int which)
{
    if (b != bk[3])
        return &other_ctr;
    return which >= CP_NAME_LIFE0 && which < CP_NAME_LIFE0 + CP_NCLASS
               ? &life_ctr[which - CP_NAME_LIFE0]
               : &other_ctr;
}
static uint64_t *life_named(const char *name)
{
    (void)name;
    return NULL;
}

static void test_lifetimes_published(void **state)
{
    (void)state;
    static const struct cp_ht_sink sink = {life_bucket, life_named, never_waits};
    cp_ht_init(1, 1000, true);
    cp_ht_atfork_child(true);
    memset(life_ctr, 0, sizeof life_ctr);
    const uint64_t d[] = {500,      5000,      50000,         500000,        5000000,
                          50000000, 500000000, 5000000000ull, 50000000000ull};
    uint64_t want[CP_NCLASS] = {0};
    /* classes 8 (the first: implied, never published), 2, 5 and 2 again, then one
     * publication */
    const unsigned first[] = {8, 2, 5, 2};
    for (unsigned i = 0; i < 4; i++) {
        cp_ht_alloc(bk[3], bsize(bk[3]), 100);
        cp_ht_free(bk[3], bsize(bk[3]), 100 + d[first[i]], 100);
        want[first[i]] += i > 0;
    }
    assert_int_equal(cp_ht_implied_class(bk[3]), 8);
    cp_ht_publish(&sink, true);
    for (unsigned k = 0; k < CP_NCLASS; k++)
        assert_int_equal(life_ctr[k], want[k]);
    assert_int_equal(cp_ht_bucket_life(bk[3], 8, false), 1);
    assert_int_equal(cp_ht_bucket_life(bk[3], 2, false), 2);
    /* one more in class 0 and one in class 5: only those move */
    const unsigned second[] = {0, 5};
    for (unsigned i = 0; i < 2; i++) {
        cp_ht_alloc(bk[3], bsize(bk[3]), 100);
        cp_ht_free(bk[3], bsize(bk[3]), 100 + d[second[i]], 100);
        want[second[i]]++;
    }
    cp_ht_publish(&sink, false);
    for (unsigned k = 0; k < CP_NCLASS; k++)
        assert_int_equal(life_ctr[k], want[k]);
    cp_ht_publish(&sink, false); /* nothing new: nothing added */
    for (unsigned k = 0; k < CP_NCLASS; k++)
        assert_int_equal(life_ctr[k], want[k]);
    /* a free whose birth is not known: class u (CP_LIFE_NONE), a counter of its own */
    cp_ht_free(bk[3], bsize(bk[3]), 100, 0);
    want[CP_LIFE_NONE]++;
    cp_ht_publish_life(&sink);
    for (unsigned k = 0; k < CP_NCLASS; k++)
        assert_int_equal(life_ctr[k], want[k]);
    assert_int_equal(cp_ht_implied_class(bk[3]), 8);
}

static void test_timeline_bounded(void **state)
{
    (void)state;
    static const struct cp_ht_sink sink = {tl_bucket, tl_named, never_waits};
    cp_tl_init(10);
    /* 10,000 ticks 10 ms apart: pairings as the points run out; spikes at ticks 3333, 5556
     * and 7777, forced points (a point is the heap at its moment: a spike between points is not
     * seen), which every later pairing must keep */
    for (uint64_t k = 0; k < 10000; k++) {
        bool sp = k == 3333 || k == 5556 || k == 7777;
        cp_tl_tick(k * 10000000, sp ? 1e9 : (double)k, (double)k * 2, sp);
        if (k % 97 == 0)
            cp_tl_publish(&sink);
    }
    cp_tl_publish(&sink);
    assert_true(tl_n <= CP_TL_MAX && tl_n >= CP_TL_MAX / 2);
    uint64_t spike = 0, last = 0;
    for (uint64_t i = 0; i < tl_n; i++) {
        if (i)
            assert_true(tl_ctr[i][0] > tl_ctr[i - 1][0]); /* in time order */
        spike += tl_ctr[i][1] == 1000000000;
        last = tl_ctr[i][0];
    }
    assert_int_equal(spike, 3);
    assert_true(tl_ctr[0][0] <= 200); /* the start is still there */
    assert_true(last >= 99990 - 160); /* and the end: within one (doubled) step */
}

/* Counters the file cannot make for now (a program at its descriptor limit: the sink's
 * waits() is true): what the heap over time would count waits, and goes out whole once
 * they can be made: the lifetime classes, the site's peak, the timeline. Until session 26
 * the site (or point) stopped for good. No try is made again before a flush interval
 * (every inline flush would try, at rate 1 each event), unless forced (the final flush). */
static bool refusing;
static unsigned wait_calls;
static uint64_t wlife[CP_NCLASS], wpeak, wother, wtl_n;
static uint64_t *wait_bucket(struct cp_bucket *b, int which)
{
    wait_calls++;
    if (refusing)
        return NULL;
    if (b == bk[3] && which >= CP_NAME_LIFE0 && which < CP_NAME_LIFE0 + CP_NCLASS)
        return &wlife[which - CP_NAME_LIFE0];
    return b == bk[3] && which == CP_NAME_PEAK ? &wpeak : &wother;
}
static uint64_t *wait_named(const char *name)
{
    wait_calls++;
    if (refusing)
        return NULL;
    size_t n = strlen(name);
    return !strncmp(name, "ctrprof/timeline:", 17) && n > 2 && !strcmp(name + n - 2, ":n")
               ? &wtl_n
               : &wother;
}
static bool wait_waits(void)
{
    return refusing;
}

static void test_counters_that_wait(void **state)
{
    (void)state;
    static const struct cp_ht_sink sink = {wait_bucket, wait_named, wait_waits};
    cp_ht_init(1, 60000, true); /* (an interval no test run reaches) */
    cp_ht_atfork_child(true);
    const uint64_t d[] = {500,      5000,      50000,         500000,        5000000,
                          50000000, 500000000, 5000000000ull, 50000000000ull};
    uint64_t want[CP_NCLASS] = {0};
    for (int i = 0; i < 3; i++) /* in use at the peak: 3, and 1 more below */
        cp_ht_alloc(bk[3], bsize(bk[3]), 100);
    const unsigned cls[] = {8, 2, 5, 2};
    for (unsigned i = 0; i < 4; i++) {
        cp_ht_alloc(bk[3], bsize(bk[3]), 100);
        cp_ht_free(bk[3], bsize(bk[3]), 100 + d[cls[i]], 100);
        want[cls[i]] += i > 0; /* (class 8, the first, is implied) */
    }
    refusing = true;
    wait_calls = 0;
    cp_ht_publish(&sink, true);
    assert_true(wait_calls > 0);
    unsigned tried = wait_calls;
    cp_ht_publish(&sink, false); /* held back: no try */
    cp_ht_publish_life(&sink);
    assert_int_equal(wait_calls, tried);
    refusing = false;
    cp_ht_publish(&sink, false); /* still held back (the interval) */
    assert_int_equal(wait_calls, tried);
    for (unsigned k = 0; k < CP_NCLASS; k++)
        assert_int_equal(wlife[k], 0);
    assert_int_equal(wpeak, 0);
    assert_int_equal(wtl_n, 0);
    cp_ht_publish(&sink, true); /* forced: everything that waited */
    for (unsigned k = 0; k < CP_NCLASS; k++)
        assert_int_equal(wlife[k], want[k]);
    assert_int_equal(wpeak, 4);
    assert_int_equal(cp_ht_bucket_peak(bk[3], false), 4);
    assert_true(wtl_n >= 1);
    /* and from then on as usual: a new class at the next publication */
    cp_ht_alloc(bk[3], bsize(bk[3]), 100);
    cp_ht_free(bk[3], bsize(bk[3]), 100 + d[0], 100);
    want[0]++;
    cp_ht_publish_life(&sink);
    for (unsigned k = 0; k < CP_NCLASS; k++)
        assert_int_equal(wlife[k], want[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_boundaries),
        cmocka_unit_test(test_tsc_stamps),
        cmocka_unit_test_setup(test_tsc_lifetimes_across_calibrations, setup),
        cmocka_unit_test_setup(test_peak_matches_brute_force, setup),
        cmocka_unit_test_setup(test_lifetimes, setup),
        cmocka_unit_test_setup(test_unbiased_total, setup),
        cmocka_unit_test_setup(test_lifetimes_published, setup),
        cmocka_unit_test_setup(test_counters_that_wait, setup),
        cmocka_unit_test_setup(test_mixed_sizes_weighted, setup),
        cmocka_unit_test_setup(test_bytes_once_mixed, setup),
        cmocka_unit_test(test_timeline_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
