/*
 * profile.c — reading ctrprof profiles (see profile.h). Offline context.
 *
 * Every file goes through the counter file's reader (cfile/: cp_cfile_load_any, which also
 * unpacks a packed profile, + cp_names_parse,
 * which hands a format-2 or -3 file's bucket records over as the names they stand for),
 * which validates the whole file before any counter is handed over, so a corrupt file is
 * an error and never a partial profile. Names that do not follow docs/SCHEMA.md are
 * ignored (the file may be shared with Go telemetry counters); a file without the
 * Ctrprof-Format key is not a ctrprof profile. About 750 lines, past the project's ~600:
 * the four formats' values (format 3 and 4's objects and bytes as written, 1 and 2's samples
 * unbiased here by size) meet in one sample table every view reads, and the load keeps two
 * memos of its own for big profiles (the last sample's key, the frames met: loadctx).
 */
#include "profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfile.h"
#include "names_read.h"
#include "cmds.h"
#include "views.h"

/* ---- a small string-keyed hash map --------------------------------------------------- */

struct hent {
    char *key;
    size_t klen;
    uint64_t hv; /* cp_hash_bytes of the key: computed once */
    size_t val;
    struct hent *next;
};

struct hmap {
    struct hent **b;
    size_t nb, n;
};

static size_t *hget(struct hmap *m, const void *key, size_t klen, int create, size_t init)
{
    if (!m->b) {
        m->nb = 4096;
        m->b = calloc(m->nb, sizeof *m->b);
    }
    uint64_t hv = cp_hash_bytes(key, klen);
    size_t h = hv % m->nb;
    for (struct hent *e = m->b[h]; e; e = e->next)
        if (e->hv == hv && e->klen == klen && !memcmp(e->key, key, klen))
            return &e->val;
    if (!create)
        return NULL;
    if (m->n > m->nb * 2) { /* grow */
        size_t nb = m->nb * 4;
        struct hent **b = calloc(nb, sizeof *b);
        for (size_t i = 0; i < m->nb; i++)
            for (struct hent *e = m->b[i], *n; e; e = n) {
                n = e->next;
                size_t k = e->hv % nb;
                e->next = b[k];
                b[k] = e;
            }
        free(m->b);
        m->b = b;
        m->nb = nb;
        h = hv % m->nb;
    }
    struct hent *e = malloc(sizeof *e);
    e->key = malloc(klen ? klen : 1);
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->hv = hv;
    e->val = init;
    e->next = m->b[h];
    m->b[h] = e;
    m->n++;
    return &e->val;
}

static void hfree(struct hmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nb; i++)
        for (struct hent *e = m->b[i], *n; e; e = n) {
            n = e->next;
            free(e->key);
            free(e);
        }
    free(m->b);
    free(m);
}

/* ---- profile ------------------------------------------------------------------------ */

static const char *const heap_names[4] = {"alloc_objects", "alloc_space", "inuse_objects",
                                          "inuse_space"};
static const char *const heap_units[4] = {"count", "bytes", "count", "bytes"};
static const char *const peak_names[2] = {"inuse_objects", "inuse_space"};
static const char *const temp_names[2] = {"temp_objects", "temp_space"};
static const char *const two_units[2] = {"count", "bytes"};
static const char *const blk_names[2] = {"contentions", "delay"};
static const char *const blk_units[2] = {"count", "nanoseconds"};

void cp_profile_init(struct cp_profile *p, int type)
{
    memset(p, 0, sizeof *p);
    p->type = type;
    p->nvalues = type == CP_R_HEAP ? 4 : 2;
    for (int i = 0; i < p->nvalues; i++) {
        p->vname[i] = type == CP_R_HEAP ? heap_names[i] : blk_names[i];
        p->vunit[i] = type == CP_R_HEAP ? heap_units[i] : blk_units[i];
    }
    p->index = calloc(1, sizeof(struct hmap));
    p->locindex = calloc(1, sizeof(struct hmap));
    p->sym = cp_sym_new();
}

void cp_profile_set_view(struct cp_profile *p, int view, int temp_classes)
{
    p->view = view;
    p->temp_classes = temp_classes;
    if (p->type != CP_R_HEAP || view == CP_VIEW_HEAP)
        return;
    p->nvalues = 2;
    for (int i = 0; i < 2; i++) {
        p->vname[i] = view == CP_VIEW_PEAK ? peak_names[i] : temp_names[i];
        p->vunit[i] = two_units[i];
    }
}

