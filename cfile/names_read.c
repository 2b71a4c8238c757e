/*
 * names_read.c — reading a profile's counters as Ctrprof-Format 1 names, whichever format
 * wrote them (see names_read.h; docs/SCHEMA.md is the contract, core/stacktab.c the
 * format-2 writer).
 *
 * Context: offline (tools, tests, fuzzers). Uses malloc; never runs in a profiled process.
 *
 * A format-2 bucket record names its stack once, maybe as a ditto of an earlier record's
 * outer frames ("^<base>:<skip>"), and its second value is a separate counter,
 * ctrprof/f:<id>. Records are gathered during the parse, sorted by id, and each is
 * expanded by following its bases (always smaller ids: a base is named before the record
 * that refers to it, so a chain cannot loop; a base that is missing, or not smaller, ends
 * the stack with a "truncated" frame). Bases are resolved once, in id order (resolve()),
 * so expanding a record costs its frames, however long the chain of dittos behind it,
 * and a hostile file at most MAX_FRAMES frames a record.
 */
#include "names_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 1024
#define MAX_HOPS 100000 /* the largest skip taken */

struct rec {
    uint64_t id;
    int type; /* 0 heap, 1 mutex, 2 block */
    uint64_t size;
    const uint8_t *own; /* the frame lines after the header, each "\n<frame>", no ditto */
    size_t ownlen;
    unsigned nown;
    int has_base;
    uint64_t base, skip;
    uint64_t v[2];
    int has_v1;
    /* resolved (resolve()): the rest of the stack is rec[rb]'s from its rskip-th own
     * line on, rskip < rec[rb].nown; rb -1: no rest; cut: the rest is lost (truncated) */
    long rb;
    uint64_t rskip;
    int cut;
};

/* A per-bucket counter ctrprof/<kind>:<id>: kind NULL for ctrprof/f (the bucket's second
 * value); any other kind (others' per-bucket counters: peaks, lifetimes) is handed over as
 * "<the bucket's namespace><kind>[:<size>]" and the stack, as a format-1 writer named it. */
struct fval {
    uint64_t id, v;
    const uint8_t *kind;
    size_t klen;
    const uint8_t *name; /* the counter as stored */
    size_t len;
};
#define MAX_KIND 48

struct ctx {
    cp_cfile_meta_fn meta_cb;
    cp_cfile_counter_fn cb;
    void *cbctx;
    struct rec *r;
    size_t nr, capr;
    struct fval *f;
    size_t nf, capf;
};

