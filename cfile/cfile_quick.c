/*
 * cfile_quick.c — the quick walk of a counter file's chains (cfile_quick.h). Offline
 * only (cp_cfile_parse: `ctrprof report`, `pack`, `run`, `serve`, `top`, the tests).
 *
 * Why: the exact walk (cfile_read.c) keeps two hash sets of every name seen (raw and
 * decoded), looked up and added to at each record in Go's order, so that the first record
 * that repeats a name is the one it names. On a profile of 580,818 counters (a rate-1 run
 * over 262,144 stacks, 36 MB) that took 0.5 s, most of it waiting on the sets' slots, four
 * random reads of 24-byte slots in tables of tens of MB a record, and the sets' doublings.
 * A file a profiler wrote has no repeated name, and saying so needs no order: hash every
 * name once as the chains are walked, then group the hashes by their top bits (a group
 * of a few hundred fits in the caches) and look for equal hashes within each group. Only
 * equal hashes are compared byte for byte; only a real repeat (or anything else out of
 * the ordinary) sends the file to the exact walk, which then finds the first one in Go's
 * order and says where. So the answer and its message are the exact walk's, always.
 *
 * What counts as a repeat, as in the exact walk: a record's raw name equal to another's
 * raw name (a loop, or a name stored twice) or to another record's decoded name (ditto
 * marks expanded: Go's own check). Two different raw names with one decoded name are not
 * a repeat (Go keeps the last). The quick walk does not know which of two records comes
 * first, so it is stricter than Go for a raw name equal to a LATER record's decoded name:
 * it defers to the exact walk, which accepts it.
 *
 * Bounds: a record takes 16 bytes and its name, so the records of a file where none
 * overlap hold at most len - H bytes together; a walk that visits more (a loop, records
 * that overlap) stops and defers, having hashed at most the file's bytes once. A name
 * is decoded only once the walk is done (each record once: a decoded name can be many
 * times longer than the name). A hash shared by too many pairs (crafted collisions)
 * defers too.
 * Memory: anonymous mmaps (MAP_NORESERVE: only what is written is touched), no malloc.
 */
#include "cfile_quick.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "cfile.h"

/* (a decoded name longer than this defers to the exact walk, which maps it anyway) */
#define DECODED_MAX ((size_t)64 << 20)
/* chains walked side by side (CP_CFILE_NBUCKETS is a multiple) */
#define LANES 32

static void *map(size_t bytes)
{
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes ? bytes : 1);
}

/* A growable scratch buffer for decoded names. */
struct scratch {
    uint8_t *p;
    size_t cap;
};

static uint8_t *scratch_get(struct scratch *s, size_t n)
{
    if (n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < n)
            cap *= 2;
        uint8_t *p = map(cap);
        if (!p)
            return NULL;
        unmap(s->p, s->cap);
        s->p = p;
        s->cap = cap;
    }
    return s->p;
}

/* Could ditto marks change this name? Only a line that begins with '"' and has its last
 * '.' right after it is rewritten (cp_cfile_decode_name), and only in a name of lines. */
static bool may_decode(const uint8_t *name, size_t len)
{
    return memchr(name, '\n', len) && memchr(name, '"', len);
}

/* A hash and what it is of: record i's raw name (ref = i << 1) or its decoded name (ref =
 * i << 1 | 1, only where the decoding changed it). */
struct ent {
    uint64_t h;
    uint64_t ref;
};

struct quick {
    const uint8_t *buf;
    size_t len;
    const uint32_t *off; /* the records, in the order walked (an entry's ref >> 1) */
    struct scratch a, b; /* decoded names under comparison */
};

/* The bytes an entry stands for (decoded into s when it is a decoded name); NULL when
 * they cannot be had (scratch memory). */
static const uint8_t *ent_bytes(struct quick *q, uint64_t ref, struct scratch *s, size_t *n)
{
    uint32_t off = q->off[ref >> 1];
    const uint8_t *name = q->buf + off + 16;
    size_t nl = cp_cfile_name_len(q->buf, q->len, off);
    if (!(ref & 1)) {
        *n = nl;
        return name;
    }
    size_t dl = cp_cfile_decode_name(name, nl, NULL, 0);
    uint8_t *d = scratch_get(s, dl ? dl : 1);
    if (d)
        cp_cfile_decode_name(name, nl, (char *)d, dl);
    *n = dl;
    return d;
}