void cp_profile_peak_line(const struct cp_profile *p, char *buf, size_t len)
{
    buf[0] = 0;
    if (!p->npeaks)
        return;
    const struct cp_peak *big = &p->peaks[0];
    uint64_t sum = 0;
    for (size_t i = 0; i < p->npeaks; i++) {
        sum += p->peaks[i].bytes;
        if (p->peaks[i].bytes > big->bytes)
            big = &p->peaks[i];
    }
    char a[32], b[32];
    if (p->npeaks == 1)
        snprintf(buf, len, "Peak: %s in use at %.3f s after start (pid %ld)",
                 cp_rep_human((double)big->bytes, "bytes", a, sizeof a), (double)big->ms / 1000,
                 big->pid);
    else
        snprintf(buf, len,
                 "Peak: the sum of %zu processes' own peaks, %s (not simultaneous: an upper bound "
                 "on the heap they held at once); the largest %s at %.3f s after its start (pid "
                 "%ld)",
                 p->npeaks, cp_rep_human((double)sum, "bytes", a, sizeof a),
                 cp_rep_human((double)big->bytes, "bytes", b, sizeof b), (double)big->ms / 1000,
                 big->pid);
}

void cp_profile_free(struct cp_profile *p)
{
    free(p->peaks);
    for (size_t i = 0; i < p->ntl; i++)
        free(p->tl[i].pt);
    free(p->tl);
    for (size_t i = 0; i < p->ns; i++)
        free(p->s[i].locs);
    free(p->s);
    free(p->locs);
    hfree(p->index);
    hfree(p->locindex);
    cp_profile_names_free(p);
    cp_sym_free(p->sym);
}

int cp_profile_sample_index(const struct cp_profile *p, const char *name)
{
    for (int i = 0; i < p->nvalues; i++)
        if (!strcmp(p->vname[i], name))
            return i;
    return -1;
}

struct loadctx {
    struct cp_profile *p;
    int sign;
    int has_format;
    char rate_key[32];
    uint64_t rate;
    int has_rate;
    const char *path;
    int has_ht; /* heap-over-time counters seen */
    int has_tl; /* a timeline seen */
    /* the last value's sample (its site or size, its frame lines as text) and its slot:
     * names_read.c hands a record's values over one after another with one stack (a
     * format-4 site: six or more), so most values are the last one's sample again, and a
     * compare is cheaper than reading the frames and hashing them */
    char *last;
    size_t lastlen, lastcap, lastslot;
    /* the sample key in the index: 's' (a site) or 'z', the size, the frames' locations */
    uint8_t *bkey;
    size_t bkcap;
    /* the frames met last, by a hash of their values: a big profile's stacks are made of
     * a few thousand frames, each met thousands of times (loc_of) */
    struct locmemo {
        uint64_t off;
        uint32_t mod, loc;
        int kind; /* -1: empty */
    } * memo;
};

#define LOCMEMO_BITS 12

int cp_meta_key(const char *k, size_t kl, const char *want)
{
    return strlen(want) == kl && !memcmp(k, want, kl);
}

uint64_t cp_meta_u64(const char *v, size_t vl)
{
    char buf[32];
    size_t n = vl < sizeof buf - 1 ? vl : sizeof buf - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
    return strtoull(buf, NULL, 10);
}

static void on_meta(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct loadctx *c = ctx;
    if (cp_meta_key(k, kl, "Ctrprof-Format"))
        c->has_format = 1;
    if (cp_meta_key(k, kl, c->rate_key)) {
        c->rate = cp_meta_u64(v, vl);
        c->has_rate = 1;
    }
}

/* strtoull(s, NULL, 16) where s[0..n) is what the shim writes, an optional "0x" and 1 to
 * 16 hex digits, followed by a byte that is none (a frame line's end: names_read.c ends
 * the last one with a NUL); anything else is left to strtoull. (Frames are most of a big
 * profile's bytes: strtoull and a printed key were a sixth of a report's time on 262,144
 * stacks.) */
