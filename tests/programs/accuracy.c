/*
 * accuracy.c — the cases of issue 30, one mode each (tests/e2e/accuracy.sh reads the
 * profiles it leaves):
 *   entry        one site per allocating entry point, each 20,000 objects (all freed),
 *                glibc's internal call paths included (reallocarray -> realloc@plt), plus
 *                an unrelated malloc site of 1,000 objects with 100 left in use
 *   huge [N]     every entry point with sizes up to SIZE_MAX (all fail), each followed by
 *                100 malloc(100) at site_after (freed); then N (default 2048) 1 MiB
 *                allocations at site_mib (freed): 2 GiB
 *   exec HOW T   leak 1,000 x 100 kB at site_leak with T extra threads alive, then exec
 *                `true` with HOW (execve, execv, execvp, execvpe, execl, execlp, execle,
 *                fexecve, execveat, self: execv of this program in mode "child"; vfork: a
 *                vfork child execs `true`, this process waits and exits; posix_spawn and
 *                system: the same through glibc's clone+execve)
 *   execfail     failing execs with each exec function, printing what each returned and
 *                its errno; then 1,000 x 100 kB at site_leak, leaked
 *   child        (what "exec self" runs) 10 malloc(1000) leaked at site_child
 *   reexec G N   re-exec this program until generation N, each leaking one malloc(1000)
 * Sizes go through volatile variables so that the compiler cannot fold the calls away.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static volatile size_t vsize;
static int bad;
static void *volatile sink;

#define N_ENTRY 20000
#define SITE(name, body)                                                                           \
    static __attribute__((noinline)) void name(void)                                               \
    {                                                                                              \
        for (int i = 0; i < N_ENTRY; i++) {                                                        \
            void *p = NULL;                                                                        \
            body;                                                                                  \
            sink = p;                                                                              \
            free(p);                                                                               \
        }                                                                                          \
    }

SITE(site_reallocarray, p = reallocarray(NULL, 1000, 64))
SITE(site_reallocarray_grow, {
    p = malloc(8);
    p = reallocarray(p, 1000, 64);
})
SITE(site_realloc, p = realloc(NULL, 64000))
SITE(site_calloc, p = calloc(1000, 64))
SITE(site_memalign, p = memalign(64, 1000))
SITE(site_aligned_alloc, p = aligned_alloc(64, 1024))
SITE(site_posix_memalign, {
    if (posix_memalign(&p, 64, 1000))
        p = NULL;
})
SITE(site_valloc, p = valloc(1000))
SITE(site_pvalloc, p = pvalloc(1000))
SITE(site_strdup, p = strdup("glibc calls malloc for this"))

/* cfree is a compat symbol (no link-time name): found as the program would at run time */
static __attribute__((noinline)) void site_cfree(void)
{
    void (*cfree)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
    if (!cfree) {
        printf("BAD no cfree\n");
        bad = 1;
        return;
    }
    for (int i = 0; i < N_ENTRY; i++) {
        void *p = malloc(100);
        sink = p;
        cfree(p);
    }
}

static __attribute__((noinline)) void site_unrelated(void)
{
    for (int i = 0; i < 1000; i++) {
        void *p = malloc(200);
        sink = p;
        if (i % 10)
            free(p);
    }
}

static void mode_entry(void)
{
    site_reallocarray();
    site_reallocarray_grow();
    site_realloc();
    site_calloc();
    site_memalign();
    site_aligned_alloc();
    site_posix_memalign();
    site_valloc();
    site_pvalloc();
    site_strdup();
    site_cfree();
    site_unrelated();
}

static __attribute__((noinline)) void site_after(void)
{
    for (int i = 0; i < 100; i++) {
        void *p = malloc(100);
        sink = p;
        free(p);
    }
}

static __attribute__((noinline)) void site_mib(long n)
{
    for (long i = 0; i < n; i++) {
        void *p = malloc(1 << 20);
        sink = p;
        free(p);
    }
}

