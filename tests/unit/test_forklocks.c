/* test_forklocks.c — fork while other threads take the arena's and the module table's
 * locks as fast as they can (docs/ARCHITECTURE.md, "Locks"). A lock that fork copies
 * held stays held in the child, whose next use of it spins for ever: the child takes
 * both, under a 5 s alarm, and must exit 0.
 *
 * The fork handlers are called as preload/shim.c calls them (prepare, fork, child or
 * parent), and the child does what the shim's child_reset does for a child of a
 * multi-threaded parent (cp_stack_loader_suspect) before cp_prof_atfork_child. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "arena.h"
#include "options.h"
#include "prof.h"
#include "stack.h"

static const char META[] = "Program: test_forklocks\nCtrprof-Format: 3\nMemRate: 1\n\n";
static int stop; /* atomic */

/* cp_arena_alloc(0) takes and releases the arena's lock and carves nothing */
static void *arena_hammer(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
        (void)cp_arena_alloc(0);
    return NULL;
}

static void *module_hammer(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
        cp_modules_refresh();
    return NULL;
}

#define FORKS 300

static void test_fork_while_locks_are_hammered(void **state)
{
    (void)state;
    struct cp_options o;
    cp_options_load(&o, NULL);
    char path[128];
    snprintf(path, sizeof path, "/tmp/ctrprof-test-forklocks.%d.count", (int)getpid());
    assert_int_equal(cp_prof_init(&o, path, META, sizeof META - 1, true), 0);
    cp_stack_init();
    pthread_t a, m;
    assert_int_equal(pthread_create(&a, NULL, arena_hammer, NULL), 0);
    assert_int_equal(pthread_create(&m, NULL, module_hammer, NULL), 0);
    int hung = 0, failed = 0;
    for (int i = 0; i < FORKS; i++) {
        cp_prof_atfork_prepare();
        pid_t pid = fork();
        if (pid == 0) {
            alarm(5);
            cp_stack_loader_suspect();
            cp_prof_atfork_child(NULL);
            /* 64 bytes, a few times: past the current chunk's end now and then */
            for (int k = 0; k < 4; k++)
                if (!cp_arena_alloc(64))
                    _exit(2);
            cp_modules_refresh();
            _exit(0);
        }
        cp_prof_atfork_parent();
        assert_true(pid > 0);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
            hung++;
        else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(a, NULL);
    pthread_join(m, NULL);
    unlink(path);
    print_message("forks %d: hung %d, failed %d\n", FORKS, hung, failed);
    assert_int_equal(hung, 0);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_while_locks_are_hammered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
