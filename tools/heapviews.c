/*
 * heapviews.c — `ctrprof report`'s views of the heap over time (issue 21): --format
 * lifetimes (per site, freed objects per lifetime class, the still-live ones and the
 * median class) and --format timeline (one line per point of each process's timeline),
 * and --temp-under's parsing. report.c calls in after loading; offline context.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "views.h"

/* the lower bound of each lifetime class, as core/names.c names them */
static const char *const life_label[CP_NLIFE_R] = {"lt1us", "1us",   "10us", "100us", "1ms",
                                                   "10ms",  "100ms", "1s",   "10s"};

int cp_rep_temp_classes(const char *b)
{
    /* a boundary is the lower bound of class k: the classes below it are 0..k-1 */
    for (int k = 1; k < CP_NLIFE_R; k++)
        if (!strcmp(b, life_label[k]))
            return k;
    return -1;
}

int cp_rep_heap_args(int heap, const char *sample, const char *temp_under, const char *format,
                     int heapfmt, int *view, int *vi, int *temp_classes)
{
    *temp_classes = cp_rep_temp_classes(temp_under);
    if (*temp_classes < 0) {
        fprintf(stderr,
                "ctrprof: report: --temp-under wants a decade boundary (1us, 10us, 100us, "
                "1ms, 10ms, 100ms, 1s or 10s), not '%s'\n",
                temp_under);
        return 2;
    }
    if (sample && (!strcmp(sample, "temp_objects") || !strcmp(sample, "temp_space")) && heap &&
        *view == CP_VIEW_HEAP)
        *view = CP_VIEW_TEMP;
    if ((heapfmt || *view != CP_VIEW_HEAP) && !heap) {
        fprintf(stderr, "ctrprof: report: --format %s is for heap profiles\n", format);
        return 2;
    }
    if (*view == CP_VIEW_HEAP)
        return 0;
    static const char *const vn[3][2] = {
        {"", ""}, {"inuse_objects", "inuse_space"}, {"temp_objects", "temp_space"}};
    *vi = sample ? -1 : 1;
    for (int k = 0; k < 2 && sample; k++)
        if (!strcmp(vn[*view][k], sample))
            *vi = k;
    if (*vi < 0) {
        fprintf(stderr, "ctrprof: report: the %s profile has no sample '%s' (%s, %s)\n",
                *view == CP_VIEW_PEAK ? "peak" : "temporary-objects", sample, vn[*view][1],
                vn[*view][0]);
        return 2;
    }
    return 0;
}

struct site {
    const char *name;
    double n[CP_NLIFE_R + 1]; /* the classes, then still live */
    double total;
};

static int by_total(const void *a, const void *b)
{
    const struct site *x = a, *y = b;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int lifetimes(FILE *out, const struct cp_profile *p)
{
    struct site *st = NULL;
    size_t n = 0;
    const struct cp_sym_frame *fr[4096];
    for (size_t i = 0; i < p->ns; i++) {
        const struct cp_sample *s = &p->s[i];
        size_t nf = cp_rep_frames(p, s, fr, 4096);
        const char *name = nf ? fr[0]->func : "(no stack)";
        size_t k;
        for (k = 0; k < n && strcmp(st[k].name, name); k++)
            ;
        if (k == n) {
            st = realloc(st, (n + 1) * sizeof *st);
            memset(&st[n], 0, sizeof *st);
            st[n++].name = name;
        }
        double scale = 1; /* (a Ctrprof-Format 3 or 4 site's counts are unbiased already) */
        if (!s->site && p->rate > 1 && s->size > 0)
            scale = 1 / (1 - exp(-(double)s->size / (double)p->rate));
        for (int c = 0; c < CP_NLIFE_R; c++)
            st[k].n[c] += s->life[c] * scale;
        st[k].n[CP_NLIFE_R] += (s->raw[0] - s->raw[1]) * scale;
    }
    for (size_t k = 0; k < n; k++)
        for (int c = 0; c <= CP_NLIFE_R; c++)
            st[k].total += st[k].n[c];
    if (n > 1)
        qsort(st, n, sizeof *st, by_total);
    fprintf(out,
            "# objects by lifetime (allocation to free; unbiased at MemRate %llu): freed in "
            "each decade from its lower bound, still live, the median class, the site\n",
            (unsigned long long)p->rate);
    fputs("#", out);
    for (int c = 0; c < CP_NLIFE_R; c++)
        fprintf(out, " %s", life_label[c]);
    fputs(" live median site\n", out);
    for (size_t k = 0; k < n; k++) {
        if (llround(st[k].total) == 0)
            continue;
        double cum = 0;
        int med = CP_NLIFE_R;
        for (int c = 0; c <= CP_NLIFE_R; c++) {
            cum += st[k].n[c];
            if (cum >= st[k].total / 2) {
                med = c;
                break;
            }
        }
        for (int c = 0; c <= CP_NLIFE_R; c++)
            fprintf(out, "%s%lld", c ? " " : "", llround(st[k].n[c]));
        fprintf(out, " %s %s\n", med < CP_NLIFE_R ? life_label[med] : "live", st[k].name);
    }
    free(st);
    return 0;
}

static int by_pid(const void *a, const void *b)
{
    const struct cp_tlseries *x = a, *y = b;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* One line a point: seconds since the process's start, heap in use, RSS ("-" where the
 * process could not read it), then the allocation rate since the previous point and the
 * process. */
static int timeline(FILE *out, const struct cp_profile *p)
{
    struct cp_tlseries *tl = malloc((p->ntl ? p->ntl : 1) * sizeof *tl);
    memcpy(tl, p->tl, p->ntl * sizeof *tl);
    if (p->ntl > 1)
        qsort(tl, p->ntl, sizeof *tl, by_pid);
    fputs("# seconds heap_inuse_bytes rss_bytes alloc_bytes_per_second pid\n", out);
    for (size_t k = 0; k < p->ntl; k++) {
        const struct cp_tlseries *t = &tl[k];
        uint64_t n = t->n < t->cap ? t->n : t->cap;
        for (uint64_t i = 0; i < n; i++) {
            const uint64_t *q = t->pt[i];
            double rate = 0;
            if (i > 0 && q[0] > t->pt[i - 1][0])
                rate = (double)(q[3] - t->pt[i - 1][3]) / ((double)(q[0] - t->pt[i - 1][0]) / 1000);
            /* (RSS 0: not known, a process with no /proc or in a sandbox: "-") */
            char rss[24] = "-";
            if (q[2])
                snprintf(rss, sizeof rss, "%llu", (unsigned long long)q[2]);
            fprintf(out, "%.3f %llu %s %.0f %ld\n", (double)q[0] / 1000, (unsigned long long)q[1],
                    rss, rate, t->pid);
        }
    }
    free(tl);
    return 0;
}

int cp_rep_heaptime(FILE *out, const struct cp_profile *p, int tl)
{
    return tl ? timeline(out, p) : lifetimes(out, p);
}
