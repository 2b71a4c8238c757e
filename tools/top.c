/*
 * top.c — `ctrprof top`: a live full-screen view (ncurses) of the top sites of running
 * programs' profiles, refreshed every interval; `--once` prints one screen as plain text
 * (as `top -b -n 1`). Offline context: a normal program, one thread.
 *
 *   ctrprof top [--profile heap|mutex|block] [--sample NAME] [--interval SECONDS] [--once]
 *               [--debug-dir DIR[:DIR...]] FILE|DIR...
 *
 * Each refresh takes a snapshot of the files (snapshot.c: a directory is listed again, so new
 * processes appear), merges them as `ctrprof report` does, and ranks functions by their
 * flat value (the function at the top of the stack: the caller of malloc, the unlocker,
 * the blocked caller). The change column is the change of each value since the previous
 * refresh, per second (bytes/s allocated, in-use growth, delay/s). Files are listed on top
 * with their program, whether the process (by the pid in the file's name) still runs,
 * their total and its change; a file that goes away stays listed with its last values; a
 * file that cannot be read is one line, never the end of the view. While the screen is
 * ncurses', stderr (the loader's and the symbolizer's warnings) goes to /dev/null.
 */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "views.h"
#include "snapshot.h"

#define MAXLINES 400
#define LINELEN 512

static const char *const pnames[3] = {"heap", "mutex", "block"};

struct fnrow {
    const char *name; /* owned by the symbolizer */
    double v, rate;
    int has_rate;
};

struct filerow {
    char *path;
    char program[64];
    double v, rate;
    int has_rate, gone, seen, known;
};

struct top {
    struct cp_snapin *in;
    struct cp_symbolizer *sym;
    int type, vi;
    double interval;
    struct fnrow *fn;
    size_t nfn;
    struct fnrow *prev; /* the previous refresh's functions */
    size_t nprev;
    double t, prev_t;
    struct filerow *files;
    size_t nfiles;
    char errs[32][300];
    size_t nerrs;
    char unit[16], vname[32];
    double total, total_rate;
    int has_total_rate;
    char lines[MAXLINES][LINELEN];
    size_t nlines;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void say(void *ctx, const char *path, const char *what)
{
    struct top *t = ctx;
    if (t->nerrs < 32)
        snprintf(t->errs[t->nerrs++], sizeof t->errs[0], "%s: %s", path, what);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct fnrow *)a)->name, ((const struct fnrow *)b)->name);
}

static int by_value(const void *a, const void *b)
{
    double x = fabs(((const struct fnrow *)a)->v), y = fabs(((const struct fnrow *)b)->v);
    return x < y ? 1 : x > y ? -1 : by_name(a, b);
}

static double sum_of(const struct cp_profile *p, int vi)
{
    double s = 0;
    for (size_t i = 0; i < p->ns; i++)
        s += p->s[i].v[vi];
    return s;
}

static struct filerow *file_row(struct top *t, const char *path)
{
    for (size_t i = 0; i < t->nfiles; i++)
        if (!strcmp(t->files[i].path, path))
            return &t->files[i];
    t->files = realloc(t->files, (t->nfiles + 1) * sizeof *t->files);
    struct filerow *f = &t->files[t->nfiles++];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    return f;
}