static uint64_t hex_at(const char *s, size_t n)
{
    size_t i = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 2 : 0, d = 0;
    uint64_t v = 0;
    for (; i < n && d < 16; i++, d++) {
        char ch = s[i];
        int x = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (x < 0)
            break;
        v = v << 4 | (uint64_t)x;
    }
    if (!d || i < n)
        return strtoull(s, NULL, 16); /* (no digit, more than 16, or another byte) */
    return v;
}

/* A value added to its sample: which as on_counter found it. */
static void add_value(const struct loadctx *c, struct cp_sample *sm, int which, uint64_t value)
{
    double v = c->sign * (double)value;
    if (which < 2)
        sm->raw[which] += v;
    else if (which == 2)
        sm->peak += v;
    else if (which < 3 + CP_NLIFE_R)
        sm->life[which - 3] += v;
    else if (which < 14) /* a site's bytes: 12, 13 allocated, freed */
        sm->wraw[which - 12] += v;
    else if (which == 14)
        sm->peakb += v;
    else
        sm->lifeb[which - 15] += v;
}

static uint32_t loc_of(struct loadctx *c, const char *line, size_t len)
{
    struct cp_profile *p = c->p;
    struct cp_loc l = {0};
    if (len == 9 && !memcmp(line, "truncated", 9))
        l.kind = 2;
    else if (len == 16 && !memcmp(line, "ctrprof-overflow", 16))
        l.kind = 3;
    else if (len > 3 && line[0] == '?' && line[1] == '+') {
        l.kind = 1;
        l.off = hex_at(line + 2, len - 2);
    } else if (len > 11 && line[8] == '+') {
        char id[9];
        memcpy(id, line, 8);
        id[8] = 0;
        l.mod = (uint32_t)hex_at(id, 8);
        l.off = hex_at(line + 9, len - 9);
    } else {
        l.kind = 1; /* unparseable frame: show it as unknown rather than drop the sample */
    }
    struct locmemo *m = NULL;
    if (!c->memo && (c->memo = malloc(sizeof *c->memo << LOCMEMO_BITS)))
        for (size_t i = 0; i < (size_t)1 << LOCMEMO_BITS; i++)
            c->memo[i].kind = -1;
    if (c->memo) {
        uint64_t h =
            (l.off ^ (uint64_t)l.mod << 32 ^ (uint64_t)l.kind << 62) * 0x9E3779B97F4A7C15ull;
        m = &c->memo[h >> (64 - LOCMEMO_BITS)];
        if (m->kind == l.kind && m->off == l.off && m->mod == l.mod)
            return m->loc;
    }
    /* the key: the three values' bytes */
    uint8_t key[1 + 4 + 8];
    key[0] = (uint8_t)l.kind;
    memcpy(key + 1, &l.mod, 4);
    memcpy(key + 5, &l.off, 8);
    size_t *slot = hget(p->locindex, key, sizeof key, 1, (size_t)-1);
    if (*slot == (size_t)-1) {
        if (p->nl == p->capl) {
            p->capl = p->capl ? 2 * p->capl : 1024;
            p->locs = realloc(p->locs, p->capl * sizeof *p->locs);
        }
        p->locs[p->nl] = l;
        *slot = p->nl++;
    }
    if (m)
        *m = (struct locmemo){l.off, l.mod, (uint32_t)*slot, l.kind};
    return (uint32_t)*slot;
}

/* the lifetime classes' names in ctrprof/heap:life:<class>:<size> (core/names.c) */
static const char *const life_names[CP_NLIFE_R] = {"lt1us", "1us",   "10us", "100us", "1ms",
                                                   "10ms",  "100ms", "1s",   "10s"};

static uint64_t strtoull_n(const char *s, size_t n)
{
    char sz[24];
    size_t k = n < sizeof sz - 1 ? n : sizeof sz - 1;
    memcpy(sz, s, k);
    sz[k] = 0;
    return strtoull(sz, NULL, 10);
}

/* A Ctrprof-Format 3 or 4 site's value, by its name after "ctrprof/heap:" (cfile/names_read.h):
 * 0, 1 objects allocated, freed; 2 objects at the peak; 3 + k objects freed in lifetime
 * class k; 12, 13 bytes allocated, freed; 14 bytes at the peak; 15 + k bytes freed in
 * class k. -1: none of these. */
