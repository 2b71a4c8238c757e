/* test_newproc.c — core/newproc.c: a child made without fork()'s atfork handlers (a raw
 * clone(SIGCHLD)) notices it is a new process, with MADV_WIPEONFORK and by pid where the
 * kernel cannot wipe; the parent never does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "newproc.h"
#include "prof.h"

static const char META[] = "Program: test_newproc\nCtrprof-Format: 4\nMemRate: 1\n\n";

static int resets;
static void count_reset(void)
{
    resets++;
    cp_prof_atfork_child(NULL);
}

/* the engine in a fork child of the test (its own, at rate 1, no file) */
static int engine(void)
{
    struct cp_options o;
    cp_options_load(&o, NULL);
    o.mem_rate = 1;
    if (cp_prof_init(&o, NULL, META, sizeof META - 1, false))
        return -1;
    cp_newproc_set_reset(count_reset);
    return 0;
}

/* In a raw clone child: the first check notices (once), runs the reset, and says
 * "unseen"; the parent's checks see nothing. Exit status 0 when all holds. */
static int raw_clone_child(bool wipe)
{
    if (engine())
        return 2;
    if (!wipe)
        cp_newproc_test_nowipe();
    if (cp_newproc() || cp_newproc_waiting() || cp_newproc_unseen)
        return 3; /* the parent is not new */
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    if (pid == 0) {
        /* with the wiped page, the one-load check tells; without, only the pid does */
        bool first = wipe ? cp_newproc() : (!cp_newproc() && cp_newproc_waiting());
        bool again = cp_newproc() || cp_newproc_waiting();
        _exit(first && !again && resets == 1 && cp_newproc_unseen ? 0 : 1);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return 4;
    if (WEXITSTATUS(st) != 0)
        return 5;
    return cp_newproc() || cp_newproc_waiting() || resets ? 6 : 0;
}

static void in_child(bool wipe)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(raw_clone_child(wipe));
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_wiped_page(void **state)
{
    in_child(true);
}

static void test_pid_fallback(void **state)
{
    in_child(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wiped_page),
        cmocka_unit_test(test_pid_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
