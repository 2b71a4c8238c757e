/*
 * pprof.c — `--format pprof`: a gzipped profile.proto (github.com/google/pprof
 * proto/profile.proto) written by hand, with the sample types and units Go's runtime uses,
 * so that `go tool pprof`, speedscope, Pyroscope and Parca read it. Offline context.
 *
 * Layout: one Mapping per module (build-id, path; has_functions/filenames/line_numbers/
 * inline_frames set, as everything is already symbolized), one Location per recorded
 * return address whose Line entries are its inlined chain innermost first, one Function
 * per (name, file): name as the report shows it (a C++ name shortened, names.c),
 * system_name the whole name. Heap samples carry Go's "bytes" label with the object size
 * (a Ctrprof-Format 3 or 4 site of mixed sizes: its average, docs/SCHEMA.md).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "views.h"

struct buf {
    unsigned char *p;
    size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap)
            b->cap = b->cap ? 2 * b->cap : 4096;
        b->p = realloc(b->p, b->cap);
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void varint(struct buf *b, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        t[n] = v & 0x7f;
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    put(b, t, n);
}

static void key(struct buf *b, int field, int wire)
{
    varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

static void f_int(struct buf *b, int field, int64_t v)
{
    if (v == 0)
        return;
    key(b, field, 0);
    varint(b, (uint64_t)v);
}

static void f_msg(struct buf *b, int field, const struct buf *m)
{
    key(b, field, 2);
    varint(b, m->n);
    put(b, m->p, m->n);
}

/* packed repeated varints */
static void f_packed(struct buf *b, int field, const uint64_t *v, size_t n)
{
    struct buf m = {0};
    for (size_t i = 0; i < n; i++)
        varint(&m, v[i]);
    key(b, field, 2);
    varint(b, m.n);
    put(b, m.p, m.n);
    free(m.p);
}

/* ---- the string table ------------------------------------------------------------------- */

struct strtab {
    char **s;
    size_t n, cap;
    size_t *idx;
    size_t nidx;
};

