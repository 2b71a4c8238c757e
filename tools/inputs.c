/*
 * inputs.c — the profile files a report reads (see inputs.h). Offline context.
 *
 * A directory stands for every profile in it, as `ctrprof run --dir` leaves one per process:
 * its entries are read in name order, symbolic links are not followed and
 * subdirectories not descended into, and whatever is not a readable ctrprof profile is
 * skipped with one line saying why; a file named on the command line must be a profile
 * (an error otherwise, as always). Every file is read (and validated) here for its
 * metadata (Program, the rate) and, for a shared file, its ctrprof/process:<program>
 * counters, which tell which programs wrote it (docs/SCHEMA.md); its stacks are not
 * recorded per process, so a shared file can be picked by --program only when every
 * process in it is of a picked program, and never by --pid. A per-process file's pid is
 * in its name. The image read here is what the report merges (no second read of an 80 MB
 * file, and the rate it was grouped by is the rate of what it reports), up to
 * CP_INPUTS_KEEP bytes of images at once; files past that are read again by path.
 */
#include "inputs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfile.h"
#include "cmds.h"
#include "dirlist.h"
#include "profile.h"

struct probe {
    const char *rate_key;
    int has_format, has_rate;
    uint64_t rate;
    char program[256];
    char *procs; /* ',' separated, sorted on output */
    size_t nprocs;
};

