/*
 * refs.h — where a sampled allocation's bucket waits for its free when the live table
 * (live.h) does not hold it: the refs' books (orphans and pending frees) and, at dense
 * rates, the table of recent allocations. And the value a resolved object keeps (hv_*),
 * which both sides read.
 *
 * Contexts: whoever holds cp_flush_lock (resolve.c's callers: the flusher, an inline
 * flush, a late event after the final flush, exit); cp_um_forget in a fork child. The
 * allocation states these books hold are resolve.c's opening table.
 */
#ifndef CP_REFS_H
#define CP_REFS_H

#include <stdbool.h>
#include <stdint.h>

#include "bucket.h"

/* The value a resolved sampled object keeps, in the live table (live.h) or under its ref
 * here: its bucket and its size in one word, so that its free is counted with its own
 * weight (hweight.h) without a table of sizes. Bits 0-1 clear (bit 1 marks a ref, bit 0
 * is the shadow map's), 2..23 the heap bucket's index (bucket.h), 24..63 the size: exact
 * below 2^40 bytes (1 TiB); a larger object is counted as 2^40 - 1 bytes, on its
 * allocation and its free alike. */
#define HV_SIZE_MAX ((UINT64_C(1) << 40) - 1)

static inline uint64_t hv_size(uint64_t size)
{
    return size < HV_SIZE_MAX ? size : HV_SIZE_MAX;
}

static inline uint64_t hv_make(const struct cp_bucket *b, uint64_t size)
{
    return hv_size(size) << 24 | (uint64_t)b->hidx << 2;
}

static inline uint64_t hv_bytes(uint64_t v)
{
    return v >> 24;
}

static inline struct cp_bucket *hv_bucket(uint64_t v, uint64_t *size)
{
    *size = hv_bytes(v);
    return cp_bucket_by_hidx((uint32_t)(v >> 2) & (CP_HIDX_MAX - 1));
}

/* The table of recent allocations (dense rates, refs.c): a ring's allocation waits there
 * until CP_RECENT_WINDOW more of the rings that share its window (its id modulo
 * CP_RECENT_RINGS) have been drained, then in the live table. */
#define CP_RECENT_WINDOW ((uint64_t)1 << 12)
#define CP_RECENT_RINGS 16

/* An allocation's record is drained (p, ref; its bucket and size hv): did its free come
 * first? If so that free is taken from the books: true, with its cycle and its lifetime's
 * class (heaptime.h), for the caller to count. */
bool cp_refs_free_first(uint64_t ref, uint64_t *cycle, unsigned *cls);
/* ...and if not, its bucket waits for the free: among the recent allocations (dense
 * rates, not late), or in the live table in place of its ref, or, if a free took the ref
 * already, under the ref (an orphan). false: no memory for it (the caller counts the loss). */
bool cp_refs_keep(void *p, uint64_t ref, uint64_t hv, bool late);
/* A free record carries ref: its allocation's value (*hv), taken from the books; false
 * if its allocation has not been drained. */
bool cp_refs_take(uint64_t ref, uint64_t *hv);
/* ...then the free waits under ref, with its cycle and class, for its allocation (not
 * late: after the final flush it will not come; then, or with no memory, it is counted
 * unmatched). */
void cp_refs_pend(uint64_t ref, uint64_t cycle, unsigned cls, bool late);

#endif
