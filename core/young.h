/*
 * young.h — a drain's young objects: the newest sampled objects of the deferred ring's
 * drain, by address, before they go to the live table (live.h).
 *
 * While the flush keeps the live table from the records of a single-threaded program
 * (live.h's cp_live_deferred), an allocation record puts its object in and a free record
 * takes it out by its address, each in the shadow maps: two entries' locked
 * compare-and-swaps and their cache misses, 11% of both processes' samples on
 * bench/progs/churn at rate 1 (perf). Most objects of a program that churns are freed a
 * few allocations later, within the same drain: here their free takes them from a table
 * of 256 slots (one per address hash, 8 KiB), and the live table never sees them. An
 * object whose slot another wants goes to the live table then, and every one left goes
 * there when the drain ends (cp_young_end), so that outside a drain the live table holds
 * every live object, as before: the handover's flush, a fork (which holds
 * cp_flush_lock), a late event and the frees of a run still waiting (resolve.c's
 * cp_account_close) find them there. An address is in at most one of the two: it is put
 * in again only after its free, which took it from whichever held it.
 *
 * Contexts: resolve.c, for the records of a drain of the deferred ring (flusher.c's
 * drain_ring, through cp_account_drain_deferred); cp_flush_lock guards everything here.
 * Empty outside a drain, so a fork child starts with it empty.
 */
#ifndef CP_YOUNG_H
#define CP_YOUNG_H

#include <stdbool.h>
#include <stdint.h>

#include "live.h"

#define CP_YOUNG_BITS 8

struct cp_young {
    uintptr_t p; /* 0: a free slot */
    uintptr_t v; /* the live table's value (resolve.c's hv_make) */
    uint64_t size, birth;
};
extern struct cp_young cp_young[1u << CP_YOUNG_BITS];
extern bool cp_young_on;    /* a drain of the deferred ring is under way */
extern unsigned cp_young_n; /* slots in use */

static inline struct cp_young *cp_young_slot(const void *p)
{
    return &cp_young[((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) >> (64 - CP_YOUNG_BITS)];
}

/* y's object into the live table, y freed (if the table cannot grow, counted lost, as an
 * insert that fails is: the object's free will not find it) */
void cp_young_out(struct cp_young *y);

/* cp_live_insert's, for an object that a drain's record puts in (NULL, which a slot
 * cannot hold, as before) */
static inline bool cp_young_insert(const void *p, uintptr_t v, uint64_t size, uint64_t birth)
{
    if (!cp_young_on || !p)
        return cp_live_insert(p, v, size, birth);
    struct cp_young *y = cp_young_slot(p);
    if (y->p)
        cp_young_out(y);
    *y = (struct cp_young){(uintptr_t)p, v, size, birth};
    cp_young_n++;
    return true;
}

/* cp_live_remove's, for an object that a drain's record takes out */
static inline uintptr_t cp_young_remove(const void *p, uint64_t *birth)
{
    if (cp_young_on) {
        struct cp_young *y = cp_young_slot(p);
        if (y->p == (uintptr_t)p) {
            y->p = 0;
            cp_young_n--;
            *birth = y->birth;
            return y->v;
        }
    }
    return cp_live_remove(p, birth);
}

/* A drain of the deferred ring begins; it ends, and what is left goes to the live table */
void cp_young_begin(void);
void cp_young_end(void);

#endif
