/* test_said.c — the CTRPROF_SAID entry the shim keeps in environ (preload/said.c, compiled
 * in here with stubs for the rest of the shim): hidden until something is said, then
 * named in place as more is said, never torn, nothing lost when threads say different
 * lines at once, the token given back in a fork child, nothing written into an array
 * the program replaced. Each case runs in a child process of its own: said.c's state
 * and log.c's flags are once per process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* a line said by whatever interrupts the token's holder (a signal handler, another
 * thread), at the latest moment: after its appends, before it gives the token back */
static void held(void);
#define CP_SAID_HELD() held()
#include "../../preload/said.c"

static unsigned say_while_held = CP_LOG_TREE_KEYS;
static void held(void)
{
    unsigned k = say_while_held;
    say_while_held = CP_LOG_TREE_KEYS;
    if (k < CP_LOG_TREE_KEYS && !cp_log_tree_first(k))
        abort(); /* (said first here, or the test is wrong) */
}

/* the rest of the shim, as said.c sees it */
int cp_shim_pid;
bool cp_shim_keeps_shim(char *const envp[])
{
    for (size_t i = 0; envp && envp[i]; i++)
        if (!strncmp(envp[i], "LD_PRELOAD=", 11))
            return true;
    return false;
}
size_t cp_shim_env_count(char *const envp[])
{
    size_t n = 0;
    while (envp && envp[n])
        n++;
    return n;
}

static size_t entries(void)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    return n;
}

/* Run fn in a child process; the case passes when it exits 0 (a message on failure). */
static void in_child(int (*fn)(void))
{
    fflush(stdout);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0)
        _exit(fn());
    int st = 0;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                                \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static void start(char **env)
{
    environ = env;
    cp_shim_pid = getpid();
    cp_log_tree_init();
    cp_log_tree_mark_list(getenv("CTRPROF_SAID"));
}

static int hidden_until_said(void)
{
    static char *env[] = {"A=1", "LD_PRELOAD=/x/libctrprof.so", NULL};
    start(env);
    cp_shim_said_init();
    CHECK(getenv("CTRPROF_SAID") == NULL);
    CHECK(entries() == 2 && !strcmp(environ[0], "A=1")); /* the same variables */
    CHECK(cp_log_tree_first(CP_LOG_TREE_RING));
    CHECK(getenv("CTRPROF_SAID") && !strcmp(getenv("CTRPROF_SAID"), "ring"));
    CHECK(entries() == 3);
    CHECK(cp_log_tree_first(CP_LOG_TREE_COUNTER));
    CHECK(!cp_log_tree_first(CP_LOG_TREE_COUNTER));
    CHECK(!strcmp(getenv("CTRPROF_SAID"), "ring,counter"));
    CHECK(entries() == 3);
    return 0;
}

static void test_hidden_until_said(void **state)
{
    in_child(hidden_until_said);
}

static int no_shim_no_slot(void)
{
    static char *env[] = {"A=1", NULL};
    start(env);
    cp_shim_said_init();
    CHECK(environ == env); /* left alone: no child of this one is profiled */
    CHECK(cp_log_tree_first(CP_LOG_TREE_RING));
    CHECK(environ == env && getenv("CTRPROF_SAID") == NULL);
    return 0;
}

static void test_no_shim_no_slot(void **state)
{
    in_child(no_shim_no_slot);
}

static int inherited_replaced(void)
{
    static char inherited[] = "CTRPROF_SAID=file";
    static char *env[] = {"A=1", inherited, "LD_PRELOAD=/x/libctrprof.so", NULL};
    start(env);
    cp_shim_said_init();
    CHECK(environ == env && env[1] != inherited); /* the pointer, in the same array */
    CHECK(!strcmp(getenv("CTRPROF_SAID"), "file"));
    CHECK(cp_log_tree_first(CP_LOG_TREE_MEMORY));
    CHECK(!strcmp(getenv("CTRPROF_SAID"), "file,memory"));
    CHECK(!strcmp(inherited, "CTRPROF_SAID=file")); /* the inherited string untouched */
    return 0;
}

static void test_inherited_replaced(void **state)
{
    in_child(inherited_replaced);
}

/* The program's setenv of a new variable copies the array without the slot: a line
 * said after it is written nowhere the program sees. */
