/*
 * refs.c — the books of refs the live table does not hold (orphans, pending frees) and the
 * table of recent allocations: where a sampled allocation's bucket meets its free when
 * the live table's entry is not what the free took (refs.h).
 *
 * Contexts: whoever holds cp_flush_lock (docs/ARCHITECTURE.md, "Locks"): resolve.c's
 * callers. flusher.c forgets both in a fork child (cp_um_forget).
 */
#include "prof_int.h"

#include "arena.h"
#include "heaptime.h"
#include "live.h"
#include "refs.h"

/* ---- refs the live table no longer holds ---------------------------------------------
 *
 * The flusher (or whoever holds cp_flush_lock) finds an allocation's bucket and replaces its
 * ref in the live table with the bucket (cp_live_resolve; at dense rates once the
 * allocation has left the recent ones, below). A free (or a realloc) that took the
 * object out of the table before that carries the ref, and the two meet here:
 *   - the allocation was resolved first: its bucket waits under the ref (an "orphan")
 *     for the free, however long that comes after (a realloc that fails puts the ref
 *     back in the live table, and the object lives on);
 *   - the free was drained first (its ring before the allocation's): it waits under the
 *     ref with its cycle ("pending") for the allocation. The allocation happened before
 *     the free (the program hands the pointer over), so its cycle is <= the free's and it
 *     is drained no later than the flush that ends the free's cycle: a pending free still
 *     here after that flush has no allocation to meet (it was dropped from a full ring,
 *     or found no bucket) and is let go, counted in unmatched.
 * Both are rare and short-lived; an open-addressing table (linear probing, deletion by
 * backward shift), doubled when half full. Guarded by cp_flush_lock. */
struct um_slot {
    uint64_t ref; /* 0: empty */
    uint64_t val; /* a bucket and size (hv_make), or PEND(cycle, class) for a pending free */
};
/* A pending free's value: its cycle, and its lifetime class (heaptime.h: computed when it
 * is drained, from the time and the birth its record carries, and counted with its
 * allocation; in a producer-consumer program the consumer's ring is mostly drained first,
 * and until session 21 those frees went unclassed: 994,561 of 1,000,000 in one); bit 0
 * set, which a bucket and size never has */
#define PEND(c, k) ((uint64_t)(c) << 5 | (uint64_t)(k) << 1 | 1)
#define PEND_CYCLE(v) ((v) >> 5)
#define PEND_CLASS(v) ((unsigned)((v) >> 1) & 15)
_Static_assert(CP_LIFE_NONE <= 15, "a lifetime class fits a pending free's 4 bits");
static struct um_slot *um;
static uint64_t um_mask, um_n, unmatched;
/* Pending frees by the parity of their cycle. At the end of the flush that finishes
 * cycle c every pending free is of cycle c or c + 1 (older ones were let go by earlier
 * flushes), so those of c's parity are exactly the ones to let go. */
uint64_t cp_um_pending[2];            /* (prof_int.h: cp_um_expire's test, inline) */
static uint64_t n_orphans, n_pending; /* ever made, for tests */

static uint64_t um_hash(uint64_t ref)
{
    /* a ring's refs differ only in their high bits: mix those down (a multiply alone
     * leaves the low bits a function of the low bits, and every ref of a ring probed
     * from one slot: chains of thousands in bench_micro) */
    ref ^= ref >> 33;
    ref *= 0xff51afd7ed558ccdull;
    ref ^= ref >> 33;
    ref *= 0xc4ceb9fe1a85ec53ull;
    return ref ^ (ref >> 33);
}

static struct um_slot *um_find(uint64_t ref)
{
    if (!um)
        return NULL;
    for (uint64_t i = um_hash(ref) & um_mask;; i = (i + 1) & um_mask) {
        if (um[i].ref == ref)
            return &um[i];
        if (!um[i].ref)
            return NULL;
    }
}

