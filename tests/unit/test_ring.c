/* test_ring.c — the per-thread SPSC ring (core/ring.c): wraparound with the rewind
 * marker, the lost count when the writer may not wait, a writer that waits for the
 * consumer (futex sleep and wake), and many producers with thread churn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <cmocka.h>

#include "ring.h"

struct seen {
    uint64_t n, next, words;
    int kinds[4];
    int bad;
};

static void check_seq(void *ctx, enum cp_rec_kind kind, uint64_t cycle, const uint64_t *w,
                      unsigned n)
{
    struct seen *s = ctx;
    /* each record carries its sequence number in every word and as its cycle */
    if (cycle != s->next)
        s->bad++;
    for (unsigned i = 0; i < n; i++)
        if (w[i] != s->next)
            s->bad++;
    s->next++;
    s->n++;
    s->words += n;
    s->kinds[kind]++;
}

static void test_wraparound_and_rewind(void **state)
{
    uint64_t data[16];
    struct cp_ring r;
    cp_ring_init(&r, data, 16);
    struct seen s = {0};
    uint64_t seq = 0;
    /* records of 3 and 4 words (2 and 3 data words) do not divide 16: rewinds happen */
    for (int round = 0; round < 200; round++) {
        for (int k = 0; k < 3; k++) {
            unsigned n = (unsigned)(2 + (seq % 2));
            uint64_t w[3] = {seq, seq, seq};
            if (!cp_ring_write(&r, CP_REC_ALLOC, seq, w, n, false))
                break;
            seq++;
        }
        cp_ring_drain(&r, check_seq, &s);
    }
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.n, seq);
    assert_true(seq > 500);
    assert_int_equal(cp_ring_take_lost(&r), 0);
    /* positions: head counts data words, headers and every rewind marker's words */
    assert_true(cp_ring_head_pos(&r) > s.words + s.n);
}

static void test_worked_example(void **state)
{
    /* the example in ring.c's header comment, with cap 8 */
    uint64_t data[8];
    struct cp_ring r;
    cp_ring_init(&r, data, 8);
    struct seen s = {0};
    uint64_t w[2] = {0, 0};
    /* bring the positions to rtail 10, w 14 */
    for (uint64_t i = 0; i < 5; i++) {
        uint64_t x[1] = {i};
        s.next = i;
        assert_true(cp_ring_write(&r, CP_REC_FREE, i, x, 1, false)); /* 2 words each */
        cp_ring_drain(&r, check_seq, &s);
    }
    assert_int_equal(r.rtail, 10);
    uint64_t x[1] = {5};
    assert_true(cp_ring_write(&r, CP_REC_FREE, 5, x, 1, false));
    uint64_t y[1] = {6};
    assert_true(cp_ring_write(&r, CP_REC_FREE, 6, y, 1, false));
    assert_int_equal(r.w, 14);
    /* a 3-word record at 14: index 6, needs a 2-word rewind + 3 words; only 4 free */
    w[0] = w[1] = 7;
    assert_false(cp_ring_write(&r, CP_REC_ALLOC, 7, w, 2, false));
    assert_int_equal(cp_ring_take_lost(&r), 1);
    assert_int_equal(cp_ring_take_lost(&r), 0); /* taken once */
    s.next = 5;
    cp_ring_drain(&r, check_seq, &s);
    assert_true(cp_ring_write(&r, CP_REC_ALLOC, 7, w, 2, false));
    assert_int_equal(data[6], 2); /* the rewind marker: kind 0, 2 words */
    assert_int_equal(cp_ring_head_pos(&r), 19);
    cp_ring_drain(&r, check_seq, &s);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.next, 8);
}

/* The producer drains its own ring (an inline flush): the same records in order, the
 * room made again, and no wake-up owed (rseq untouched: nobody can be waiting). */
static void test_drain_own(void **state)
{
    (void)state;
    uint64_t data[16];
    struct cp_ring r;
    cp_ring_init(&r, data, 16);
    struct seen s = {0};
    uint64_t seq = 0;
    for (int round = 0; round < 100; round++) {
        for (int k = 0; k < 3; k++) {
            uint64_t w[2] = {seq, seq};
            assert_true(cp_ring_write(&r, CP_REC_ALLOC, seq, w, 2, false));
            seq++;
        }
        assert_int_equal(cp_ring_drain_own(&r, check_seq, &s), 3);
        assert_int_equal(cp_ring_used(&r), 0);
    }
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.n, seq);
    assert_int_equal(r.rseq, 0);
    cp_ring_drain(&r, check_seq, &s); /* the consumer's drain still bumps it */
    assert_int_equal(r.rseq, 1);
}