static int site_value(const char *n, size_t l)
{
    static const char *const fixed[][2] = {{"alloc_objects", "\0"}, {"free_objects", "\1"},
                                           {"peak_objects", "\2"},  {"alloc_space", "\14"},
                                           {"free_space", "\15"},   {"peak_space", "\16"}};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (strlen(fixed[i][0]) == l && !memcmp(n, fixed[i][0], l))
            return fixed[i][1][0];
    for (int b = 0; b < 2; b++) {
        const char *pre = b ? "life_space:" : "life_objects:";
        size_t pl = strlen(pre);
        if (l <= pl || memcmp(n, pre, pl))
            continue;
        for (int k = 0; k < CP_NLIFE_R; k++)
            if (strlen(life_names[k]) == l - pl && !memcmp(n + pl, life_names[k], l - pl))
                return (b ? 15 : 3) + k;
    }
    return -1;
}

/* ctrprof/heap-peak:<pid>:ms|bytes */
static void heap_peak(struct loadctx *c, const char *s, size_t len, uint64_t value)
{
    struct cp_profile *p = c->p;
    const char *colon = memchr(s, ':', len);
    if (!colon || c->sign < 0)
        return;
    long pid = (long)strtoull_n(s, (size_t)(colon - s));
    size_t rest = len - (size_t)(colon + 1 - s);
    int ms = rest == 2 && !memcmp(colon + 1, "ms", 2);
    if (!ms && !(rest == 5 && !memcmp(colon + 1, "bytes", 5)))
        return;
    c->has_ht = 1;
    size_t i;
    for (i = 0; i < p->npeaks && p->peaks[i].pid != pid; i++)
        ;
    if (i == p->npeaks) {
        p->peaks = realloc(p->peaks, (p->npeaks + 1) * sizeof *p->peaks);
        p->peaks[p->npeaks++] = (struct cp_peak){pid, 0, 0};
    }
    if (ms)
        p->peaks[i].ms = value;
    else
        p->peaks[i].bytes = value;
}

/* ctrprof/timeline:<pid>:n and ctrprof/timeline:<pid>:<i>:ms|heap|rss|alloc */
static void timeline(struct loadctx *c, const char *s, size_t len, uint64_t value)
{
    static const char *const fields[4] = {"ms", "heap", "rss", "alloc"};
    struct cp_profile *p = c->p;
    const char *end = s + len, *c1 = memchr(s, ':', len);
    if (!c1 || c->sign < 0)
        return;
    long pid = (long)strtoull_n(s, (size_t)(c1 - s));
    const char *rest = c1 + 1, *c2 = memchr(rest, ':', (size_t)(end - rest));
    int f = -1;
    uint64_t i = 0;
    if (!c2 && end - rest == 1 && *rest == 'n') {
        f = 4;
    } else if (c2) {
        i = strtoull_n(rest, (size_t)(c2 - rest));
        for (int k = 0; k < 4; k++)
            if (strlen(fields[k]) == (size_t)(end - c2 - 1) &&
                !memcmp(c2 + 1, fields[k], (size_t)(end - c2 - 1)))
                f = k;
    }
    if (f < 0 || i >= 100000)
        return;
    c->has_tl = 1;
    size_t k;
    for (k = 0; k < p->ntl && p->tl[k].pid != pid; k++)
        ;
    if (k == p->ntl) {
        p->tl = realloc(p->tl, (p->ntl + 1) * sizeof *p->tl);
        p->tl[p->ntl++] = (struct cp_tlseries){pid, 0, NULL, 0};
    }
    struct cp_tlseries *t = &p->tl[k];
    if (f == 4) {
        t->n = value;
        return;
    }
    if (i >= t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap <= i)
            cap *= 2;
        t->pt = realloc(t->pt, cap * sizeof *t->pt);
        memset(t->pt + t->cap, 0, (cap - t->cap) * sizeof *t->pt);
        t->cap = cap;
    }
    t->pt[i][f] = value;
}

