/*
 * saidlater.c — a message the profiler says after start-up reaches the children that
 * system() and popen() start (issue 29): glibc spawns them with environ itself, not
 * through an exec or posix_spawn hook of ours, so the only way they learn what this
 * tree has said is the CTRPROF_SAID entry the shim keeps in environ (preload/said.c).
 *
 *   saidlater spawn DIR  remove DIR (the profile's directory, usable when the profiler
 *                  started) and allocate 16 MiB blocks (sampled at any rate) until the
 *                  profiler has said "not profiling" (fd 2 is a pipe this program reads:
 *                  the line itself is the handshake, forwarded to the real stderr); then
 *                  print what getenv("CTRPROF_SAID") says, run "saidlater child" by
 *                  system() and by popen() (each a profiled program under a profiled sh,
 *                  which find DIR missing at their start-up), print what they returned
 *                  and said, exit 0
 *   saidlater churn DIR  the same, while a thread of the program's own sets and unsets
 *                  64 variables (glibc copies and grows environ under it) and reads
 *                  CTRPROF_SAID, checking every value it sees is a list of whole names
 *                  (never a torn one), until the line is said and 20000 times after;
 *                  prints how many values it read and how many were torn, then
 *                  system()s a child as above
 *   saidlater clear DIR  the same thread, but it clearenv()s and puts 64 variables back
 *                  each time round (the entry, and LD_PRELOAD, go away: the children are
 *                  not profiled); prints how many rounds it made
 *   saidlater now DIR  remove DIR, then at once system() and popen() "saidlater child"
 *                  as above: the profiler has not tried to make its file yet, so only
 *                  the hooks can find out before the children do
 *   saidlater setenv DIR  as spawn, after a setenv of a new variable at the start
 *                  (before anything is said: glibc copies environ into a new array)
 *   saidlater putenv DIR  the same with putenv, and an unsetenv (entries shifted)
 *   saidlater child  allocate, print "child ok", exit 0
 * Exit status 0, and the same output without the profiler but for the lines that name
 * what it said; 1 if the line was not said within 30 s.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int said, stop;
static int err_fd = -1;

/* fd 2's reader: forwards every line to the real stderr, notes "not profiling" */
static void *reader(void *arg)
{
    int fd = *(int *)arg;
    char buf[4096];
    size_t have = 0;
    ssize_t n;
    while ((n = read(fd, buf + have, sizeof buf - 1 - have)) > 0) {
        have += (size_t)n;
        buf[have] = 0;
        if (strstr(buf, "not profiling"))
            atomic_store(&said, 1);
        char *nl = strrchr(buf, '\n');
        if (nl) { /* whole lines on */
            size_t len = (size_t)(nl + 1 - buf);
            if (write(err_fd, buf, len) < 0)
                break;
            memmove(buf, nl + 1, have - len);
            have -= len;
        } else if (have == sizeof buf - 1) {
            if (write(err_fd, buf, have) < 0)
                break;
            have = 0;
        }
    }
    if (have && write(err_fd, buf, have) < 0)
        return NULL;
    return NULL;
}

static const char *const known[] = {
    "not-profiling", "file",      "memory",       "options", "truncated",    "ring", "flusher",
    "birth-table",   "own-stack", "sandbox-room", "counter", "waiter-table", "early"};

/* Is s a list of whole names ("" included)? */
static int whole(const char *s)
{
    while (*s) {
        size_t n = strcspn(s, ",");
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof *known; k++)
            if (strlen(known[k]) == n && !strncmp(s, known[k], n))
                ok = 1;
        if (!ok)
            return 0;
        s += n + (s[n] == ',');
    }
    return 1;
}

static long reads, torn, rounds;
static int clear_mode;

