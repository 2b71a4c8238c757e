/* test_defer.c — the live table kept by the flush (core/live.h's cp_live_deferred). At
 * rate 1 with a flusher thread (CTRPROF_FLUSHER=thread) in a process with one thread,
 * the thread that allocates and frees never touches the table: its records say what to
 * put in and take out, and the flush does it in the thread's own order, so an address
 * freed and allocated again is taken out before it is put in. A second thread's ring ends
 * it for good, every record made under it drained first. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define NB 8
#define SLOTS 4096
#define SLOTS_NAME "test_defer"
#define SLOTS_BASE 0x6c0000000000ull
#include "slots.h"
#include "heaptime.h"
#include "switchwatch.h"
#include "young.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define EVENTS 30000
#else
#define EVENTS 300000
#endif

static int deferred_at_start;

static int setup(void **state)
{
    (void)state;
    if (slots_setup(CP_FLUSHER_THREAD))
        return -1;
    deferred_at_start = __atomic_load_n(&cp_live_deferred, __ATOMIC_ACQUIRE);
    return 0;
}

/* One thread, addresses used again and again (a slot's object freed, then another of
 * another site allocated there): exact counts per site, and the table holds exactly the
 * live objects, all put there by the flush. */
static void test_one_thread(void **state)
{
    (void)state;
    assert_int_equal(deferred_at_start, 1);
    struct cp_thread *t = cp_thread_get();
    assert_non_null(t);
    uint64_t x = 88172645463325252ull;
    for (unsigned k = 0; k < EVENTS; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned slot = (unsigned)(x % SLOTS);
        if (live_in[slot] >= 0)
            free_at(slot);
        alloc_at(t, slot, (int)((x >> 20) % NB));
        if (k % 3 == 0 && live_in[(slot + 1) % SLOTS] >= 0)
            free_at((slot + 1) % SLOTS); /* (and some freed at once) */
    }
    /* the flusher thread drains: events leave the flushing to it (flusher.c) */
    assert_true(__atomic_load_n(&cp_flusher_running.v, __ATOMIC_ACQUIRE));
    assert_int_equal(__atomic_load_n(&cp_live_deferred, __ATOMIC_ACQUIRE), 1);
    check_books();
    uint64_t live = slots_live();
    /* (a drain's young objects, core/young.h, all in the table once it ends: the 4,096
     * addresses take the 256 young slots in turn, so many went there when their slot was
     * wanted, the rest at the drain's end) */
    assert_int_equal(cp_young_n, 0);
    assert_int_equal(cp_live_count(), live);

    /* With no flush (the flush lock held, as a fork's prepare holds it), an allocation
     * and a free leave the table as it was: it is the flush's */
    unsigned slot = 0;
    while (live_in[slot] >= 0)
        slot++;
    cp_prof_atfork_prepare();
    alloc_at(t, slot, 3);
    uint64_t held = cp_live_count();
    free_at(slot);
    alloc_at(t, slot, 5);
    uint64_t held2 = cp_live_count();
    cp_prof_atfork_parent();
    assert_int_equal(held, live);
    assert_int_equal(held2, live);
    check_books();
    assert_int_equal(cp_live_count(), live + 1);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts))
        ;
}

/* bucket b's objects freed in each lifetime class (CP_LIFE_NONE: not known), into c */
static void classes(int b, uint64_t c[CP_NCLASS])
{
    for (unsigned k = 0; k < CP_NCLASS; k++)
        c[k] = cp_ht_bucket_life(bk[b], k, false);
}

static uint64_t below_1ms(const uint64_t c1[CP_NCLASS], const uint64_t c0[CP_NCLASS])
{
    uint64_t n = 0;
    for (unsigned k = 0; k < 4; k++)
        n += c1[k] - c0[k];
    return n;
}

/* Objects s + 1 and s of bucket b allocated in that order, s + 1 freed (a read: an
 * allocation came before), `between` ms asleep, s freed, `after` ms asleep, then an
 * allocation (its stamp ends a run); bucket b's classes before and after into c0, c1. */
static void pair_freed(struct cp_thread *t, int b, unsigned s, long between, long after,
                       uint64_t c0[CP_NCLASS], uint64_t c1[CP_NCLASS])
{
    classes(b, c0);
    alloc_at(t, s + 1, b);
    alloc_at(t, s, b);
    free_at(s + 1);
    if (between)
        sleep_ms(between);
    free_at(s);
    if (after)
        sleep_ms(after);
    alloc_at(t, s + 2, 5);
    check_books();
    classes(b, c1);
    free_at(s + 2);
    check_books();
}

/* Runs of frees (events.c's free_ptr_stamp, resolve.c's frees in a run): a free that
 * follows a free, with no switch off the CPU since the run's read (switchwatch.h), leaves
 * its stamp to the flush, which brackets its time between the run's read and the next
 * stamp in the ring. Objects freed in a row after a pause keep their lifetime class; a
 * sleep inside a run ends it (the free after it reads the clock: never classed short); a
 * sleep after a run is no part of its frees' lifetimes (the stamp after it says so). */