static void on_counter(void *ctx, const uint8_t *name, size_t len, uint64_t value)
{
    struct loadctx *c = ctx;
    struct cp_profile *p = c->p;
    const char *n = (const char *)name;
    if (len > 15 && !memcmp(n, "ctrprof/module:", 15)) {
        /* ctrprof/module:<id>:<buildid>:<path> */
        char buf[4200];
        size_t l = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, n, l);
        buf[l] = 0;
        char *id = buf + 15, *bid = strchr(id, ':');
        char *path = bid ? strchr(bid + 1, ':') : NULL;
        if (bid && path) {
            *bid++ = 0;
            *path++ = 0;
            cp_sym_add_module(p->sym, (uint32_t)strtoul(id, NULL, 16), path, bid);
        }
        return;
    }
    if (len > 20 && !memcmp(n, "ctrprof/health:lost:", 20)) {
        if (c->sign > 0)
            p->lost += value;
        return;
    }
    if (len == 28 && !memcmp(n, "ctrprof/health:block-thinned", 28)) {
        if (c->sign > 0)
            p->block_thinned += value;
        return;
    }
    if (len == 29 && !memcmp(n, "ctrprof/health:block-rate-max", 29)) {
        if (c->sign > 0 && value > p->block_rate_max)
            p->block_rate_max = value;
        return;
    }
    if (len > 17 && !memcmp(n, "ctrprof/timeline:", 17)) {
        timeline(c, n + 17, len - 17, value);
        return;
    }
    if (len > 18 && !memcmp(n, "ctrprof/heap-peak:", 18)) {
        heap_peak(c, n + 18, len - 18, value);
        return;
    }
    const char *nl = memchr(n, '\n', len);
    size_t hl = nl ? (size_t)(nl - n) : len;
    int which = -1, site = 0;
    uint64_t size = 0;
    if (p->type == CP_R_HEAP && hl > 13 && !memcmp(n, "ctrprof/heap:", 13) &&
        (which = site_value(n + 13, hl - 13)) >= 0) {
        /* a Ctrprof-Format 3 or 4 site (names_read.h's names): values already unbiased */
        site = 1;
        if (which >= 2)
            c->has_ht = 1;
    } else if (p->type == CP_R_HEAP && hl > 18 && !memcmp(n, "ctrprof/heap:peak:", 18)) {
        which = 2;
        size = strtoull_n(n + 18, hl - 18);
        c->has_ht = 1;
    } else if (p->type == CP_R_HEAP && hl > 18 && !memcmp(n, "ctrprof/heap:life:", 18)) {
        const char *cl = n + 18, *colon = memchr(cl, ':', hl - 18);
        if (!colon)
            return;
        for (int k = 0; k < CP_NLIFE_R; k++)
            if (strlen(life_names[k]) == (size_t)(colon - cl) &&
                !memcmp(cl, life_names[k], (size_t)(colon - cl)))
                which = 3 + k;
        if (which < 0)
            return;
        size = strtoull_n(colon + 1, (size_t)(n + hl - colon - 1));
        c->has_ht = 1;
    }
    static const char *const hdr[3][2] = {{"ctrprof/heap:alloc:", "ctrprof/heap:free:"},
                                          {"ctrprof/mutex:contentions", "ctrprof/mutex:delay"},
                                          {"ctrprof/block:contentions", "ctrprof/block:delay"}};
    for (int w = 0; w < 2 && which < 0; w++) {
        const char *h = hdr[p->type][w];
        size_t l = strlen(h);
        if (p->type == CP_R_HEAP ? (hl > l && !memcmp(n, h, l)) : (hl == l && !memcmp(n, h, l))) {
            which = w;
            if (p->type == CP_R_HEAP) {
                char sz[24];
                size_t k = hl - l < sizeof sz - 1 ? hl - l : sizeof sz - 1;
                memcpy(sz, n + l, k);
                sz[k] = 0;
                size = strtoull(sz, NULL, 10);
            }
        }
    }
    if (which < 0)
        return;
    /* the last value's sample again? (its site or size, and its frame lines as text) */
    uint8_t head[9];
    head[0] = site ? 's' : 'z';
    memcpy(head + 1, &size, 8);
    size_t fl = len - hl;
    if (c->last && c->lastlen == 9 + fl && !memcmp(c->last, head, 9) &&
        !memcmp(c->last + 9, n + hl, fl)) {
        add_value(c, &p->s[c->lastslot], which, value);
        return;
    }
    /* A key of another stack (or size): the sample is found by its frames' locations,
     * not their text (a third of the bytes to keep and hash on a big profile: 400 bytes of
     * text a stack of 27 frames, against 9 + 4 a frame) */
    size_t nf = 1;
    for (size_t i = hl; i < len; i++)
        nf += n[i] == '\n';
    size_t bcap = 9 + 4 * nf;
    if (bcap > c->bkcap) {
        uint8_t *nb = realloc(c->bkey, bcap);
        if (!nb)
            return;
        c->bkey = nb;
        c->bkcap = bcap;
    }
    uint8_t *bk = c->bkey;
    memcpy(bk, head, 9);
    uint32_t nlocs = 0;
    const char *q = nl ? nl + 1 : NULL, *end = n + len;
    while (q && q <= end) {
        const char *e = memchr(q, '\n', (size_t)(end - q));
        size_t ll = e ? (size_t)(e - q) : (size_t)(end - q);
        if (ll) {
            uint32_t l = loc_of(c, q, ll);
            memcpy(bk + 9 + 4 * nlocs++, &l, 4);
        }
        q = e ? e + 1 : NULL;
    }
    size_t *slot = hget(p->index, bk, 9 + 4 * (size_t)nlocs, 1, (size_t)-1);
    if (*slot == (size_t)-1) {
        if (p->ns == p->caps) {
            p->caps = p->caps ? 2 * p->caps : 1024;
            p->s = realloc(p->s, p->caps * sizeof *p->s);
        }
        struct cp_sample *s = &p->s[p->ns];
        memset(s, 0, sizeof *s);
        s->size = size;
        s->site = site;
        s->locs = malloc((nlocs ? nlocs : 1) * sizeof *s->locs);
        memcpy(s->locs, bk + 9, 4 * (size_t)nlocs);
        s->nlocs = nlocs;
        *slot = p->ns++;
    }
    if (9 + fl > c->lastcap) {
        char *nl2 = realloc(c->last, 9 + fl);
        if (nl2)
            c->last = nl2, c->lastcap = 9 + fl;
        else
            c->lastlen = 0; /* (no cache: every value looks its sample up) */
    }
    if (9 + fl <= c->lastcap) {
        memcpy(c->last, head, 9);
        memcpy(c->last + 9, n + hl, fl);
        c->lastlen = 9 + fl;
        c->lastslot = *slot;
    }
    add_value(c, &p->s[*slot], which, value);
}

