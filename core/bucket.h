/*
 * bucket.h — persistent profile buckets, as runtime/mprof.go's stkbucket.
 *
 * A bucket is keyed by (type, stack) and lives until the process exits: a heap bucket is
 * one allocation site, whatever sizes it allocates (issue 23: keyed by (stack, size), a
 * site of random sizes made a bucket per size). Each heap sample is counted with its own
 * unbiasing weight (hweight.h), so a bucket holds unbiased objects and bytes, not sampled
 * events of one size. Lookup is lock-free (chains are prepended to with a release store,
 * and relinked only when the heads grow: a lookup may then miss, bucket.c's find);
 * insertion takes the table's spin lock and looks again. Memory comes from
 * the arena, capped by CTRPROF_MAX_BUCKET_MB: past the cap a new stack is folded into its
 * type's overflow bucket.
 *
 * A heap bucket whose samples all had one size (most sites) is named with that size and
 * its bytes are its objects times it, as Ctrprof-Format 2's were; its bytes counters are
 * written from the first sample of another size on ("mixed"), so a site costs the file
 * more only when it has several sizes (docs/SCHEMA.md).
 *
 * Every bucket has a small index (hidx, from 1): the hash chains link indexes, and the
 * live table's value for a sampled object holds its bucket's and its size in one word
 * (resolve.c's hv_*); cp_bucket_by_hidx maps it back (buckets sit in pages by index).
 *
 * Ownership of the fields (see the headings): the key is immutable after publication;
 * the accounting fields belong to the flusher alone (every event reaches a bucket
 * through a ring, and only the flusher drains rings), so they need no atomics.
 */
#ifndef CP_BUCKET_H
#define CP_BUCKET_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "line.h"
#include "frames.h"
#include "prof.h"

/* The heap's memRecord, reduced to what a flush-cycle engine needs (see flusher.c for the
 * timeline): the events of cycle c are collected in the bucket's entry of the flusher's
 * list of cycle slot c % 2 (struct cp_fut, resolve.c's cp_touched: the bucket's "fut[c %
 * 2]", kept there and not in the bucket: 64 bytes a heap bucket, 32 a mutex or block one,
 * issue 23) while they are drained; at the end of a flush the finished cycle is added to
 * active (cp_fut_fold). Values are
 * unbiased objects and bytes in 1/65536 (each sample weighted by its own size,
 * hweight.h; exact integers x 65536 at rate 1), kept modulo 2^64: what is published is
 * the whole units of the difference from what was published before (publish.c, cp_publish_bucket),
 * which is right across a wrap as long as less than 2^48 objects or bytes come between
 * two publications. */
struct cp_memrec {
    uint64_t aobj, fobj, abytes, fbytes; /* in the order of the bucket's counters */
};
/* The bucket's counters in the file: alloc objects (its record), free objects (ctrprof/f),
 * alloc bytes, free bytes; mutex and block use the first two (count, delay). */
#define CP_BUCKET_NVAL 4

/* A heap bucket's active objects (its bytes, when written, are in its cp_bmix). */
struct cp_objrec {
    uint64_t aobj, fobj;
};

/* A heap bucket's bytes, made when it becomes mixed (a sample of a second size: bucket.c's
 * cp_bucket_mix); until then its bytes are its objects times size0, exactly (every sample
 * had that size, each weighted as its objects are), so they are not kept. Its values 2
 * and 3 (alloc and free bytes): active, published, counters. 48 bytes, in few buckets. */
struct cp_bmix {
    uint64_t abytes, fbytes;
    uint64_t pub[2];
    uint32_t ctr[2]; /* as the bucket's ctr */
};

/* A bucket's ctr_failed: 0, or a counter it needs could not be made: for good (the file
 * full, its path gone: the bucket's samples are counted lost) or for now (no descriptor
 * free to grow the file by, no memory: they wait in memory; publish.c's pending). */
enum { CP_CTR_FAILED = 1, CP_CTR_PENDING = 2 };

struct cp_bucket {
    /* immutable after publication */
    uint32_t hidx;    /* its index (cp_bucket_by_hidx), from 1, whatever its type; a heap
                       * bucket's is in the live table's values (resolve.c) */
    uint32_t next;    /* hash chain: the next bucket's index, 0 at the end */
    uint32_t tag;     /* the stack hash's high half (its low bits pick the chain): a filter */
    uint32_t leaf;    /* its stack: the node of its innermost frame (frames.h), or
                       * CP_FRAME_ROOT for none; nstk frames deep */
    uint8_t type;     /* enum cp_ptype */
    uint8_t overflow; /* this is a cap-overflow bucket */
    uint16_t nstk;
    uint8_t trunc; /* its stack was cut at CP_MAX_DEPTH (outermost frame CP_PC_TRUNCATED) */
    /* flusher only (here, not below, to keep the header small, issue 3) */
    uint8_t queued;     /* bit s: in the flusher's list of cycle slot s, at tpos[s] */
    uint8_t ctr_failed; /* CP_CTR_*: its counters could not all be made (publish.c) */
    uint32_t id;        /* its id in the file (stacktab.c), once ctr[0] is made; 0 before */

