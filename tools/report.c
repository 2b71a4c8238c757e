/*
 * report.c — `ctrprof report`: the command line and the text views (top, tree, folded,
 * raw); pprof.c and flame.c write the other two. Offline context.
 *
 *   ctrprof report [--profile heap|mutex|block] [--sample NAME]
 *                  [--format top|tree|folded|pprof|flame|raw] [-o FILE] [--base FILE] FILE...
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "why.h"
#include "profile.h"
#include "report.h"

static void usage(FILE *f)
{
    fputs("usage: ctrprof report [options] FILE...\n"
          "  --profile heap|mutex|block   which profile (default heap)\n"
          "  --sample NAME                heap: inuse_space (default), inuse_objects, alloc_space,\n"
          "                               alloc_objects; mutex/block: delay (default), contentions\n"
          "  --format top|tree|folded|pprof|flame|raw   (default top)\n"
          "  -o FILE                      write there instead of standard output\n"
          "  --base FILE                  subtract this profile (as pprof -diff_base)\n"
          "  --debug-dir DIR[:DIR...]     also look there for separate debug files (by build-id:\n"
          "                               DIR/.build-id/xx/yyyy.debug; by .gnu_debuglink)\n",
          f);
}

/* ---- helpers shared by the views ----------------------------------------------------- */

const char *cp_rep_human(double v, const char *unit, char *buf, size_t len)
{
    double a = fabs(v);
    if (!strcmp(unit, "bytes")) {
        static const char *const u[] = {"B", "kB", "MB", "GB", "TB"};
        int i = 0;
        while (a >= 1024 && i < 4) {
            a /= 1024;
            v /= 1024;
            i++;
        }
        snprintf(buf, len, i ? "%.2f%s" : "%.0f%s", v, u[i]);
    } else if (!strcmp(unit, "nanoseconds")) {
        static const char *const u[] = {"ns", "us", "ms", "s"};
        int i = 0;
        while (a >= 1000 && i < 3) {
            a /= 1000;
            v /= 1000;
            i++;
        }
        snprintf(buf, len, i ? "%.2f%s" : "%.0f%s", v, u[i]);
    } else {
        snprintf(buf, len, fabs(v - llround(v)) < 1e-9 ? "%.0f" : "%.2f", v);
    }
    return buf;
}

/* The symbolic frames of a sample, innermost first, expanded through inlining. */
size_t cp_rep_frames(const struct cp_profile *p, const struct cp_sample *s,
                     const struct cp_sym_frame **out, size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->nlocs && n < max; i++) {
        const struct cp_loc *l = &p->locs[s->locs[i]];
        for (size_t k = 0; k < l->nframes && n < max; k++)
            out[n++] = &l->frames[k];
    }
    return n;
}

/* ---- top ---------------------------------------------------------------------------- */

struct fn {
    const char *name;
    double flat, cum;
    size_t seen; /* last sample that counted this function in cum */
};

struct fnmap {
    struct fn *f;
    size_t n, cap;
    size_t *idx;
    size_t nidx;
};

