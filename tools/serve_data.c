/*
 * serve_data.c — what `ctrprof serve` answers with (serve.h): snapshots of the profile
 * files it was given, the merged symbolized profiles (through profile.c, pprof.c and
 * textviews.c's top view, as `ctrprof report` makes them), /metrics, and the cache between
 * requests. Offline context; called from the HTTP server's connection threads, serialized
 * by one lock (g_lock) because the symbolizer and the cache are not thread-safe. Nothing
 * here touches a client; the lock is never held while a response is sent or while a delta
 * waits.
 *
 * Which files, and how they are read: snapshot.c (the files and directories named on the
 * command line, directories listed again for every request; each request takes one
 * snapshot of every file; a file that cannot be read is skipped and said once on stderr).
 * Nothing from a URL reaches a path. A ?seconds= delta's base is an earlier snapshot.
 *
 * Cached across requests: (1) one symbolizer for the server's life: each module opened
 * once and each address resolved once (module ids are hashes of path and build-id, so one
 * symbolizer serves every file; a program rebuilt in place is a new module, opened anew,
 * which is why libdwfl's files are not shared by path, cp_sym_share_files);
 * (2) the last responses (16, 64 MiB at most), keyed by what was asked and a hash of the
 * snapshots' bytes: an unchanged set of files is answered without parsing, merging or
 * encoding again.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfile.h"
#include "names_read.h"
#include "profile.h"
#include "views.h"
#include "serve.h"
#include "snapshot.h"

#define NCACHE 16
#define CACHE_BYTES (64u << 20)
#define LABEL_MAX 200 /* a label value longer than this is cut (and merged after the cut) */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cp_symbolizer *g_sym;
static struct cp_snapin *g_in;
static int g_top;

struct centry {
    int kind, debug;
    uint64_t hash, used;
    char *p;
    size_t n;
    const char *ctype;
};
static struct centry g_cache[NCACHE];
static uint64_t g_clock;

/* ---- inputs and snapshots ------------------------------------------------------------ */

int cp_srv_init(const char *const *inputs, int n, int metrics_top)
{
    g_in = cp_snapin_new(inputs, n);
    if (!g_in)
        return 1;
    g_top = metrics_top;
    g_sym = cp_sym_new();
    return 0;
}

void cp_srv_fini(void)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < NCACHE; i++)
        free(g_cache[i].p);
    memset(g_cache, 0, sizeof g_cache);
    cp_sym_free(g_sym);
    g_sym = NULL;
    cp_snapin_free(g_in);
    g_in = NULL;
    pthread_mutex_unlock(&g_lock);
}

/* Say a file's error once (per path and error), not on every scrape. */
static void say_once(const char *path, const char *what)
{
    static uint64_t said[256];
    char line[4400];
    int n = snprintf(line, sizeof line, "%s: %s", path, what);
    uint64_t h = cp_hash_bytes(line, n > 0 ? (size_t)n : 0) | 1;
    for (int i = 0; i < 256; i++)
        if (said[i] == h)
            return;
    static unsigned next;
    said[next++ % 256] = h;
    fprintf(stderr, "ctrprof: serve: %s\n", line);
}

static void say(void *ctx, const char *path, const char *what)
{
    say_once(path, what);
}

static struct cp_snapset *snapshot(void)
{
    return cp_snapshot(g_in, say, NULL);
}

struct cp_snapset *cp_srv_snapshot(void)
{
    pthread_mutex_lock(&g_lock);
    struct cp_snapset *s = snapshot();
    pthread_mutex_unlock(&g_lock);
    return s;
}

size_t cp_srv_nfiles(void)
{
    struct cp_snapset *s = cp_srv_snapshot();
    size_t n = s->n;
    cp_snapset_free(s);
    return n;
}

/* ---- profiles ------------------------------------------------------------------------ */

static void build(struct cp_profile *p, int type, const struct cp_snapset *set,
                  const struct cp_snapset *base, int no_symbols)
{
    cp_snap_build(p, type, set, base, no_symbols, g_sym, say, NULL);
}

static void release(struct cp_profile *p)
{
    cp_snap_release(p);
}

static struct centry *cache_get(int kind, int debug, uint64_t hash)
{
    for (int i = 0; i < NCACHE; i++)
        if (g_cache[i].p && g_cache[i].kind == kind && g_cache[i].debug == debug &&
            g_cache[i].hash == hash) {
            g_cache[i].used = ++g_clock;
            return &g_cache[i];
        }
    return NULL;
}