/* Parse a lowercase hex number of 1..16 digits at p[0..n): its length, 0 if none. */
static size_t hexnum(const uint8_t *p, size_t n, uint64_t *v)
{
    size_t i = 0;
    uint64_t x = 0;
    while (i < n && i < 16 && ((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
        x = x << 4 | (uint64_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
        i++;
    }
    *v = x;
    return i;
}

static size_t decnum(const uint8_t *p, size_t n, uint64_t *v)
{
    size_t i = 0;
    uint64_t x = 0;
    while (i < n && i < 19 && p[i] >= '0' && p[i] <= '9')
        x = x * 10 + (uint64_t)(p[i++] - '0');
    *v = x;
    return i;
}

static int prefix(const uint8_t *n, size_t len, const char *p, size_t *pl)
{
    *pl = strlen(p);
    return len > *pl && !memcmp(n, p, *pl);
}

/* A format-2 record's header line: its type, id and size; -1 if it is none. */
static int header(const uint8_t *n, size_t hl, uint64_t *id, uint64_t *size)
{
    static const char *const heads[3] = {"ctrprof/heap:", "ctrprof/mutex:", "ctrprof/block:"};
    for (int t = 0; t < 3; t++) {
        size_t pl;
        if (!prefix(n, hl, heads[t], &pl))
            continue;
        size_t k = hexnum(n + pl, hl - pl, id);
        if (!k || *id == 0)
            return -1;
        pl += k;
        *size = 0;
        if (t == 0) {
            if (pl >= hl || n[pl] != ':')
                return -1;
            pl++;
            k = decnum(n + pl, hl - pl, size);
            if (!k)
                return -1;
            pl += k;
        }
        return pl == hl ? t : -1;
    }
    return -1;
}

/* The caller's metadata callback, with the caller's context. */
static void on_meta(void *vctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct ctx *c = vctx;
    c->meta_cb(c->cbctx, k, kl, v, vl);
}

static void on_counter(void *vctx, const uint8_t *name, size_t len, uint64_t value)
{
    struct ctx *c = vctx;
    const uint8_t *nl = memchr(name, '\n', len);
    size_t hl = nl ? (size_t)(nl - name) : len, pl;
    uint64_t id, size;
    /* ctrprof/<kind>:<id>, in no namespace of counters that are not a bucket's */
    const uint8_t *colon = nl ? NULL : memrchr(name, ':', len);
    if (colon && prefix(name, len, "ctrprof/", &pl) && colon > name + pl &&
        !prefix(name, len, "ctrprof/health:", &hl) && !prefix(name, len, "ctrprof/process:", &hl) &&
        !prefix(name, len, "ctrprof/note:", &hl) && !prefix(name, len, "ctrprof/module:", &hl) &&
        !prefix(name, len, "ctrprof/heap:", &hl) && !prefix(name, len, "ctrprof/mutex:", &hl) &&
        !prefix(name, len, "ctrprof/block:", &hl) && (size_t)(colon - name) - pl <= MAX_KIND &&
        hexnum(colon + 1, (size_t)(name + len - colon - 1), &id) ==
            (size_t)(name + len - colon - 1) &&
        id) {
        size_t kl = (size_t)(colon - name) - pl;
        int f = kl == 1 && name[pl] == 'f';
        if (c->nf == c->capf)
            c->f = realloc(c->f, (c->capf = c->capf ? 2 * c->capf : 1024) * sizeof *c->f);
        c->f[c->nf++] = (struct fval){id, value, f ? NULL : name + pl, f ? 0 : kl, name, len};
        return;
    }
    hl = nl ? (size_t)(nl - name) : len;
    int t = header(name, hl, &id, &size);
    if (t < 0) {
        if (c->cb)
            c->cb(c->cbctx, name, len, value); /* format 1, or any other counter */
        return;
    }
    if (c->nr == c->capr)
        c->r = realloc(c->r, (c->capr = c->capr ? 2 * c->capr : 1024) * sizeof *c->r);
    struct rec *r = &c->r[c->nr++];
    memset(r, 0, sizeof *r);
    r->id = id;
    r->type = t;
    r->size = size;
    r->v[0] = value;
    r->own = name + hl;
    r->ownlen = len - hl;
    /* a last line "^<base>:<skip>" is the ditto */
    const uint8_t *last = name + hl;
    for (const uint8_t *q = name + hl; q < name + len; q++)
        if (*q == '\n')
            last = q;
    uint64_t base, skip;
    size_t ll = (size_t)(name + len - last);
    if (ll > 2 && last[1] == '^') {
        size_t k = hexnum(last + 2, ll - 2, &base);
        if (k && 2 + k < ll && last[2 + k] == ':' &&
            hexnum(last + 3 + k, ll - 3 - k, &skip) == ll - 3 - k) {
            r->has_base = 1;
            r->base = base;
            r->skip = skip;
            r->ownlen = (size_t)(last - (name + hl));
        }
    }
    for (size_t i = 0; i < r->ownlen; i++)
        r->nown += r->own[i] == '\n';
}

static int by_id(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int fval_by_id(const void *a, const void *b)
{
    const struct fval *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static struct rec *find(struct ctx *c, uint64_t id)
{
    size_t lo = 0, hi = c->nr;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (c->r[m].id < id)
            lo = m + 1;
        else
            hi = m;
    }
    return lo < c->nr && c->r[lo].id == id ? &c->r[lo] : NULL;
}

/* Resolve each record's base, in id order, so that a base's own is resolved first: the
 * rest of r's stack is its base's from line skip on, and when skip is past that base's
 * own lines it is the base's rest from (skip - own); each step of that walk goes to a
 * resolved record, whose rskip is within its own lines, so a record costs at most two
 * steps per frame it skips, whatever the chain of dittos behind it. */
static void resolve(struct ctx *c)
{
    for (size_t i = 0; i < c->nr; i++) {
        struct rec *r = &c->r[i];
        r->rb = -1;
        if (!r->has_base)
            continue;
        const struct rec *b = r->base < r->id ? find(c, r->base) : NULL;
        uint64_t s = r->skip;
        for (unsigned steps = 0;; steps++) {
            if (!b || b->cut || steps > 2 * MAX_FRAMES || s > MAX_HOPS) {
                r->cut = 1;
                break;
            }
            if (s < b->nown) {
                r->rb = b - c->r;
                r->rskip = s;
                break;
            }
            if (b->rb < 0)
                break; /* skipped the base's whole stack: nothing more */
            s = s - b->nown + b->rskip;
            b = &c->r[b->rb];
        }
    }
}

/* Append record r's whole stack to out (each frame "\n<frame>"); returns the length. */
static size_t expand(struct ctx *c, const struct rec *r, char *out, size_t cap)
{
    size_t o = 0;
    unsigned frames = 0;
    uint64_t skip = 0;
    for (;;) {
        /* r's own lines from the skip-th on; a line "+<offset>" is in the module of the
         * line above it (mod), which may be among the lines skipped */
        const uint8_t *p = r->own, *end = r->own + r->ownlen, *mod = NULL;
        size_t modlen = 0;
        for (uint64_t s = 0; p < end; s++) {
            const uint8_t *q = memchr(p + 1, '\n', (size_t)(end - p - 1));
            size_t l = (size_t)((q ? q : end) - p);
            int ditto = l > 2 && p[1] == '+';
            if (!ditto) {
                const uint8_t *plus = memchr(p + 1, '+', l - 1);
                mod = plus ? p + 1 : NULL;
                modlen = plus ? (size_t)(plus - p - 1) : 0;
            }
            if (s >= skip) {
                if (frames == MAX_FRAMES || o + l + modlen + 20 > cap)
                    goto cut;
                if (ditto && mod) {
                    out[o++] = '\n';
                    memcpy(out + o, mod, modlen);
                    o += modlen;
                    memcpy(out + o, "+0x", 3);
                    o += 3;
                    memcpy(out + o, p + 2, l - 2);
                    o += l - 2;
                } else {
                    memcpy(out + o, p, l);
                    o += l;
                }
                frames++;
            }
            p = q ? q : end;
        }
        if (r->cut)
            goto cut;
        if (r->rb < 0)
            return o;
        skip = r->rskip;
        r = &c->r[r->rb];
    }
cut:
    memcpy(out + o, "\ntruncated", 10);
    return o + 10;
}

static void emit(struct ctx *c, char *buf, size_t cap)
{
    size_t fi = 0; /* c->f, sorted by id like c->r */
    static const char *const names[3][2] = {{"ctrprof/heap:alloc:", "ctrprof/heap:free:"},
                                            {"ctrprof/mutex:contentions", "ctrprof/mutex:delay"},
                                            {"ctrprof/block:contentions", "ctrprof/block:delay"}};
    char *stk = buf + 128;
    for (size_t i = 0; i < c->nr; i++) {
        const struct rec *r = &c->r[i];
        if (i && r->id == c->r[i - 1].id)
            continue; /* a repeated id (a hostile file): the first one counts */
        size_t sl = expand(c, r, stk, cap - 129);
        stk[sl] = 0; /* (not part of the name; for readers that parse a frame with strtoull) */
        for (int w = 0; w < 2; w++) {
            if (w == 1 && !r->has_v1)
                continue;
            char head[64];
            int hl = r->type == 0 ? snprintf(head, sizeof head, "%s%llu", names[0][w],
                                             (unsigned long long)r->size)
                                  : snprintf(head, sizeof head, "%s", names[r->type][w]);
            /* the header goes just before the stack, which stays where it is */
            memcpy(stk - hl, head, (size_t)hl);
            c->cb(c->cbctx, (const uint8_t *)(stk - hl), (size_t)hl + sl, r->v[w]);
        }
        static const char *const ns[3] = {"ctrprof/heap:", "ctrprof/mutex:", "ctrprof/block:"};
        for (; fi < c->nf && c->f[fi].id <= r->id; fi++) {
            const struct fval *e = &c->f[fi];
            if (e->id != r->id || !e->kind)
                continue;
            char head[128];
            int hl = r->type == 0 ? snprintf(head, sizeof head, "%s%.*s:%llu", ns[0], (int)e->klen,
                                             (const char *)e->kind, (unsigned long long)r->size)
                                  : snprintf(head, sizeof head, "%s%.*s", ns[r->type], (int)e->klen,
                                             (const char *)e->kind);
            memcpy(stk - hl, head, (size_t)hl);
            c->cb(c->cbctx, (const uint8_t *)(stk - hl), (size_t)hl + sl, e->v);
        }
    }
}

int cp_names_parse(const uint8_t *buf, size_t len, cp_cfile_meta_fn meta_cb,
                   cp_cfile_counter_fn counter_cb, void *cbctx, char *where, size_t wherelen)
{
    struct ctx c = {.meta_cb = meta_cb, .cb = counter_cb, .cbctx = cbctx};
    int err =
        cp_cfile_parse(buf, len, meta_cb ? on_meta : NULL, counter_cb ? on_counter : NULL, &c,
                       where, wherelen);
    if (!err && counter_cb && c.nr) {
        qsort(c.r, c.nr, sizeof *c.r, by_id);
        if (c.nf) /* (qsort wants a pointer even for nothing) */
            qsort(c.f, c.nf, sizeof *c.f, fval_by_id);
        resolve(&c);
        for (size_t i = 0; i < c.nf; i++) {
            struct rec *r = c.f[i].kind ? NULL : find(&c, c.f[i].id);
            if (r && !r->has_v1) {
                r->has_v1 = 1;
                r->v[1] = c.f[i].v;
            }
        }
        size_t cap = 128 + MAX_FRAMES * 64 + 64;
        char *out = malloc(cap);
        if (out)
            emit(&c, out, cap);
        free(out);
    }
    /* per-bucket counters of no bucket (none in the file, or it is not a profile): as
     * they are */
    for (size_t i = 0; !err && counter_cb && i < c.nf; i++) {
        const struct fval *e = &c.f[i];
        if (!find(&c, e->id))
            counter_cb(cbctx, e->name, e->len, e->v);
    }
    free(c.r);
    free(c.f);
    return err;
}
