/*
 * resolve.c — a drained record's bucket, and its count into the bucket's entry in the
 * list of the record's cycle slot (cp_touched: the bucket's fut[] of flusher.c's
 * timeline); a heap event counts its object's unbiased
 * weight and bytes (hweight.h), its size carried from the allocation record to the free
 * in the live table's value (refs.h's hv_make: the bucket's index and the size). The
 * allocation's stack is looked up here, on the flusher's side (cp_bucket_get), not on the
 * program's thread; a free's bucket is what it took from the live table, or, when that
 * was still the allocation's ref, found by meeting the allocation in refs.c's books
 * (recent allocations, orphans and pending frees).
 *
 * Contexts: whoever holds cp_flush_lock: the flusher thread, an inline flush on an
 * event's thread, a late event after the final flush (publish.c), exit. Everything here
 * is guarded by cp_flush_lock (docs/ARCHITECTURE.md, "Locks"); flusher.c resets it in a
 * fork child (cp_um_forget).
 *
 * The states of a sampled heap object p, by where its ref (prof_int.h) or its value b is
 * (its bucket and size, hv_make):
 *
 *   state      live[p]           um[ref]        entered                  leaves to
 *   sampled    ref               -              cp_event_alloc (hook)    resolved; taken;
 *                                                                        gone, if the ring
 *                                                                        dropped the record
 *   resolved   b                 -              alloc record drained,    freeing
 *                                               or a direct one counted
 *                                               (prof_int.h's cp_direct)
 *   taken      -                 -              a free took ref before   orphan; pending;
 *                                               the alloc was drained    sampled (realloc
 *                                                                        failed: undo)
 *   recent     ref               recent: b      alloc record drained at  resolved (its slot
 *                                               a dense rate (below)     wanted again); r-taken
 *   r-taken    -                 recent: b      a free took ref          freed (free drained);
 *                                                                        orphan (slot wanted)
 *   orphan     -                 b              alloc drained, ref gone  freed (free drained)
 *   pending    -                 PEND(c, k)     free (cycle c) drained   freed (alloc drained);
 *                                               before its alloc         unmatched (after the
 *                                                                        flush that ends c)
 *   freeing    -                 -              a free took b            freed (drained);
 *                                                                        resolved (realloc
 *                                                                        failed: undo)
 *   freed      -                 -              its free counted in b
 *
 * Invariants: a ref is in at most one of live[] and um[], its bucket in at most one of
 * recent[] and um[]; a bucket's allocation is
 * counted once, when its record is drained (or at once, after the final flush: late),
 * and its free once, when the free's record and the bucket have both been seen (freeing,
 * orphan or pending, whichever comes last); a free's cycle is >= its allocation's, and
 * publication adds a bucket's allocs before its frees, so no published profile has more
 * frees than allocations in a bucket. A pending free never outlives the flush that ends
 * its cycle (cp_um_expire); orphans live until their free comes.
 *
 * At rate 1 in a single-threaded process a free in a run of frees may come without its
 * time, which the drain then brackets ("frees in a run", below). Where an allocation's
 * bucket waits for its free when the live table does not hold it (um[ref], recent[ref]
 * below) is refs.c's. */
#include "prof_int.h"

#include <string.h>

#include "arena.h"
#include "heaptime.h"
#include "hweight.h"
#include "live.h"
#include "refs.h"
#include "stackmemo.h"
#include "young.h"

uint64_t cp_samples[CP_NPTYPES];
uint64_t cp_trunc_events;

/* The buckets with events in cycle slot s, each with those events' sums (struct cp_fut),
 * so that a flush visits those and not every bucket (at rate 1 rings fill and flush
 * hundreds of times a second, and a walk over 10^5 buckets each time was 11% of a
 * rate-1 run of gcc's cc1, perf record). The sums were two slots in every bucket (64
 * bytes a heap bucket: 17 MB of bench/progs/namestacks' 262k, most of them idle in any
 * cycle); here they take 40 bytes per bucket touched in a cycle: one at a time in an
 * inline flush. An array doubled when full (cp_mmap_anon), kept for the next cycle.
 * Flusher only. */
struct cp_touched cp_touched[2];