/* One refresh: snapshot, merge, rank, and the change since the previous refresh. */
static void update(struct top *t)
{
    t->nerrs = 0;
    struct cp_snapset *set = cp_snapshot(t->in, say, t);
    struct cp_profile p;
    cp_snap_build(&p, t->type, set, NULL, 0, t->sym, say, t);
    double tnow = now(), dt = tnow - t->t;
    int have_prev = t->t > 0;
    snprintf(t->unit, sizeof t->unit, "%s", p.vunit[t->vi]);
    snprintf(t->vname, sizeof t->vname, "%s", p.vname[t->vi]);

    /* functions: flat values, merged by name */
    free(t->prev);
    t->prev = t->fn;
    t->nprev = t->nfn;
    t->fn = calloc(p.ns ? p.ns : 1, sizeof *t->fn);
    size_t n = 0;
    for (size_t i = 0; i < p.ns; i++) {
        const struct cp_sym_frame *fr[1];
        size_t k = cp_rep_frames(&p, &p.s[i], fr, 1);
        t->fn[n++] = (struct fnrow){k ? fr[0]->func : "(no stack)", p.s[i].v[t->vi], 0, 0};
    }
    if (n > 1)
        qsort(t->fn, n, sizeof *t->fn, by_name);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && !strcmp(t->fn[m - 1].name, t->fn[i].name))
            t->fn[m - 1].v += t->fn[i].v;
        else
            t->fn[m++] = t->fn[i];
    }
    t->nfn = m;
    /* the change: the previous list is sorted by name too (until ranked below) */
    if (have_prev && dt > 0)
        for (size_t i = 0; i < t->nfn; i++) {
            struct fnrow *o =
                t->nprev ? bsearch(&t->fn[i], t->prev, t->nprev, sizeof *t->prev, by_name) : NULL;
            t->fn[i].rate = (t->fn[i].v - (o ? o->v : 0)) / dt;
            t->fn[i].has_rate = 1;
        }
    double total = sum_of(&p, t->vi);
    t->total_rate = have_prev && dt > 0 ? (total - t->total) / dt : 0;
    t->has_total_rate = have_prev && dt > 0;
    t->total = total;
    cp_snap_release(&p);

    /* files: each alone, unsymbolized (one file alone is the merged profile: its total,
     * without loading it again; a rate-1 profile of 262,144 stacks took 1.3 s a load) */
    for (size_t i = 0; i < t->nfiles; i++)
        t->files[i].seen = 0;
    for (size_t i = 0; i < set->n; i++) {
        double v = total;
        if (set->n > 1) {
            struct cp_snapset one = {.v = &set->v[i], .n = 1};
            struct cp_profile q;
            cp_snap_build(&q, t->type, &one, NULL, 1, t->sym, say, t);
            v = sum_of(&q, t->vi);
            cp_snap_release(&q);
        }
        struct filerow *f = file_row(t, set->v[i].path);
        snprintf(f->program, sizeof f->program, "%s", set->v[i].program);
        f->has_rate = have_prev && dt > 0 && f->known && !f->gone;
        f->rate = f->has_rate ? (v - f->v) / dt : 0;
        f->v = v;
        f->known = 1;
        f->seen = 1;
        f->gone = 0;
    }
    for (size_t i = 0; i < t->nfiles; i++)
        if (!t->files[i].seen) {
            t->files[i].gone = 1;
            t->files[i].has_rate = 0;
        }
    cp_snapset_free(set);
    /* the next refresh compares with this one, by name; rank a copy for the screen */
    t->t = tnow;
}

/* The pid in ctrprof.<program>.<pid>.count or ctrprof.<program>.<pid>.<k>.count (a later
 * image of an exec'ing pid), program as its metadata says; 0 when the name is not one. */
static long pid_of(const char *path, const char *program)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t pl = strlen(program);
    if (strncmp(b, "ctrprof.", 8) || strncmp(b + 8, program, pl) || b[8 + pl] != '.')
        return 0;
    const char *d = b + 9 + pl, *e = d;
    while (*e >= '0' && *e <= '9')
        e++;
    return e > d && *e == '.' ? strtol(d, NULL, 10) : 0;
}

static void line(struct top *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct top *t, const char *fmt, ...)
{
    if (t->nlines == MAXLINES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->lines[t->nlines++], LINELEN, fmt, ap);
    va_end(ap);
}

static const char *rate(double r, int has, const char *unit, char *buf, size_t len)
{
    if (!has)
        return "";
    char h[32];
    cp_rep_human(r, unit, h, sizeof h);
    snprintf(buf, len, "%s%s/s", r > 0 ? "+" : "", h);
    return buf;
}