static void expect_null(const char *what, void *p)
{
    if (p) {
        printf("BAD %s succeeded\n", what);
        free(p);
        bad = 1;
    }
}

static void mode_huge(long nmib)
{
    /* Each failing call twice, then once more with another size: under a signed countdown
     * the second subtraction wrapped it to a large positive value (sampling off). */
    static const size_t sizes[] = {SIZE_MAX / 2, SIZE_MAX / 4,    SIZE_MAX / 2 + 1,
                                   SIZE_MAX,     SIZE_MAX - 4095, (size_t)1 << 62};
    int calls = 0;
    for (unsigned k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        vsize = sizes[k];
        size_t n = vsize;
        for (int rep = 0; rep < 2; rep++) {
            void *q = malloc(8), *r;
            expect_null("malloc", malloc(n));
            expect_null("calloc", calloc(1, n));
            expect_null("calloc-overflow", calloc(n, 3));
            expect_null("realloc-null", realloc(NULL, n));
            r = realloc(q, n);
            expect_null("realloc", r);
            expect_null("reallocarray", reallocarray(NULL, n, 1));
            expect_null("reallocarray-overflow", reallocarray(q, n, 5));
            expect_null("memalign", memalign(64, n));
            expect_null("aligned_alloc", aligned_alloc(64, n));
            void *pm = NULL;
            if (posix_memalign(&pm, 64, n) == 0)
                expect_null("posix_memalign", pm);
            expect_null("valloc", valloc(n));
            expect_null("pvalloc", pvalloc(n));
            free(q);
            site_after();
            calls++;
        }
    }
    /* and the simplest case, a parser given a hostile length that carries on: under the
     * signed countdown these two left it at about 2^62 (sampling off for good) */
    vsize = SIZE_MAX / 2;
    expect_null("malloc", malloc(vsize));
    vsize = SIZE_MAX / 4;
    expect_null("malloc", malloc(vsize));
    site_after();
    calls++;
    printf("after %d\n", calls * 100);
    site_mib(nmib);
    printf("mib %ld\n", nmib);
}

