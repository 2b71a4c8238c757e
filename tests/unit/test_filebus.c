/* core/filebus.c: SIGBUS on a program's thread around the profiler's stores into the file.
 *   - a thread that inherited SIGBUS blocked from its creator, and never called the mask
 *     functions (the flag unknown), has it opened at its first inline flush and blocked
 *     again after (the kernel asked once; the flag known from then on); one that
 *     inherited it open needs nothing;
 *   - cp_file_lock asks the kernel whatever the flag says;
 *   - under a filter that forbids rt_sigprocmask (cp_prof_bus_mask_forbidden, sandboxed),
 *     a thread whose flag says blocked may not store (cp_file_lock refuses, takes no
 *     lock); one whose flag is unknown goes by the mask /proc showed for it when the
 *     filter went in (open: stores; blocked: may not), and one made after the filter,
 *     unknown and not in that snapshot, is taken as blocked; no system call on the mask;
 *     where the filter lets the mask be read (CP_BUS_MAY_ASK), an unknown flag asks;
 *   - a window open on another thread when such a filter goes in is waited for. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <cmocka.h>

#include "prof_int.h"
#include "spin.h"

struct probe {
    int opened, flag, blocked_in, blocked_after;
};

static int bus_blocked_now(void)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, SIGBUS);
}

static void *inline_probe(void *arg)
{
    struct probe *p = arg;
    p->opened = cp_bus_open(false); /* as cp_flush_inline asks */
    p->flag = cp_bus_blocked;
    p->blocked_in = bus_blocked_now();
    cp_bus_close(p->opened);
    p->blocked_after = bus_blocked_now();
    return NULL;
}

/* SIGBUS blocked (or opened) on this thread; its mask before, in *old */
static void set_bus(int block, sigset_t *old)
{
    sigset_t bus;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &bus, old);
}

static struct probe run_with(int block)
{
    sigset_t old;
    set_bus(block, &old);
    struct probe p = {-9, -9, -9, -9};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, inline_probe, &p), 0); /* inherits the mask */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    assert_int_equal(pthread_join(t, NULL), 0);
    return p;
}

static void test_inherited_mask(void **state)
{
    (void)state;
    struct probe b = run_with(1);
    assert_int_equal(b.opened, 1);
    assert_int_equal(b.flag, CP_BUS_BLOCKED);
    assert_int_equal(b.blocked_in, 0);
    assert_int_equal(b.blocked_after, 1);
    struct probe o = run_with(0);
    assert_int_equal(o.opened, 0);
    assert_int_equal(o.flag, CP_BUS_OPEN);
    assert_int_equal(o.blocked_in, 0);
    assert_int_equal(o.blocked_after, 0);
}

static void *file_lock_probe(void *arg)
{
    struct probe *p = arg;
    int bus = -9;
    p->opened = cp_file_lock(&bus) ? bus : -2;
    p->blocked_in = bus_blocked_now();
    if (p->opened != -2)
        cp_file_unlock(bus);
    p->blocked_after = bus_blocked_now();
    return NULL;
}

static void test_file_lock_asks_and_forbidden(void **state)
{
    (void)state;
    sigset_t old;
    set_bus(1, &old);
    struct probe p = {-9, -9, -9, -9};
    pthread_t t;
    /* the flag says open (the hooks' last word), the kernel says blocked: it asks */
    cp_prof_note_bus_blocked(false);
    file_lock_probe(&p);
    assert_int_equal(p.opened, 1);
    assert_int_equal(p.blocked_in, 0);
    assert_int_equal(p.blocked_after, 1);
    /* a filter forbids rt_sigprocmask: blocked by the flag, no store, no lock taken */
    __atomic_store_n(&cp_sandboxed, 1, __ATOMIC_RELEASE);
    cp_prof_bus_mask_forbidden(CP_BUS_MAY_NOT_ASK);
    cp_prof_note_bus_blocked(true);
    file_lock_probe(&p);
    assert_int_equal(p.opened, -2);
    assert_int_equal(p.blocked_in, 1);
    assert_true(cp_spin_trylock(&cp_flush_lock)); /* (free: nothing was taken) */
    cp_spin_unlock(&cp_flush_lock);
    /* a thread made after the filter, its flag unknown (it never called the mask
     * functions) and not in the snapshot: taken as blocked, though its mask is open */
    cp_prof_note_bus_blocked(false);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    assert_int_equal(pthread_create(&t, NULL, file_lock_probe, &p), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.opened, -2);
    assert_int_equal(p.blocked_after, 0); /* (its mask untouched) */
    /* where the filter lets the mask be read, it asks: open, it stores */
    cp_prof_bus_mask_forbidden(CP_BUS_MAY_ASK);
    assert_int_equal(pthread_create(&t, NULL, file_lock_probe, &p), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.opened, 0);
    cp_prof_bus_mask_forbidden(CP_BUS_WINDOW_OK);
    __atomic_store_n(&cp_sandboxed, 0, __ATOMIC_RELEASE);
}

