/* test_fence.c — the flusher process's asymmetric fence (core/flusher.c, "the flusher as a
 * process"). At rate 1 in a process with one thread, the flusher process drains the
 * thread's ring; the thread marks its ring busy with a plain store (live.h's
 * cp_ring_alone), and each of the process's handshakes makes it pass a barrier
 * (membarrier) instead: counted, exact books at the end. A second ring (a thread not made
 * through the shim's pthread_create hook) ends it before that thread's first event, and
 * the books stay exact. Under the sanitizers the engine makes no flusher process: skipped,
 * visibly. */
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

#define NB 4
#define SLOTS 1024
#define SLOTS_NAME "test_fence"
#define SLOTS_BASE 0x6d0000000000ull
#include "slots.h"

#define EVENTS 400000

static int setup(void **state)
{
    (void)state;
    return slots_setup(CP_FLUSHER_PROCESS);
}

/* (and the table holds exactly the live objects) */
static void check_all(void)
{
    check_books();
    assert_int_equal(cp_live_count(), slots_live());
}

static void churn(struct cp_thread *t, unsigned events, uint64_t *x)
{
    for (unsigned k = 0; k < events; k++) {
        *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
        unsigned slot = (unsigned)(*x % SLOTS);
        if (live_in[slot] >= 0)
            free_at(slot);
        alloc_at(t, slot, (int)((*x >> 20) % NB));
    }
}

/* One thread: the process drains, its handshakes fence for the thread (one a flush),
 * never the thread's own; every count exact */
static void test_process_fences(void **state)
{
    (void)state;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    skip(); /* (no flusher process in a sanitizer build of the engine: flushproc.c) */
#endif
    struct cp_thread *t = cp_thread_get();
    assert_non_null(t);
    uint64_t x = 88172645463325252ull;
    churn(t, 1000, &x); /* (the first event's inline flush starts the process) */
    assert_true(__atomic_load_n(&cp_flusher_running.v, __ATOMIC_ACQUIRE));
    assert_int_equal(__atomic_load_n(&cp_vm_shared, __ATOMIC_ACQUIRE), 1);
    assert_int_equal(__atomic_load_n(&cp_fence_asym, __ATOMIC_ACQUIRE), 1);
    assert_true(cp_ring_alone());
    uint64_t f0 = __atomic_load_n(&cp_fences, __ATOMIC_RELAXED);
    for (int round = 0; round < 8; round++) {
        churn(t, EVENTS / 8, &x);
        struct timespec ms = {0, 3000000}; /* (flushes at 1 ms intervals meanwhile) */
        nanosleep(&ms, NULL);
    }
    uint64_t f1 = __atomic_load_n(&cp_fences, __ATOMIC_RELAXED);
    assert_true(f1 - f0 >= 8);
    /* this thread's own flush (the books' check) makes no barrier */
    check_all();
    assert_int_equal(__atomic_load_n(&cp_fences, __ATOMIC_RELAXED) - f1 <= 2, 1);
}

static struct cp_thread *other;
static int asym_at_first_event = -1;
static uint64_t other_freed;

static void *second(void *arg)
{
    (void)arg;
    other = cp_thread_get(); /* a second ring: the fence and deferred end, drained first */
    asym_at_first_event = __atomic_load_n(&cp_fence_asym, __ATOMIC_ACQUIRE);
    other_freed = free_all_live();
    cp_thread_release(other);
    return NULL;
}

/* A second thread (glibc's pthread_create, no shim: its first ring ends the fence with a
 * barrier of its own) frees what the first left live: every free finds its object */
static void test_second_ring_ends_it(void **state)
{
    (void)state;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    skip();
#endif
    assert_int_equal(__atomic_load_n(&cp_fence_asym, __ATOMIC_ACQUIRE), 1);
    struct cp_thread *t = cp_thread_get();
    uint64_t x = 1181783497276652981ull;
    churn(t, 20000, &x);
    uint64_t live = slots_live();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, second, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(asym_at_first_event, 0);
    assert_int_equal(other_freed, live);
    assert_int_equal(__atomic_load_n(&cp_live_deferred, __ATOMIC_ACQUIRE), 0);
    check_all();
    assert_int_equal(cp_live_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_fences),
        cmocka_unit_test(test_second_ring_ends_it),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
