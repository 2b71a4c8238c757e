/*
 * stacktab.c — a bucket's records in the counter file, Ctrprof-Format 4 (docs/SCHEMA.md is
 * the public contract; cfile/names_read.c reads them back). Format 3 is format 2 with a
 * heap bucket per site (bucket.h): its record, ctrprof/heap:<id>:<size>, has the size of
 * its first sample, and its values are unbiased objects (the record, ctrprof/f); its bytes
 * are the objects times that size until it has had two sizes, and from then on written
 * (ctrprof/ab, ctrprof/fb: all of them, from the start). Format 4 is format 3 with fewer
 * and smaller per-bucket counters (issue 23: at rate 1 a site's counters were most of the
 * file): a heap bucket's free record, ctrprof/f<class>:<id>, names the lifetime class of
 * its first free, whose objects are then the record's value minus the bucket's other
 * classes (heaptime.c counts only those), and the peak and lifetime kinds are one or two
 * letters (names.c, cp_names_kind), so each takes the format's smallest record.
 *
 * A bucket's frames are read from frames.c's trie (the bucket keeps its innermost node):
 * the frames a ditto leaves out are never read, and the frames two buckets share are
 * found by walking both up to their common node (cp_frames_shared_outer).
 *
 * Context: the flusher, or whoever holds prof.c's flush_lock (publish_bucket, late events,
 * the fork child's set-up through cp_stacktab_reset). No malloc, no stdio; names are built
 * on the caller's stack (the profiler's own stack, ownstack.h).
 *
 * Format 1 wrote each bucket's whole stack into both of its counters (alloc and free:
 * ~380 bytes each at depth 25), and found each new counter's place by walking one of the
 * format's 512 hash chains, hundreds of thousands of records long at rate 1 (a recursive
 * program with 262k stacks: 290 s against 0.4 s bare). Here:
 *
 *   - each bucket gets an id from the file (the counter ctrprof/ids, taken with one
 *     atomic add, so ids are unique among all the processes sharing the file);
 *   - the bucket's record, ctrprof/heap:<id>:<size> (mutex:<id>, block:<id>), carries
 *     its stack once, and as a ditto of an earlier bucket's when they share outer frames:
 *     the frames that differ, then "^<base id>:<skip>", i.e. the base's frames from
 *     its skip-th on (a recursive program's consecutive stacks share most of theirs), and
 *     a frame in the module of the frame above it is "+<offset>" (6 bytes, not 16);
 *   - every other value of the bucket is a short counter naming only the id:
 *     ctrprof/f:<id> (mutex and block: delay), ctrprof/f<class>:<id> (a heap bucket's freed
 *     objects, its first free's lifetime class implied; ctrprof/f:<id> when the heap over
 *     time is off), ctrprof/ab:<id> and ctrprof/fb:<id> (a heap bucket's bytes allocated
 *     and freed). Counters others add per bucket (peaks, lifetimes) name the id the same
 *     way, ctrprof/<kind>:<id>.
   - a name with an id is made by this process alone, so it is linked without walking
 *     its hash chain (cp_cfile_counter_fresh); the bucket keeps the pointers, which is
 *     the process's index of its own counters. Only names other processes may also make
 *     (modules, health, notes; few, and cached by the caller) walk a chain.
 */
#include "stacktab.h"

#include <string.h>

#include "bucket.h"
#include "cfile.h"
#include "heaptime.h"
#include "log.h"
#include "modules.h"
#include "names.h"

static uint64_t *ids; /* the file's ctrprof/ids, once looked up */

/* The buckets named last (in this file), newest first: the candidates for a ditto base. */
#define NBASE 4
static const struct cp_bucket *bases[NBASE];

void cp_stacktab_reset(void)
{
    ids = NULL;
    memset(bases, 0, sizeof bases);
}

/* cp_cfile_counter_fresh, its counter kept as its record's offset (bucket.h's ctr); 0
 * there on failure */
static int fresh(struct cp_cfile *f, const char *name, size_t len, uint32_t *off)
{
    uint64_t *v;
    int err = cp_cfile_counter_fresh(f, name, len, &v);
    size_t o = err ? 0 : cp_cfile_offset(f, v);
    if (!err && (o == 0 || o > UINT32_MAX))
        err = CP_CFILE_ECORRUPT; /* (cannot be: a record is inside a view, under 4 GiB) */
    *off = err ? 0 : (uint32_t)o;
    return err;
}

static char *put_hex(char *o, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    int digits = v ? (67 - __builtin_clzll(v)) / 4 : 1;
    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        o[i] = hex[v & 15];
    return o + digits;
}

