/*
 * flushproc.c — the flusher process seen from the program (core/flushproc.c: at rate 1 a
 * single-threaded program's events are drained by a process of ours that shares its
 * memory; tests/e2e/flushproc.sh).
 *
 *   flushproc info N   N allocations (kept) at made_here, then one line: the program's
 *                      thread count, how many of its children are ctrprof-flush
 *                      processes, whether wait(NULL) says ECHILD at once (a process of
 *                      ours must not be a child the program can wait for)
 *   flushproc kill N   N allocations (kept) at made_here, then SIGKILL itself
 *   flushproc pipe N   N allocations (kept) at made_here, "x" on standard output, then
 *                      SIGKILL itself (a reader sees the end of its pipe only when every
 *                      copy of the write end is closed)
 *   flushproc exec N   N allocations at made_here, then exec itself as "info 10"
 *   flushproc fork N   N allocations at made_here; a child allocates N at made_in_child
 *                      and exits; the parent waits for it, allocates N more at made_here
 *
 * No stdio before the last line (its buffer would be one more allocation).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) static void *made_here(size_t n)
{
    return malloc(n);
}

__attribute__((noinline)) static void *made_in_child(size_t n)
{
    return malloc(n);
}

static void allocate(long n, void *(*f)(size_t))
{
    for (long i = 0; i < n; i++) {
        char *p = f(32 + (size_t)(i % 32));
        if (!p)
            abort();
        p[0] = 1;
    }
}

static int read_small(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t k = read(fd, buf, n - 1);
    close(fd);
    if (k < 0)
        return -1;
    buf[k] = 0;
    return (int)k;
}

static int threads(void)
{
    char buf[4096];
    if (read_small("/proc/self/status", buf, sizeof buf) < 0)
        return -1;
    const char *t = strstr(buf, "\nThreads:");
    return t ? atoi(t + 9) : -1;
}

/* children of this process (any state, zombies too) whose name is ctrprof-flush, or
 * still this program's own: the flusher process names itself once it runs, and the
 * program's first look may come between its clone and that (this program has no other
 * children) */
static int helpers(void)
{
    int n = 0;
    char self[512], mine[64] = "(ctrprof-flush)";
    if (read_small("/proc/self/stat", self, sizeof self) > 0) {
        char *a = strchr(self, '('), *z = strrchr(self, ')');
        if (a && z && z - a + 2 < (long)sizeof mine) {
            memcpy(mine, a, (size_t)(z - a + 1));
            mine[z - a + 1] = 0;
        }
    }
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *e;
    char path[64], buf[512];
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        if (read_small(path, buf, sizeof buf) <= 0)
            continue;
        char *r = strrchr(buf, ')');
        if (!r || (!strstr(buf, "(ctrprof-flush)") && !strstr(buf, mine)))
            continue;
        int ppid = 0;
        char st;
        if (sscanf(r + 2, "%c %d", &st, &ppid) == 2 && ppid == getpid())
            n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "info";
    long n = argc > 2 ? atol(argv[2]) : 1000;
    if (!strcmp(mode, "info")) {
        allocate(n, made_here);
        alarm(5); /* (a wait that blocked would end here) */
        errno = 0;
        pid_t w = wait(NULL);
        int echild = w == -1 && errno == ECHILD;
        int t = threads(), h = helpers();
        printf("threads=%d helpers=%d echild=%d\n", t, h, echild);
        return 0;
    }
    if (!strcmp(mode, "kill")) {
        allocate(n, made_here);
        kill(getpid(), SIGKILL);
    }
    if (!strcmp(mode, "pipe")) {
        allocate(n, made_here);
        if (write(1, "x", 1) != 1)
            return 1;
        kill(getpid(), SIGKILL);
    }
    if (!strcmp(mode, "exec")) {
        allocate(n, made_here);
        char *args[] = {argv[0], "info", "10", NULL};
        execv("/proc/self/exe", args);
        return 1;
    }
    if (!strcmp(mode, "fork")) {
        allocate(n, made_here);
        pid_t c = fork();
        if (c == 0) {
            allocate(n, made_in_child);
            exit(0);
        }
        int st;
        if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
            return 1;
        allocate(n, made_here);
        if (write(1, "ok\n", 3) != 3)
            return 1;
        return 0;
    }
    return 2;
}
