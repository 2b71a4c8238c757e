/* test_stackmemo.c — the flush's memo of recent heap stacks (core/stackmemo.h). At rate 1
 * with a flusher thread, allocation records name their stacks as the frames that differ
 * from the ring's last stack; the flush finds the bucket in the memo by the node of the
 * shared outer frames and the new inner ones. Whatever the memo answers, every allocation
 * must be counted in its own stack's bucket, exactly: stacks whose inner frames are alike
 * under different outer frames, stacks that differ in one word's high half, more inner
 * frames than a slot holds, and a phase of stacks that never recur, which makes the memo
 * rest and then try again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <unistd.h>
#include <cmocka.h>

#include "bucket.h"
#include "engine1.h"
#include "options.h"
#include "prof.h"
#include "frames.h"
#include "prof_int.h"
#include "spin.h"
#include "stackmemo.h"

static char path[256];

static int setup(void **state)
{
    (void)state;
    return engine1_start("test_stackmemo", CP_FLUSHER_THREAD, path, sizeof path);
}

static int teardown(void **state)
{
    (void)state;
    cp_prof_shutdown();
    unlink(path);
    return 0;
}

static uint64_t base_addr = 0x6d0000000000ull; /* a region of this test's own */

/* Allocate and free one object of stack st[0..n) (freed at once: its free follows it in
 * the ring, as in a program that churns) */
static void event(struct cp_thread *t, const uintptr_t *st, unsigned n)
{
    void *p = (void *)(uintptr_t)base_addr;
    base_addr += 16;
    cp_event_alloc(t, p, 32, st, n);
    cp_event_free(cp_thread_get, p);
}

#define NS 48
#define EV 120000
static uintptr_t st[NS][CP_MAX_DEPTH + 1];
static unsigned len[NS];
static uint64_t want[NS];

/* Stack i = 3f + part: the outer frames of one of three outer parts (2, 5 or 8 frames,
 * shared by every stack of that part), then family f's inner frames: stacks 3f, 3f + 1
 * and 3f + 2 have the same inner frames under other outer parts (the node must tell them
 * apart); every fifth stack's innermost frame differs from its family's in its high half
 * only; inner lengths 1..9 (past a slot's six: those go to the chains every time). */
static void make_stacks(void)
{
    for (unsigned i = 0; i < NS; i++) {
        unsigned part = i % 3, outer = 2 + part * 3, inner = 1 + (i / 3) % 9;
        len[i] = outer + inner;
        for (unsigned j = 0; j < outer; j++) /* j from the outer end */
            st[i][len[i] - 1 - j] = 0x7100000 + part * 0x10000 + j * 16;
        unsigned f = i / 3; /* the inner frames' family */
        for (unsigned j = 0; j < inner; j++)
            st[i][j] = 0x7300000 + (f % 4) * 0x1000 + (f / 4) * 0x100 + j * 16;
        if (i % 5 == 0)
            st[i][0] |= (uintptr_t)(i + 1) << 40;
    }
}

static void check(void)
{
    cp_prof_flush_all();
    cp_prof_flush_all();
    for (unsigned i = 0; i < NS; i++) {
        struct cp_bucket *b = cp_bucket_get(CP_HEAP, st[i], len[i]);
        assert_non_null(b);
        assert_int_equal(b->u.mem.active.aobj / 65536, want[i]);
        assert_int_equal(b->u.mem.active.fobj / 65536, want[i]);
    }
}

static void test_exact_counts(void **state)
{
    (void)state;
    make_stacks();
    struct cp_thread *t = cp_thread_get();
    assert_non_null(t);
    uint64_t before = cp_bucket_count();
    uint64_t x = 88172645463325252ull;
    unsigned fits = 0;
    for (unsigned k = 0; k < EV; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned i = (unsigned)(x % NS);
        event(t, st[i], len[i]);
        want[i]++;
        fits += len[i] - (2 + (i % 3) * 3) <= CP_MEMO_PCS;
    }
    check();
    /* one bucket per stack: none merged, none made twice */
    assert_int_equal(cp_bucket_count(), before + NS);
    /* the memo answered most of those whose new frames fit a slot (a stack that follows
     * one of another outer part shares no frames with it: its node is the root, and all
     * its frames are new) */
    assert_non_null(cp_memo);
    printf("memo: %llu hits, %llu misses, %u of %u events with inner frames that fit\n",
           (unsigned long long)cp_memo->hits, (unsigned long long)cp_memo->misses, fits, EV);
    assert_true(cp_memo->hits > (uint64_t)EV / 4);
    assert_true(cp_memo->hits + cp_memo->misses <= EV);
}

/* A phase of stacks that never recur: windows of lookups that hit nothing make the memo
 * rest (no lookups: misses stop growing), and once the rest is over it hits again on
 * stacks that recur, with the counts still exact. */