static __attribute__((noinline)) void site_leak(void)
{
    for (int i = 0; i < 1000; i++)
        sink = malloc(100 * 1000);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int up;

static void *idle_thread(void *arg)
{
    (void)arg;
    /* a thread of its own allocations too (they are not part of any check) */
    for (int i = 0; i < 100; i++)
        free(malloc(64));
    pthread_mutex_lock(&mu);
    up++;
    pthread_cond_broadcast(&cv);
    for (;;)
        pthread_cond_wait(&cv, &mu); /* until the exec ends the process */
    return NULL;
}

static const char *self;

static int do_exec(const char *how)
{
    char *true_argv[] = {"true", NULL};
    char *self_argv[] = {(char *)self, "child", NULL};
    if (!strcmp(how, "execve"))
        return execve("/bin/true", true_argv, environ);
    if (!strcmp(how, "execv"))
        return execv("/bin/true", true_argv);
    if (!strcmp(how, "execvp"))
        return execvp("true", true_argv);
    if (!strcmp(how, "execvpe"))
        return execvpe("true", true_argv, environ);
    if (!strcmp(how, "execl"))
        return execl("/bin/true", "true", (char *)NULL);
    if (!strcmp(how, "execlp"))
        return execlp("true", "true", (char *)NULL);
    if (!strcmp(how, "execle"))
        return execle("/bin/true", "true", (char *)NULL, environ);
    if (!strcmp(how, "fexecve")) {
        int fd = open("/bin/true", O_RDONLY | O_CLOEXEC);
        return fd < 0 ? -1 : fexecve(fd, true_argv, environ);
    }
    if (!strcmp(how, "execveat"))
        return execveat(AT_FDCWD, "/bin/true", true_argv, environ, 0);
    if (!strcmp(how, "self"))
        return execv(self, self_argv);
    if (!strcmp(how, "posix_spawn") || !strcmp(how, "system")) { /* likewise */
        int st = -1;
        pid_t pid;
        if (how[0] == 's')
            st = system("true");
        else if (posix_spawn(&pid, "/bin/true", NULL, NULL, true_argv, environ) == 0)
            waitpid(pid, &st, 0);
        exit(st == 0 ? 0 : 1);
    }
    if (!strcmp(how, "vfork")) { /* the child execs; this process goes on and exits */
        pid_t pid = vfork();
        if (pid == 0) {
            execv("/bin/true", true_argv);
            _exit(127);
        }
        int st = -1;
        if (pid > 0)
            waitpid(pid, &st, 0);
        exit(st == 0 ? 0 : 1);
    }
    errno = EINVAL;
    return -1;
}

static void mode_exec(const char *how, int threads)
{
    for (int i = 0; i < threads; i++) {
        pthread_t t;
        pthread_create(&t, NULL, idle_thread, NULL);
    }
    pthread_mutex_lock(&mu);
    while (up < threads)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    site_leak();
    do_exec(how);
    perror("exec");
    exit(1);
}

static void mode_execfail(void)
{
    static const char *hows[] = {"execve",  "execv",         "execvp",    "execvpe",
                                 "execl",   "execlp",        "execle",    "execveat",
                                 "fexecve", "fexecve-badfd", "execve-dir"};
    const char *missing = "/nonexistent/ctrprof-no-such-program";
    for (unsigned i = 0; i < sizeof hows / sizeof *hows; i++) {
        char *argv[] = {"x", NULL};
        const char *h = hows[i];
        int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC); /* not executable */
        errno = 0;
        int r;
        if (!strcmp(h, "execve"))
            r = execve(missing, argv, environ);
        else if (!strcmp(h, "execv"))
            r = execv(missing, argv);
        else if (!strcmp(h, "execvp"))
            r = execvp("ctrprof-no-such-program", argv);
        else if (!strcmp(h, "execvpe"))
            r = execvpe("ctrprof-no-such-program", argv, environ);
        else if (!strcmp(h, "execl"))
            r = execl(missing, "x", (char *)NULL);
        else if (!strcmp(h, "execlp"))
            r = execlp("ctrprof-no-such-program", "x", (char *)NULL);
        else if (!strcmp(h, "execle"))
            r = execle(missing, "x", (char *)NULL, environ);
        else if (!strcmp(h, "execveat"))
            r = execveat(AT_FDCWD, missing, argv, environ, 0);
        else if (!strcmp(h, "fexecve"))
            r = fexecve(fd, argv, environ);
        else if (!strcmp(h, "fexecve-badfd"))
            r = fexecve(-1, argv, environ);
        else
            r = execve("/", argv, environ);
        /* the result and errno, for the driver to compare with a run without the shim */
        printf("%s %d %s\n", h, r, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    site_leak();
}

static __attribute__((noinline)) void site_child(void)
{
    for (int i = 0; i < 10; i++)
        sink = malloc(1000);
}

static __attribute__((noinline)) void site_gen(void)
{
    sink = malloc(1000);
}

int main(int argc, char **argv)
{
    self = argv[0];
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "entry"))
        mode_entry();
    else if (!strcmp(mode, "huge"))
        mode_huge(argc > 2 ? atol(argv[2]) : 2048);
    else if (!strcmp(mode, "exec") && argc > 3)
        mode_exec(argv[2], atoi(argv[3]));
    else if (!strcmp(mode, "execfail"))
        mode_execfail();
    else if (!strcmp(mode, "child"))
        site_child();
    else if (!strcmp(mode, "reexec") && argc > 3) {
        int g = atoi(argv[2]), n = atoi(argv[3]);
        site_gen();
        if (g < n) {
            char gen[16];
            snprintf(gen, sizeof gen, "%d", g + 1);
            execl("/proc/self/exe", self, "reexec", gen, argv[3], (char *)NULL);
            perror("exec");
            return 1;
        }
    } else {
        fprintf(stderr, "usage: accuracy entry|huge [N]|exec HOW THREADS|execfail|child|"
                        "reexec G N\n");
        return 2;
    }
    return bad;
}