static void test_free_runs(void **state)
{
    (void)state;
    if (!cp_stamp_tsc_on() || !cp_sw_on) {
        fprintf(stderr, "test_free_runs: no TSC stamps or no switch watch here (%d %d)\n",
                cp_stamp_tsc_on(), cp_sw_on);
        skip();
    }
    struct cp_thread *t = cp_thread_get();
    assert_non_null(t);
    free_all_live();
    check_books();
    uint64_t c0[CP_NCLASS], c1[CP_NCLASS], u0 = cp_life_unbracketed;
    /* 200 objects, 3 ms, then freed in a row: 13 runs' worth, each bracketed in 1-10 ms */
    classes(6, c0);
    for (unsigned s = 0; s < 200; s++)
        alloc_at(t, s, 6);
    sleep_ms(3);
    for (unsigned s = 0; s < 200; s++)
        free_at(s);
    check_books();
    classes(6, c1);
    assert_int_equal(below_1ms(c1, c0), 0);
    assert_int_equal(c1[4] - c0[4], 200);
    assert_int_equal(cp_life_unbracketed - u0, 0);

    /* a allocated, b allocated, a freed (the run's read: an allocation came before), 3
     * ms asleep, b freed (the sleep ended the run: its own read), an allocation */
    pair_freed(t, 7, 400, 3, 0, c0, c1);
    assert_int_equal(below_1ms(c1, c0), 1); /* a's, microseconds; not b's */
    assert_int_equal(c1[4] - c0[4], 1);     /* b's */
    assert_int_equal(cp_life_unbracketed - u0, 0);

    /* the same, b freed in the run, then 3 ms asleep before the allocation whose stamp
     * ends the run: b's bracket holds the sleep, which came after b's free: both
     * temporaries, none unclassed */
    pair_freed(t, 2, 410, 0, 3, c0, c1);
    assert_int_equal(below_1ms(c1, c0), 2);
    assert_int_equal(c1[CP_LIFE_NONE] - c0[CP_LIFE_NONE], 0);
    assert_int_equal(cp_life_unbracketed - u0, 0);
}

static struct cp_thread *other;
static uint64_t other_freed;
static int other_has_ring, first_done; /* atomic */

static void *second(void *arg)
{
    (void)arg;
    other = cp_thread_get(); /* a second ring: deferred ends, its records drained */
    __atomic_store_n(&other_has_ring, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&first_done, __ATOMIC_ACQUIRE))
        sleep_ms(1);
    other_freed = free_all_live();
    cp_thread_release(other);
    return NULL;
}

/* A second thread (not made through the shim's pthread_create hook: its first ring ends
 * deferred) frees every object the first left live, some of them allocated just before
 * it started and not drained yet: every free finds its object. Meanwhile the first runs
 * on, freeing at each turn the object it allocated at the last: the turn that sees
 * deferred ended frees one whose allocation record was made under it, and waits for the
 * end's flush to have put it in the table (live.h's cp_live_handover; before, that free
 * found nothing: the object stayed live in the profile and in the table). */
static void test_second_thread_ends_it(void **state)
{
    (void)state;
    assert_int_equal(__atomic_load_n(&cp_live_deferred, __ATOMIC_ACQUIRE), 1);
    struct cp_thread *t = cp_thread_get();
    /* (held: these stay in the ring until the thread comes). No more than a ring of the
     * smallest size holds (CP_RING_WORDS_DEFAULT, 16,384 words; an allocation's record is
     * 8 here, a free's 3): with the flush held, a ring that fills waits 2 s and drops, and
     * whether test_one_thread's ring grew to 2 MiB depends on the flusher's pace (TSan) */
    cp_prof_atfork_prepare();
    for (unsigned s = 0; s < SLOTS; s += 16) {
        if (live_in[s] >= 0)
            free_at(s);
        alloc_at(t, s, (int)(s % NB));
    }
    cp_prof_atfork_parent();
    uint64_t live = slots_live();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, second, NULL), 0);
    void *q = (void *)(uintptr_t)(SLOTS_BASE + 0x100000000ull);
    uint64_t a1 = 0, f1 = 0;
    for (unsigned turns = 0; turns < 1000 || !__atomic_load_n(&other_has_ring, __ATOMIC_ACQUIRE);
         turns++) {
        if (a1) {
            cp_event_free(cp_thread_get, q);
            f1++;
        }
        cp_event_alloc(t, q, 24, pcs[1], SLOTS_DEPTH);
        a1++;
    }
    cp_event_free(cp_thread_get, q);
    f1++;
    allocs[1] += a1;
    frees[1] += f1;
    __atomic_store_n(&first_done, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_non_null(other);
    assert_int_equal(other_freed, live);
    assert_int_equal(__atomic_load_n(&cp_live_deferred, __ATOMIC_ACQUIRE), 0);
    check_books();
    assert_int_equal(cp_live_count(), 0);
    /* from now on this thread keeps the table itself: an allocation is in it at once */
    alloc_at(t, 7, 2);
    assert_int_equal(cp_live_count(), 1);
    free_at(7);
    assert_int_equal(cp_live_count(), 0);
    check_books();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread),
        cmocka_unit_test(test_free_runs),
        cmocka_unit_test(test_second_thread_ends_it),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