static bool touched_grow(struct cp_touched *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 1024;
    struct cp_fut *e = cp_mmap_anon((size_t)cap * sizeof *e);
    if (!e)
        return false;
    if (t->e) {
        memcpy(e, t->e, (size_t)t->n * sizeof *e);
        cp_munmap_anon(t->e, (size_t)t->cap * sizeof *e);
    }
    t->e = e;
    t->cap = cap;
    return true;
}

/* b's entry in the list of cycle slot s, made if it has none; NULL if the list cannot
 * grow (the caller then counts straight into active, as a late event is). */
static inline struct cp_fut *touch(struct cp_bucket *b, unsigned s)
{
    struct cp_touched *t = &cp_touched[s];
    if (b->queued & (1u << s))
        return &t->e[b->tpos[s]];
    if (t->n == t->cap && !touched_grow(t))
        return NULL;
    b->queued |= (uint8_t)(1u << s);
    b->tpos[s] = t->n;
    struct cp_fut *f = &t->e[t->n++];
    f->b = b;
    memset(&f->u, 0, sizeof f->u);
    return f;
}

/* A heap event of an object of size bytes, counted with its weight: into fut[c % 2] of
 * cycle c, or (late) straight into active. Inline, each caller's copy specialised for its
 * free and late: at rate 1 a single-threaded process counts one event a flush. */
static inline __attribute__((always_inline)) void count_heap(struct cp_bucket *b, bool free,
                                                             uint64_t size, uint64_t c, bool late)
{
    /* wq·size is about 65536·(size + rate) < 2^64: a size is under 2^40 (hv_size), the
     * rate at most 2^40 (options.c) */
    uint64_t wq = cp_hw_q16(size), bq = wq * size;
    if (!free) {
        /* (a bucket's first event is an allocation: a free's bucket comes from one) */
        if (!b->u.mem.sized) {
            b->u.mem.size0 = size;
            b->u.mem.sized = 1;
        } else if (size != b->u.mem.size0 && !b->u.mem.mixed && !cp_bucket_mix(b)) {
            /* no memory for its bytes: they stay its objects x size0, the loss counted */
            cp_prof_lost(CP_LOST_NBUCKET, 1);
        }
    }
    struct cp_fut *e = late ? NULL : touch(b, (unsigned)(c & 1));
    if (e) {
        struct cp_memrec *f = &e->u.mem;
        if (free) {
            f->fobj += wq;
            f->fbytes += bq;
        } else {
            f->aobj += wq;
            f->abytes += bq;
        }
    } else { /* late: straight into active (an unmixed bucket's bytes are implied) */
        struct cp_bmix *m = b->u.mem.mix;
        if (free) {
            b->u.mem.active.fobj += wq;
            if (m)
                m->fbytes += bq;
        } else {
            b->u.mem.active.aobj += wq;
            if (m)
                m->abytes += bq;
        }
    }
    if (!free) {
        cp_samples[CP_HEAP]++;
        if (b->trunc)
            cp_trunc_events++;
    }
}

/* A mutex or block event of cycle c into b's entry of slot c % 2. */
static void count_delay(struct cp_bucket *b, uint64_t c, const uint64_t *w, unsigned n)
{
    struct cp_fut *e = touch(b, (unsigned)(c & 1));
    if (n >= 3) {
        uint64_t *count = e ? &e->u.blk.count_q16 : &b->u.blk.count_q16;
        uint64_t *delay = e ? &e->u.blk.delay : &b->u.blk.delay;
        *count += w[1];
        *delay += w[2];
        cp_samples[b->type]++;
    }
    if (b->trunc)
        cp_trunc_events++;
}

/* An allocation (p, size, ref) of bucket b (NULL: none could be had), counted in cycle c
 * (late: straight into the published state; place: a direct one, not in the live table
 * yet, ref unused). */
