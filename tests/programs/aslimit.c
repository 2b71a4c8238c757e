/*
 * aslimit.c — the profiler out of address space under RLIMIT_AS (issue 29: "cannot map
 * profiler memory" said once per process tree, the program's results as bare). A
 * `ulimit -v` low enough for that stops bash from loading, so this launcher sets the
 * limit itself, for a C program only, and finds the limit by measurement:
 *
 *   aslimit run SHIM  the launcher (run bare: no LD_PRELOAD of its own). Runs "aslimit
 *                  tree" (below) bare and unlimited: what it prints and its status are
 *                  the truth. Then, with LD_PRELOAD=SHIM (CTRPROF_* as given):
 *                    1. the smallest limit, in 4 KiB pages, at which the tree runs as
 *                       bare with the shim loaded (a binary search; below it the loader
 *                       cannot map the shim, or the program cannot run at all): there
 *                       the profiler has the least room a loaded shim can have;
 *                    2. from there up in 16 KiB steps, the first limit at which the
 *                       profiler says "cannot map profiler memory" and the tree runs as
 *                       bare (1 MiB at most);
 *                  and at that limit runs the tree once more, printing its status and
 *                  stdout as "status S", "out: ..." lines and its stderr as "err: ...",
 *                  then "limit found" (or "no limit found" and exit 1). The limit is
 *                  on stderr. (Measured, not a number: about 3.2 MiB here, where the
 *                  program bare needs 2.5 MiB and the profiler's reservations are lazy.)
 *   aslimit tree   the profiled program: allocates 4 MiB in blocks, then forks three
 *                  children and waits for each: one computes and exits 5, two exec
 *                  "aslimit leaf" (a new image: its start-up finds the same limit);
 *                  prints each child's status and "tree ok", exits 3.
 *   aslimit leaf   allocates 1 MiB in blocks, prints "leaf ok", exits 7.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void churn(int mib)
{
    for (int i = 0; i < mib * 4; i++) {
        char *volatile p = malloc(256 << 10);
        if (p)
            p[0] = 1;
        free(p);
    }
}

static int tree(const char *self)
{
    churn(4);
    for (int k = 0; k < 3; k++) {
        pid_t p = fork();
        if (p == 0) {
            if (k == 0) {
                churn(1);
                _exit(5);
            }
            execl(self, "aslimit", "leaf", (char *)NULL);
            _exit(127);
        }
        int st = 0;
        if (p < 0 || waitpid(p, &st, 0) != p)
            printf("child %d: not started\n", k);
        else
            printf("child %d: exit %d\n", k, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        fflush(stdout);
    }
    printf("tree ok\n");
    return 3;
}

struct result {
    int status;
    char out[4096], err[4096];
};

static void slurp(int fd, char *buf, size_t len)
{
    size_t n = 0;
    ssize_t r;
    while ((r = read(fd, buf + n, len - 1 - n)) > 0 || (r < 0 && errno == EINTR))
        if (r > 0)
            n += (size_t)r;
    buf[n] = 0;
    close(fd);
}

/* Run "SELF tree" under RLIMIT_AS = pages 4 KiB pages (0: unlimited), with LD_PRELOAD=shim or
 * without any. Outputs are small: read one pipe, then the other. */
static int run(const char *self, const char *shim, long pages, struct result *r)
{
    int o[2], e[2];
    if (pipe(o) || pipe(e))
        return -1;
    pid_t p = fork();
    if (p == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(e[0]);
        close(o[1]);
        close(e[1]);
        if (shim)
            setenv("LD_PRELOAD", shim, 1);
        else
            unsetenv("LD_PRELOAD");
        if (pages > 0) {
            struct rlimit rl = {(rlim_t)pages << 12, (rlim_t)pages << 12};
            if (setrlimit(RLIMIT_AS, &rl) != 0)
                _exit(126);
        }
        execve(self, (char *[]){"aslimit", "tree", NULL}, environ);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    slurp(o[0], r->out, sizeof r->out);
    slurp(e[0], r->err, sizeof r->err);
    int st = 0;
    if (p < 0 || waitpid(p, &st, 0) != p)
        return -1;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

static struct result truth, r;

static int loaded_as_bare(void)
{
    return r.status == truth.status && !strcmp(r.out, truth.out) &&
           !strstr(r.err, "cannot be preloaded");
}

static void print_lines(const char *tag, const char *s)
{
    while (*s) {
        size_t n = strcspn(s, "\n");
        printf("%s: %.*s\n", tag, (int)n, s);
        s += n + (s[n] == '\n');
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 2;
    self[n] = 0;
    if (argc == 2 && !strcmp(argv[1], "tree"))
        return tree(self);
    if (argc == 2 && !strcmp(argv[1], "leaf")) {
        churn(1);
        printf("leaf ok\n");
        return 7;
    }
    if (argc != 3 || strcmp(argv[1], "run"))
        return 2;
    const char *shim = argv[2];
    if (run(self, NULL, 0, &truth) != 0)
        return 2;
    /* 1. the smallest limit at which the profiled tree runs as bare with the shim
     * loaded (the loader says so when it cannot map it, and runs the program without):
     * the profiler's own first mappings fail there */
    long lo = 0, hi = 64 << 8; /* in 4 KiB pages: lo fails (or is untried), hi works */
    if (run(self, shim, hi, &r) != 0 || !loaded_as_bare()) {
        printf("no limit found: the profiled tree under %ld KiB: status %d\n", hi * 4, r.status);
        return 1;
    }
    while (hi - lo > 1) {
        long mid = lo + (hi - lo) / 2;
        if (run(self, shim, mid, &r) == 0 && loaded_as_bare())
            hi = mid;
        else
            lo = mid;
    }
    /* 2. up from there in 16 KiB steps (1 MiB at most), the first limit at which the
     * profiler says its memory cannot be mapped (at the very lowest, an earlier mapping
     * of its own may fail first) */
    for (long lim = hi; lim < hi + 256; lim += 4) {
        if (run(self, shim, lim, &r) != 0)
            return 2;
        if (loaded_as_bare() && strstr(r.err, "cannot map profiler memory")) {
            if (run(self, shim, lim, &r) != 0) /* the run the caller checks */
                return 2;
            printf("status %d\n", r.status);
            print_lines("out", r.out);
            print_lines("err", r.err);
            printf("limit found\n");
            fprintf(stderr, "aslimit: %ld KiB (the lowest with the shim loaded: %ld KiB)\n",
                    lim * 4, hi * 4);
            return 0;
        }
    }
    printf("no limit found from %ld KiB up\n", hi * 4);
    return 1;
}
