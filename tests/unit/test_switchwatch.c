/* test_switchwatch.c — the kernel contract core/switchwatch.h relies on, with the
 * engine's own descriptor: an armed pointer survives a system call that does not block
 * and is cleared by a sleep (on this thread and on a second thread of its own), and the
 * kernel takes the descriptor (an invalid one would have the thread killed with SIGSEGV
 * at the sleep). Skipped, visibly, where glibc registers no rseq area or the kernel does
 * not clear it (cp_sw_init then leaves cp_sw_on false, and nothing uses the watch). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h> /* after the headers it needs */

#include "switchwatch.h"

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* one round on the calling thread: 1 if the contract held, 0 if a preemption or signal
 * came between the arm and the first look (try again), -1 if it did not hold */
static int round_here(void)
{
    cp_sw_arm();
    (void)getppid();
    if (!cp_sw_armed())
        return 0;
    sleep_us(50);
    return cp_sw_armed() ? -1 : 1;
}

static int rounds(void)
{
    for (int i = 0; i < 20; i++) {
        int r = round_here();
        if (r)
            return r;
    }
    return 0;
}

static void *thread_rounds(void *arg)
{
    *(int *)arg = cp_sw_area()->cpu_id >= 0 ? rounds() : 2;
    return NULL;
}

static void test_contract(void **state)
{
    (void)state;
    cp_sw_init();
    if (!cp_sw_on) {
        fprintf(stderr, "test_contract: no switch watch here (glibc rseq size %u)\n",
                &__rseq_size ? __rseq_size : 0);
        skip();
    }
    assert_int_equal(rounds(), 1);
    /* a second thread has an area of its own (glibc registers every thread's) */
    int got = -2;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_rounds, &got), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(got, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