static inline __attribute__((always_inline)) struct cp_bucket *
resolve_alloc(struct cp_bucket *b, void *p, uint64_t size, uint64_t ref, uint64_t c, bool late,
              uint64_t t, bool place)
{
    if (!b) {
        cp_prof_lost(CP_LOST_NBUCKET, 1);
        return NULL;
    }
    size = hv_size(size);
    uint64_t hv = hv_make(b, size);
    /* (a direct allocation, prof_int.h: the object goes into the live table now, with its
     * bucket, and nothing can have taken it out yet: its hook has not returned; a deferred
     * record's, the consumer's to keep: there, or first in the drain's young objects,
     * young.h) */
    if (place && !cp_young_insert(p, (uintptr_t)hv, size, t)) {
        cp_prof_lost(CP_LOST_NBUCKET, 1);
        return NULL;
    }
    count_heap(b, false, size, c, late);
    cp_ht_alloc(b, size, t); /* heaptime.c: in drain order, with the allocation's time */
    if (place)
        return b;
    uint64_t fc;
    unsigned k;
    if (cp_refs_free_first(ref, &fc, &k)) { /* its free was drained first */
        count_heap(b, true, size, fc, late);
        cp_ht_free_class(b, size, k); /* (its class was found when it was drained) */
    } else if (!cp_refs_keep(p, ref, hv, late)) {
        /* a free took the ref, and there is no memory to remember the bucket for it */
        cp_prof_lost(CP_LOST_NBUCKET, 1);
    }
    return b;
}

/* An allocation (p, size, ref, stack): its bucket, found now; counted in cycle c (late:
 * straight into the published state). NULL if no bucket could be had. */
struct cp_bucket *cp_resolve_alloc(void *p, uint64_t size, uint64_t ref, const uintptr_t *pcs,
                                   unsigned n, uint64_t c, bool late, uint64_t t, bool place)
{
    return resolve_alloc(cp_bucket_get(CP_HEAP, pcs, n), p, size, ref, c, late, t, place);
}

/* A free record's bucket and its object's size when the value it took from the live
 * table is a ref (not a bucket and size: hv_bucket). NULL if it must wait for its
 * allocation (or cannot be placed): then with its lifetime's class, from the free's record
 * (w: value, time, birth). */
static __attribute__((noinline)) struct cp_bucket *resolve_free_ref(const uint64_t *w, uint64_t c,
                                                                    bool late, uint64_t *size)
{
    uint64_t hv;
    if (cp_refs_take(w[0], &hv))
        return hv_bucket(hv, size);
    /* late: every earlier record is drained, so its allocation will not come */
    cp_refs_pend(w[0], c, cp_ht_life(w[1], w[2]), late);
    return NULL;
}

/* A free record (live table value, time, birth), drained in cycle c or late: counted in its
 * bucket, which is returned (NULL: none yet). Inline in cp_account (at rate 1 a
 * single-threaded process drains one record a flush). */
static inline __attribute__((always_inline)) struct cp_bucket *
resolve_free_event(const uint64_t *w, uint64_t c, bool late)
{
    uint64_t size;
    struct cp_bucket *b =
        !cp_is_ref(w[0]) ? hv_bucket(w[0], &size) : resolve_free_ref(w, c, late, &size);
    if (b) {
        count_heap(b, true, size, c, late);
        cp_ht_free(b, size, w[1], w[2]);
    }
    return b;
}

struct cp_bucket *cp_resolve_free_event(const uint64_t *w, uint64_t c, bool late)
{
    return resolve_free_event(w, c, late);
}

/* A free by the object's address (w: address, time; live.h's cp_live_deferred): taken out
 * of the live table here, then counted as a free record with the value and birth it had
 * there. NULL if the address is not a live sampled object's (a block from before
 * start-up, or the profiler's own). */
static inline __attribute__((always_inline)) struct cp_bucket *
resolve_free_ptr(const uint64_t *w, uint64_t c, bool late)
{
    uint64_t v[3];
    v[0] = cp_young_remove((const void *)(uintptr_t)w[0], &v[2]);
    if (!v[0])
        return NULL;
    /* (a pending stamp outside a ring's drain, e.g. a direct event: no time) */
    v[1] = w[1] != CP_STAMP_IN_RUN ? w[1] : 0;
    return resolve_free_event(v, c, late);
}

struct cp_bucket *cp_resolve_free_ptr(const uint64_t *w, uint64_t c, bool late)
{
    return resolve_free_ptr(w, c, late);
}

/* An allocation record (prof_int.h's encoding: (p, size << 16 | nframes << 8 | keep,
 * time)) with its nframes - keep innermost frames at x, from ring r, counted in cycle c.
 * The ref is r's count of allocation records (cp_event_alloc). */
