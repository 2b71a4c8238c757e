/*
 * names_read.c — reading a profile's counters as Ctrprof-Format 1 names, whichever format
 * wrote them (see names_read.h; docs/SCHEMA.md is the contract, core/stacktab.c the
 * format-3 writer). A format-2 heap record (ctrprof/heap:<id>:<size>) reads as format 1's
 * sized names; a format-3 one (ctrprof/heap:<id>, a site with unbiased values) as the
 * names of the site's values, ctrprof/heap:alloc_objects, free_objects, alloc_space,
 * free_space, peak_objects, peak_space, life_objects:<class>, life_space:<class>; a
 * format-4 one too, from its shorter kinds (p, pb, l<c>, lb<c>) and the lifetime class its
 * free record, ctrprof/f<c>:<id>, implies (emit_site4).
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
    int sized; /* a heap record with a size, ctrprof/heap:<id>:<size> (format 2: its objects' size;
                * format 3: its first sample's, which gives the bytes not written) */
    const uint8_t *own; /* the frame lines after the header, each "\n<frame>", no ditto */
    size_t ownlen;
    unsigned nown;
    int has_base;
    uint64_t base, skip;
    uint64_t v[2];
    int has_v1;
    int c0; /* format 4: the lifetime class its free record implies (0-9, 9: not known); -1 */
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
    int cls; /* ctrprof/f<class>:<id> (format 4): the class implied (0-9); -1 */
    const uint8_t *kind;
    size_t klen;
    const uint8_t *name; /* the counter as stored */
    size_t len;
};
#define MAX_KIND 48

struct ctx {
    unsigned types; /* the record types handed over (bit t: type t) */
    int v3;         /* Ctrprof-Format 3 or later: a heap record is a site (unbiased values) */
    int v4;         /* 4 or later: the short kinds, a free record's implied lifetime class */
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

/* Format 4's lifetime class letter (core/names.c): 0-8 the decades, u not known (9); -1 */
static int life_class(uint8_t ch)
{
    return ch >= '0' && ch <= '8' ? ch - '0' : ch == 'u' ? 9 : -1;
}

static int prefix(const uint8_t *n, size_t len, const char *p, size_t *pl)
{
    *pl = strlen(p);
    return len > *pl && !memcmp(n, p, *pl);
}

/* A format-2 or -3 record's header line: its type, id and size (*sized 0: a format-3 heap
 * record, which has none); -1 if it is none. */
static int header(const uint8_t *n, size_t hl, uint64_t *id, uint64_t *size, int *sized)
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
        *sized = 0;
        if (t == 0 && pl < hl) {
            if (n[pl] != ':')
                return -1;
            *sized = 1;
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
    uint64_t fmt;
    if (kl == 14 && !memcmp(k, "Ctrprof-Format", 14) && decnum((const uint8_t *)v, vl, &fmt) == vl)
        c->v3 = fmt >= 3, c->v4 = fmt >= 4;
    if (c->meta_cb)
        c->meta_cb(c->cbctx, k, kl, v, vl);
}

static void on_counter(void *vctx, const uint8_t *name, size_t len, uint64_t value)
{
    struct ctx *c = vctx;
    const uint8_t *nl = memchr(name, '\n', len);
    size_t hl = nl ? (size_t)(nl - name) : len, pl;
    uint64_t id, size;
    int sized;
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
        int f = kl == 1 && name[pl] == 'f', cls = -1;
        if (c->v4 && kl == 2 && name[pl] == 'f' && (cls = life_class(name[pl + 1])) >= 0)
            f = 1; /* ctrprof/f<class>:<id>, a heap bucket's frees */
        if (c->nf == c->capf)
            c->f = realloc(c->f, (c->capf = c->capf ? 2 * c->capf : 1024) * sizeof *c->f);
        c->f[c->nf++] = (struct fval){id, value, cls, f ? NULL : name + pl, f ? 0 : kl, name, len};
        return;
    }
    hl = nl ? (size_t)(nl - name) : len;
    int t = header(name, hl, &id, &size, &sized);
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
    r->c0 = -1;
    r->type = t;
    r->size = size;
    r->sized = sized;
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

/* The value of b x size, saturated (a hostile file's values may be anything). */
static uint64_t times(uint64_t v, uint64_t size)
{
    unsigned __int128 x = (unsigned __int128)v * size;
    return x > UINT64_MAX ? UINT64_MAX : (uint64_t)x;
}

/* Hand over one value as "<head>" then the stack at stk[0..sl). */
static void out(struct ctx *c, char *stk, size_t sl, const char *head, uint64_t v)
{
    size_t hl = strlen(head);
    memcpy(stk - hl, head, hl); /* the header goes just before the stack */
    c->cb(c->cbctx, (const uint8_t *)(stk - hl), hl + sl, v);
}

static const struct fval *kind_of(const struct fval *f, size_t n, const char *kind, size_t kl)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].kind && f[i].klen == kl && !memcmp(f[i].kind, kind, kl))
            return &f[i];
    return NULL;
}