/* Do two entries of one hash make a repeat? -1: scratch memory failed. */
static int repeat(struct quick *q, uint64_t x, uint64_t y)
{
    if (x >> 1 == y >> 1 || (x & y & 1))
        return 0; /* a record and its own decoding; two decoded names (Go keeps the last) */
    size_t xn, yn;
    const uint8_t *xp = ent_bytes(q, x, &q->a, &xn), *yp = ent_bytes(q, y, &q->b, &yn);
    if (!xp || !yp)
        return -1;
    return xn == yn && memcmp(xp, yp, xn) == 0;
}

/* Look for a repeat among the entries: group them by their top bits, then an open-address
 * table per group. 0: none; 1: a repeat, or too many equal hashes; -ENOMEM. */
static int find_repeats(struct quick *q, const struct ent *e, size_t n)
{
    unsigned bits = 0;
    while (bits < 20 && (n >> bits) > 256)
        bits++;
    size_t groups = (size_t)1 << bits;
    size_t *start = map((groups + 1) * sizeof *start);
    struct ent *g = map(n * sizeof *g);
    int rc = -ENOMEM;
    uint32_t *tab = NULL;
    size_t tabcap = 0;
    if (!start || !g)
        goto out;
#define GROUP(h) (bits ? (size_t)((h) >> (64 - bits)) : 0)
    for (size_t i = 0; i < n; i++)
        start[GROUP(e[i].h) + 1]++;
    size_t biggest = 0;
    for (size_t k = 0; k < groups; k++) {
        if (start[k + 1] > biggest)
            biggest = start[k + 1];
        start[k + 1] += start[k];
    }
    /* (start[k] is group k's next free place while they are placed, then its end) */
    for (size_t i = 0; i < n; i++)
        g[start[GROUP(e[i].h)]++] = e[i];
#undef GROUP
    tabcap = 16;
    while (tabcap < 2 * biggest)
        tabcap *= 2;
    tab = map(tabcap * sizeof *tab);
    if (!tab)
        goto out;
    /* equal hashes compared, at most one a name and a little more, and slots probed, a few
     * a name: beyond, collisions were made on purpose, and the exact walk's sets take over */
    size_t budget = n + 1024, probes = 8 * n + 1024;
    rc = 0;
    for (size_t k = 0, from = 0; k < groups && !rc; from = start[k++]) {
        size_t cnt = start[k] - from, mask = 16;
        while (mask < 2 * cnt)
            mask *= 2;
        mask--;
        memset(tab, 0, (mask + 1) * sizeof *tab);
        for (size_t i = from; i < start[k] && !rc; i++) {
            size_t j = (size_t)g[i].h & mask;
            for (; tab[j]; j = (j + 1) & mask) {
                if (!probes--) {
                    rc = 1;
                    break;
                }
                const struct ent *o = &g[from + tab[j] - 1]; /* (the group's index + 1) */
                if (o->h != g[i].h)
                    continue;
                if (!budget--) {
                    rc = 1;
                    break;
                }
                int r = repeat(q, o->ref, g[i].ref);
                if (r) {
                    rc = r < 0 ? -ENOMEM : 1;
                    break;
                }
            }
            tab[j] = (uint32_t)(i - from + 1);
        }
    }
out:
    unmap(tab, tabcap * sizeof *tab);
    unmap(g, n * sizeof *g);
    unmap(start, (groups + 1) * sizeof *start);
    return rc;
}

void cp_cfile_walk_free(struct cp_cfile_walk *w)
{
    unmap(w->off, w->cap * sizeof *w->off);
    memset(w, 0, sizeof *w);
}