/* Keep a response; the cache holds at most NCACHE of them and CACHE_BYTES in all, the
 * least recently used going first. */
static void cache_put(int kind, int debug, uint64_t hash, const struct cp_srv_body *b)
{
    if (b->n > CACHE_BYTES / 2)
        return;
    for (;;) {
        size_t total = b->n, freeslot = NCACHE, lru = NCACHE;
        for (size_t i = 0; i < NCACHE; i++) {
            total += g_cache[i].n;
            if (!g_cache[i].p)
                freeslot = i;
            else if (lru == NCACHE || g_cache[i].used < g_cache[lru].used)
                lru = i;
        }
        if (freeslot < NCACHE && total <= CACHE_BYTES) {
            struct centry *e = &g_cache[freeslot];
            *e = (struct centry){kind, debug,   hash, ++g_clock, malloc(b->n ? b->n : 1),
                                 b->n, b->ctype};
            memcpy(e->p, b->p, b->n);
            return;
        }
        free(g_cache[lru].p);
        memset(&g_cache[lru], 0, sizeof g_cache[lru]);
    }
}

static void from_cache(const struct centry *e, struct cp_srv_body *out)
{
    out->status = 200;
    out->ctype = e->ctype;
    out->n = e->n;
    out->p = malloc(e->n ? e->n : 1);
    memcpy(out->p, e->p, e->n);
}

static const int kind_type[4] = {CP_R_HEAP, CP_R_HEAP, CP_R_MUTEX, CP_R_BLOCK};
static const int kind_vi[4] = {3, 1, 1, 1}; /* inuse_space, alloc_space, delay, delay */

void cp_srv_profile(enum cp_srv_kind kind, int debug, struct cp_snapset *base,
                    struct cp_srv_body *out)
{
    pthread_mutex_lock(&g_lock);
    struct cp_snapset *set = snapshot();
    struct centry *e = base ? NULL : cache_get((int)kind, debug, set->hash);
    if (e) {
        from_cache(e, out);
    } else {
        struct cp_profile p;
        build(&p, kind_type[kind], set, base, 0);
        if (kind == CP_SRV_ALLOCS) /* as Go's handler: the heap profile opening on alloc_space */
            p.default_sample = "alloc_space";
        FILE *f = open_memstream(&out->p, &out->n);
        int rc = 0;
        if (debug)
            cp_rep_top(f, &p, kind_vi[kind]);
        else
            rc = cp_rep_pprof(f, &p);
        fclose(f);
        release(&p);
        out->status = rc ? 500 : 200;
        out->ctype = debug ? "text/plain; charset=utf-8" : "application/octet-stream";
        if (!base && !rc)
            cache_put((int)kind, debug, set->hash, out);
    }
    cp_snapset_free(set);
    pthread_mutex_unlock(&g_lock);
}

/* ---- /metrics ------------------------------------------------------------------------- */

enum { NV = 8 };
static const struct family {
    const char *name, *type, *help;
} fam[NV] = {
    {"heap_inuse_bytes", "gauge", "bytes in use, estimated from the sampled heap profile"},
    {"heap_inuse_objects", "gauge", "objects in use, estimated from the sampled heap profile"},
    {"heap_alloc_bytes_total", "counter", "bytes allocated, estimated"},
    {"heap_alloc_objects_total", "counter", "objects allocated, estimated"},
    {"mutex_contentions_total", "counter", "mutex contentions (blamed on the unlocker)"},
    {"mutex_delay_seconds_total", "counter", "time other threads waited for mutexes"},
    {"block_contentions_total", "counter", "blocking events"},
    {"block_delay_seconds_total", "counter", "time blocked"},
};

struct health {
    char name[64];
    double v;
};

struct fileval {
    double v[NV];
    double processes, profiler_bytes;
    struct health *h;
    size_t nh;
};

static void label(FILE *f, const char *s)
{
    for (size_t i = 0; s[i] && i < LABEL_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == '"')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else
            fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
}

/* The start of a per-file series: NAME{file="...",program="... (the caller closes it) */
static void file_series(FILE *f, const char *name, const struct cp_snap *sf)
{
    fprintf(f, "ctrprof_%s{file=\"", name);
    label(f, sf->path);
    fputs("\",program=\"", f);
    label(f, sf->program);
}

