/*
 * stackmemo.h — the flush's memo of recent heap stacks: (the frame node of a stack's outer
 * frames, its inner frames) -> its bucket (see stackmemo.c).
 *
 * An allocation record names its stack as the frames that differ from its ring's last
 * stack, whose outer frames it shares (events.c); resolve.c's account_alloc knows the
 * frame node of those outer frames (frames.h: a node is one path from the root, so the
 * node and the inner frames are the whole stack, exactly) and looked the stack up by its
 * hash in the buckets' chains, comparing the candidate's nodes one by one: a chain of
 * dependent loads for every allocation at rate 1. Stacks recur: the memo keeps the
 * bucket of each (node, inner frames) it has seen in one of the two slots of a set found
 * by a hash of them, compared whole, word by word, in one cache line. A miss, or a stack with
 * more inner frames than a slot holds, goes to the chains as before.
 *
 * Context: whoever holds cp_flush_lock (resolve.c's callers); not a late event's
 * accounting (publish.c), which may run without it. The memo exists at dense rates only
 * (prof_int.h's cp_dense), from the first allocation record that looks in it.
 */
#ifndef CP_STACKMEMO_H
#define CP_STACKMEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "bucket.h"

/* the inner frames a slot holds; 2^CP_MEMO_BITS sets of two 64-byte slots (2,048: 256 KiB
 * of the arena, touched as used) */
#define CP_MEMO_PCS 6
#define CP_MEMO_BITS 11

struct cp_memo_slot {
    uint32_t node;              /* the outer frames' node (frames.h; CP_FRAME_ROOT: none) */
    uint32_t nx;                /* inner frames + 1; 0: an empty slot */
    struct cp_bucket *b;        /* the stack's bucket (never an overflow bucket) */
    uintptr_t pcs[CP_MEMO_PCS]; /* the inner frames, innermost first (0 past nx) */
};
_Static_assert(sizeof(struct cp_memo_slot) == 64, "a slot is a cache line");

/* The memo: its counts, then its sets, in arena memory of its own (the counts are written
 * at every allocation record: in a static variable they shared a cache line with ones the
 * program's thread reads at every event, and its walks took ~70% longer, perf). */
struct cp_memo {
    _Alignas(64) uint64_t hits, misses; /* lookups (ctrprof/health:stack-memo-*) */
    uint32_t wn, wh;                    /* lookups and hits of the window (stackmemo.c) */
    uint32_t rest;                      /* records to let go by without a lookup */
    uint32_t mask;                      /* sets - 1 (tests: 0, every stack in one set) */
    _Alignas(64) struct cp_memo_slot set[1u << CP_MEMO_BITS][2];
};
extern struct cp_memo *cp_memo; /* NULL: none (yet) */

/* The window's end (stackmemo.c): rest if it found too little. */
void cp_memo_window(struct cp_memo *m);
#define CP_MEMO_WINDOW 1024

/* Does slot s hold (node, x[0..nx))? */
static inline bool cp_memo_holds(const struct cp_memo_slot *s, uint32_t node, const uintptr_t *x,
                                 unsigned nx)
{
    if (s->node != node || s->nx != nx + 1)
        return false;
    uintptr_t d = 0;
    for (unsigned i = 0; i < nx; i++)
        d |= s->pcs[i] ^ x[i];
    return !d;
}

/* The bucket of the stack (node, x[0..nx)), nx <= CP_MEMO_PCS, if the memo holds it; else
 * NULL, and *set is where cp_memo_put keeps what the chains find (NULL: the memo rests).
 * The set is found by a sum of independent products (the loads and multiplies overlap),
 * folded. */
static inline struct cp_bucket *cp_memo_get(uint32_t node, const uintptr_t *x, unsigned nx,
                                            struct cp_memo_slot **set)
{
    static const uint64_t k[CP_MEMO_PCS] = {
        0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
        0xd6e8feb86659fd93ull, 0xff51afd7ed558ccdull, 0xc4ceb9fe1a85ec53ull,
    };
    struct cp_memo *m = cp_memo;
    *set = NULL;
    if (m->rest) {
        m->rest--;
        return NULL;
    }
    uint64_t h = ((uint64_t)node << 8 | nx) * 0x94d049bb133111ebull;
    for (unsigned i = 0; i < nx; i++)
        h += x[i] * k[i];
    h ^= h >> 29;
    struct cp_memo_slot *s = m->set[((h * 0xbf58476d1ce4e5b9ull) >> (64 - CP_MEMO_BITS)) & m->mask];
    struct cp_bucket *b = cp_memo_holds(&s[0], node, x, nx)   ? s[0].b
                          : cp_memo_holds(&s[1], node, x, nx) ? s[1].b
                                                              : NULL;
    if (b) {
        m->hits++;
        m->wh++;
    } else {
        m->misses++;
        *set = s;
    }
    if (__builtin_expect(++m->wn == CP_MEMO_WINDOW, 0))
        cp_memo_window(m);
    return b;
}

/* Set s (cp_memo_get's) holds (node, x[0..nx)) -> b from now on, first of its two (the
 * older of them goes). */
void cp_memo_put(struct cp_memo_slot *set, uint32_t node, const uintptr_t *x, unsigned nx,
                 struct cp_bucket *b);

/* Make the memo (dense rates; once): false if there is none. */
bool cp_memo_want(void);
/* Tests: every stack in one set (on) or in its own (off), the memo emptied and awake
 * either way. */
void cp_memo_one_set_for_tests(bool on);

#endif