/* A format-3 heap record, a site, with its per-bucket counters f[0..nf): its objects and
 * bytes, each bytes value from its own counter (ab, fb, pb, lb:<class>) where the writer
 * wrote one (a site that has had two sizes) and otherwise the objects times the record's
 * size (names_read.h has the names). */
static void emit_site4(struct ctx *c, const struct rec *r, const struct fval *f, size_t nf,
                       char *stk, size_t sl);

static void emit_site(struct ctx *c, const struct rec *r, const struct fval *f, size_t nf,
                      char *stk, size_t sl)
{
    if (c->v4) {
        emit_site4(c, r, f, nf, stk, sl);
        return;
    }
    uint64_t size = r->sized ? r->size : 0;
    const struct fval *ab = kind_of(f, nf, "ab", 2), *fb = kind_of(f, nf, "fb", 2);
    out(c, stk, sl, "ctrprof/heap:alloc_objects", r->v[0]);
    out(c, stk, sl, "ctrprof/heap:alloc_space", ab ? ab->v : times(r->v[0], size));
    if (r->has_v1 || fb) {
        out(c, stk, sl, "ctrprof/heap:free_objects", r->v[1]);
        out(c, stk, sl, "ctrprof/heap:free_space", fb ? fb->v : times(r->v[1], size));
    }
    for (size_t i = 0; i < nf; i++) {
        const struct fval *e = &f[i];
        char head[128], kb[MAX_KIND + 4];
        if (!e->kind)
            continue;
        if (e->klen == 4 && !memcmp(e->kind, "peak", 4)) {
            const struct fval *b = kind_of(f, nf, "pb", 2);
            out(c, stk, sl, "ctrprof/heap:peak_objects", e->v);
            out(c, stk, sl, "ctrprof/heap:peak_space", b ? b->v : times(e->v, size));
        } else if (e->klen > 5 && !memcmp(e->kind, "life:", 5)) {
            snprintf(kb, sizeof kb, "lb:%.*s", (int)(e->klen - 5), (const char *)e->kind + 5);
            const struct fval *b = kind_of(f, nf, kb, strlen(kb));
            snprintf(head, sizeof head, "ctrprof/heap:life_objects:%.*s", (int)(e->klen - 5),
                     (const char *)e->kind + 5);
            out(c, stk, sl, head, e->v);
            snprintf(head, sizeof head, "ctrprof/heap:life_space:%.*s", (int)(e->klen - 5),
                     (const char *)e->kind + 5);
            out(c, stk, sl, head, b ? b->v : times(e->v, size));
        } else if (!((e->klen == 2 && (!memcmp(e->kind, "ab", 2) || !memcmp(e->kind, "fb", 2) ||
                                       !memcmp(e->kind, "pb", 2))) ||
                     (e->klen > 3 && !memcmp(e->kind, "lb:", 3)))) {
            snprintf(head, sizeof head, "ctrprof/heap:%.*s", (int)e->klen, (const char *)e->kind);
            out(c, stk, sl, head, e->v);
        }
    }
}

/* A format-4 heap site: format 3's values under format 4's kinds (p, pb, l<class>,
 * lb<class>; core/names.c), and the class its free record implies (r->c0): its objects are
 * the free record's minus the site's other classes (the class "not known", u, among them),
 * its bytes the freed bytes minus theirs, each at least 0 (a writer with a flusher thread
 * may publish a class's change a flush before the free count that holds it). Class u is
 * counted but not handed over, as format 3 left such frees in no class. */