/* Per-file totals in one pass over the snapshot: the profile counters summed by object
 * size (heap) or in all (mutex, block), into samples without stacks that
 * cp_profile_finish unbiases exactly as for a report; the health counters as they are. */
struct totals {
    struct fileval *fv;
    struct cp_profile p[3]; /* heap, mutex, block */
    const char *rate_key[3];
};

static void on_tmeta(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct totals *t = ctx;
    for (int i = 0; i < 3; i++)
        if (cp_meta_key(k, kl, t->rate_key[i]))
            t->p[i].rate = cp_meta_u64(v, vl);
}

/* The totals' sample of one object size (format 1 and 2), or (site) of every Ctrprof-Format 3 or 4
 * site, whose values need no size to unbias. */
static struct cp_sample *bucket_of(struct cp_profile *p, uint64_t size, int site)
{
    for (size_t i = 0; i < p->ns; i++) /* object sizes in a profile: few */
        if (p->s[i].site == site && (site || p->s[i].size == size))
            return &p->s[i];
    if (p->ns == p->caps)
        p->s = realloc(p->s, (p->caps = p->caps ? 2 * p->caps : 64) * sizeof *p->s);
    memset(&p->s[p->ns], 0, sizeof p->s[0]);
    p->s[p->ns].size = size;
    p->s[p->ns].site = site;
    return &p->s[p->ns++];
}

static struct cp_sample *bucket(struct cp_profile *p, uint64_t size)
{
    return bucket_of(p, size, 0);
}

static void on_tcounter(void *ctx, const uint8_t *name, size_t len, uint64_t value)
{
    struct totals *t = ctx;
    struct fileval *fv = t->fv;
    const char *n = (const char *)name;
    const char *nl = memchr(n, '\n', len);
    size_t hl = nl ? (size_t)(nl - n) : len;
    if (hl == 26 && !memcmp(n, "ctrprof/heap:alloc_objects", 26))
        bucket_of(&t->p[0], 0, 1)->raw[0] += (double)value;
    else if (hl == 25 && !memcmp(n, "ctrprof/heap:free_objects", 25))
        bucket_of(&t->p[0], 0, 1)->raw[1] += (double)value;
    else if (hl == 24 && !memcmp(n, "ctrprof/heap:alloc_space", 24))
        bucket_of(&t->p[0], 0, 1)->wraw[0] += (double)value;
    else if (hl == 23 && !memcmp(n, "ctrprof/heap:free_space", 23))
        bucket_of(&t->p[0], 0, 1)->wraw[1] += (double)value;
    else if (hl > 19 && !memcmp(n, "ctrprof/heap:alloc:", 19))
        bucket(&t->p[0], strtoull(n + 19, NULL, 10))->raw[0] += (double)value;
    else if (hl > 18 && !memcmp(n, "ctrprof/heap:free:", 18))
        bucket(&t->p[0], strtoull(n + 18, NULL, 10))->raw[1] += (double)value;
    else if (hl == 25 && !memcmp(n, "ctrprof/mutex:contentions", 25))
        bucket(&t->p[1], 0)->raw[0] += (double)value;
    else if (hl == 19 && !memcmp(n, "ctrprof/mutex:delay", 19))
        bucket(&t->p[1], 0)->raw[1] += (double)value;
    else if (hl == 25 && !memcmp(n, "ctrprof/block:contentions", 25))
        bucket(&t->p[2], 0)->raw[0] += (double)value;
    else if (hl == 19 && !memcmp(n, "ctrprof/block:delay", 19))
        bucket(&t->p[2], 0)->raw[1] += (double)value;
    else if (len > 16 && !memcmp(n, "ctrprof/process:", 16))
        fv->processes += (double)value;
    else if (len == 29 && !memcmp(n, "ctrprof/health:profiler-bytes", 29))
        fv->profiler_bytes = (double)value;
    else if (len > 15 && !memcmp(n, "ctrprof/health:", 15) && len - 15 < sizeof fv->h->name) {
        fv->h = realloc(fv->h, (fv->nh + 1) * sizeof *fv->h);
        snprintf(fv->h[fv->nh].name, sizeof fv->h->name, "%.*s", (int)(len - 15), n + 15);
        fv->h[fv->nh++].v = (double)value;
    }
}