static void um_delete(struct um_slot *e)
{
    uint64_t i = (uint64_t)(e - um);
    if (um[i].val & 1)
        cp_um_pending[PEND_CYCLE(um[i].val) & 1]--;
    um_n--;
    for (uint64_t j = (i + 1) & um_mask; um[j].ref; j = (j + 1) & um_mask) {
        uint64_t home = um_hash(um[j].ref) & um_mask;
        /* move j back to the hole at i if its home is not in (i, j] (cyclically) */
        if (((j - home) & um_mask) >= ((j - i) & um_mask)) {
            um[i] = um[j];
            i = j;
        }
    }
    um[i].ref = 0;
}

/* The empty slot where ref goes (the table has one). */
static struct um_slot *um_empty(uint64_t ref)
{
    uint64_t i = um_hash(ref) & um_mask;
    while (um[i].ref)
        i = (i + 1) & um_mask;
    return &um[i];
}

static bool um_put(uint64_t ref, uint64_t val)
{
    if (!um || (um_n + 1) * 2 > um_mask + 1) {
        uint64_t cap = um ? (um_mask + 1) * 2 : 1024;
        struct um_slot *n = cp_mmap_anon(cap * sizeof *n), *o = um;
        if (!n)
            return false;
        uint64_t omask = um_mask;
        um = n;
        um_mask = cap - 1;
        for (uint64_t i = 0; o && i <= omask; i++)
            if (o[i].ref)
                *um_empty(o[i].ref) = o[i];
        if (o)
            cp_munmap_anon(o, (omask + 1) * sizeof *o);
    }
    *um_empty(ref) = (struct um_slot){ref, val};
    um_n++;
    if (val & 1) {
        cp_um_pending[PEND_CYCLE(val) & 1]++;
        n_pending++;
    } else {
        n_orphans++;
    }
    return true;
}

/* At the end of the flush that finished cycle c: let go of pending frees of cycles <= c
 * (rare: their allocation records were dropped; the scan runs only when there are some:
 * prof_int.h's cp_um_expire). */
void cp_um_expire_scan(uint64_t c)
{
    for (uint64_t i = 0; cp_um_pending[c & 1] && i <= um_mask;) {
        if (um[i].ref && (um[i].val & 1) && PEND_CYCLE(um[i].val) <= c) {
            um_delete(&um[i]);
            unmatched++;
            continue; /* the backward shift may have moved another entry into i */
        }
        i++;
    }
}

/* ---- recent allocations: refs the live table keeps (dense rates) ----------------------
 *
 * At a dense rate in a process with threads (live.h: not deferred), resolving every
 * allocation in the live table (cp_live_resolve) moved each entry's line from the thread
 * that had just written it to the flusher, with a locked compare-and-swap, and back again
 * at its free: 45% of the flusher's samples on bench/progs/sizes_mt at rate 1 (perf), and
 * the program threads' takes (live.c's wide_take) missed on the line. Most objects are
 * freed soon after: an allocation's bucket waits here under its ref instead, and its free
 * (which took the ref from the live table) finds it here. The table is direct-mapped: a
 * window of CP_RECENT_WINDOW slots a ring (up to CP_RECENT_RINGS rings have one each; more
 * share them by id), its consecutive allocations in consecutive slots. An entry whose slot
 * is wanted again while its object lives on (its free not drained) is resolved then, in
 * the live table as before (or kept under its ref, an orphan, if a free took it
 * meanwhile). Guarded by cp_flush_lock; mapped at the first dense allocation drained, not
 * in a sandbox (its spare is for the books); forgotten in a fork child with the rest
 * (cp_um_forget). */
struct recent_slot {
    uint64_t ref; /* 0: empty */
    uint64_t hv;  /* the bucket and size (hv_make) */
    uint64_t p;   /* the object's address, for its resolve */
};
#define RECENT_SLOTS (CP_RECENT_WINDOW * CP_RECENT_RINGS)
static struct recent_slot *recent; /* RECENT_SLOTS of them: 1.5 MiB */
static bool recent_refused;