/* The look-ahead drain (cp_ring_drain_ahead): fn gets the same records, in order, as
 * cp_ring_drain's; pre gets every one of them too, once, with its own kind and words,
 * before fn does, never more than CP_RING_AHEAD records before, and as far ahead as the
 * drain's end allows (the prefetch has to come early to be of use); rewind markers are
 * neither's. Records of 2-5 words in a 64-word ring: rewinds at every turn. */
static uint64_t pre_seen, pre_bad, pre_far;
static struct seen *pre_fn_seen;

static void check_pre(enum cp_rec_kind kind, const uint64_t *w, unsigned n)
{
    uint64_t seq = pre_seen++;
    if (kind != (enum cp_rec_kind)(1 + seq % 3) || n != 1 + seq % 4)
        pre_bad++;
    for (unsigned i = 0; i < n; i++)
        if (w[i] != seq)
            pre_bad++;
    /* fn has seen fewer records than this one's number, and not too few */
    uint64_t fn_n = pre_fn_seen->n;
    if (fn_n > seq || seq - fn_n >= CP_RING_AHEAD)
        pre_bad++;
    if (seq - fn_n == CP_RING_AHEAD - 1)
        pre_far++;
}

static void test_drain_ahead(void **state)
{
    (void)state;
    uint64_t data[64];
    struct cp_ring r;
    cp_ring_init(&r, data, 64);
    struct seen s = {0};
    pre_fn_seen = &s;
    pre_seen = pre_bad = pre_far = 0;
    uint64_t seq = 0, drained = 0;
    for (int round = 0; round < 300; round++) {
        /* 1-16 records a round, as many as fit (the one that does not is counted lost) */
        for (int k = 0; k < 1 + round % 16; k++) {
            uint64_t w[4] = {seq, seq, seq, seq};
            if (!cp_ring_write(&r, (enum cp_rec_kind)(1 + seq % 3), seq, w, 1 + seq % 4, false))
                break;
            seq++;
        }
        drained += cp_ring_drain_ahead(&r, check_seq, check_pre, &s);
        assert_int_equal(cp_ring_used(&r), 0);
        assert_int_equal(pre_seen, s.n); /* every record's look, by the drain's end */
    }
    assert_int_equal(s.bad, 0);
    assert_int_equal(pre_bad, 0);
    assert_int_equal(s.n, seq);
    assert_int_equal(drained, seq);
    assert_true(seq > 1000);
    assert_true(pre_far > 100);    /* it did look as far ahead as it may */
    assert_int_equal(r.rseq, 300); /* a consumer's drain: each bumped it */
}

/* The head word (ring.h): BUSY between begin and the publishing write, LOST and POS
 * modulo their widths, across both wraps. */
static void test_head_word(void **state)
{
    uint64_t data[16];
    struct cp_ring r;
    cp_ring_init(&r, data, 16);
    /* both sides just below the 2^36 wrap of POS */
    r.w = CP_RING_POS_MASK - 5;
    /* and the loss count just below the 2^27 wrap of LOST, all of it taken already */
    r.nlost = CP_RING_LOST_MASK - 1;
    cp_ring_forget(&r);
    r.nlost = CP_RING_LOST_MASK - 1;
    r.lost_taken = CP_RING_LOST_MASK - 1;
    assert_false(cp_ring_busy(&r));
    cp_ring_begin(&r);
    assert_true(cp_ring_busy(&r));
    struct seen s = {0};
    uint64_t seq = 0;
    for (int round = 0; round < 10; round++) {
        uint64_t w[2] = {seq, seq};
        if (round)
            cp_ring_begin(&r);
        assert_true(cp_ring_write(&r, CP_REC_ALLOC, seq, w, 2, false));
        assert_false(cp_ring_busy(&r)); /* the publishing store ended the busy section */
        seq++;
        cp_ring_drain(&r, check_seq, &s);
    }
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.n, 10);
    assert_true(r.rtail > CP_RING_POS_MASK); /* the consumer's full position went past */
    assert_int_equal(r.rtail, r.w);
    /* three drops across the LOST wrap read as three */
    cp_ring_begin(&r);
    cp_ring_drop(&r);
    assert_false(cp_ring_busy(&r));
    cp_ring_drop(&r);
    cp_ring_drop(&r);
    assert_int_equal(cp_ring_take_lost(&r), 3);
    assert_int_equal(cp_ring_take_lost(&r), 0);
    cp_ring_count_wait(&r);
    cp_ring_count_wait(&r);
    assert_int_equal(cp_ring_take_waits(&r), 2);
}