int cp_cfile_walk_quick(const uint8_t *buf, size_t len, uint32_t h, struct cp_cfile_walk *w)
{
    memset(w, 0, sizeof *w);
    if (len <= (size_t)h || len > UINT32_MAX)
        return 1;
    size_t cap = (len - h) / 17 + 1;
    struct quick q = {buf, len, NULL, {0}, {0}};
    struct ent *e = map(2 * cap * sizeof *e);
    uint32_t *seen = map(cap * sizeof *seen);
    uint16_t *chain = map(cap * sizeof *chain);
    uint32_t *ditto = map(cap * sizeof *ditto);
    w->off = map(cap * sizeof *w->off);
    w->cap = cap;
    q.off = seen;
    int rc = -ENOMEM;
    if (!e || !seen || !chain || !ditto || !w->off)
        goto out;
    size_t n = 0, ne = 0, nd = 0, bytes = 0;
    rc = 1;
    /* LANES chains at a time, a record of each in turn, the next one of each prefetched:
     * a chain's records lie anywhere in the file, and one chain at a time waited on
     * memory at every record (77% of the walk). A record and its name take 16 + nl bytes
     * of the file's len - H: a walk that has seen more (records that overlap, or a loop)
     * stops there, so a loop costs at most one pass over the file's bytes. */
    for (uint32_t b0 = 0; b0 < CP_CFILE_NBUCKETS; b0 += LANES) {
        size_t cur[LANES];
        for (uint32_t l = 0; l < LANES; l++)
            cur[l] = cp_cfile_rd32(buf, len, (size_t)h + 4 + 4 * (size_t)(b0 + l));
        for (bool live = true; live;) {
            live = false;
            for (uint32_t l = 0; l < LANES; l++) {
                size_t off = cur[l];
                if (!off)
                    continue;
                live = true;
                if (off < (size_t)h + 4 || off + 16 > len || n == cap)
                    goto out;
                size_t nl = cp_cfile_name_len(buf, len, off);
                bytes += 16 + nl;
                if (nl == 0 || off + 16 + nl > len || bytes > len - h)
                    goto out;
                const uint8_t *name = buf + off + 16;
                seen[n] = (uint32_t)off;
                chain[n] = (uint16_t)(b0 + l);
                e[ne++] = (struct ent){cp_hash_bytes(name, nl), (uint64_t)n << 1};
                if (may_decode(name, nl))
                    ditto[nd++] = (uint32_t)n; /* (decoded once the walk is done) */
                n++;
                cur[l] = cp_cfile_rd32(buf, len, off + 12);
                /* (a prefetch never faults: an offset out of bounds is caught above) */
                __builtin_prefetch(buf + cur[l]);
                __builtin_prefetch(buf + cur[l] + 64);
            }
        }
    }
    /* the names ditto marks may change, each decoded once: where it did change, its
     * decoded name's hash too */
    for (size_t k = 0; k < nd; k++) {
        size_t i = ditto[k], off = seen[i];
        const uint8_t *name = buf + off + 16;
        size_t nl = cp_cfile_name_len(buf, len, off);
        size_t dl = cp_cfile_decode_name(name, nl, NULL, 0);
        if (dl > DECODED_MAX)
            goto out;
        uint8_t *d = scratch_get(&q.a, dl ? dl : 1);
        if (!d) {
            rc = -ENOMEM;
            goto out;
        }
        cp_cfile_decode_name(name, nl, (char *)d, dl);
        if (dl != nl || memcmp(d, name, nl) != 0)
            e[ne++] = (struct ent){cp_hash_bytes(d, dl), (uint64_t)i << 1 | 1};
    }
    rc = find_repeats(&q, e, ne);
    if (rc == 0) {
        /* Go's order: by chain (a stable counting sort), each chain's records as met */
        size_t at[CP_CFILE_NBUCKETS + 1] = {0};
        for (size_t i = 0; i < n; i++)
            at[chain[i] + 1]++;
        for (size_t b = 0; b < CP_CFILE_NBUCKETS; b++)
            at[b + 1] += at[b];
        for (size_t i = 0; i < n; i++)
            w->off[at[chain[i]]++] = seen[i];
        w->n = n;
    }
out:
    unmap(e, 2 * cap * sizeof *e);
    unmap(seen, cap * sizeof *seen);
    unmap(chain, cap * sizeof *chain);
    unmap(ditto, cap * sizeof *ditto);
    unmap(q.a.p, q.a.cap);
    unmap(q.b.p, q.b.cap);
    return rc;
}