    /* flusher only */
    union {
        struct {
            struct cp_objrec active; /* (heaptime.c's state for it is by its index) */
            struct cp_bmix *mix;     /* its bytes, once mixed (NULL before) */
            /* one word (a size is under 2^40: resolve.c's hv_size) */
            uint64_t size0 : 40; /* the size of its first sample (its record's name) */
            uint64_t sized : 1;  /* size0 is set */
            uint64_t mixed : 1;  /* a sample of another size came: its bytes counters are
                                  * written (stacktab.c), not implied by size0; mix is
                                  * set (cp_bucket_mix) */
        } mem;
        struct {
            uint64_t count_q16, delay; /* active */
        } blk;
    } u;
    uint64_t pub[2];  /* values 0 and 1: what has been added to the file so far (heap: in
                       * 1/65536, whole units: publish.c's cp_publish_bucket); values 2
                       * and 3 are in mix */
    uint32_t ctr[2];  /* the file's counters of values 0 and 1, once created: their records'
                       * offsets (cfile.h's cp_cfile_value), 0 before */
    uint32_t tpos[2]; /* its entry in the list of cycle slot s (resolve.c's cp_touched) */
};

/* A bucket's events of one flush cycle, its entry in the flusher's list of the buckets
 * with events in that cycle's slot (resolve.c's cp_touched; flusher only). */
struct cp_fut {
    struct cp_bucket *b;
    union {
        struct cp_memrec mem;
        struct {
            uint64_t count_q16, delay;
        } blk;
    } u;
};

/* heads_bits: 2^heads_bits hash chains (16 by default; 20 where most events are sampled) */
int cp_bucket_init(uint64_t max_bytes, unsigned heads_bits);
/* Buckets folded into overflow so far, and buckets created. */
uint64_t cp_bucket_overflowed(void);
uint64_t cp_bucket_count(void);
/* The last index given: every bucket is one of 1 .. this (cp_bucket_by_hidx), in the
 * order they were made (a fork child's walk; one a _Fork child's parent was making may be
 * among them, half written and never reachable). */
uint32_t cp_bucket_last_index(void);
/* The last index whose bucket is whole: a walk of 1 .. this that runs beside inserting
 * threads (the flusher's peak publication, heaptime.c) reads only finished buckets. */
uint32_t cp_bucket_published_index(void);
/* fork: prepare holds the insertion lock, parent/child release it. */
void cp_bucket_lock(void);
void cp_bucket_unlock(void);
void cp_bucket_reset_lock(void);
/* The stack hash (exposed for tests and benchmarks). Made from the outermost frame in,
 * so that it can be carried along a stack's depths: the state after the d outermost
 * frames (cp_stkhash_step from CP_STKHASH_SEED) is shared by every stack with those d
 * outer frames, and a ring keeps each depth's state of its last stack (ring.h), so
 * that an allocation's hash costs the frames it does not share with the last one
 * (events.c, resolve.c's cp_account). */
uint64_t cp_bucket_hash(enum cp_ptype type, const uintptr_t *pcs, unsigned n);
#define CP_STKHASH_SEED 0x9E3779B97F4A7C15ull
static inline uint64_t cp_stkhash_step(uint64_t h, uintptr_t pc)
{
    h ^= pc;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}
static inline uint64_t cp_stkhash_final(uint64_t h, enum cp_ptype type, unsigned n)
{
    h ^= n ^ ((uint64_t)type << 56);
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}
/* cp_bucket_get for a stack whose cp_bucket_hash the caller has (n <= CP_MAX_DEPTH; a
 * deeper stack is cut and hashed again), and whose outer hint_depth frames it knows to be
 * the stack of frame node hint (frames.h's cp_frames_equal_hint; CP_FRAME_ROOT, 0: no
 * hint): the compare of a candidate stops where it meets that node. */
struct cp_bucket *cp_bucket_get_hashed(enum cp_ptype type, const uintptr_t *pcs, unsigned n,
                                       uint64_t h, uint32_t hint, unsigned hint_depth);
/* The chain heads, bucket indexes (mapped at the first bucket; NULL before), and their
 * number - 1; both atomic: they grow (bucket.c), read the mask first, then the table. */
extern uint32_t *cp_bucket_heads;
extern struct cp_line_u64 cp_bucket_heads_mask; /* (line.h) */
/* Bring the chain head of hash h toward the cache: a producer that has its allocation's
 * hash issues it before the ring write and the live table's insert, so that the miss
 * (2^20 heads of 4 bytes at rate 1) overlaps them instead of stalling the lookup. */