/* A producer that writes far more than the ring holds, waiting for the consumer; the
 * consumer sleeps on the kick futex and is woken by the producer. */
struct wctx {
    struct cp_ring *r;
    uint64_t total;
    volatile int done;
};

static void *producer(void *arg)
{
    struct wctx *c = arg;
    for (uint64_t i = 0; i < c->total; i++) {
        uint64_t w[1] = {i};
        if (!cp_ring_write(c->r, CP_REC_ALLOC, i, w, 1, true))
            abort();
    }
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    cp_ring_wake_consumer();
    return NULL;
}

static void test_full_ring_waits(void **state)
{
    uint64_t *data = calloc(64, sizeof *data);
    struct cp_ring r;
    cp_ring_init(&r, data, 64);
    struct wctx c = {&r, 200000, 0};
    pthread_t t;
    pthread_create(&t, NULL, producer, &c);
    struct seen s = {0};
    while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE) || r.rtail != cp_ring_head_pos(&r)) {
        uint32_t k = __atomic_load_n(&cp_ring_kick, __ATOMIC_ACQUIRE);
        __atomic_store_n(&cp_ring_consumer_sleeping, 1, __ATOMIC_SEQ_CST);
        if (cp_ring_head_pos(&r) == r.rtail && !__atomic_load_n(&c.done, __ATOMIC_ACQUIRE))
            cp_futex_wait(&cp_ring_kick, k, 50 * 1000 * 1000);
        __atomic_store_n(&cp_ring_consumer_sleeping, 0, __ATOMIC_RELAXED);
        cp_ring_drain(&r, check_seq, &s);
    }
    pthread_join(t, NULL);
    cp_ring_drain(&r, check_seq, &s);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.n, c.total);
    uint64_t waits = cp_ring_take_waits(&r);
    assert_int_equal(cp_ring_take_lost(&r), 0); /* nothing dropped ... */
    assert_true(waits > 0); /* ... because the writer waited, and that was counted */
    printf("200000 records through a 64-word ring: %llu waits\n", (unsigned long long)waits);
    free(data);
}

/* A ring that grows under a running consumer (cp_ring_grow: events.c's ring_grow at dense
 * rates): the producer, at set points once the consumer has emptied its ring, moves to an array
 * twice as large (up to 4096 words) and poisons the old one (all ones: a header the
 * consumer would take for a corrupted ring), as if it were unmapped. Every record
 * arrives, in order, whole: the consumer never reads the old array for records written
 * to the new one, nor with the other array's cap. */
struct gctx {
    struct cp_ring *r;
    uint64_t total, grows;
    uint64_t *retired[16];
    volatile int done;
};

static void *grower(void *arg)
{
    struct gctx *c = arg;
    for (uint64_t i = 0; i < c->total; i++) {
        /* every 40,000 records (seven times in 300,000: six growths to 4096 words) the
         * producer waits for the consumer to empty the ring, as events.c grows only an
         * empty ring; whether a wait of the writer's own came first depends on the
         * schedule (a loaded CI made 4 or 5 growths that way), so it is not asked */
        if (c->r->cap < 4096 && i % 40000 == 20000) {
            while (c->r->w != __atomic_load_n(&c->r->rtail, __ATOMIC_ACQUIRE)) {
                cp_ring_wake_consumer();
                sched_yield();
            }
            uint64_t cap = c->r->cap, *n = calloc(2 * cap, sizeof *n);
            uint64_t *old = cp_ring_grow(c->r, n, 2 * cap);
            memset(old, 0xff, cap * sizeof *old);
            c->retired[c->grows++] = old;
        }
        uint64_t w[3] = {i, i, i};
        if (!cp_ring_write(c->r, CP_REC_ALLOC, i, w, 1 + (unsigned)(i % 3), true))
            abort();
    }
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    cp_ring_wake_consumer();
    return NULL;
}