/* A thread made before the filter, parked until it is in, then probing cp_file_lock. */
struct parked {
    pthread_t t;
    int running, go; /* atomic */
    struct probe p;
};

static void *parked_probe(void *arg)
{
    struct parked *k = arg;
    /* (running: glibc's start-up, which blocks every signal till it sets the mask the
     * thread inherits, is over, so /proc shows that mask) */
    __atomic_store_n(&k->running, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&k->go, __ATOMIC_ACQUIRE))
        sched_yield();
    file_lock_probe(&k->p);
    return NULL;
}

static void park(struct parked *k, int block)
{
    sigset_t old;
    set_bus(block, &old);
    k->go = k->running = 0;
    k->p = (struct probe){-9, -9, -9, -9};
    assert_int_equal(pthread_create(&k->t, NULL, parked_probe, k), 0); /* inherits it */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    while (!__atomic_load_n(&k->running, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void test_forbidden_snapshot(void **state)
{
    (void)state;
    struct parked open, blocked;
    park(&open, 0);
    park(&blocked, 1);
    __atomic_store_n(&cp_sandboxed, 1, __ATOMIC_RELEASE);
    cp_prof_bus_mask_forbidden(CP_BUS_MAY_NOT_ASK); /* both flags unknown: /proc says */
    __atomic_store_n(&open.go, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&blocked.go, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(open.t, NULL), 0);
    assert_int_equal(pthread_join(blocked.t, NULL), 0);
    assert_int_equal(open.p.opened, 0); /* stores, SIGBUS open already */
    assert_int_equal(open.p.blocked_in, 0);
    assert_int_equal(blocked.p.opened, -2); /* may not store */
    assert_int_equal(blocked.p.blocked_after, 1);
    cp_prof_bus_mask_forbidden(CP_BUS_WINDOW_OK);
    __atomic_store_n(&cp_sandboxed, 0, __ATOMIC_RELEASE);
}

/* A window held open 200 ms on a thread whose program blocked SIGBUS */
static int window_state; /* atomic: 1 open, 2 closed */

static void *window_holder(void *arg)
{
    (void)arg;
    int b = cp_bus_open(true);
    __atomic_store_n(&window_state, b == 1 ? 1 : -1, __ATOMIC_RELEASE);
    struct timespec ms200 = {0, 200 * 1000 * 1000};
    nanosleep(&ms200, NULL);
    __atomic_store_n(&window_state, 2, __ATOMIC_RELEASE);
    cp_bus_close(b);
    return NULL;
}

static void test_filter_waits_for_windows(void **state)
{
    (void)state;
    sigset_t old;
    set_bus(1, &old);
    pthread_t t;
    __atomic_store_n(&window_state, 0, __ATOMIC_RELAXED);
    assert_int_equal(pthread_create(&t, NULL, window_holder, NULL), 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    while (!__atomic_load_n(&window_state, __ATOMIC_ACQUIRE))
        sched_yield();
    assert_int_equal(__atomic_load_n(&window_state, __ATOMIC_ACQUIRE), 1);
    assert_int_equal(cp_bus_windows_open(), 1);
    __atomic_store_n(&cp_sandboxed, 1, __ATOMIC_RELEASE);
    cp_prof_bus_mask_forbidden(CP_BUS_MAY_NOT_ASK);
    /* returned only once the window was closed (or being closed: its count after) */
    assert_int_equal(__atomic_load_n(&window_state, __ATOMIC_ACQUIRE), 2);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(cp_bus_windows_open(), 0);
    cp_prof_bus_mask_forbidden(CP_BUS_WINDOW_OK);
    __atomic_store_n(&cp_sandboxed, 0, __ATOMIC_RELEASE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inherited_mask),
        cmocka_unit_test(test_file_lock_asks_and_forbidden),
        cmocka_unit_test(test_forbidden_snapshot),
        cmocka_unit_test(test_filter_waits_for_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