static int program_replaced_array(void)
{
    static char *env[] = {"A=1", "LD_PRELOAD=/x/libctrprof.so", NULL};
    start(env);
    cp_shim_said_init();
    CHECK(setenv("B", "2", 1) == 0);
    char **mine = environ;
    CHECK(cp_log_tree_first(CP_LOG_TREE_RING));
    CHECK(environ == mine && getenv("CTRPROF_SAID") == NULL && entries() == 3);
    return 0;
}

static void test_program_replaced_array(void **state)
{
    in_child(program_replaced_array);
}

/* ... and the setenv family's hooks (preload/setenv.c) put the slot back after it: a
 * copy of glibc's array, with the slot, is environ; glibc's next setenv copies from it,
 * unsetenv shifts within it, clearenv's NULL is left alone till the next setenv. */
static int hooks_put_slot_back(void)
{
    static char *env[] = {"A=1", "LD_PRELOAD=/x/libctrprof.so", NULL};
    start(env);
    cp_shim_said_init();
    bool held = cp_shim_said_env_before();
    CHECK(held && setenv("B", "2", 1) == 0);
    char **glibcs = environ;
    cp_shim_said_env_changed(held);
    CHECK(environ != glibcs && environ != env_room && entries() == 3);
    CHECK(getenv("CTRPROF_SAID") == NULL && !strcmp(getenv("B"), "2"));
    held = cp_shim_said_env_before();
    CHECK(held && setenv("C", "3", 1) == 0 && unsetenv("A") == 0);
    cp_shim_said_env_changed(held);
    CHECK(entries() == 3 && !getenv("A") && !strcmp(getenv("C"), "3"));
    CHECK(cp_log_tree_first(CP_LOG_TREE_RING));
    CHECK(getenv("CTRPROF_SAID") && !strcmp(getenv("CTRPROF_SAID"), "ring") && entries() == 4);
    /* said now: glibc's copies keep the visible entry, nothing more to do */
    held = cp_shim_said_env_before();
    CHECK(!held && setenv("D", "4", 1) == 0);
    cp_shim_said_env_changed(held);
    CHECK(!strcmp(getenv("CTRPROF_SAID"), "ring") && entries() == 5);
    return 0;
}

static void test_hooks_put_slot_back(void **state)
{
    in_child(hooks_put_slot_back);
}

/* A line said inside the program's setenv (its own allocation, at rate 1) after glibc
 * sized its copy: the slot is filled in the old array and left out of the new; the hook
 * puts it back. And after clearenv, nothing till the next setenv. */
static int filled_during_the_call(void)
{
    static char *env[] = {"A=1", "LD_PRELOAD=/x/libctrprof.so", NULL};
    static char *glibcs[] = {"A=1", "LD_PRELOAD=/x/libctrprof.so", "B=2", NULL, NULL};
    start(env);
    cp_shim_said_init();
    bool held = cp_shim_said_env_before();
    CHECK(held && cp_log_tree_first(CP_LOG_TREE_RING)); /* (filled in env_room) */
    environ = glibcs;                                   /* (the copy made without it) */
    cp_shim_said_env_changed(held);
    CHECK(environ != glibcs && entries() == 4);
    CHECK(getenv("CTRPROF_SAID") && !strcmp(getenv("CTRPROF_SAID"), "ring"));
    return 0;
}

static void test_filled_during_the_call(void **state)
{
    in_child(filled_during_the_call);
}

static int after_clearenv(void)
{
    static char *env[] = {"A=1", "LD_PRELOAD=/x/libctrprof.so", NULL};
    start(env);
    cp_shim_said_init();
    bool held = cp_shim_said_env_before();
    CHECK(clearenv() == 0);
    cp_shim_said_env_changed(held);
    CHECK(environ == NULL);
    held = cp_shim_said_env_before();
    CHECK(setenv("B", "2", 1) == 0);
    cp_shim_said_env_changed(held);
    CHECK(entries() == 1 && environ != env_room);
    CHECK(cp_log_tree_first(CP_LOG_TREE_MEMORY));
    CHECK(getenv("CTRPROF_SAID") && !strcmp(getenv("CTRPROF_SAID"), "memory") && entries() == 2);
    return 0;
}

static void test_after_clearenv(void **state)
{
    in_child(after_clearenv);
}

/* A line said while the token is held (the sayer finds it taken and returns): the
 * holder names it before it returns. */