static void file_values(const struct cp_snap *sn, struct fileval *fv)
{
    memset(fv, 0, sizeof *fv);
    struct totals t = {.fv = fv, .rate_key = {"MemRate", "MutexFraction", "BlockRate"}};
    static const int types[3] = {CP_R_HEAP, CP_R_MUTEX, CP_R_BLOCK};
    for (int i = 0; i < 3; i++) {
        cp_profile_init(&t.p[i], types[i]);
        t.p[i].no_symbols = 1;
    }
    cp_names_parse(sn->buf, sn->len, on_tmeta, on_tcounter, &t, NULL, 0);
    for (int i = 0; i < 3; i++) {
        cp_profile_finish(&t.p[i]);
        for (size_t k = 0; k < t.p[i].ns; k++) {
            const double *v = t.p[i].s[k].v;
            if (i == 0) {
                fv->v[0] += v[3];
                fv->v[1] += v[2];
                fv->v[2] += v[1];
                fv->v[3] += v[0];
            } else {
                fv->v[2 + 2 * i] += v[0];
                fv->v[3 + 2 * i] += v[1] / 1e9;
            }
        }
        cp_profile_free(&t.p[i]);
    }
}

struct site {
    char name[LABEL_MAX + 1];
    double v;
};

static int site_by_name(const void *a, const void *b)
{
    return strcmp(((const struct site *)a)->name, ((const struct site *)b)->name);
}

static int site_by_value(const void *a, const void *b)
{
    double x = ((const struct site *)a)->v, y = ((const struct site *)b)->v;
    return x < y ? 1 : x > y ? -1 : site_by_name(a, b);
}

/* The top sites (innermost symbolized frame: the function that called malloc, or that
 * unlocked or blocked) of one sample type, then everything else as "(other)". */
static void sites(FILE *f, const struct cp_profile *p, int vi, double scale, const char *name,
                  const char *type, const char *help)
{
    fprintf(f, "# HELP ctrprof_site_%s %s, by the function at the top of the stack (top %d)\n",
            name, help, g_top);
    fprintf(f, "# TYPE ctrprof_site_%s %s\n", name, type);
    struct site *s = calloc(p->ns ? p->ns : 1, sizeof *s);
    for (size_t i = 0; i < p->ns; i++) {
        const struct cp_sym_frame *fr[1];
        size_t n = cp_rep_frames(p, &p->s[i], fr, 1);
        snprintf(s[i].name, sizeof s[i].name, "%s", n ? fr[0]->func : "(no stack)");
        s[i].v = p->s[i].v[vi] * scale;
    }
    size_t m = 0;
    if (p->ns > 1)
        qsort(s, p->ns, sizeof *s, site_by_name);
    for (size_t i = 0; i < p->ns; i++) {
        if (m && !strcmp(s[m - 1].name, s[i].name))
            s[m - 1].v += s[i].v;
        else
            s[m++] = s[i];
    }
    if (m > 1)
        qsort(s, m, sizeof *s, site_by_value);
    double other = 0;
    for (size_t i = 0; i < m; i++) {
        if (i >= (size_t)g_top || !strcmp(s[i].name, "(other)")) {
            other += s[i].v;
            continue;
        }
        fprintf(f, "ctrprof_site_%s{function=\"", name);
        label(f, s[i].name);
        fprintf(f, "\"} %.17g\n", s[i].v);
    }
    fprintf(f, "ctrprof_site_%s{function=\"(other)\"} %.17g\n", name, other);
    free(s);
}

static int by_hname(const void *a, const void *b)
{
    return strcmp(((const struct health *)a)->name, ((const struct health *)b)->name);
}