static inline __attribute__((always_inline)) struct cp_bucket *
account_alloc(struct cp_ring *r, uint64_t c, const uint64_t *w, const uint64_t *x, unsigned nx,
              bool late, bool place)
{
    uintptr_t ref = cp_make_ref(r->cnref++, r->id);
    unsigned nf = (unsigned)(w[1] >> 8) & 0xff, keep = (unsigned)w[1] & 0xff;
    if (nf > CP_RING_STK || keep > nf || keep > r->cstk_n || nx != nf - keep)
        return NULL; /* cannot happen: the producer wrote it */
    uintptr_t *stk = r->cstk + CP_RING_STK - nf;
    struct cp_bucket *b = NULL, *prev = r->cbucket;
    unsigned prev_n = r->cstk_n;
    /* the hint nodes of the last stack that stay this one's: its outer keep frames' */
    unsigned cn = r->cnode_n < keep ? r->cnode_n : keep;
    if (keep == nf && nf == prev_n) {
        b = prev; /* the last record's stack again: its bucket, if it had one */
    } else {
        memcpy(stk, x, (nf - keep) * sizeof *stk);
        r->cstk_n = nf;
    }
    if (!b) {
        /* its outer keep frames are the last stack's, whose bucket was prev: a
         * candidate's compare stops at prev's node of that depth. That node is kept
         * (cnode), with those between it and the ones kept already, taken from prev's
         * path once: consecutive stacks mostly share as many outer frames as the last
         * two did (namechurn: 4 of 9), so the walk up prev's stack to it (~70
         * instructions an allocation at rate 1) is mostly not made */
        uint32_t hint = CP_FRAME_ROOT;
        unsigned hint_depth = 0;
        if (keep && keep <= cn) {
            hint = r->cnode[keep];
            hint_depth = keep;
        } else if (prev && keep && prev->nstk == prev_n) {
            cp_frames_path(prev->leaf, prev_n, cn + 1, keep, r->cnode);
            cn = keep;
            hint = r->cnode[keep];
            hint_depth = keep;
        }
        /* that node and the new frames are the whole stack: the memo's key
         * (stackmemo.h), at dense rates */
        struct cp_memo_slot *ms = NULL;
        if (hint_depth == keep && nx <= CP_MEMO_PCS && !late && (cp_memo || cp_memo_want()))
            b = cp_memo_get(hint, stk, nx, &ms);
        /* its hash: the producer's (events.c's emit_place), or made here */
        bool given = (w[1] & CP_ALLOC_HASHED) != 0;
        if (b || given) {
            /* (the hash states past the shared frames are not this stack's) */
            if (r->cstkh_n > keep)
                r->cstkh_n = keep;
        }
        if (!b) {
            uint64_t hf;
            if (given) {
                hf = w[3];
            } else {
                /* from the states of the frames it shares with the last (bucket.h) */
                unsigned hd = keep < r->cstkh_n ? keep : r->cstkh_n;
                uint64_t h = hd ? r->cstkh[hd] : CP_STKHASH_SEED;
                for (unsigned d = hd; d < nf; d++)
                    r->cstkh[d + 1] = h = cp_stkhash_step(h, stk[nf - 1 - d]);
                r->cstkh_n = nf;
                hf = cp_stkhash_final(h, CP_HEAP, nf);
            }
            b = cp_bucket_get_hashed(CP_HEAP, stk, nf, hf, hint, hint_depth);
            if (ms && b && !b->overflow)
                cp_memo_put(ms, hint, stk, nx, b);
        }
        /* (not an overflow bucket: each event folded into it is counted there) */
        r->cbucket = b && !b->overflow ? b : NULL;
    }
    r->cnode_n = cn;
    return resolve_alloc(b, (void *)(uintptr_t)w[0], cp_alloc_size(w[1]), ref, c, late, w[2],
                         place);
}

static inline __attribute__((always_inline)) void account(struct cp_ring *r, enum cp_rec_kind kind,
                                                          uint64_t c, const uint64_t *w, unsigned n,
                                                          const uint64_t *x, unsigned nx,
                                                          bool place)
{
    switch (kind) {
    case CP_REC_ALLOC:
        if (n >= 3)
            account_alloc(r, c, w, x, nx, false, place);
        return;
    case CP_REC_FREE: /* (live table value, time, birth) */
        if (n >= 3)
            resolve_free_event(w, c, false);
        return;
    case CP_REC_ALLOC_PLACE: /* (the producer left the live table to this side) */
        if (n >= 3)
            account_alloc(r, c, w, x, nx, false, true);
        return;
    case CP_REC_FREE_PTR: /* (address, time) */
        if (n >= 2)
            resolve_free_ptr(w, c, false);
        return;
    case CP_REC_DELAY:
        if (n >= 1)
            count_delay((struct cp_bucket *)(uintptr_t)w[0], c, w, n);
        return;
    default:
        return;
    }
}