/* A file's counters into p, its type's records alone (names_read.h), and the load's memos
 * freed. */
static void add_image(struct cp_profile *p, struct loadctx *c, const uint8_t *buf, size_t len)
{
    p->files++;
    cp_names_parse_types(buf, len, NULL, on_counter, c, NULL, 0, 1u << p->type);
    free(c->last);
    free(c->memo);
    free(c->bkey);
    p->file_has_ht = c->has_ht;
    p->file_has_tl = c->has_tl;
}

int cp_profile_load(struct cp_profile *p, const char *path, int sign)
{
    static const char *const rate_keys[3] = {"MemRate", "MutexFraction", "BlockRate"};
    struct loadctx c = {.p = p, .sign = sign, .path = path};
    snprintf(c.rate_key, sizeof c.rate_key, "%s", rate_keys[p->type]);
    uint8_t *buf;
    size_t len;
    if (cp_tool_read(path, &buf, &len, on_meta, &c)) /* validated, metadata read */
        return 1;
    if (!c.has_format) {
        fprintf(stderr,
                "ctrprof: %s: a counter file, but not a ctrprof profile (no Ctrprof-Format)\n",
                path);
        cp_cfile_unload(buf, len);
        return 1;
    }
    if (!c.has_rate) {
        fprintf(stderr, "ctrprof: %s: the metadata has no %s\n", path, c.rate_key);
        cp_cfile_unload(buf, len);
        return 1;
    }
    if (p->files && c.rate != p->rate) {
        fprintf(stderr,
                "ctrprof: %s: %s %llu differs from the other files' %llu; profiles taken at "
                "different rates cannot be merged\n",
                path, c.rate_key, (unsigned long long)c.rate, (unsigned long long)p->rate);
        cp_cfile_unload(buf, len);
        return 1;
    }
    p->rate = c.rate;
    add_image(p, &c, buf, len);
    cp_cfile_unload(buf, len);
    return 0;
}

void cp_profile_add_image(struct cp_profile *p, const uint8_t *buf, size_t len, uint64_t rate)
{
    struct loadctx c = {.p = p, .sign = +1};
    p->rate = rate;
    add_image(p, &c, buf, len);
}

