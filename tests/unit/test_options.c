/* test_options.c — CTRPROF_* parsing (base/options.c): strict numbers, ranges, defaults,
 * one warning line per bad variable naming it, from the first process of a tree only
 * (log.h's CTRPROF_SAID names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <cmocka.h>

#include "log.h"
#include "options.h"

static void test_parse_u64(void **state)
{
    uint64_t v = 7;
    assert_int_equal(cp_options_parse_u64("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cp_options_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(cp_options_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
    assert_int_equal(cp_options_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
    assert_int_equal(cp_options_parse_u64("-1", 0, 10, &v), -EINVAL);
    assert_int_equal(cp_options_parse_u64("+1", 0, 10, &v), -EINVAL);
    assert_int_equal(cp_options_parse_u64(" 1", 0, 10, &v), -EINVAL);
    assert_int_equal(cp_options_parse_u64("1k", 0, 10, &v), -EINVAL);
    assert_int_equal(cp_options_parse_u64("", 0, 10, &v), -EINVAL);
    assert_int_equal(cp_options_parse_u64("11", 0, 10, &v), -ERANGE);
    assert_int_equal(cp_options_parse_u64("0", 1, 10, &v), -ERANGE);
    assert_int_equal(v, UINT64_MAX); /* untouched by the failures */
}

/* Load with envp, capturing what is logged; returns the number of lines. */
static int load(struct cp_options *o, char **envp, char *log, size_t loglen)
{
    int p[2];
    if (pipe(p))
        return -1;
    int saved = dup(2);
    dup2(p[1], 2);
    cp_options_load(o, envp);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    ssize_t n = read(p[0], log, loglen - 1);
    close(p[0]);
    log[n > 0 ? n : 0] = 0;
    int lines = 0;
    for (char *c = log; *c; c++)
        lines += *c == '\n';
    return lines;
}

static void test_defaults(void **state)
{
    struct cp_options o;
    char log[1024];
    char *env[] = {"PATH=/bin", "CTRPROF_UNKNOWN=1", NULL};
    assert_int_equal(load(&o, env, log, sizeof log), 0);
    assert_int_equal(o.mem_rate, 524288);
    assert_int_equal(o.mutex_fraction, 100);
    assert_int_equal(o.block_rate, 100000);
    assert_int_equal(o.block_budget, 1000);
    assert_int_equal(o.block_lock_fraction, 100); /* the mutex fraction's */
    assert_int_equal(o.flush_ms, 1000);
    assert_int_equal(o.depth, 64);
    assert_int_equal(o.unwind, CP_UNWIND_CFI);
    assert_int_equal(o.flusher, CP_FLUSHER_AUTO);
    assert_string_equal(o.dir, ".");
    assert_string_equal(o.file, "");
}

/* CTRPROF_BLOCK_LOCK_FRACTION, unset, follows CTRPROF_MUTEX_FRACTION wherever that comes in
 * the environment (1: every lock wait in both profiles), 100 with the mutex profile off;
 * set, it is its own, 0 included (lock waits out of the block profile). */
/* The block lock fraction an environment (up to three variables) gives */
static uint64_t lock_fraction(char *a, char *b, char *c)
{
    struct cp_options o;
    char log[1024];
    char *env[] = {a, b, c, NULL};
    load(&o, env, log, sizeof log);
    return o.block_lock_fraction;
}

static void test_block_lock_fraction(void **state)
{
    (void)state;
    assert_int_equal(lock_fraction("CTRPROF_MUTEX_FRACTION=7", NULL, NULL), 7);
    assert_int_equal(lock_fraction("CTRPROF_MUTEX_FRACTION=1", "CTRPROF_BLOCK_RATE=1", NULL), 1);
    assert_int_equal(lock_fraction("CTRPROF_MUTEX_FRACTION=0", NULL, NULL), 100);
    assert_int_equal(
        lock_fraction("CTRPROF_BLOCK_LOCK_FRACTION=3", "CTRPROF_MUTEX_FRACTION=1", NULL), 3);
    assert_int_equal(lock_fraction("CTRPROF_BLOCK_LOCK_FRACTION=0", NULL, NULL), 0);
    /* a bad value keeps the default, the mutex fraction's (its line: test_bad_values) */
    assert_int_equal(
        lock_fraction("CTRPROF_MUTEX_FRACTION=5", "CTRPROF_BLOCK_LOCK_FRACTION=1000000001", NULL),
        5);
}