static inline struct recent_slot *recent_at(uint64_t ref)
{
    uint64_t n = ref >> (4 + REF_ID_BITS), id = (ref >> 4) & (CP_RECENT_RINGS - 1);
    return &recent[id * CP_RECENT_WINDOW + (n & (CP_RECENT_WINDOW - 1))];
}

static __attribute__((noinline, cold)) bool recent_map(void)
{
    if (recent_refused || __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return false;
    recent = cp_mmap_anon(RECENT_SLOTS * sizeof *recent);
    recent_refused = !recent; /* (said by cp_mmap_anon; the live table resolves as before) */
    return recent != NULL;
}

/* (p, ref)'s bucket and size hv in the live table in place of the ref, or, if a free took
 * the ref already, under it (an orphan); false: no memory for that. */
static bool resolve_or_orphan(void *p, uint64_t ref, uint64_t hv)
{
    return cp_live_resolve(p, ref, (uintptr_t)hv, hv_bytes(hv)) || um_put(ref, hv);
}

/* An object still live when its slot is wanted: resolved in the live table now. */
static __attribute__((noinline)) void recent_evict(struct recent_slot *e)
{
    if (!resolve_or_orphan((void *)(uintptr_t)e->p, e->ref, e->hv))
        cp_prof_lost(CP_LOST_NBUCKET, 1);
}

/* Keep (p, ref)'s bucket and size here; false: not (sparse rate, no table). */
static inline bool recent_put(void *p, uint64_t ref, uint64_t hv)
{
    if (!cp_dense() || (!recent && !recent_map()))
        return false;
    struct recent_slot *e = recent_at(ref);
    if (e->ref)
        recent_evict(e);
    e->ref = ref;
    e->hv = hv;
    e->p = (uint64_t)(uintptr_t)p;
    return true;
}

/* ref's bucket and size (*hv) if it waits here (taken out). */
static inline bool recent_take(uint64_t ref, uint64_t *hv)
{
    if (!recent)
        return false;
    struct recent_slot *e = recent_at(ref);
    if (e->ref != ref)
        return false;
    e->ref = 0;
    *hv = e->hv;
    return true;
}

bool cp_refs_free_first(uint64_t ref, uint64_t *cycle, unsigned *cls)
{
    struct um_slot *e = um_find(ref);
    if (!e || !(e->val & 1))
        return false;
    *cycle = PEND_CYCLE(e->val);
    *cls = PEND_CLASS(e->val);
    um_delete(e);
    return true;
}

bool cp_refs_keep(void *p, uint64_t ref, uint64_t hv, bool late)
{
    return (!late && recent_put(p, ref, hv)) || resolve_or_orphan(p, ref, hv);
}

bool cp_refs_take(uint64_t ref, uint64_t *hv)
{
    if (recent_take(ref, hv))
        return true;
    struct um_slot *e = um_find(ref);
    if (!e || (e->val & 1))
        return false;
    *hv = e->val;
    um_delete(e);
    return true;
}

void cp_refs_pend(uint64_t ref, uint64_t cycle, unsigned cls, bool late)
{
    if (late || !um_put(ref, PEND(cycle, cls)))
        unmatched++;
}

void cp_um_forget(void)
{
    if (recent) {
        cp_munmap_anon(recent, RECENT_SLOTS * sizeof *recent);
        recent = NULL;
    }
    if (um) {
        cp_munmap_anon(um, (um_mask + 1) * sizeof *um);
        um = NULL;
        um_mask = um_n = cp_um_pending[0] = cp_um_pending[1] = 0;
    }
}

void cp_prof_ref_stats(uint64_t *orphans, uint64_t *pending, uint64_t *unmatched_frees)
{
    cp_spin_lock(&cp_flush_lock);
    *orphans = n_orphans;
    *pending = n_pending;
    *unmatched_frees = unmatched;
    cp_spin_unlock(&cp_flush_lock);
}