static void emit_site4(struct ctx *c, const struct rec *r, const struct fval *f, size_t nf,
                       char *stk, size_t sl)
{
    static const char *const cname[9] = {"lt1us", "1us",   "10us", "100us", "1ms",
                                         "10ms",  "100ms", "1s",   "10s"};
    uint64_t size = r->sized ? r->size : 0;
    const struct fval *ab = kind_of(f, nf, "ab", 2), *fb = kind_of(f, nf, "fb", 2);
    uint64_t fobj = r->v[1], fbytes = fb ? fb->v : times(r->v[1], size);
    out(c, stk, sl, "ctrprof/heap:alloc_objects", r->v[0]);
    out(c, stk, sl, "ctrprof/heap:alloc_space", ab ? ab->v : times(r->v[0], size));
    if (r->has_v1 || fb) {
        out(c, stk, sl, "ctrprof/heap:free_objects", fobj);
        out(c, stk, sl, "ctrprof/heap:free_space", fbytes);
    }
    uint64_t n[10] = {0}, b[10] = {0}, sn = 0, sb = 0;
    int has[10] = {0};
    char head[128];
    for (size_t i = 0; i < nf; i++) {
        const struct fval *e = &f[i];
        int k;
        if (!e->kind)
            continue;
        if (e->klen == 1 && e->kind[0] == 'p') {
            const struct fval *pb = kind_of(f, nf, "pb", 2);
            out(c, stk, sl, "ctrprof/heap:peak_objects", e->v);
            out(c, stk, sl, "ctrprof/heap:peak_space", pb ? pb->v : times(e->v, size));
        } else if (e->klen == 2 && e->kind[0] == 'l' && (k = life_class(e->kind[1])) >= 0) {
            char kb[3] = {'l', 'b', (char)e->kind[1]};
            const struct fval *lb = kind_of(f, nf, kb, 3);
            uint64_t vb = lb ? lb->v : times(e->v, size);
            has[k] = 1;
            n[k] += e->v;
            b[k] += vb;
            sn += e->v;
            sb += vb;
        } else if (!((e->klen == 2 && (!memcmp(e->kind, "ab", 2) || !memcmp(e->kind, "fb", 2) ||
                                       !memcmp(e->kind, "pb", 2))) ||
                     (e->klen == 3 && !memcmp(e->kind, "lb", 2) && life_class(e->kind[2]) >= 0))) {
            snprintf(head, sizeof head, "ctrprof/heap:%.*s", (int)e->klen, (const char *)e->kind);
            out(c, stk, sl, head, e->v);
        }
    }
    if (r->c0 >= 0) {
        has[r->c0] = 1;
        n[r->c0] += fobj > sn ? fobj - sn : 0;
        b[r->c0] += fbytes > sb ? fbytes - sb : 0;
    }
    for (int k = 0; k < 9; k++) {
        if (!has[k])
            continue;
        snprintf(head, sizeof head, "ctrprof/heap:life_objects:%s", cname[k]);
        out(c, stk, sl, head, n[k]);
        snprintf(head, sizeof head, "ctrprof/heap:life_space:%s", cname[k]);
        out(c, stk, sl, head, b[k]);
    }
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
        if (!(c->types >> r->type & 1))
            continue; /* (still a base for others' dittos: resolved, never expanded) */
        size_t sl = expand(c, r, stk, cap - 129);
        stk[sl] = 0; /* (not part of the name; for readers that parse a frame with strtoull) */
        while (fi < c->nf && c->f[fi].id < r->id)
            fi++;
        if (r->type == 0 && c->v3) {
            size_t fe = fi;
            while (fe < c->nf && c->f[fe].id == r->id)
                fe++;
            emit_site(c, r, c->f + fi, fe - fi, stk, sl);
            fi = fe;
            continue;
        }
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
    return cp_names_parse_types(buf, len, meta_cb, counter_cb, cbctx, where, wherelen, 7);
}

int cp_names_parse_types(const uint8_t *buf, size_t len, cp_cfile_meta_fn meta_cb,
                         cp_cfile_counter_fn counter_cb, void *cbctx, char *where, size_t wherelen,
                         unsigned types)
{
    struct ctx c = {.meta_cb = meta_cb, .cb = counter_cb, .cbctx = cbctx, .types = types};
    int err =
        cp_cfile_parse(buf, len, on_meta, counter_cb ? on_counter : NULL, &c, where, wherelen);
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
                r->c0 = c.f[i].cls;
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