static void test_values(void **state)
{
    struct cp_options o;
    char log[1024];
    char *env[] = {"CTRPROF_MEM_RATE=1",
                   "CTRPROF_MUTEX_FRACTION=0",
                   "CTRPROF_BLOCK_RATE=123",
                   "CTRPROF_FLUSH_MS=5",
                   "CTRPROF_DEPTH=128",
                   "CTRPROF_UNWIND=fp",
                   "CTRPROF_DIR=/tmp/x",
                   "CTRPROF_FILE=/tmp/y.count",
                   "CTRPROF_DEBUG=0",
                   "CTRPROF_BLOCK_BUDGET=0",
                   NULL};
    assert_int_equal(load(&o, env, log, sizeof log), 0);
    assert_int_equal(o.block_budget, 0);
    assert_int_equal(o.mem_rate, 1);
    assert_int_equal(o.mutex_fraction, 0);
    assert_int_equal(o.block_rate, 123);
    assert_int_equal(o.flush_ms, 5);
    assert_int_equal(o.depth, 128);
    assert_int_equal(o.unwind, CP_UNWIND_FP);
    assert_string_equal(o.dir, "/tmp/x");
    assert_string_equal(o.file, "/tmp/y.count");
    const char *names[] = {"libunwind", "fp", "cfi", "check"};
    const int want[] = {CP_UNWIND_LIBUNWIND, CP_UNWIND_FP, CP_UNWIND_CFI, CP_UNWIND_CHECK};
    for (int i = 0; i < 4; i++) {
        char var[64];
        snprintf(var, sizeof var, "CTRPROF_UNWIND=%s", names[i]);
        char *one[] = {var, NULL};
        assert_int_equal(load(&o, one, log, sizeof log), 0);
        assert_int_equal(o.unwind, want[i]);
    }
    char *thread[] = {"CTRPROF_FLUSHER=thread", NULL}, *autom[] = {"CTRPROF_FLUSHER=auto", NULL};
    assert_int_equal(load(&o, thread, log, sizeof log), 0);
    assert_int_equal(o.flusher, CP_FLUSHER_THREAD);
    assert_int_equal(load(&o, autom, log, sizeof log), 0);
    assert_int_equal(o.flusher, CP_FLUSHER_AUTO);
    assert_int_equal(cp_flusher_parse("thread"), CP_FLUSHER_THREAD);
    assert_int_equal(cp_flusher_parse("process"), CP_FLUSHER_PROCESS);
    assert_int_equal(cp_flusher_parse("inline"), CP_FLUSHER_INLINE);
    assert_int_equal(cp_flusher_parse("Thread"), -1);
    assert_int_equal(cp_unwind_parse("check"), CP_UNWIND_CHECK);
    assert_int_equal(cp_unwind_parse(""), -1);
    /* ctrprof run's check of its --unwind and --flusher words (tools/run.c) */
    assert_null(cp_options_names_refused("CTRPROF_FLUSHER", "thread"));
    assert_string_equal(cp_options_names_refused("CTRPROF_FLUSHER", "always"),
                        "auto, thread, process or inline");
    assert_string_equal(cp_options_names_refused("CTRPROF_UNWIND", "Cfi"),
                        "cfi, libunwind, fp or check");
    assert_null(cp_options_names_refused("CTRPROF_MEM_RATE", "x")); /* not a list of names */
}

static void test_bad_values(void **state)
{
    struct cp_options o;
    char log[4096];
    char *env[] = {"CTRPROF_MEM_RATE=abc",
                   "CTRPROF_DEPTH=0",
                   "CTRPROF_DEPTH=129",
                   "CTRPROF_FLUSH_MS=",
                   "CTRPROF_UNWIND=gdb",
                   "CTRPROF_DEBUG=yes",
                   "CTRPROF_BLOCK_RATE=-1",
                   "CTRPROF_DIR=",
                   "CTRPROF_FLUSHER=1",
                   "CTRPROF_BLOCK_BUDGET=1e3",
                   "CTRPROF_BLOCK_BUDGET=1000000001",
                   "CTRPROF_BLOCK_LOCK_FRACTION=x",
                   NULL};
    int lines = load(&o, env, log, sizeof log);
    printf("%s", log);
    assert_int_equal(lines, 12); /* one line each, every one naming its variable */
    assert_non_null(strstr(log, "ctrprof: CTRPROF_BLOCK_LOCK_FRACTION=x"));
    assert_int_equal(o.block_lock_fraction, 100);
    assert_non_null(strstr(log, "ctrprof: CTRPROF_BLOCK_BUDGET=1e3"));
    assert_non_null(strstr(log, "ctrprof: CTRPROF_BLOCK_BUDGET=1000000001"));
    assert_int_equal(o.block_budget, 1000);
    assert_non_null(strstr(log, "ctrprof: CTRPROF_MEM_RATE=abc"));
    assert_non_null(strstr(log, "ctrprof: CTRPROF_DEPTH=0"));
    assert_non_null(strstr(log, "ctrprof: CTRPROF_DEPTH=129"));
    assert_non_null(strstr(log, "ctrprof: CTRPROF_FLUSH_MS="));
    assert_non_null(strstr(log, "ctrprof: CTRPROF_UNWIND=gdb"));
    assert_non_null(strstr(log, "ctrprof: CTRPROF_DEBUG=yes"));
    assert_non_null(strstr(log, "ctrprof: CTRPROF_BLOCK_RATE=-1"));
    assert_non_null(strstr(log, "ctrprof: CTRPROF_DIR is empty"));
    assert_non_null(
        strstr(log, "ctrprof: CTRPROF_FLUSHER=1 is not auto, thread, process or inline"));
    assert_int_equal(o.mem_rate, 524288); /* defaults kept */
    assert_int_equal(o.flusher, CP_FLUSHER_AUTO);
    assert_int_equal(o.depth, 64);
    assert_int_equal(o.flush_ms, 1000);
    assert_int_equal(o.unwind, CP_UNWIND_CFI);
    assert_int_equal(o.block_rate, 100000);
    assert_string_equal(o.dir, ".");
}