/* The screen as lines of text; rows: how many function rows at most. */
static void render(struct top *t, size_t rows, int once)
{
    t->nlines = 0;
    char a[48], b[48];
    time_t wall = time(NULL);
    struct tm tm;
    localtime_r(&wall, &tm);
    line(t, "ctrprof top - %s %s - every %gs - %02d:%02d:%02d%s", pnames[t->type], t->vname,
         t->interval, tm.tm_hour, tm.tm_min, tm.tm_sec,
         once ? "" : "   (p: profile, s: sample type, q: quit)");
    size_t running = 0;
    for (size_t i = 0; i < t->nfiles; i++) {
        long pid = pid_of(t->files[i].path, t->files[i].program);
        running += !t->files[i].gone && pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
    }
    line(t, "%zu files, %zu running; total %s %s", t->nfiles, running,
         cp_rep_human(t->total, t->unit, a, sizeof a),
         rate(t->total_rate, t->has_total_rate, t->unit, b, sizeof b));
    for (size_t i = 0; i < t->nfiles; i++) {
        const struct filerow *f = &t->files[i];
        long pid = pid_of(f->path, f->program);
        const char *state = f->gone                                      ? "gone"
                            : pid <= 0                                   ? ""
                            : kill((pid_t)pid, 0) == 0 || errno == EPERM ? "running"
                                                                         : "exited";
        line(t, "  %-7s %-16.16s %12s %14s  %s", state, f->program,
             cp_rep_human(f->v, t->unit, a, sizeof a),
             rate(f->rate, f->has_rate, t->unit, b, sizeof b), f->path);
    }
    for (size_t i = 0; i < t->nerrs; i++)
        line(t, "  ! %s", t->errs[i]);
    line(t, "%s", "");
    line(t, "%12s %7s %14s  %s", t->vname, "share", "change", "function");
    struct fnrow *r = malloc((t->nfn ? t->nfn : 1) * sizeof *r);
    memcpy(r, t->fn, t->nfn * sizeof *r);
    if (t->nfn > 1)
        qsort(r, t->nfn, sizeof *r, by_value);
    for (size_t i = 0; i < t->nfn && i < rows; i++)
        line(t, "%12s %6.2f%% %14s  %s", cp_rep_human(r[i].v, t->unit, a, sizeof a),
             t->total != 0 ? 100 * r[i].v / t->total : 0,
             rate(r[i].rate, r[i].has_rate, t->unit, b, sizeof b), r[i].name);
    if (t->nfn == 0)
        line(t, "%s", "  (no samples)");
    free(r);
}

static volatile sig_atomic_t g_quit;

static void on_signal(int sig)
{
    g_quit = 1;
}

static void set_profile(struct top *t, int type, int vi)
{
    t->type = type;
    t->vi = vi;
    free(t->fn);
    free(t->prev);
    t->fn = t->prev = NULL;
    t->nfn = t->nprev = 0;
    t->t = 0;
    t->total = 0;
    for (size_t i = 0; i < t->nfiles; i++)
        t->files[i].known = t->files[i].has_rate = 0;
}

static void screen(struct top *t)
{
    erase();
    render(t, LINES > 8 ? (size_t)LINES : 8, 0);
    for (size_t i = 0; i < t->nlines && (int)i < LINES; i++)
        mvaddnstr((int)i, 0, t->lines[i], COLS);
    refresh();
}

