/*
 * textviews.c — the text views of a profile: top (pprof -top), tree (callers and callees
 * of each function), folded (one line per stack, FlameGraph's input) and raw (the
 * counters as read). `ctrprof report` (report.c) writes them, serve's ?debug=1 and
 * `ctrprof top` use top; pprof.c and flame.c are the other two views, viewutil.c what
 * they all share (views.h). Offline context.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "views.h"

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

struct edge {
    const char *from, *to;
    double v;
};

struct edges {
    struct edge *e;
    size_t n, cap;
};

/* Every sample's value of type vi into the functions of its frames: flat to the innermost,
 * cum once to each function on the stack (a recursive one counts once); with ed, also a
 * caller -> callee edge per pair of adjacent frames. Returns the total. */
static double fn_count(const struct cp_profile *p, int vi, struct fnmap *m, struct edges *ed)
{
    const struct cp_sym_frame *fr[MAXF];
    double total = 0;
    for (size_t i = 0; i < p->ns; i++) {
        double v = p->s[i].v[vi];
        total += v;
        size_t n = cp_rep_frames(p, &p->s[i], fr, MAXF);
        if (n)
            fn_get(m, fr[0]->func)->flat += v;
        for (size_t k = 0; k < n; k++) {
            struct fn *f = fn_get(m, fr[k]->func);
            if (f->seen != i) {
                f->cum += v;
                f->seen = i;
            }
            if (ed && k + 1 < n) {
                if (ed->n == ed->cap)
                    ed->e =
                        realloc(ed->e, (ed->cap = ed->cap ? 2 * ed->cap : 1024) * sizeof *ed->e);
                ed->e[ed->n++] = (struct edge){fr[k + 1]->func, fr[k]->func, v};
            }
        }
    }
    return total;
}

static void view_top(FILE *out, const struct cp_profile *p, int vi)
{
    struct fnmap m = {0};
    double total = fn_count(p, vi, &m, NULL);
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
        fprintf(out, "%10s %5.2f%% %5.2f%% %10s %5.2f%%  %s\n",
                cp_rep_human(f->flat, unit, a, sizeof a), pc, sc,
                cp_rep_human(f->cum, unit, c, sizeof c), cc, f->name);
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

void cp_rep_folded(FILE *out, const struct cp_profile *p, int vi, const char *root)
{
    const struct cp_sym_frame *fr[MAXF];
    for (size_t i = 0; i < p->ns; i++) {
        const struct cp_sample *s = &p->s[i];
        long long v = llround(s->v[vi]);
        if (v == 0)
            continue;
        size_t n = cp_rep_frames(p, s, fr, MAXF);
        if (root) { /* several groups: "[NAME (MemRate R)];" first */
            fputc('[', out);
            for (const char *c = root; *c; c++)
                fputc(*c == ';' || *c == '\n' ? ':' : *c, out);
            fputs("];", out);
        }
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

void cp_rep_tree(FILE *out, const struct cp_profile *p, int vi)
{
    struct fnmap m = {0};
    struct edges ed = {0};
    double total = fn_count(p, vi, &m, &ed);
    struct edge *e = ed.e;
    size_t ne = ed.n;
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
        fputs("-------------------------------------------------------------------------------\n",
              out);
        for (size_t k = 0; k < nu; k++)
            if (!strcmp(u[k].to, f->name))
                fprintf(out, "%33s %10s   %s\n", "", cp_rep_human(u[k].v, unit, a, sizeof a),
                        u[k].from);
        fprintf(out, "%10s %5.2f%% | %10s %5.2f%% | %s\n", cp_rep_human(f->flat, unit, a, sizeof a),
                total ? 100 * f->flat / total : 0, cp_rep_human(f->cum, unit, b, sizeof b),
                total ? 100 * f->cum / total : 0, f->name);
        for (size_t k = 0; k < nu; k++)
            if (!strcmp(u[k].from, f->name))
                fprintf(out, "%33s %10s   %s\n", "", cp_rep_human(u[k].v, unit, a, sizeof a),
                        u[k].to);
    }
    free(e);
    free(m.f);
    free(m.idx);
}

/* ---- raw ---------------------------------------------------------------------------- */

void cp_rep_raw(FILE *out, const struct cp_profile *p)
{
    fprintf(out, "rate %llu, %zu samples\n", (unsigned long long)p->rate, p->ns);
    for (size_t i = 0; i < p->ns; i++) {
        const struct cp_sample *s = &p->s[i];
        if (p->type == CP_R_HEAP && s->site)
            fprintf(out, "site, average size %llu: %.0f allocs, %.0f frees (unbiased)",
                    (unsigned long long)s->size, s->raw[0], s->raw[1]);
        else if (p->type == CP_R_HEAP)
            fprintf(out, "size %llu: %.0f allocs, %.0f frees (sampled)",
                    (unsigned long long)s->size, s->raw[0], s->raw[1]);
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
