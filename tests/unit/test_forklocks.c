/* test_forklocks.c — fork while other threads hold the engine's locks (docs/ARCHITECTURE.md,
 * "Locks"). A lock that fork copies held stays held in the child, whose next use of it
 * spins for ever: each child takes the locks, under a 5 s alarm, and must exit 0.
 *
 *   - fork() while threads take the arena's and the module table's locks as fast as they
 *     can. The fork handlers are called as preload/shim.c calls them (prepare, fork,
 *     child or parent), and the child does what the shim's child_reset does for a child
 *     of a multi-threaded parent (cp_stack_loader_suspect) before cp_prof_atfork_child.
 *   - fork() while a thread holds the live table's grow lock, or a waiter-table bucket's
 *     lock, for the whole loop: neither is taken by prepare (the lock table says why).
 *   - _Fork() (no handler runs: core/newproc.h) while threads take the module table's
 *     lock (as the dlclose hook's refresh does), the arena's, and hold a waiter-table
 *     bucket's: the child's first call into the engine must notice it is a new process
 *     and reset it before it looks at any lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/single_threaded.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "arena.h"
#include "contention.h"
#include "live.h"
#include "modules.h"
#include "options.h"
#include "prof.h"
#include "stack.h"

static const char META[] = "Program: test_forklocks\nCtrprof-Format: 4\nMemRate: 1\n\n";
static int stop; /* atomic */

/* cp_arena_alloc(0) takes and releases the arena's lock and carves nothing */
static void *arena_hammer(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
        (void)cp_arena_alloc(0);
    return NULL;
}

static void *flush_hammer(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
        cp_prof_flush_all();
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

static char path[128];

/* the shim's child_reset for a child of a multi-threaded parent, without its files */
static void child_reset(void)
{
    if (!__libc_single_threaded)
        cp_stack_loader_suspect();
    cp_prof_atfork_child(NULL);
}

/* The engine, once for all tests (the file is removed at the end). */
static void engine(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    static const struct cp_host host = {.child_reset = child_reset};
    cp_prof_set_host(&host);
    struct cp_options o;
    cp_options_load(&o, NULL);
    snprintf(path, sizeof path, "/tmp/ctrprof-test-forklocks.%d.count", (int)getpid());
    assert_int_equal(cp_prof_init(&o, path, META, sizeof META - 1, true), 0);
    cp_stack_init();
    assert_int_equal(cp_contention_init(), 0);
}

/* wait for a child under its alarm: 0 exited 0, 1 hung (SIGALRM), 2 otherwise */
static int reap(pid_t pid)
{
    int st;
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        return 1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 2;
}

static void test_fork_while_locks_are_hammered(void **state)
{
    (void)state;
    engine();
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
    __atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
    print_message("forks %d: hung %d, failed %d\n", FORKS, hung, failed);
    assert_int_equal(hung, 0);
    assert_int_equal(failed, 0);
}

/* ---- locks held for the whole loop ------------------------------------------------ */

static int held;       /* atomic: the holder has the lock */
static int release;    /* atomic: the forks are done */
static char waited_on; /* a mutex's address, for the waiter table */

static void *grow_holder(void *arg)
{
    (void)arg;
    cp_live_grow_hold(true);
    __atomic_store_n(&held, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&release, __ATOMIC_ACQUIRE))
        sched_yield();
    cp_live_grow_hold(false);
    return NULL;
}

/* a wait in progress on &waited_on, its bucket locked as an rwlock's leaving reader
 * holds it (cp_contention_hold) */
static void *bucket_holder(void *arg)
{
    (void)arg;
    uint64_t t0;
    if (!cp_contention_begin(&waited_on, &t0, NULL))
        return (void *)1;
    void *b = cp_contention_hold(&waited_on);
    if (!b)
        return (void *)2;
    __atomic_store_n(&held, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&release, __ATOMIC_ACQUIRE))
        sched_yield();
    cp_contention_unhold(b);
    cp_contention_end(&waited_on, t0, t0 + 1);
    return NULL;
}