static void test_rest(void **state)
{
    (void)state;
    struct cp_thread *t = cp_thread_get();
    cp_prof_flush_all();
    uint64_t h0 = cp_memo->hits, m0 = cp_memo->misses;
    enum { DISTINCT = 3 * CP_MEMO_WINDOW + 70000 };
    static uintptr_t one[4];
    for (unsigned k = 0; k < DISTINCT; k++) {
        one[0] = 0x7500000 + (uintptr_t)k * 16; /* a new innermost frame each time */
        one[1] = 0x7400010, one[2] = 0x7400020, one[3] = 0x7400030;
        event(t, one, 4);
    }
    cp_prof_flush_all();
    uint64_t h1 = cp_memo->hits, m1 = cp_memo->misses;
    printf("distinct phase: %llu hits, %llu misses of %u\n", (unsigned long long)(h1 - h0),
           (unsigned long long)(m1 - m0), (unsigned)DISTINCT);
    assert_true(h1 - h0 < 16);
    /* a window, then a rest of REST (65,536) records: far fewer lookups than records */
    assert_true(m1 - m0 >= CP_MEMO_WINDOW);
    assert_true(m1 - m0 < DISTINCT / 2);
    /* the recurring stacks again: once the rest is over (65,536 records that would have
     * looked; about a third of these do), the memo answers them */
    uint64_t x = 1234567;
    for (unsigned k = 0; k < 300000; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        unsigned i = (unsigned)((x >> 33) % NS);
        event(t, st[i], len[i]);
        want[i]++;
    }
    check();
    printf("recurring phase: %llu hits\n", (unsigned long long)(cp_memo->hits - h1));
    assert_true(cp_memo->hits - h1 > 10000);
    /* every distinct stack has its bucket, with its one allocation */
    for (unsigned k = 0; k < DISTINCT; k += 997) {
        one[0] = 0x7500000 + (uintptr_t)k * 16;
        struct cp_bucket *b = cp_bucket_get(CP_HEAP, one, 4);
        assert_int_equal(b->u.mem.active.aobj / 65536, 1);
    }
}

/* The memo's own answers, every key in one set of two slots: a key is the node, the
 * number of inner frames and each of them whole; the older of two goes when a third
 * comes. (The buckets are never looked at: stand-ins.) Under the flush lock, which the
 * memo is guarded by: the answers are kept and checked once it is released (a failed
 * check there would leave it held, and the next test would wait for it for ever). */
#define GET(node, x, n) (got[ng] = cp_memo_get(node, x, n, &set), gotset[ng++] = set != NULL)
/* (after a miss: set is where; a wrong hit left none, which the checks then report) */
#define PUT(node, x, n, b) (set ? cp_memo_put(set, node, x, n, b) : (void)0)
static void test_compare(void **state)
{
    (void)state;
    struct cp_bucket *ba = (struct cp_bucket *)(uintptr_t)0x1000,
                     *bb = (struct cp_bucket *)(uintptr_t)0x2000,
                     *bc = (struct cp_bucket *)(uintptr_t)0x3000,
                     *bd = (struct cp_bucket *)(uintptr_t)0x4000;
    uintptr_t in[CP_MEMO_PCS] = {0x7600010, 0x7600020, 0x7600030, 0x7600040, 0x7600050, 0x7600060};
    uintptr_t hi[CP_MEMO_PCS], lo[CP_MEMO_PCS];
    memcpy(hi, in, sizeof in);
    memcpy(lo, in, sizeof in);
    hi[CP_MEMO_PCS - 1] |= (uintptr_t)1 << 40; /* the outermost inner frame, high half */
    lo[0] ^= 0x10;                             /* the innermost, low half */
    struct cp_bucket *got[32];
    bool gotset[32];
    unsigned ng = 0;
    struct cp_memo_slot *set;
    cp_prof_flush_all();
    cp_spin_lock(&cp_flush_lock);
    cp_memo_one_set_for_tests(true);
    GET(5, in, CP_MEMO_PCS); /* 0 */
    PUT(5, in, CP_MEMO_PCS, ba);
    GET(5, in, CP_MEMO_PCS);             /* 1 */
    GET(6, in, CP_MEMO_PCS);             /* 2: another node */
    GET(5, hi, CP_MEMO_PCS);             /* 3: a high half */
    GET(5, lo, CP_MEMO_PCS);             /* 4: a low half */
    GET(5, in, CP_MEMO_PCS - 1);         /* 5: its inner part alone */
    GET(CP_FRAME_ROOT, in, CP_MEMO_PCS); /* 6 */
    PUT(6, in, CP_MEMO_PCS, bb);
    GET(5, in, CP_MEMO_PCS);     /* 7 */
    GET(6, in, CP_MEMO_PCS);     /* 8 */
    GET(5, hi, CP_MEMO_PCS);     /* 9 */
    PUT(5, hi, CP_MEMO_PCS, bc); /* the older, (5, in), goes */
    GET(5, in, CP_MEMO_PCS);     /* 10 */
    GET(6, in, CP_MEMO_PCS);     /* 11 */
    GET(5, hi, CP_MEMO_PCS);     /* 12 */
    /* no inner frames: the stack is the node's own */
    GET(9, in, 0); /* 13 */
    PUT(9, in, 0, bd);
    GET(9, lo, 0); /* 14 */
    GET(9, in, 1); /* 15 */
    cp_memo_one_set_for_tests(false);
    cp_spin_unlock(&cp_flush_lock);
    struct cp_bucket *const expect[] = {NULL, ba,   NULL, NULL, NULL, NULL, NULL, ba,
                                        bb,   NULL, NULL, bb,   bc,   NULL, bd,   NULL};
    assert_int_equal(ng, sizeof expect / sizeof *expect);
    for (unsigned i = 0; i < ng; i++) {
        assert_ptr_equal(got[i], expect[i]);
        assert_int_equal(gotset[i], expect[i] == NULL); /* a miss says where to put */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_exact_counts),
        cmocka_unit_test(test_rest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