void cp_profile_finish(struct cp_profile *p)
{
    size_t o = 0;
    for (size_t i = 0; i < p->ns; i++) {
        struct cp_sample *s = &p->s[i];
        if (p->type == CP_R_HEAP && s->site) {
            /* a site's values are unbiased by the writer, each sample with its own weight
             * (whole numbers already: Go's truncation is the writer's, per site); the
             * size shown (pprof's "bytes" label) is the average, as Go's pprof gives a
             * bucket of mixed sizes */
            double o0 = s->raw[0], o1 = s->raw[0] - s->raw[1];
            double b0 = s->wraw[0], b1 = s->wraw[0] - s->wraw[1];
            if (p->view == CP_VIEW_PEAK) {
                o0 = o1 = s->peak;
                b0 = b1 = s->peakb;
            } else if (p->view == CP_VIEW_TEMP) {
                o0 = b0 = 0;
                for (int k = 0; k < p->temp_classes && k < CP_NLIFE_R; k++) {
                    o0 += s->life[k];
                    b0 += s->lifeb[k];
                }
            }
            s->size = s->raw[0] > 0 ? (uint64_t)(s->wraw[0] / s->raw[0] + 0.5) : 0;
            if (p->view != CP_VIEW_HEAP) {
                s->v[0] = o0;
                s->v[1] = b0;
            } else {
                s->v[0] = o0;
                s->v[1] = b0;
                s->v[2] = o1;
                s->v[3] = b1;
            }
        } else if (p->type == CP_R_HEAP) {
            double scale = 1;
            if (p->rate > 1 && s->size > 0)
                scale = 1 / (1 - exp(-(double)s->size / (double)p->rate));
            /* Go's rule (runtime/pprof's scaleHeapSample): each value unbiased, then
             * truncated to a whole number, int64(float64(count) * scale). Every view
             * (top, tree, folded, flame, pprof, serve, top's screen) reads these. The
             * peak and temporary-object views (issue 21) count other objects the same way:
             * those in use at the peak, those freed sooner than --temp-under. */
            double n0 = s->raw[0], n1 = s->raw[0] - s->raw[1]; /* alloc, inuse */
            if (p->view == CP_VIEW_PEAK) {
                n0 = s->peak;
                n1 = s->peak;
            } else if (p->view == CP_VIEW_TEMP) {
                n0 = 0;
                for (int k = 0; k < p->temp_classes && k < CP_NLIFE_R; k++)
                    n0 += s->life[k];
                n1 = n0;
            }
            if (p->view != CP_VIEW_HEAP) { /* two values: objects, bytes */
                s->v[0] = trunc(n0 * scale);
                s->v[1] = trunc(n1 * (double)s->size * scale);
            } else {
                s->v[0] = trunc(n0 * scale);
                s->v[1] = trunc(n0 * (double)s->size * scale);
                s->v[2] = trunc(n1 * scale);
                s->v[3] = trunc(n1 * (double)s->size * scale);
            }
        } else {
            s->v[0] = s->raw[0] / 65536.0;
            s->v[1] = s->raw[1];
        }
        int any = 0;
        for (int k = 0; k < p->nvalues; k++)
            any |= s->v[k] != 0;
        if (any)
            p->s[o++] = *s;
        else
            free(s->locs);
    }
    p->ns = o;
    static const struct cp_sym_frame trunc = {"(truncated stack)", NULL, 0, NULL};
    static const struct cp_sym_frame over = {"(profiler memory cap: stacks folded)", NULL, 0, NULL};
    for (size_t i = 0; i < p->nl; i++) {
        struct cp_loc *l = &p->locs[i];
        if (p->no_symbols) {
            l->nframes = 0;
            l->frames = NULL;
        } else if (l->kind == 0) {
            l->nframes = cp_sym_lookup(p->sym, l->mod, l->off, 1, &l->frames);
        } else if (l->kind == 1) {
            l->nframes = cp_sym_lookup(p->sym, 0xffffffffu, l->off, 0, &l->frames);
        } else {
            l->nframes = 1;
            l->frames = l->kind == 2 ? &trunc : &over;
        }
    }
    if (!p->no_symbols)
        cp_profile_names(p, p->demangle);
}