static void render_metrics(FILE *f, const struct cp_snapset *set)
{
    struct fileval *fv = calloc(set->n ? set->n : 1, sizeof *fv);
    for (size_t i = 0; i < set->n; i++)
        file_values(&set->v[i], &fv[i]);
    for (int k = 0; k < NV; k++) {
        double all = 0;
        fprintf(f, "# HELP ctrprof_%s %s, per profile file\n# TYPE ctrprof_%s %s\n", fam[k].name,
                fam[k].help, fam[k].name, fam[k].type);
        for (size_t i = 0; i < set->n; i++) {
            file_series(f, fam[k].name, &set->v[i]);
            fprintf(f, "\"} %.17g\n", fv[i].v[k]);
            all += fv[i].v[k];
        }
        fprintf(f, "# HELP ctrprof_all_%s %s, all files\n# TYPE ctrprof_all_%s %s\n", fam[k].name,
                fam[k].help, fam[k].name, fam[k].type);
        fprintf(f, "ctrprof_all_%s %.17g\n", fam[k].name, all);
    }
    fputs("# HELP ctrprof_processes processes that wrote into the file (ctrprof/process:*)\n"
          "# TYPE ctrprof_processes gauge\n",
          f);
    for (size_t i = 0; i < set->n; i++) {
        file_series(f, "processes", &set->v[i]);
        fprintf(f, "\"} %.17g\n", fv[i].processes);
    }
    fputs("# HELP ctrprof_profiler_bytes the profiler's own address space, high-water mark\n"
          "# TYPE ctrprof_profiler_bytes gauge\n",
          f);
    for (size_t i = 0; i < set->n; i++) {
        file_series(f, "profiler_bytes", &set->v[i]);
        fprintf(f, "\"} %.17g\n", fv[i].profiler_bytes);
    }
    /* the health counters, per file and summed by name (docs/SCHEMA.md) */
    struct health *all = NULL;
    size_t nall = 0;
    fputs("# HELP ctrprof_health_total the profiler's health counters (ctrprof/health:*)\n"
          "# TYPE ctrprof_health_total counter\n",
          f);
    for (size_t i = 0; i < set->n; i++)
        for (size_t k = 0; k < fv[i].nh; k++) {
            file_series(f, "health_total", &set->v[i]);
            fputs("\",counter=\"", f);
            label(f, fv[i].h[k].name);
            fprintf(f, "\"} %.17g\n", fv[i].h[k].v);
            all = realloc(all, (nall + 1) * sizeof *all);
            all[nall++] = fv[i].h[k];
        }
    if (nall > 1)
        qsort(all, nall, sizeof *all, by_hname);
    fputs("# HELP ctrprof_all_health_total the health counters summed over the files\n"
          "# TYPE ctrprof_all_health_total counter\n",
          f);
    for (size_t i = 0; i < nall;) {
        double v = 0;
        size_t k = i;
        for (; k < nall && !strcmp(all[k].name, all[i].name); k++)
            v += all[k].v;
        fputs("ctrprof_all_health_total{counter=\"", f);
        label(f, all[i].name);
        fprintf(f, "\"} %.17g\n", v);
        i = k;
    }
    free(all);
    for (size_t i = 0; i < set->n; i++)
        free(fv[i].h);
    free(fv);
    fprintf(f,
            "# HELP ctrprof_serve_files profile files served\n# TYPE ctrprof_serve_files gauge\n"
            "ctrprof_serve_files %zu\n",
            set->n);
    fprintf(f,
            "# HELP ctrprof_serve_unreadable_files files named or listed that could not be read\n"
            "# TYPE ctrprof_serve_unreadable_files gauge\nctrprof_serve_unreadable_files %zu\n",
            set->bad);
    /* the top sites of the merged, symbolized profiles */
    struct cp_profile p;
    build(&p, CP_R_HEAP, set, NULL, 0);
    sites(f, &p, 3, 1, "heap_inuse_bytes", "gauge", "heap bytes in use, estimated");
    sites(f, &p, 1, 1, "heap_alloc_bytes_total", "counter", "heap bytes allocated, estimated");
    release(&p);
    build(&p, CP_R_MUTEX, set, NULL, 0);
    sites(f, &p, 1, 1e-9, "mutex_delay_seconds_total", "counter", "mutex delay caused");
    release(&p);
    build(&p, CP_R_BLOCK, set, NULL, 0);
    sites(f, &p, 1, 1e-9, "block_delay_seconds_total", "counter", "time blocked");
    release(&p);
}

void cp_srv_metrics(struct cp_srv_body *out)
{
    pthread_mutex_lock(&g_lock);
    struct cp_snapset *set = snapshot();
    struct centry *e = cache_get(4, 0, set->hash ^ set->bad);
    if (e) {
        from_cache(e, out);
    } else {
        FILE *f = open_memstream(&out->p, &out->n);
        render_metrics(f, set);
        fclose(f);
        out->status = 200;
        out->ctype = "text/plain; version=0.0.4; charset=utf-8";
        cache_put(4, 0, set->hash ^ set->bad, out);
    }
    cp_snapset_free(set);
    pthread_mutex_unlock(&g_lock);
}