static size_t hs(const char *s)
{
    size_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int64_t str(struct strtab *t, const char *s)
{
    if (!s)
        s = "";
    if (!t->idx) {
        t->nidx = 1 << 16;
        t->idx = malloc(t->nidx * sizeof *t->idx);
        memset(t->idx, 0xff, t->nidx * sizeof *t->idx);
    }
    if (t->n * 2 >= t->nidx) {
        size_t nn = t->nidx * 2;
        size_t *ni = malloc(nn * sizeof *ni);
        memset(ni, 0xff, nn * sizeof *ni);
        for (size_t i = 0; i < t->n; i++) {
            size_t k = hs(t->s[i]) & (nn - 1);
            while (ni[k] != (size_t)-1)
                k = (k + 1) & (nn - 1);
            ni[k] = i;
        }
        free(t->idx);
        t->idx = ni;
        t->nidx = nn;
    }
    size_t h = hs(s) & (t->nidx - 1);
    while (t->idx[h] != (size_t)-1) {
        if (!strcmp(t->s[t->idx[h]], s))
            return (int64_t)t->idx[h];
        h = (h + 1) & (t->nidx - 1);
    }
    if (t->n == t->cap)
        t->s = realloc(t->s, (t->cap = t->cap ? 2 * t->cap : 1024) * sizeof *t->s);
    t->s[t->n] = strdup(s);
    t->idx[h] = t->n;
    return (int64_t)t->n++;
}

/* ---- functions ---------------------------------------------------------------------- */

struct fnkey {
    int64_t name, file, system_name;
};

struct fntab {
    struct fnkey *k;
    size_t n, cap;
};

static uint64_t fn_id(struct fntab *t, int64_t name, int64_t file, int64_t system_name)
{
    /* linear probe over a small open table would be faster; names are few per profile */
    for (size_t i = t->n; i-- > 0;)
        if (t->k[i].name == name && t->k[i].file == file)
            return i + 1;
    if (t->n == t->cap)
        t->k = realloc(t->k, (t->cap = t->cap ? 2 * t->cap : 256) * sizeof *t->k);
    t->k[t->n] = (struct fnkey){name, file, system_name};
    return ++t->n;
}

int cp_rep_pprof(FILE *out, const struct cp_profile *p)
{
    struct buf pb = {0}, m = {0};
    struct strtab st = {0};
    struct fntab ft = {0};
    str(&st, ""); /* string 0 is always "" */

    /* sample types, as Go's runtime writes them */
    for (int i = 0; i < p->nvalues; i++) {
        m.n = 0;
        f_int(&m, 1, str(&st, p->vname[i]));
        f_int(&m, 2, str(&st, p->vunit[i]));
        f_msg(&pb, 1, &m);
    }

    /* mappings: one per module seen in a location */
    uint32_t *mods = NULL;
    size_t nmods = 0;
    for (size_t i = 0; i < p->nl; i++) {
        if (p->locs[i].kind != 0)
            continue;
        size_t k;
        for (k = 0; k < nmods && mods[k] != p->locs[i].mod; k++)
            ;
        if (k == nmods) {
            mods = realloc(mods, (nmods + 1) * sizeof *mods);
            mods[nmods++] = p->locs[i].mod;
        }
    }
    for (size_t k = 0; k < nmods; k++) {
        m.n = 0;
        f_int(&m, 1, (int64_t)k + 1);
        f_int(&m, 2, (int64_t)((k + 1) << 40));     /* memory_start: a range per module */
        f_int(&m, 3, (int64_t)((k + 2) << 40) - 1); /* memory_limit */
        const char *path = cp_sym_module_path(p->sym, mods[k]);
        f_int(&m, 5, str(&st, path ? path : "?"));
        const char *bid = cp_sym_module_buildid(p->sym, mods[k]);
        if (bid)
            f_int(&m, 6, str(&st, bid));
        f_int(&m, 7, 1);
        f_int(&m, 8, 1);
        f_int(&m, 9, 1);
        f_int(&m, 10, 1);
        f_msg(&pb, 3, &m);
    }

    /* locations: ids are index + 1 */
    for (size_t i = 0; i < p->nl; i++) {
        const struct cp_loc *l = &p->locs[i];
        m.n = 0;
        f_int(&m, 1, (int64_t)i + 1);
        if (l->kind == 0) {
            size_t k;
            for (k = 0; mods[k] != l->mod; k++)
                ;
            f_int(&m, 2, (int64_t)k + 1);
            f_int(&m, 3, (int64_t)(((k + 1) << 40) + l->off));
        } else if (l->kind == 1) {
            f_int(&m, 3, (int64_t)l->off);
        }
        for (size_t f = 0; f < l->nframes; f++) {
            struct buf line = {0};
            int64_t name = str(&st, l->frames[f].func);
            int64_t file = str(&st, l->frames[f].file);
            int64_t sys = str(&st, cp_frame_full(&l->frames[f]));
            f_int(&line, 1, (int64_t)fn_id(&ft, name, file, sys));
            f_int(&line, 2, l->frames[f].line);
            f_msg(&m, 4, &line);
            free(line.p);
        }
        f_msg(&pb, 4, &m);
    }

    /* samples */
    uint64_t *ids = NULL;
    size_t capids = 0;
    for (size_t i = 0; i < p->ns; i++) {
        const struct cp_sample *s = &p->s[i];
        m.n = 0;
        if (s->nlocs > capids)
            ids = realloc(ids, (capids = s->nlocs) * sizeof *ids);
        for (uint32_t k = 0; k < s->nlocs; k++)
            ids[k] = s->locs[k] + 1;
        if (s->nlocs)
            f_packed(&m, 1, ids, s->nlocs);
        uint64_t v[4];
        for (int k = 0; k < p->nvalues; k++)
            v[k] = (uint64_t)llround(s->v[k]);
        f_packed(&m, 2, v, (size_t)p->nvalues);
        if (p->type == CP_R_HEAP) {
            struct buf lab = {0};
            f_int(&lab, 1, str(&st, "bytes"));
            f_int(&lab, 3, (int64_t)s->size);
            f_msg(&m, 3, &lab);
            free(lab.p);
        }
        f_msg(&pb, 2, &m);
    }

    /* functions */
    for (size_t i = 0; i < ft.n; i++) {
        m.n = 0;
        f_int(&m, 1, (int64_t)i + 1);
        f_int(&m, 2, ft.k[i].name);
        f_int(&m, 3, ft.k[i].system_name); /* the whole name; name may be shortened */
        f_int(&m, 4, ft.k[i].file);
        f_msg(&pb, 5, &m);
    }

    /* period type and period: heap space/bytes at MemRate; contentions/count otherwise */
    m.n = 0;
    f_int(&m, 1, str(&st, p->type == CP_R_HEAP ? "space" : "contentions"));
    f_int(&m, 2, str(&st, p->type == CP_R_HEAP ? "bytes" : "count"));
    int64_t dflt = p->default_sample ? (int64_t)str(&st, p->default_sample) : 0;
    int64_t comment = p->header[0] ? (int64_t)str(&st, p->header) : 0;
    /* the string table must be complete before it is written: add nothing after here */
    for (size_t i = 0; i < st.n; i++) {
        key(&pb, 6, 2);
        size_t l = strlen(st.s[i]);
        varint(&pb, l);
        put(&pb, st.s[i], l);
    }
    f_msg(&pb, 11, &m);
    f_int(&pb, 12, (int64_t)p->rate);
    if (comment)
        f_int(&pb, 13, comment); /* comment: the peak's time and size */
    if (dflt)
        f_int(&pb, 14, dflt); /* default_sample_type */

    /* gzip it */
    z_stream z;
    memset(&z, 0, sizeof z);
    int rc = 0;
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        fprintf(stderr, "ctrprof: report: zlib: cannot initialise\n");
        rc = 1;
    } else {
        unsigned char chunk[65536];
        z.next_in = pb.p;
        z.avail_in = (uInt)pb.n;
        int zr;
        do {
            z.next_out = chunk;
            z.avail_out = sizeof chunk;
            zr = deflate(&z, Z_FINISH);
            fwrite(chunk, 1, sizeof chunk - z.avail_out, out);
        } while (zr == Z_OK);
        if (zr != Z_STREAM_END) {
            fprintf(stderr, "ctrprof: report: zlib: %s\n", z.msg ? z.msg : "deflate failed");
            rc = 1;
        }
        deflateEnd(&z);
    }
    for (size_t i = 0; i < st.n; i++)
        free(st.s[i]);
    free(st.s);
    free(st.idx);
    free(ft.k);
    free(ids);
    free(mods);
    free(m.p);
    free(pb.p);
    return rc;
}