static int name_bucket(struct cp_cfile *f, struct cp_bucket *b,
                       void (*seen)(void *ctx, const struct cp_module *m), void *ctx)
{
    static const char ids_name[] = "ctrprof/ids";
    if (!ids) {
        int err = cp_cfile_counter(f, ids_name, sizeof ids_name - 1, &ids);
        if (err)
            return err;
    }
    uint64_t id = __atomic_add_fetch(ids, 1, __ATOMIC_RELAXED);
    if (id > UINT32_MAX)
        return CP_CFILE_EFULL;
    char buf[CP_CFILE_MAX_NAME];
    char *o = buf;
    static const char *const head[CP_NPTYPES] = {
        [CP_HEAP] = "ctrprof/heap:", [CP_MUTEX] = "ctrprof/mutex:", [CP_BLOCK] = "ctrprof/block:"};
    size_t hl = strlen(head[b->type]);
    memcpy(o, head[b->type], hl);
    o = put_hex(o + hl, id);
    if (b->type == CP_HEAP) /* its first sample's size (bucket.h) */
        o += cp_fmt(o, 24, ":%llu", (unsigned long long)b->u.mem.size0);
    if (b->overflow) {
        memcpy(o, "\nctrprof-overflow", 17);
        o += 17;
    }
    /* the base that shares the most outer frames; worth a ditto from two frames on */
    const struct cp_bucket *base = NULL;
    unsigned keep = 0;
    for (unsigned i = 0; i < NBASE && bases[i]; i++) {
        unsigned k = cp_frames_shared_outer(b->leaf, b->nstk, bases[i]->leaf, bases[i]->nstk);
        if (k > keep) {
            keep = k;
            base = bases[i];
        }
    }
    if (keep < 2)
        keep = 0;
    size_t room = sizeof buf - (size_t)(o - buf) - 48; /* the ditto line's room */
    uintptr_t stk[CP_MAX_DEPTH]; /* its frames not in the ditto (frames.c holds them) */
    unsigned nown = cp_frames_read(b->leaf, stk, b->nstk - keep);
    size_t fl = cp_names_frames_short(stk, nown, o, room, seen, ctx, true);
    if (!fl && b->nstk > keep)
        return CP_CFILE_ENAME;
    o += fl;
    if (keep) {
        *o++ = '\n';
        *o++ = '^';
        o = put_hex(o, base->id);
        *o++ = ':';
        o = put_hex(o, base->nstk - keep);
    }
    int err = fresh(f, buf, (size_t)(o - buf), &b->ctr[0]);
    if (err)
        return err;
    b->id = (uint32_t)id;
    if (!b->overflow) {
        memmove(bases + 1, bases, (NBASE - 1) * sizeof *bases);
        bases[0] = b;
    }
    return 0;
}

int cp_stacktab_counter(struct cp_cfile *f, struct cp_bucket *b, int which,
                        void (*seen)(void *ctx, const struct cp_module *m), void *ctx)
{
    if (!b->ctr[0]) {
        int err = name_bucket(f, b, seen, ctx);
        if (err)
            return err;
    }
    if (which == 0)
        return 0;
    /* the bucket's other values: ctrprof/f (free objects; delay), and of a mixed heap
     * bucket ctrprof/ab and ctrprof/fb (bytes allocated and freed, bucket.h's cp_bmix) */
    static const char *const kind[CP_BUCKET_NVAL] = {NULL,
                                                     "ctrprof/f:", "ctrprof/ab:", "ctrprof/fb:"};
    if (which < 1 || which >= CP_BUCKET_NVAL || (which >= 2 && !b->u.mem.mix))
        return CP_CFILE_ENAME;
    if (*cp_bucket_ctr(b, which))
        return 0;
    char buf[32];
    size_t kl = strlen(kind[which]);
    memcpy(buf, kind[which], kl);
    int c0 = which == 1 && b->type == CP_HEAP ? cp_ht_implied_class(b) : -1;
    if (c0 >= 0) { /* ctrprof/f<class>:<id>, the class its first free had (heaptime.h) */
        buf[kl - 1] = "012345678u"[c0];
        buf[kl++] = ':';
    }
    char *o = put_hex(buf + kl, b->id);
    return fresh(f, buf, (size_t)(o - buf), cp_bucket_ctr(b, which));
}

int cp_stacktab_kind_counter(struct cp_cfile *f, struct cp_bucket *b, const char *kind, size_t kl,
                             uint64_t **out, void (*seen)(void *ctx, const struct cp_module *m),
                             void *ctx)
{
    if (!b->ctr[0]) {
        int err = name_bucket(f, b, seen, ctx);
        if (err)
            return err;
    }
    char buf[8 + 48 + 1 + 16];
    if (kl == 0 || kl > 48)
        return CP_CFILE_ENAME;
    memcpy(buf, "ctrprof/", 8);
    memcpy(buf + 8, kind, kl);
    buf[8 + kl] = ':';
    char *o = put_hex(buf + 9 + kl, b->id);
    return cp_cfile_counter_fresh(f, buf, (size_t)(o - buf), out);
}