static void on_meta(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct probe *c = ctx;
    if (cp_meta_key(k, kl, "Ctrprof-Format"))
        c->has_format = 1;
    if (cp_meta_key(k, kl, c->rate_key)) {
        c->rate = cp_meta_u64(v, vl);
        c->has_rate = 1;
    }
    if (cp_meta_key(k, kl, "Program")) {
        size_t n = vl < sizeof c->program - 1 ? vl : sizeof c->program - 1;
        memcpy(c->program, v, n);
        c->program[n] = 0;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct names {
    char **v;
    size_t n;
};

static void on_counter(void *ctx, const uint8_t *name, size_t len, uint64_t value)
{
    struct names *c = ctx;
    (void)value;
    if (len <= 16 || memcmp(name, "ctrprof/process:", 16) || memchr(name, '\n', len))
        return;
    c->v = realloc(c->v, (c->n + 1) * sizeof *c->v);
    c->v[c->n] = strndup((const char *)name + 16, len - 16);
    c->n++;
}

/* ctrprof.<program>.<pid>[.<gen>].count[.zst] -> pid, or -1 */
static long pid_of_name(const char *path, const char *program)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t l = cp_count_name_len(b), pl = strlen(program);
    if (l < 8 + 6 || strncmp(b, "ctrprof.", 8) || strncmp(b + l - 6, ".count", 6))
        return -1;
    const char *mid = b + 8, *end = b + l - 6;
    if (pl) {
        if ((size_t)(end - mid) <= pl + 1 || strncmp(mid, program, pl) || mid[pl] != '.')
            return -1;
        mid += pl + 1;
    } else { /* no Program: the pid is the first of the one or two numbers at the end */
        const char *q = end, *dots[2] = {NULL, NULL};
        int nd = 0;
        while (q > mid && nd < 2) {
            const char *d = q - 1;
            while (d > mid && *d >= '0' && *d <= '9')
                d--;
            if (*d != '.' || d + 1 == q)
                break;
            dots[nd++] = d;
            q = d;
        }
        if (!nd)
            return -1;
        mid = dots[nd - 1] + 1;
    }
    char *e;
    errno = 0;
    long pid = strtol(mid, &e, 10);
    if (errno || e == mid || pid <= 0 || (*e != '.' && e != end))
        return -1;
    if (*e == '.' && e != end) { /* .<gen> */
        const char *g = e + 1;
        if (g == end)
            return -1;
        for (; g < end; g++)
            if (*g < '0' || *g > '9')
                return -1;
    }
    return pid;
}

static const char *const rate_keys[3] = {"MemRate", "MutexFraction", "BlockRate"};
static const char *const profile_names[3] = {"heap", "mutex", "block"};

static int picked(const struct cp_select *sel, const char *prog)
{
    for (size_t i = 0; i < sel->nprograms; i++)
        if (!strcmp(sel->programs[i], prog))
            return 1;
    return 0;
}

struct list {
    struct cp_input *v;
    size_t n;
    size_t kept; /* bytes of images kept */
};

/* 0 taken or left out, 1 an error (in_dir: skipped with a line instead) */
static int consider(const char *path, int in_dir, int type, const struct cp_select *sel,
                    struct list *out)
{
    struct probe c = {.rate_key = rate_keys[type]};
    struct names procs = {0};
    uint8_t *buf;
    size_t len;
    char why[400];
    int bad = 0;
    if (cp_tool_check(path, &buf, &len, on_meta, &c, why, sizeof why)) {
        bad = 1;
    } else {
        if (!c.has_format)
            snprintf(why, sizeof why,
                     "a counter file, but not a ctrprof profile (no Ctrprof-Format)");
        else if (!c.has_rate)
            snprintf(why, sizeof why, "the metadata has no %s", c.rate_key);
        else if (!strcmp(c.program, "shared") || !c.program[0]) /* who wrote it */
            cp_cfile_parse(buf, len, NULL, on_counter, &procs, NULL, 0);
        bad = !c.has_format || !c.has_rate;
        if (bad)
            cp_cfile_unload(buf, len);
    }
    if (bad) {
        fprintf(stderr, "ctrprof: %s: %s%s\n", path, in_dir ? "skipped: " : "", why);
        return !in_dir;
    }
    int rc = 0;
    if (procs.n > 1)
        qsort(procs.v, procs.n, sizeof *procs.v, cmp_str);
    int shared = !strcmp(c.program, "shared");
    struct cp_input in = {.rate = c.rate, .shared = shared, .pid = -1};
    if (!shared && c.program[0]) {
        in.program = strdup(c.program);
    } else {
        size_t l = 1;
        for (size_t i = 0; i < procs.n; i++)
            l += strlen(procs.v[i]) + 1;
        in.program = calloc(1, l + 8);
        for (size_t i = 0; i < procs.n; i++) {
            if (i)
                strcat(in.program, ",");
            strcat(in.program, procs.v[i]);
        }
        if (!procs.n)
            strcpy(in.program, shared ? "shared" : "?");
    }
    if (!shared)
        in.pid = pid_of_name(path, shared ? "" : c.program);
    const char *skip = NULL;
    char skipbuf[600];
    if (in_dir && c.rate == 0) {
        snprintf(skipbuf, sizeof skipbuf, "%s profiling was off in it (%s: 0)", profile_names[type],
                 c.rate_key);
        skip = skipbuf;
    }
    if (!skip && sel->nprograms) {
        size_t hit = 0, n = shared ? procs.n : 1;
        for (size_t i = 0; i < n; i++)
            hit += picked(sel, shared ? procs.v[i] : in.program);
        if (hit == 0)
            skip = "";
        else if (hit < n) {
            snprintf(skipbuf, sizeof skipbuf,
                     "a shared file of programs %s: its stacks are not recorded per process, so it "
                     "cannot be split by --program",
                     in.program);
            skip = skipbuf;
        }
    }
    if (!skip && sel->npids) {
        if (shared)
            skip = "a shared file: its stacks are not recorded per process, so it cannot be split "
                   "by --pid";
        else if (in.pid < 0)
            skip = "its name carries no pid (ctrprof.<program>.<pid>[.<gen>].count)";
        else {
            skip = "";
            for (size_t i = 0; i < sel->npids; i++)
                if (sel->pids[i] == in.pid)
                    skip = NULL;
        }
    }
    if (skip) {
        if (skip[0])
            fprintf(stderr, "ctrprof: %s: skipped: %s\n", path, skip);
        free(in.program);
        cp_cfile_unload(buf, len);
    } else {
        in.path = strdup(path);
        if (out->kept + len <= CP_INPUTS_KEEP) { /* the report reads this image, not the file */
            in.buf = buf;
            in.len = len;
            out->kept += len;
        } else {
            cp_cfile_unload(buf, len);
        }
        out->v = realloc(out->v, (out->n + 1) * sizeof *out->v);
        out->v[out->n++] = in;
    }
    for (size_t i = 0; i < procs.n; i++)
        free(procs.v[i]);
    free(procs.v);
    return rc;
}

struct scanctx {
    int type;
    const struct cp_select *sel;
    struct list *out;
};

static void scan_entry(void *c, const char *path, const char *why)
{
    struct scanctx *sc = c;
    if (why)
        fprintf(stderr, "ctrprof: %s: skipped: %s\n", path, why);
    else
        consider(path, 1, sc->type, sc->sel, sc->out);
}

static int scan_dir(const char *dir, int type, const struct cp_select *sel, struct list *out)
{
    struct scanctx sc = {type, sel, out};
    int err = cp_dir_each(dir, 0, 0, scan_entry, &sc);
    if (err < 0) {
        fprintf(stderr, "ctrprof: %s: %s\n", dir, strerror(-err));
        return 1;
    }
    return 0;
}

int cp_inputs_collect(char **args, size_t nargs, int type, const struct cp_select *sel,
                      struct cp_input **out, size_t *n)
{
    struct list l = {0};
    int rc = 0;
    for (size_t i = 0; i < nargs && !rc; i++) {
        struct stat st;
        if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode))
            rc = scan_dir(args[i], type, sel, &l);
        else
            rc = consider(args[i], 0, type, sel, &l);
    }
    if (rc) {
        cp_inputs_free(l.v, l.n);
        return 1;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

static int by_program_rate(const void *a, const void *b)
{
    const struct cp_input *x = *(struct cp_input *const *)a, *y = *(struct cp_input *const *)b;
    int c = strcmp(x->program, y->program);
    if (c)
        return c;
    return x->rate < y->rate ? -1 : x->rate > y->rate;
}

size_t cp_inputs_group(struct cp_input *in, size_t n)
{
    int same = 1;
    for (size_t i = 0; i < n; i++) {
        in[i].group = 0;
        same &= in[i].rate == in[0].rate;
    }
    if (same)
        return n ? 1 : 0;
    struct cp_input **o = malloc(n * sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i] = &in[i];
    qsort(o, n, sizeof *o, by_program_rate);
    size_t g = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && by_program_rate(&o[i - 1], &o[i]))
            g++;
        o[i]->group = g;
    }
    free(o);
    return g + 1;
}

void cp_inputs_release(struct cp_input *in)
{
    if (in->buf)
        cp_cfile_unload(in->buf, in->len);
    in->buf = NULL;
}

void cp_inputs_free(struct cp_input *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cp_inputs_release(&in[i]);
        free(in[i].path);
        free(in[i].program);
    }
    free(in);
}