static size_t hstr(const char *s)
{
    size_t h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

static struct fn *fn_get(struct fnmap *m, const char *name)
{
    if (!m->idx) {
        m->nidx = 1 << 16;
        m->idx = malloc(m->nidx * sizeof *m->idx);
        memset(m->idx, 0xff, m->nidx * sizeof *m->idx);
    }
    size_t h = hstr(name) & (m->nidx - 1);
    while (m->idx[h] != (size_t)-1) {
        if (!strcmp(m->f[m->idx[h]].name, name))
            return &m->f[m->idx[h]];
        h = (h + 1) & (m->nidx - 1);
    }
    if (m->n * 2 >= m->nidx) { /* rehash */
        size_t nn = m->nidx * 2;
        size_t *ni = malloc(nn * sizeof *ni);
        memset(ni, 0xff, nn * sizeof *ni);
        for (size_t i = 0; i < m->n; i++) {
            size_t k = hstr(m->f[i].name) & (nn - 1);
            while (ni[k] != (size_t)-1)
                k = (k + 1) & (nn - 1);
            ni[k] = i;
        }
        free(m->idx);
        m->idx = ni;
        m->nidx = nn;
        return fn_get(m, name);
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 1024;
        m->f = realloc(m->f, m->cap * sizeof *m->f);
    }
    m->f[m->n] = (struct fn){name, 0, 0, (size_t)-1};
    m->idx[h] = m->n;
    return &m->f[m->n++];
}

/* qsort with nothing to sort may get a null array, which qsort does not allow */
static void sort(void *a, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(a, n, size, cmp);
}

static int by_flat(const void *a, const void *b)
{
    const struct fn *x = a, *y = b;
    if (fabs(x->flat) != fabs(y->flat))
        return fabs(x->flat) < fabs(y->flat) ? 1 : -1;
    if (fabs(x->cum) != fabs(y->cum))
        return fabs(x->cum) < fabs(y->cum) ? 1 : -1;
    return strcmp(x->name, y->name);
}

#define MAXF 4096

static void view_top(FILE *out, const struct cp_profile *p, int vi)
{
    struct fnmap m = {0};
    const struct cp_sym_frame *fr[MAXF];
    double total = 0;
    for (size_t i = 0; i < p->ns; i++) {
        const struct cp_sample *s = &p->s[i];
        double v = s->v[vi];
        total += v;
        size_t n = cp_rep_frames(p, s, fr, MAXF);
        if (n == 0)
            continue;
        fn_get(&m, fr[0]->func)->flat += v;
        for (size_t k = 0; k < n; k++) {
            struct fn *f = fn_get(&m, fr[k]->func);
            if (f->seen != i) { /* a recursive function counts once per stack */
                f->cum += v;
                f->seen = i;
            }
        }
    }
    sort(m.f, m.n, sizeof *m.f, by_flat);
    char a[32], b[32];
    const char *unit = p->vunit[vi];
    fprintf(out, "Type: %s\n", p->vname[vi]);
    fprintf(out, "Showing nodes accounting for %s, 100%% of %s total\n",
            cp_rep_human(total, unit, a, sizeof a), cp_rep_human(total, unit, b, sizeof b));
    fprintf(out, "%10s %6s %6s %10s %6s\n", "flat", "flat%", "sum%", "cum", "cum%");
    double sum = 0;
    for (size_t i = 0; i < m.n; i++) {
        struct fn *f = &m.f[i];
        sum += f->flat;
        double pc = total != 0 ? 100 * f->flat / total : 0;
        double sc = total != 0 ? 100 * sum / total : 0;
        double cc = total != 0 ? 100 * f->cum / total : 0;
        char c[32];
        fprintf(out, "%10s %5.2f%% %5.2f%% %10s %5.2f%%  %s\n", cp_rep_human(f->flat, unit, a, sizeof a),
                pc, sc, cp_rep_human(f->cum, unit, c, sizeof c), cc, f->name);
    }
    free(m.f);
    free(m.idx);
}

/* the top view for other commands (`ctrprof serve`'s ?debug=1) */
void cp_rep_top(FILE *out, const struct cp_profile *p, int vi)
{
    view_top(out, p, vi);
}

/* ---- folded ------------------------------------------------------------------------- */

static void view_folded(FILE *out, const struct cp_profile *p, int vi)
{
    const struct cp_sym_frame *fr[MAXF];
    for (size_t i = 0; i < p->ns; i++) {
        const struct cp_sample *s = &p->s[i];
        long long v = llround(s->v[vi]);
        if (v == 0)
            continue;
        size_t n = cp_rep_frames(p, s, fr, MAXF);
        for (size_t k = n; k-- > 0;) {
            for (const char *c = fr[k]->func; *c; c++)
                fputc(*c == ';' || *c == '\n' ? ':' : *c, out);
            if (k)
                fputc(';', out);
        }
        if (n == 0)
            fputs("(no stack)", out);
        fprintf(out, " %lld\n", v);
    }
}

/* ---- tree (callers and callees of each function, by cum) -------------------------- */

struct edge {
    const char *from, *to;
    double v;
};

static int by_cum(const void *a, const void *b)
{
    const struct fn *x = a, *y = b;
    if (fabs(x->cum) != fabs(y->cum))
        return fabs(x->cum) < fabs(y->cum) ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int by_pair(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    int c = strcmp(x->from, y->from);
    return c ? c : strcmp(x->to, y->to);
}

static int by_edge(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    return fabs(x->v) < fabs(y->v) ? 1 : fabs(x->v) > fabs(y->v) ? -1 : 0;
}

static void view_tree(FILE *out, const struct cp_profile *p, int vi)
{
    struct fnmap m = {0};
    struct edge *e = NULL;
    size_t ne = 0, cape = 0;
    const struct cp_sym_frame *fr[MAXF];
    double total = 0;
    for (size_t i = 0; i < p->ns; i++) {
        const struct cp_sample *s = &p->s[i];
        double v = s->v[vi];
        total += v;
        size_t n = cp_rep_frames(p, s, fr, MAXF);
        if (n)
            fn_get(&m, fr[0]->func)->flat += v;
        for (size_t k = 0; k < n; k++) {
            struct fn *f = fn_get(&m, fr[k]->func);
            if (f->seen != i) {
                f->cum += v;
                f->seen = i;
            }
            if (k + 1 < n) {
                if (ne == cape)
                    e = realloc(e, (cape = cape ? 2 * cape : 1024) * sizeof *e);
                e[ne++] = (struct edge){fr[k + 1]->func, fr[k]->func, v}; /* caller -> callee */
            }
        }
    }
    sort(m.f, m.n, sizeof *m.f, by_cum);
    /* merge duplicate edges: sort by (caller, callee), add up runs, then sort by value */
    sort(e, ne, sizeof *e, by_pair);
    size_t nu = 0;
    for (size_t i = 0; i < ne; i++) {
        if (nu && !strcmp(e[nu - 1].from, e[i].from) && !strcmp(e[nu - 1].to, e[i].to))
            e[nu - 1].v += e[i].v;
        else
            e[nu++] = e[i];
    }
    struct edge *u = e;
    sort(u, nu, sizeof *u, by_edge);
    const char *unit = p->vunit[vi];
    char a[32], b[32];
    fprintf(out, "Type: %s, total %s\n", p->vname[vi], cp_rep_human(total, unit, a, sizeof a));
    fprintf(out, "%10s %6s | %10s %6s | function, with its callers above and its callees below\n",
            "flat", "flat%", "cum", "cum%");
    for (size_t i = 0; i < m.n; i++) {
        struct fn *f = &m.f[i];
        fputs("-------------------------------------------------------------------------------\n", out);
        for (size_t k = 0; k < nu; k++)
            if (!strcmp(u[k].to, f->name))
                fprintf(out, "%33s %10s   %s\n", "", cp_rep_human(u[k].v, unit, a, sizeof a), u[k].from);
        fprintf(out, "%10s %5.2f%% | %10s %5.2f%% | %s\n", cp_rep_human(f->flat, unit, a, sizeof a),
                total ? 100 * f->flat / total : 0, cp_rep_human(f->cum, unit, b, sizeof b),
                total ? 100 * f->cum / total : 0, f->name);
        for (size_t k = 0; k < nu; k++)
            if (!strcmp(u[k].from, f->name))
                fprintf(out, "%33s %10s   %s\n", "", cp_rep_human(u[k].v, unit, a, sizeof a), u[k].to);
    }
    free(e);
    free(m.f);
    free(m.idx);
}

/* ---- raw ---------------------------------------------------------------------------- */

static void view_raw(FILE *out, const struct cp_profile *p)
{
    fprintf(out, "rate %llu, %zu samples\n", (unsigned long long)p->rate, p->ns);
    for (size_t i = 0; i < p->ns; i++) {
        const struct cp_sample *s = &p->s[i];
        if (p->type == CP_R_HEAP)
            fprintf(out, "size %llu: %.0f allocs, %.0f frees (sampled)", (unsigned long long)s->size,
                    s->raw[0], s->raw[1]);
        else
            fprintf(out, "%.2f contentions, %.0f ns delay", s->raw[0] / 65536.0, s->raw[1]);
        for (int k = 0; k < p->nvalues; k++)
            fprintf(out, " %s=%.0f", p->vname[k], s->v[k]);
        fputc('\n', out);
        for (uint32_t k = 0; k < s->nlocs; k++) {
            const struct cp_loc *l = &p->locs[s->locs[k]];
            if (l->kind == 0)
                fprintf(out, "    %08x+0x%llx\n", l->mod, (unsigned long long)l->off);
            else if (l->kind == 1)
                fprintf(out, "    ?+0x%llx\n", (unsigned long long)l->off);
            else
                fprintf(out, "    %s\n", l->kind == 2 ? "truncated" : "ctrprof-overflow");
        }
    }
}

/* ---- the command -------------------------------------------------------------------- */

/* An empty heap profile says why, where the shim noted it (tools/why.c). */
static void say_why_empty(const char **files, int nfiles)
{
    for (int i = 0; i < nfiles; i++) {
        struct cp_notes n;
        char why[600];
        const char *slash = strrchr(files[i], '/');
        const char *name = slash ? slash + 1 : files[i];
        /* ctrprof.<program>.<pid>.count: the program's name for the sentence */
        char prog[256] = "the program";
        if (!strncmp(name, "ctrprof.", 8)) {
            const char *dot = strchr(name + 8, '.');
            if (dot && dot - (name + 8) < (long)sizeof prog)
                snprintf(prog, sizeof prog, "%.*s", (int)(dot - (name + 8)), name + 8);
        }
        if (cp_notes_read(files[i], &n) == 0 && cp_why_empty(&n, prog, why, sizeof why))
            fprintf(stderr, "ctrprof: %s: the heap profile is empty: %s\n", files[i], why);
    }
}

int cp_cmd_report(int argc, char **argv)
{
    const char *profile = "heap", *sample = NULL, *format = "top", *outpath = NULL, *base = NULL,
               *debugdir = NULL;
    const char **files = calloc((size_t)argc, sizeof *files);
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (!strcmp(a, "--profile"))
            dst = &profile;
        else if (!strcmp(a, "--sample"))
            dst = &sample;
        else if (!strcmp(a, "--format"))
            dst = &format;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            dst = &outpath;
        else if (!strcmp(a, "--base"))
            dst = &base;
        else if (!strcmp(a, "--debug-dir"))
            dst = &debugdir;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(files);
            return 0;
        } else if (!strncmp(a, "--", 2) && strchr(a, '=')) {
            /* --flag=value */
            char *eq = strchr(a, '=');
            static char flagbuf[64];
            size_t fl = (size_t)(eq - a);
            if (fl < sizeof flagbuf) {
                memcpy(flagbuf, a, fl);
                flagbuf[fl] = 0;
                const char *v = eq + 1;
                if (!strcmp(flagbuf, "--profile"))
                    profile = v;
                else if (!strcmp(flagbuf, "--sample"))
                    sample = v;
                else if (!strcmp(flagbuf, "--format"))
                    format = v;
                else if (!strcmp(flagbuf, "--base"))
                    base = v;
                else if (!strcmp(flagbuf, "--debug-dir"))
                    debugdir = v;
                else if (!strcmp(flagbuf, "--output"))
                    outpath = v;
                else
                    goto unknown;
                continue;
            }
            goto unknown;
        } else if (a[0] == '-' && a[1]) {
        unknown:
            fprintf(stderr, "ctrprof: report: unknown option '%s'\n", a);
            usage(stderr);
            free(files);
            return 2;
        } else {
            files[nfiles++] = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ctrprof: report: %s needs a value\n", a);
            free(files);
            return 2;
        }
        *dst = argv[++i];
    }
    int type = !strcmp(profile, "heap") ? CP_R_HEAP : !strcmp(profile, "mutex") ? CP_R_MUTEX
                                                  : !strcmp(profile, "block") ? CP_R_BLOCK : -1;
    if (type < 0) {
        fprintf(stderr, "ctrprof: report: unknown profile '%s' (heap, mutex or block)\n", profile);
        free(files);
        return 2;
    }
    static const char *const formats[] = {"top", "tree", "folded", "pprof", "flame", "raw"};
    int fmt = -1;
    for (int k = 0; k < 6; k++)
        if (!strcmp(format, formats[k]))
            fmt = k;
    if (fmt < 0) {
        fprintf(stderr, "ctrprof: report: unknown format '%s' (top, tree, folded, pprof, flame, raw)\n",
                format);
        free(files);
        return 2;
    }
    if (nfiles == 0) {
        fprintf(stderr, "ctrprof: report: no profile file given\n");
        usage(stderr);
        free(files);
        return 2;
    }
    cp_sym_set_debug_dirs(debugdir);
    struct cp_profile p;
    cp_profile_init(&p, type);
    int vi = type == CP_R_HEAP ? 3 : 1;
    if (sample) {
        vi = cp_profile_sample_index(&p, sample);
        if (vi < 0) {
            fprintf(stderr, "ctrprof: report: %s profiles have no sample '%s' (%s)\n", profile, sample,
                    type == CP_R_HEAP ? "inuse_space, inuse_objects, alloc_space, alloc_objects"
                                      : "delay, contentions");
            cp_profile_free(&p);
            free(files);
            return 2;
        }
    }
    int rc = 0;
    for (int i = 0; i < nfiles && !rc; i++)
        rc = cp_profile_load(&p, files[i], +1);
    if (!rc && base)
        rc = cp_profile_load(&p, base, -1);
    if (!rc && type == CP_R_HEAP && p.ns == 0)
        say_why_empty(files, nfiles);
    free(files);
    if (rc) {
        cp_profile_free(&p);
        return 1;
    }
    if (p.lost)
        fprintf(stderr, "ctrprof: warning: %llu samples were lost while profiling (see ctrprof dump, "
                        "ctrprof/health:lost:*)\n",
                (unsigned long long)p.lost);
    p.no_symbols = fmt == 5; /* raw prints module+offset only */
    cp_profile_finish(&p);
    FILE *out = stdout;
    if (outpath && strcmp(outpath, "-")) {
        out = fopen(outpath, "w");
        if (!out) {
            fprintf(stderr, "ctrprof: %s: %s\n", outpath, strerror(errno));
            cp_profile_free(&p);
            return 1;
        }
    } else if (fmt == 3 && isatty(1)) {
        fprintf(stderr, "ctrprof: report: not writing a gzipped profile to a terminal; use -o FILE\n");
        cp_profile_free(&p);
        return 2;
    }
    switch (fmt) {
    case 0:
        view_top(out, &p, vi);
        break;
    case 1:
        view_tree(out, &p, vi);
        break;
    case 2:
        view_folded(out, &p, vi);
        break;
    case 3:
        rc = cp_rep_pprof(out, &p);
        break;
    case 4:
        cp_rep_flame(out, &p, vi);
        break;
    case 5:
        view_raw(out, &p);
        break;
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "ctrprof: %s: write error\n", outpath ? outpath : "standard output");
        rc = 1;
    }
    if (out != stdout)
        fclose(out);
    cp_profile_free(&p);
    return rc;
}