static void start_holder(pthread_t *t, void *(*fn)(void *))
{
    __atomic_store_n(&held, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&release, 0, __ATOMIC_RELAXED);
    assert_int_equal(pthread_create(t, NULL, fn, NULL), 0);
    while (!__atomic_load_n(&held, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void stop_holder(pthread_t t)
{
    void *r;
    __atomic_store_n(&release, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(t, &r), 0);
    assert_null(r);
}

/* The live table's grow lock: the child inserts past the first generation's half (2048
 * of 4096 slots; the test's engine is not dense, so all go to the table), which adds a
 * generation under the lock, then takes it itself. */
static int grow_child(void)
{
    for (uintptr_t k = 1; k <= 3000; k++)
        if (!cp_live_insert((void *)(0x10000000 + (k << 4)), (uintptr_t)16 * k, 0, 1))
            return 3;
    cp_live_grow_hold(true);
    cp_live_grow_hold(false);
    return cp_live_count() == 3000 ? 0 : 4;
}

/* A waiter-table bucket: the child waits on the same address (its bucket) and charges. */
static int bucket_child(void)
{
    uint64_t t0, now;
    uint32_t waits;
    if (!cp_contention_begin(&waited_on, &t0, NULL))
        return 3;
    cp_contention_charge(&waited_on, &now, &waits);
    cp_contention_end(&waited_on, t0, t0 + 1);
    return cp_contention_entries() == 0 ? 0 : 4;
}

#ifndef HELD_FORKS /* (fewer when a broken build is tried: a hung child costs 5 s) */
#define HELD_FORKS 50
#endif

static void fork_while_held(void *(*holder)(void *), int (*body)(void), const char *what)
{
    engine();
    pthread_t t;
    start_holder(&t, holder);
    int hung = 0, failed = 0;
    for (int i = 0; i < HELD_FORKS; i++) {
        cp_prof_atfork_prepare();
        pid_t pid = fork();
        if (pid == 0) {
            alarm(5);
            cp_stack_loader_suspect();
            cp_prof_atfork_child(NULL);
            _exit(body());
        }
        cp_prof_atfork_parent();
        int r = reap(pid);
        hung += r == 1;
        failed += r == 2;
    }
    stop_holder(t);
    print_message("%s: forks %d: hung %d, failed %d\n", what, HELD_FORKS, hung, failed);
    assert_int_equal(hung, 0);
    assert_int_equal(failed, 0);
}

static void test_fork_while_grow_lock_held(void **state)
{
    (void)state;
    fork_while_held(grow_holder, grow_child, "grow lock");
}

/* The thread-stack table's lock (core/stack.c): a thread's pthread_create hook holds it
 * while it notes a small-stack thread; the child notes one itself. */
static void *table_holder(void *arg)
{
    (void)arg;
    cp_stack_table_hold(true);
    __atomic_store_n(&held, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&release, __ATOMIC_ACQUIRE))
        sched_yield();
    cp_stack_table_hold(false);
    return NULL;
}

static int table_child(void)
{
    cp_stack_thread_coming(64 << 10);
    cp_stack_thread_made((uintptr_t)0x7f0000012000, 64 << 10);
    return 0;
}

static void test_fork_while_thread_table_held(void **state)
{
    (void)state;
    fork_while_held(table_holder, table_child, "thread-stack table");
}

static void test_fork_while_waiter_bucket_held(void **state)
{
    (void)state;
    fork_while_held(bucket_holder, bucket_child, "waiter bucket");
}

/* ---- _Fork: no handler runs --------------------------------------------------------- */

#ifndef RAW_FORKS /* (fewer when a broken build is tried: a hung child costs 5 s) */
#define RAW_FORKS 120
#endif

static const uintptr_t raw_pcs[2] = {0x4a1000, 0x4a2000};

/* The child's first call into the engine varies with i: a module-table refresh (a child
 * whose first profiled call is dlclose: preload/dl.c), an allocation event on a thread
 * with no ring yet (cp_thread_get's ring, from the arena), the program's first thread
 * (cp_prof_threads_coming) then a wait on the address whose bucket a thread held, or a
 * step-aside (preload/alone.c: unshare, setns; the parent's flusher and a thread
 * flushing held cp_flush_lock). Then all of them. */
#define RAW_FIRSTS 4
static int raw_child(int i)
{
    alarm(5);
    switch (i % RAW_FIRSTS) {
    case 0:
        cp_modules_refresh();
        break;
    case 1:
        cp_event_alloc(cp_thread_get(), (void *)0x20000000, 48, raw_pcs, 2);
        break;
    case 2:
        cp_prof_threads_coming();
        if (bucket_child())
            return 3;
        break;
    default:
        cp_prof_aside_begin(false);
        cp_prof_aside_end();
        break;
    }
    cp_modules_refresh();
    if (!cp_arena_alloc(64))
        return 4;
    cp_event_alloc(cp_thread_get(), (void *)0x20000010, 48, raw_pcs, 2);
    return bucket_child() ? 5 : 0;
}

static void test_rawfork_while_locks_are_held(void **state)
{
    (void)state;
#if defined(__SANITIZE_THREAD__)
    /* TSan's runtime is not reset by _Fork either: its own locks, not ours, would hang the
     * child; said, not run */
    fprintf(stderr, "SKIP test_rawfork_while_locks_are_held: _Fork under TSan\n");
    skip();
#endif
    engine();
    cp_prof_start(); /* the flusher thread: the child inherits "running" */
    pthread_t a, m, f, b;
    assert_int_equal(pthread_create(&a, NULL, arena_hammer, NULL), 0);
    assert_int_equal(pthread_create(&m, NULL, module_hammer, NULL), 0);
    assert_int_equal(pthread_create(&f, NULL, flush_hammer, NULL), 0);
    start_holder(&b, bucket_holder);
    int hung = 0, failed = 0, by_first[RAW_FIRSTS] = {0};
    for (int i = 0; i < RAW_FORKS; i++) {
        pid_t pid = _Fork();
        if (pid == 0)
            _exit(raw_child(i));
        int r = reap(pid);
        hung += r == 1;
        failed += r == 2;
        by_first[i % RAW_FIRSTS] += r != 0;
    }
    stop_holder(b);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(a, NULL);
    pthread_join(m, NULL);
    pthread_join(f, NULL);
    __atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
    print_message("_Fork: forks %d: hung %d, failed %d (first call refresh %d, ring %d, "
                  "thread %d, step-aside %d)\n",
                  RAW_FORKS, hung, failed, by_first[0], by_first[1], by_first[2], by_first[3]);
    assert_int_equal(hung, 0);
    assert_int_equal(failed, 0);
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_while_locks_are_hammered),
        cmocka_unit_test(test_fork_while_grow_lock_held),
        cmocka_unit_test(test_fork_while_thread_table_held),
        cmocka_unit_test(test_fork_while_waiter_bucket_held),
        cmocka_unit_test(test_rawfork_while_locks_are_held),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