static int said_while_held(void)
{
    static char *env[] = {"LD_PRELOAD=/x/libctrprof.so", NULL};
    start(env);
    cp_shim_said_init();
    say_while_held = CP_LOG_TREE_TRUNCATED;
    CHECK(cp_log_tree_first(CP_LOG_TREE_FILE));
    CHECK(say_while_held == CP_LOG_TREE_KEYS); /* (it was said, in the hold) */
    CHECK(getenv("CTRPROF_SAID") && !strcmp(getenv("CTRPROF_SAID"), "file,truncated"));
    return 0;
}

static void test_said_while_held(void **state)
{
    in_child(said_while_held);
}

/* A fork while another thread held the token: the child's reset gives it back. */
static int token_in_fork_child(void)
{
    static char *env[] = {"LD_PRELOAD=/x/libctrprof.so", NULL};
    start(env);
    cp_shim_said_init();
    __atomic_store_n(&busy, 1, __ATOMIC_SEQ_CST); /* held, by a thread the child lacks */
    pid_t p = fork();
    if (p == 0) {
        cp_shim_pid = getpid();
        cp_shim_said_child();
        if (!cp_log_tree_first(CP_LOG_TREE_EARLY))
            _exit(2);
        const char *v = getenv("CTRPROF_SAID");
        _exit(v && !strcmp(v, "early") ? 0 : 3);
    }
    int st = 0;
    CHECK(waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return 0;
}

static void test_token_in_fork_child(void **state)
{
    in_child(token_in_fork_child);
}

/* Twelve threads say twelve different lines at once while two read the variable: every
 * value read is a list of whole names, and at the end all thirteen are named once. */
static const char *known(const char *p, size_t n)
{
    for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++)
        if (strlen(cp_log_tree_name(k)) == n && !strncmp(p, cp_log_tree_name(k), n))
            return cp_log_tree_name(k);
    return NULL;
}

static int whole(const char *v)
{
    int n = 0;
    for (const char *p = v; *p;) {
        size_t l = strcspn(p, ",");
        if (!known(p, l))
            return -1;
        n++;
        p += l + (p[l] == ',');
    }
    return n;
}

static int go, sayers_done, torn;

static void *sayer(void *arg)
{
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
        ;
    cp_log_tree_first((unsigned)(uintptr_t)arg);
    __atomic_add_fetch(&sayers_done, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static void *reader(void *arg)
{
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
        ;
    do {
        /* a copy, byte by byte as the hardware reads it (a plain strcpy here would be a
         * race to TSan: a program's readers are, by the design, said.c's top) */
        char copy[CP_SHIM_SAID_MAX] = "";
        const char *v = getenv("CTRPROF_SAID");
        for (size_t i = 0; v && i < sizeof copy - 1; i++)
            if (!(copy[i] = __atomic_load_n(&v[i], __ATOMIC_ACQUIRE)))
                break;
        if (whole(copy) < 0)
            __atomic_add_fetch(&torn, 1, __ATOMIC_RELAXED);
    } while (__atomic_load_n(&sayers_done, __ATOMIC_ACQUIRE) < CP_LOG_TREE_KEYS - 1);
    return arg;
}

static int concurrent(void)
{
    static char *env[] = {"A=1", "LD_PRELOAD=/x/libctrprof.so", NULL};
    start(env);
    cp_log_tree_first(CP_LOG_TREE_OPTIONS); /* said at start-up: visible from the start */
    cp_shim_said_init();
    pthread_t t[CP_LOG_TREE_KEYS + 1];
    int n = 0;
    for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++)
        if (k != CP_LOG_TREE_OPTIONS)
            CHECK(pthread_create(&t[n++], NULL, sayer, (void *)(uintptr_t)k) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[n++], NULL, reader, NULL) == 0);
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    CHECK(torn == 0);
    const char *v = getenv("CTRPROF_SAID");
    CHECK(v && whole(v) == CP_LOG_TREE_KEYS);
    for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++) { /* each once */
        const char *p = strstr(v, cp_log_tree_name(k));
        CHECK(p);
    }
    return 0;
}

static void test_concurrent(void **state)
{
    for (int round = 0; round < 50; round++)
        in_child(concurrent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hidden_until_said),   cmocka_unit_test(test_no_shim_no_slot),
        cmocka_unit_test(test_inherited_replaced),  cmocka_unit_test(test_program_replaced_array),
        cmocka_unit_test(test_hooks_put_slot_back), cmocka_unit_test(test_filled_during_the_call),
        cmocka_unit_test(test_after_clearenv),      cmocka_unit_test(test_said_while_held),
        cmocka_unit_test(test_token_in_fork_child), cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