static int live(struct top *t)
{
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 2);
        close(devnull);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    timeout(100);
    double next = 0;
    while (!g_quit) {
        if (now() >= next) {
            update(t);
            screen(t);
            next = now() + t->interval;
        }
        int ch = getch();
        if (ch == 'q' || ch == 'Q')
            break;
        int type = t->type, vi = t->vi;
        if (ch == 'p')
            type = (t->type + 1) % 3;
        else if (ch == 'h')
            type = CP_R_HEAP;
        else if (ch == 'm')
            type = CP_R_MUTEX;
        else if (ch == 'b')
            type = CP_R_BLOCK;
        if (type != t->type)
            vi = type == CP_R_HEAP ? 3 : 1;
        if (ch == 's')
            vi = (t->vi + 1) % (t->type == CP_R_HEAP ? 4 : 2);
        if (type != t->type || vi != t->vi) {
            set_profile(t, type, vi);
            next = 0;
        } else if (ch == KEY_RESIZE) {
            screen(t);
        }
    }
    endwin();
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: ctrprof top [options] FILE|DIR...\n"
          "  --profile heap|mutex|block   which profile (default heap)\n"
          "  --sample NAME                as for ctrprof report (default inuse_space / delay)\n"
          "  --interval SECONDS           refresh period (default 2)\n"
          "  --once                       print one screen as text and exit (the change column\n"
          "                               is over one interval)\n"
          "  --debug-dir DIR[:DIR...]     also look there for separate debug files\n"
          "A DIR means the *.count (and packed *.count.zst) files in it, listed again at every\n"
          "refresh.\n"
          "Keys: p next profile (h, m, b: heap, mutex, block), s next sample type, q quit.\n",
          f);
}

int cp_cmd_top(int argc, char **argv)
{
    const char *profile = "heap", *sample = NULL, *debugdir = NULL, *interval = "2";
    int once = 0, nfiles = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **dst = NULL;
        if (!strcmp(a, "--once")) {
            once = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(files);
            return 0;
        }
        if (!strcmp(a, "--profile"))
            dst = &profile;
        else if (!strcmp(a, "--sample"))
            dst = &sample;
        else if (!strcmp(a, "--interval"))
            dst = &interval;
        else if (!strcmp(a, "--debug-dir"))
            dst = &debugdir;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ctrprof: top: unknown option '%s'\n", a);
            usage(stderr);
            free(files);
            return 2;
        } else {
            files[nfiles++] = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ctrprof: top: %s needs a value\n", a);
            free(files);
            return 2;
        }
        *dst = argv[++i];
    }
    struct top t;
    memset(&t, 0, sizeof t);
    t.type = !strcmp(profile, "heap")    ? CP_R_HEAP
             : !strcmp(profile, "mutex") ? CP_R_MUTEX
             : !strcmp(profile, "block") ? CP_R_BLOCK
                                         : -1;
    char *end;
    t.interval = strtod(interval, &end);
    if (t.type < 0 || *end || !(t.interval >= 0.1 && t.interval <= 3600) || nfiles == 0) {
        fprintf(stderr, "ctrprof: top: %s\n",
                t.type < 0    ? "unknown profile (heap, mutex or block)"
                : nfiles == 0 ? "no profile file or directory given"
                              : "--interval wants seconds, 0.1 to 3600");
        free(files);
        return 2;
    }
    struct cp_profile p;
    cp_profile_init(&p, t.type);
    t.vi = sample ? cp_profile_sample_index(&p, sample) : t.type == CP_R_HEAP ? 3 : 1;
    cp_profile_free(&p);
    if (t.vi < 0) {
        fprintf(stderr, "ctrprof: top: %s profiles have no sample '%s'\n", profile, sample);
        free(files);
        return 2;
    }
    cp_sym_set_debug_dirs(debugdir);
    t.in = cp_snapin_new(files, nfiles);
    free(files);
    if (!t.in)
        return 1;
    t.sym = cp_sym_new();
    int rc = 0;
    if (once) {
        update(&t);
        struct timespec ts = {(time_t)t.interval,
                              (long)((t.interval - (double)(time_t)t.interval) * 1e9)};
        nanosleep(&ts, NULL);
        update(&t);
        render(&t, 30, 1);
        for (size_t i = 0; i < t.nlines; i++)
            puts(t.lines[i]);
    } else if (!isatty(1)) {
        fprintf(stderr, "ctrprof: top: standard output is not a terminal; use --once\n");
        rc = 2;
    } else {
        rc = live(&t);
    }
    set_profile(&t, t.type, t.vi);
    for (size_t i = 0; i < t.nfiles; i++)
        free(t.files[i].path);
    free(t.files);
    cp_sym_free(t.sym);
    cp_snapin_free(t.in);
    return rc;
}
