/* core/filebus.c: SIGBUS on a program's thread around the profiler's stores into the file.
 *   - a thread that inherited SIGBUS blocked from its creator, and never called the mask
 *     functions (the flag unknown), has it opened at its first inline flush and blocked
 *     again after (the kernel asked once; the flag known from then on); one that
 *     inherited it open needs nothing;
 *   - cp_file_lock asks the kernel whatever the flag says;
 *   - under a filter that forbids rt_sigprocmask (cp_prof_bus_mask_forbidden, sandboxed),
 *     a thread whose flag says blocked may not store (cp_file_lock refuses, takes no
 *     lock), one whose flag is unknown may. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
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

static struct probe run_with(int block)
{
    sigset_t bus, old;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &bus, &old);
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
    sigset_t bus, old;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    pthread_sigmask(SIG_BLOCK, &bus, &old);
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
    cp_prof_bus_mask_forbidden(true);
    cp_prof_note_bus_blocked(true);
    file_lock_probe(&p);
    assert_int_equal(p.opened, -2);
    assert_int_equal(p.blocked_in, 1);
    assert_true(cp_spin_trylock(&cp_flush_lock)); /* (free: nothing was taken) */
    cp_spin_unlock(&cp_flush_lock);
    /* a thread whose flag is unknown (it never called the mask functions): taken as
     * open, as before the filter; no system call is made */
    cp_prof_note_bus_blocked(false);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    assert_int_equal(pthread_create(&t, NULL, file_lock_probe, &p), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.opened, 0);
    cp_prof_bus_mask_forbidden(false);
    __atomic_store_n(&cp_sandboxed, 0, __ATOMIC_RELEASE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inherited_mask),
        cmocka_unit_test(test_file_lock_asks_and_forbidden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