/* ---- frees in a run (events.c's free_ptr_stamp) ---------------------------------------
 *
 * A deferred free whose stamp the producer left to us (CP_STAMP_IN_RUN; not the "pending"
 * frees above, which wait for their allocation) waits in its ring's crun[] until the next
 * record of the ring that carries a stamp: its time is between the run's read, crun_from,
 * and that stamp. The frees are applied before anything after them in the ring, so the
 * ring's order holds (an address freed and allocated again is taken out of the live table
 * before it is put in). Each is applied at the bracket's lower end, and classed if both
 * ends give its lifetime one class; if not, and the closing stamp says the thread was
 * switched off its CPU after the run's read (CP_STAMP_SWITCHED: the switch came after
 * every free of the run, or that free would have read the clock), the class of the lower
 * end: the free came after the read by the CPU time between them alone, and the wait
 * after the run is no part of its lifetime. Otherwise (the thread ran on for longer than
 * the bracket allows between the read and the next stamp, with no switch) its class is
 * "not known" (CP_LIFE_NONE), counted in cp_life_unbracketed.
 *
 * The end of a drain leaves a run's frees waiting: the producer is busy, or waits after
 * the run, and in both its next stamp bounds them best. They are applied at once, by the
 * consumer's clock, when no stamp can come: the drain is on the ring's thread (exit's
 * final flush: its own switch watch says), or the thread is gone (its end counts as a
 * switch: what lies between its frees and the drain is not their lifetimes; a program
 * killed just after a run keeps them so); or after CP_RUN_STALE_NS (a thread that freed
 * and then waited that long: the file and `ctrprof top` do not keep showing its objects
 * live). cp_account_close. */
uint64_t cp_life_unbracketed, cp_life_in_run;

#define CP_RUN_STALE_NS 1000000000ull

static uint64_t consumer_now(void)
{
    return cp_stamp_tsc_on() ? cp_stamp_tsc() : cp_ht_now();
}

static __attribute__((noinline)) void run_close(struct cp_ring *r, uint64_t u)
{
    uint64_t l = r->crun_from;
    bool sw = (u & CP_STAMP_TSC) && (u & CP_STAMP_SWITCHED);
    for (unsigned i = 0; i < r->crun_n; i++) {
        uint64_t v[3];
        v[0] = cp_young_remove((const void *)(uintptr_t)r->crun[i][0], &v[2]);
        if (!v[0])
            continue;
        if (l && (sw || cp_ht_life(l, v[2]) == cp_ht_life(u, v[2]))) {
            v[1] = l;
        } else {
            v[1] = l ? l : u;
            v[2] = 0; /* (a birth of 0: the class not known) */
            cp_life_unbracketed++;
        }
        resolve_free_event(v, r->crun[i][1], false);
    }
    cp_life_in_run += r->crun_n;
    r->crun_n = 0;
    r->crun_at = 0;
}

/* A record of r while frees of a run wait, or a free of a run: true if it was taken here
 * (held); otherwise the waiting ones are applied first. */
static __attribute__((noinline)) bool run_take(struct cp_ring *r, enum cp_rec_kind kind, uint64_t c,
                                               const uint64_t *w, unsigned n)
{
    if (kind == CP_REC_FREE_PTR && n >= 2 && w[1] == CP_STAMP_IN_RUN) {
        if (r->crun_n == CP_RING_STAMP_RUN) /* (cannot happen: the producer's runs are shorter) */
            run_close(r, consumer_now());
        r->crun[r->crun_n][0] = w[0];
        r->crun[r->crun_n][1] = c;
        r->crun_n++;
        return true;
    }
    uint64_t u = 0;
    if ((kind == CP_REC_ALLOC || kind == CP_REC_ALLOC_PLACE) && n >= 3)
        u = w[2];
    else if ((kind == CP_REC_FREE || kind == CP_REC_FREE_PTR) && n >= 2)
        u = w[1];
    run_close(r, u ? u : consumer_now());
    return false;
}