static inline void cp_bucket_prefetch(uint64_t h)
{
    uint64_t mask = __atomic_load_n(&cp_bucket_heads_mask.v, __ATOMIC_ACQUIRE);
    uint32_t *hd = __atomic_load_n(&cp_bucket_heads, __ATOMIC_ACQUIRE);
    if (hd)
        __builtin_prefetch(&hd[h & mask]);
}
/* For tests: the hash used from now on is cp_bucket_hash's value & keep (~0, the
 * default: the real hash; 0: every stack on one chain with one tag, so that only the
 * compare of type and stack tells them apart). */
void cp_bucket_hash_keep_for_tests(uint64_t keep);
/* b's stack, innermost first, into out[0..CP_MAX_DEPTH): its depth (b->nstk). Lock-free. */
unsigned cp_bucket_stack(const struct cp_bucket *b, uintptr_t *out);
/* Bytes of buckets and of their frames (frames.h) so far, the cap's measure. */
uint64_t cp_bucket_bytes(void);
/* Buckets have indexes 1 .. CP_HIDX_MAX - 1 (past the last, a stack goes to overflow). */
#define CP_HIDX_BITS 22
#define CP_HIDX_MAX (1u << CP_HIDX_BITS)
/* The bucket of index i (lock-free; i from the live table's value, or at most
 * cp_bucket_count()), or NULL for 0 or an index whose page was never mapped. Inline: the
 * flusher maps an index to its bucket at every sampled free and class publication. */
#define CP_BPAGE_BITS 8
extern struct cp_bucket *cp_bucket_dir[CP_HIDX_MAX >> CP_BPAGE_BITS]; /* bucket.c's pages */
static inline struct cp_bucket *cp_bucket_by_hidx(uint32_t i)
{
    if (i == 0 || i >= CP_HIDX_MAX)
        return NULL;
    struct cp_bucket *pg = __atomic_load_n(&cp_bucket_dir[i >> CP_BPAGE_BITS], __ATOMIC_ACQUIRE);
    return pg ? &pg[i & ((1u << CP_BPAGE_BITS) - 1)] : NULL;
}

/* A heap bucket's values are kept in 1/65536 of an object (or byte) and published in whole
 * ones: as floor(value + offset), with an offset in [0, 1) of its own drawn from its stack
 * hash. A plain floor lost half an object a site on average, for good (a site sampled
 * once at rate 64, weighing 1.58 objects, read as 1: -37% over thousands of such sites);
 * with the offset uniform across sites the published sums are unbiased, alloc and free
 * round alike (a site whose objects are all freed reads 0 in use), and whole values (rate
 * 1: every weight is 65536) are published exactly as they are. In 1/65536. */
static inline uint64_t cp_bucket_round_off(const struct cp_bucket *b)
{
    return (uint32_t)(b->tag * 0x9e3779b1u) >> 16;
}

/* A bucket's counter of value which (< CP_BUCKET_NVAL; 2 and 3 only in a mixed heap
 * bucket), and what was published of it. */
static inline uint32_t *cp_bucket_ctr(struct cp_bucket *b, int which)
{
    return which < 2 ? &b->ctr[which] : &b->u.mem.mix->ctr[which - 2];
}
static inline uint64_t *cp_bucket_pub(struct cp_bucket *b, int which)
{
    return which < 2 ? &b->pub[which] : &b->u.mem.mix->pub[which - 2];
}
/* Make heap bucket b mixed (a sample of a size other than size0 came): its bytes so far
 * are its active objects times size0 (those of a cycle not yet folded are in its cp_fut,
 * with their own bytes). false if there is no memory (bucket.c; the caller counts it). */
bool cp_bucket_mix(struct cp_bucket *b);
/* End of a flush: a bucket's events of the finished cycle into its active values
 * (flusher). An unmixed heap bucket's bytes are implied (cp_bmix). */
static inline void cp_fut_fold(const struct cp_fut *f)
{
    struct cp_bucket *b = f->b;
    if (b->type == CP_HEAP) {
        struct cp_objrec *a = &b->u.mem.active;
        a->aobj += f->u.mem.aobj;
        a->fobj += f->u.mem.fobj;
        struct cp_bmix *m = b->u.mem.mix;
        if (m) {
            m->abytes += f->u.mem.abytes;
            m->fbytes += f->u.mem.fbytes;
        }
    } else {
        b->u.blk.count_q16 += f->u.blk.count_q16;
        b->u.blk.delay += f->u.blk.delay;
    }
}
/* Fork child (whose flusher lists start empty): active from zero (a file of its own: its
 * counters and what was published are forgotten) or from what the parent published (a
 * shared file: the child's deltas add to it; an unmixed bucket's bytes are implied). */
static inline void cp_memrec_reset(struct cp_bucket *b, bool newfile)
{
    struct cp_bmix *m = b->u.mem.mix;
    if (newfile) {
        b->u.mem.active = (struct cp_objrec){0, 0};
        if (m)
            *m = (struct cp_bmix){0, 0, {0, 0}, {0, 0}};
    } else {
        b->u.mem.active = (struct cp_objrec){b->pub[0], b->pub[1]};
        if (m) {
            m->abytes = m->pub[0];
            m->fbytes = m->pub[1];
        }
    }
}

#endif