/* Once the tree has warned about options (here: this process, in test_bad_values; or an
 * image before an exec, CTRPROF_SAID=options), every bad value is still replaced by its
 * default, silently. */
static void test_bad_values_once_per_tree(void **state)
{
    struct cp_options o;
    char log[1024];
    char *env[] = {"CTRPROF_MEM_RATE=abc", "CTRPROF_DEPTH=0", NULL};
    assert_true(cp_log_tree_said(CP_LOG_TREE_OPTIONS));
    assert_int_equal(load(&o, env, log, sizeof log), 0);
    assert_int_equal(o.mem_rate, 524288);
    assert_int_equal(o.depth, 64);
}

/* The names CTRPROF_SAID carries, both ways */
static void test_said_list(void **state)
{
    char buf[128];
    assert_true(cp_log_tree_said(CP_LOG_TREE_OPTIONS));
    assert_false(cp_log_tree_said(CP_LOG_TREE_FILE));
    cp_log_tree_mark_list("file,bogus,memor,not-profiling-x");
    assert_true(cp_log_tree_said(CP_LOG_TREE_FILE));
    assert_false(cp_log_tree_said(CP_LOG_TREE_MEMORY));
    assert_false(cp_log_tree_said(CP_LOG_TREE_NOT_PROFILING));
    assert_int_equal(cp_log_tree_list(buf, sizeof buf), strlen("file,options"));
    assert_string_equal(buf, "file,options");
    cp_log_tree_mark_list("truncated,,not-profiling");
    assert_int_equal(cp_log_tree_list(buf, 8), strlen("not-profiling,file,options,truncated"));
    assert_string_equal(buf, "not-pro"); /* cut, terminated */
    cp_log_tree_list(buf, sizeof buf);
    assert_string_equal(buf, "not-profiling,file,options,truncated");
    assert_false(cp_log_tree_first(CP_LOG_TREE_TRUNCATED));
    assert_true(cp_log_tree_first(CP_LOG_TREE_MEMORY));
    /* every key has a name that round-trips, and the whole list fits CTRPROF_SAID's buffer */
    cp_log_tree_mark_list("ring,flusher,birth-table,own-stack,sandbox-room,counter,waiter-table,"
                          "early,bus-blocked,counter-wait,deepbind,stalled,thread-checker,"
                          "another-copy,file-mode");
    for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++)
        assert_true(cp_log_tree_said(k));
    char all[256];
    size_t n = cp_log_tree_list(all, sizeof all);
    assert_true(n < sizeof all);
    assert_string_equal(all, "not-profiling,file,memory,options,truncated,ring,flusher,"
                             "birth-table,own-stack,sandbox-room,counter,waiter-table,early,"
                             "bus-blocked,counter-wait,deepbind,stalled,thread-checker,"
                             "another-copy,file-mode");
}

/* cp_fmt's %o (a file's mode in a line: core/publish.c), with the 0 flag and a width */
static void test_fmt_octal(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(cp_fmt(buf, sizeof buf, "%04o|%o|%o|%lo", 0400u, 0u, 0777u, 01000000ul), 18);
    assert_string_equal(buf, "0400|0|777|1000000");
    cp_fmt(buf, sizeof buf, "%04o %x %u", 06000u, 255u, 8u);
    assert_string_equal(buf, "6000 ff 8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_bad_values_once_per_tree),
        cmocka_unit_test(test_block_lock_fraction),
        cmocka_unit_test(test_said_list),
        cmocka_unit_test(test_fmt_octal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