static void *churn(void *arg)
{
    (void)arg;
    char name[16], val[16];
    long after = 0;
    for (long i = 0; after < 20000; i++) {
        if (clear_mode) {
            clearenv();
            for (int k = 0; k < 64; k++) {
                snprintf(name, sizeof name, "V%d", k);
                snprintf(val, sizeof val, "%ld", i);
                setenv(name, val, 1);
            }
            rounds++;
        } else {
            snprintf(name, sizeof name, "V%ld", i % 64);
            snprintf(val, sizeof val, "%ld", i);
            setenv(name, val, 1);
            snprintf(name, sizeof name, "V%ld", (i + 32) % 64);
            unsetenv(name);
        }
        const char *v = getenv("CTRPROF_SAID");
        if (v) {
            char copy[512];
            snprintf(copy, sizeof copy, "%s", v);
            reads++;
            if (!whole(copy) && ++torn <= 3)
                fprintf(stdout, "torn: [%s]\n", copy);
        }
        if (atomic_load(&said))
            after++;
        if (atomic_load(&stop))
            break;
    }
    return NULL;
}

static void run_child(const char *self, const char *how)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' child", self);
    if (!strcmp(how, "system")) {
        int st = system(cmd);
        printf("system: %d\n", st);
    } else {
        FILE *f = popen(cmd, "r");
        char line[128] = "";
        if (f && !fgets(line, sizeof line, f))
            line[0] = 0;
        line[strcspn(line, "\n")] = 0;
        printf("popen: [%s] %d\n", line, f ? pclose(f) : -1);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && !strcmp(argv[1], "child")) {
        char *volatile p = malloc(1 << 20);
        free(p);
        printf("child ok\n");
        return 0;
    }
    if (argc != 3)
        return 2;
    const char *mode = argv[1];
    clear_mode = !strcmp(mode, "clear");
    /* first: before any thread (a flusher's publication would make DIR's file) */
    if (rmdir(argv[2]) != 0)
        return 4;
    int p[2];
    if (pipe(p) != 0 || (err_fd = dup(2)) < 0 || dup2(p[1], 2) < 0)
        return 3;
    close(p[1]);
    /* a variable of its own added before anything is said (glibc copies environ into a
     * new array of its own; at rate 1 its own allocation says the line, into the pipe,
     * read once the reader runs): then as spawn */
    if (!strcmp(mode, "setenv") && setenv("SAIDLATER_ADDED", "1", 1) != 0)
        return 3;
    if (!strcmp(mode, "putenv") && (putenv("SAIDLATER_ADDED=1") != 0 || unsetenv("HOME") != 0))
        return 3;
    pthread_t rt, ct;
    if (pthread_create(&rt, NULL, reader, &p[0]) != 0)
        return 3;
    int churning = !strcmp(mode, "churn") || clear_mode;
    if (churning && pthread_create(&ct, NULL, churn, NULL) != 0)
        return 3;
    if (!strcmp(mode, "now")) { /* at once: what the hooks find out themselves */
        run_child(argv[0], "system");
        run_child(argv[0], "popen");
        dup2(err_fd, 2);
        pthread_join(rt, NULL);
        return 0;
    }
    /* the handshake: the line on fd 2 (bounded: without a profiler it never comes) */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        char *volatile big = malloc(16 << 20);
        free(big);
        if (atomic_load(&said))
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 30)
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL); /* (pacing the allocations, not a wait for an event) */
    }
    int ok = atomic_load(&said);
    if (churning) {
        if (!ok)
            atomic_store(&stop, 1);
        pthread_join(ct, NULL);
        if (clear_mode)
            printf("rounds: %s\n", rounds > 0 ? "some" : "none");
        else
            printf("reads: %s torn: %ld\n", reads > 0 ? "some" : "none", torn);
    } else {
        const char *v = getenv("CTRPROF_SAID");
        printf("CTRPROF_SAID: %s\n", v ? v : "(unset)");
    }
    run_child(argv[0], "system");
    if (!churning)
        run_child(argv[0], "popen");
    /* the children's lines are on our fd 2 too: close it, let the reader finish */
    dup2(err_fd, 2);
    pthread_join(rt, NULL);
    return ok ? 0 : 1;
}