static void test_grow_while_draining(void **state)
{
    struct cp_ring r;
    cp_ring_init(&r, calloc(64, sizeof(uint64_t)), 64);
    struct gctx c = {&r, 300000, 0, {0}, 0};
    pthread_t t;
    pthread_create(&t, NULL, grower, &c);
    struct seen s = {0};
    while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE) || r.rtail != cp_ring_head_pos(&r)) {
        uint32_t k = __atomic_load_n(&cp_ring_kick, __ATOMIC_ACQUIRE);
        __atomic_store_n(&cp_ring_consumer_sleeping, 1, __ATOMIC_SEQ_CST);
        if (cp_ring_head_pos(&r) == r.rtail && !__atomic_load_n(&c.done, __ATOMIC_ACQUIRE))
            cp_futex_wait(&cp_ring_kick, k, 1000 * 1000);
        __atomic_store_n(&cp_ring_consumer_sleeping, 0, __ATOMIC_RELAXED);
        cp_ring_drain(&r, check_seq, &s);
    }
    pthread_join(t, NULL);
    cp_ring_drain(&r, check_seq, &s);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.n, c.total);
    assert_int_equal(cp_ring_take_lost(&r), 0);
    assert_int_equal(c.grows, 6); /* 64 -> 4096 words */
    assert_int_equal(r.cap, 4096);
    for (uint64_t g = 0; g < c.grows; g++)
        free(c.retired[g]);
    free(r.data);
}

/* 64 producer threads, each created and joined in waves, each with its own ring, one
 * consumer draining them all concurrently. */
#define NPROD 64
static struct cp_ring rings[NPROD];
static uint64_t *ringmem[NPROD];
static volatile int stop_consumer;
static uint64_t counted[NPROD];

static void count_rec(void *ctx, enum cp_rec_kind kind, uint64_t cycle, const uint64_t *w,
                      unsigned n)
{
    uint64_t *c = ctx;
    c[w[0]]++;
}

static void *consumer(void *arg)
{
    while (!__atomic_load_n(&stop_consumer, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < NPROD; i++)
            cp_ring_drain(&rings[i], count_rec, counted);
        usleep(100); /* the consumer's pace: the workload */
    }
    return NULL;
}

static void *prod(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < 5000; i++) {
        uint64_t w[2] = {id, (uint64_t)i};
        if (!cp_ring_write(&rings[id], CP_REC_ALLOC, 1, w, 2, true))
            abort();
    }
    return NULL;
}

static void test_many_producers(void **state)
{
    for (int i = 0; i < NPROD; i++) {
        ringmem[i] = calloc(256, sizeof(uint64_t));
        cp_ring_init(&rings[i], ringmem[i], 256);
    }
    pthread_t c;
    pthread_create(&c, NULL, consumer, NULL);
    for (int wave = 0; wave < 4; wave++) {
        pthread_t t[NPROD];
        for (int i = 0; i < NPROD; i++)
            pthread_create(&t[i], NULL, prod, (void *)(uintptr_t)i);
        for (int i = 0; i < NPROD; i++)
            pthread_join(t[i], NULL);
    }
    __atomic_store_n(&stop_consumer, 1, __ATOMIC_RELEASE);
    pthread_join(c, NULL);
    for (int i = 0; i < NPROD; i++)
        cp_ring_drain(&rings[i], count_rec, counted);
    for (int i = 0; i < NPROD; i++) {
        if (counted[i] != 4 * 5000)
            fail_msg("producer %d: expected 20000 records, got %llu", i,
                     (unsigned long long)counted[i]);
        assert_int_equal(cp_ring_take_lost(&rings[i]), 0);
        free(ringmem[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wraparound_and_rewind),
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_drain_own),
        cmocka_unit_test(test_drain_ahead),
        cmocka_unit_test(test_head_word),
        cmocka_unit_test(test_full_ring_waits),
        cmocka_unit_test(test_grow_while_draining),
        cmocka_unit_test(test_many_producers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