void cp_account_close(struct cp_ring *r, enum cp_close how)
{
    if (__builtin_expect(!r->crun_n, 1))
        return;
    if (how == CP_CLOSE_OWN) {
        /* on the ring's thread: its clock now, and whether it was switched since the run */
        uint64_t u = consumer_now();
        run_close(r, cp_stamp_with_switch(u, cp_run_switched(r)));
        return;
    }
    uint32_t st = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
    if (how == CP_CLOSE_GONE || st == CP_RING_RELEASED || st == CP_RING_DRAINING) {
        /* the thread ended after its frees, as if switched off its CPU: what lies between
         * them and now is its end, not their lifetimes */
        uint64_t u = consumer_now();
        run_close(r, cp_stamp_with_switch(u, CP_STAMP_SWITCHED));
        return;
    }
    if (!__atomic_load_n(&cp_live_deferred, __ATOMIC_RELAXED)) {
        run_close(r, consumer_now()); /* (another thread came: this one may run on) */
        return;
    }
    /* (the first drain's end that finds them waiting starts their clock) */
    uint64_t now = cp_coarse_ns();
    if (!r->crun_at)
        r->crun_at = now;
    else if (now - r->crun_at > CP_RUN_STALE_NS)
        run_close(r, consumer_now());
}

void cp_account(void *ctx, enum cp_rec_kind kind, uint64_t c, const uint64_t *w, unsigned n)
{
    struct cp_ring *r = ctx;
    if (__builtin_expect(r->crun_n != 0, 0) ||
        __builtin_expect(kind == CP_REC_FREE_PTR && n >= 2 && w[1] == CP_STAMP_IN_RUN, 0)) {
        if (run_take(r, kind, c, w, n))
            return;
    }
    /* the lower bound of a run's frees: the last stamp read (a free that begins a
     * run, or the allocation before it) */
    if (kind == CP_REC_FREE_PTR && n >= 2 && w[1])
        r->crun_from = w[1];
    else if (kind == CP_REC_ALLOC_PLACE && n >= 3 && w[2])
        r->crun_from = w[2];
    /* (an allocation's new frames follow its three words, or four: CP_ALLOC_HASHED) */
    if (kind == CP_REC_ALLOC || kind == CP_REC_ALLOC_PLACE) {
        unsigned k = n >= 3 && (w[1] & CP_ALLOC_HASHED) ? 4 : 3;
        if (n >= k) /* (a shorter one cannot be: the producer wrote it) */
            account(ctx, kind, c, w, k, w + k, n - k, false);
    } else
        account(ctx, kind, c, w, n, NULL, 0, false);
}

void cp_account_ahead(enum cp_rec_kind kind, const uint64_t *w, unsigned n)
{
    if (kind == CP_REC_ALLOC_PLACE && n >= 3) {
        cp_live_prefetch_deferred((const void *)(uintptr_t)w[0], cp_alloc_size(w[1]));
        /* and its chain's head, with the producer's hash (events.c's emit_place) */
        if ((w[1] & CP_ALLOC_HASHED) && n >= 4)
            cp_bucket_prefetch(w[3]);
    } else if (kind == CP_REC_FREE_PTR && n >= 2)
        cp_live_prefetch_deferred((const void *)(uintptr_t)w[0], 0);
}

uint64_t cp_account_drain_deferred(struct cp_ring *r)
{
    cp_young_begin();
    uint64_t n = cp_ring_drain_ahead(r, cp_account, cp_account_ahead, r);
    cp_young_end();
    return n;
}

void cp_account_direct(struct cp_ring *r, const struct cp_direct *d, uint64_t c)
{
    account(r, d->kind, c, d->w, d->n, d->x, d->nx, true);
}

struct cp_bucket *cp_account_alone(struct cp_ring *r, const struct cp_direct *d)
{
    switch (d->kind) {
    case CP_REC_ALLOC:
        return d->n >= 3 ? account_alloc(r, 0, d->w, d->x, d->nx, true, true) : NULL;
    case CP_REC_FREE:
        return d->n >= 3 ? resolve_free_event(d->w, 0, true) : NULL;
    case CP_REC_FREE_PTR:
        return d->n >= 2 ? resolve_free_ptr(d->w, 0, true) : NULL;
    default: /* (a delay has a bucket of its own: not this path; an allocation's direct
              * record is CP_REC_ALLOC, placed) */
        return NULL;
    }
}
