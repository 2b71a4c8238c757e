/*
 * live.c — the live sampled-object table (see live.h for the design).
 *
 * Contexts: hooks (malloc family: insert on a sampled allocation, maybe/remove on every
 * free of a pointer the filter does not rule out), the flusher (resolve), the
 * fork child (reset).
 * Lock: grow_lock, a leaf (docs/ARCHITECTURE.md, "Locks"; a fork child drops the tables).
 */
#include "live.h"

#include <stddef.h>
#include <string.h>
#include <sys/single_threaded.h>

#include "arena.h"
#include "line.h"
#include "shadow.h"
#include "spin.h"

#define TOMB ((uintptr_t)1) /* a claim in progress is the key | 2 */
#define MAXGEN 40
#define FIRST_BITS 12

struct slot {
    uintptr_t key;  /* 0 empty, 1 tombstone, else the object address */
    uintptr_t v;    /* its value (live.h); 0 while a remover takes it */
    uint64_t birth; /* its allocation's stamp (live.h) */
};

struct gen {
    struct slot *slots;
    uint64_t mask;
};

/* Layout: what every insert and remove reads (ready, ngen, gens) sits on cache lines that
 * are written only when a generation is added; the counters written on inserts have lines
 * of their own. (A global live counter next to ngen used to be written on every insert
 * and remove: two threads at rate 1 spent a quarter of cp_live_insert waiting for that
 * line — perf annotate on bench/progs/alloc_mt.) */
_Alignas(64) uint8_t
    cp_live_filter[1u << CP_LIVE_FILTER_BITS]; /* (whole lines: tests/e2e/lines.sh) */
CP_READ_MOSTLY int cp_live_deferred;
CP_READ_MOSTLY int cp_live_handover;
CP_READ_MOSTLY int cp_vm_shared;
CP_READ_MOSTLY int cp_fence_asym;
static _Alignas(64) struct {
    bool ready;              /* atomic: the first generation exists */
    unsigned ngen;           /* atomic: generations published */
    struct gen gens[MAXGEN]; /* gens[i] immutable once published via ngen */
} T CP_READ_MOSTLY;
static _Alignas(64) struct {
    _Alignas(64) uint64_t n; /* atomic: slots of the generation ever claimed from empty */
} fills[MAXGEN];
static _Alignas(64) cp_spin grow_lock = CP_SPIN_INIT;

static uint64_t khash(uintptr_t p)
{
    uint64_t x = (uint64_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* ---- the shadow maps (shadow.h) ------------------------------------------------------
 *
 * At high rates (cp_live_init's dense) a 16-byte-aligned address below 2^47 has its entry
 * in a shadow map: the fine one for an object under CP_LIVE_WIDE_MIN bytes, the wide one
 * from there (the insert's size chooses; a free tries the fine map, then the wide one).
 * At the default rate the few sampled objects fit the table's cache lines and the maps'
 * address space would buy nothing. Other addresses (8-byte-aligned small objects, 57-bit
 * address spaces) and leaves that cannot be mapped use the hash table.
 *
 * A fine entry is the value (bits 0-1 clear: a ref, or the bucket and size, resolve.c's
 * hv_make) with the object's half of its 32-byte granule in bit 0 (an allocator with
 * 16-byte objects can put two in one granule, and when the other half is taken the object
 * goes to the table), then the object's birth.
 *
 * A wide entry is the object's address, its value, its birth. Two live objects of the wide
 * map's sizes cannot start in one granule, so an insert takes the entry whatever it
 * holds (an object of the granule whose free was never seen); a remover or resolver
 * touches the value only if the address is its own. An insert writes the value, then
 * the address (release); a remover takes the value with one exchange, then clears the
 * address (the program frees a block only after its free's remove has returned, so no
 * insert into that granule can come in between); the resolver's compare-and-swap of a
 * ref cannot succeed on a later object's value, refs being unique.
 *
 * A birth (in either map and in the table) has one reader, the object's remover, whose
 * free the program makes after the allocation's hook has returned: it is written with a
 * plain store once the entry is the inserter's, and read while the entry is still the
 * remover's. */
CP_READ_MOSTLY static bool sh_on; /* the shadow maps are in use (dense: cp_live_init) */
static bool wide_used;            /* atomic: some object went to the wide map */
static bool table_used;           /* atomic: some object went to the hash table */

/* which 16-byte half of its granule k starts in (the entry's low bit) */
static inline uintptr_t sh_half(uintptr_t k)
{
    return (k >> 4) & 1;
}

/* Is fine entry cur k's own (an object at k, the half its value's bit 0 names)? */
static inline bool fine_own(uintptr_t cur, uintptr_t k)
{
    return cur && (cur & 1) == sh_half(k);
}

static inline bool sh_ok(uintptr_t k)
{
    return (k & 15) == 0 && k < ((uintptr_t)1 << CP_SH_ADDR_BITS) && sh_on;
}

static inline bool sh_wide(uint64_t size)
{
    return size >= CP_LIVE_WIDE_MIN;
}

static int add_gen(unsigned bits)
{
    size_t n = (size_t)1 << bits;
    struct slot *s = cp_mmap_anon(n * sizeof *s);
    if (!s)
        return -1;
    unsigned g = __atomic_load_n(&T.ngen, __ATOMIC_RELAXED);
    T.gens[g].slots = s;
    T.gens[g].mask = n - 1;
    __atomic_store_n(&fills[g].n, 0, __ATOMIC_RELAXED);
    /* release: publishes T.gens[g] to the acquire loads of T.ngen */
    __atomic_store_n(&T.ngen, g + 1, __ATOMIC_RELEASE);
    return 0;
}

int cp_live_init(bool dense)
{
    if (__atomic_load_n(&T.ready, __ATOMIC_ACQUIRE))
        return 0;
    if (add_gen(FIRST_BITS))
        return -1;
    /* without the directory every object goes to the hash table */
    sh_on = dense;
    __atomic_store_n(&T.ready, true, __ATOMIC_RELEASE);
    return 0;
}

/* A process with one thread (glibc's __libc_single_threaded, true until the first
 * pthread_create, which sets it before the thread exists; glibc's own malloc skips its
 * locks and atomics on it): no other thread can race an entry or a filter counter, and
 * the flusher (the only other reader and writer: cp_live_resolve) runs on this thread,
 * inline. So the compare-and-swaps below are a plain load and store there (four locked
 * instructions an allocation pair at rate 1 were ~7% of namechurn's CPU). A signal
 * handler that frees a sampled object in between would be one that calls free inside
 * the program's malloc or free, which glibc already does not allow. */
static inline bool alone(void)
{
    return cp_one_thread();
}

/* A word's value, read by an access that writes it (the same value back), so that a page
 * never touched faults once, for writing. Only alone(): one instruction that no signal
 * handler can split, but not atomic against another thread (no lock prefix: a locked one
 * costs ~20 cycles an insert). */
static inline uintptr_t touch_load(uintptr_t *w)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
    uintptr_t v = 0;
    __asm__ volatile("xaddq %0, %1" : "+r"(v), "+m"(*w));
    return v;
#else
    return __atomic_load_n(w, __ATOMIC_ACQUIRE);
#endif
}

static void filter_inc(const void *p)
{
    uint8_t *c = &cp_live_filter[cp_live_fhash(p)];
    uint8_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
    if (alone()) {
        if (v != 255)
            __atomic_store_n(c, (uint8_t)(v + 1), __ATOMIC_RELAXED);
        return;
    }
    while (v != 255 &&
           !__atomic_compare_exchange_n(c, &v, v + 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void filter_dec(const void *p)
{
    uint8_t *c = &cp_live_filter[cp_live_fhash(p)];
    uint8_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
    if (alone()) {
        if (v != 255 && v != 0)
            __atomic_store_n(c, (uint8_t)(v - 1), __ATOMIC_RELAXED);
        return;
    }
    while (v != 255 && v != 0 &&
           !__atomic_compare_exchange_n(c, &v, v - 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static inline void prefetch_entry(const void *p, uint64_t size)
{
    uintptr_t k = (uintptr_t)p;
    if (sh_ok(k)) {
        /* (each map's geometry a constant: a map number chosen at run time cost ~10
         * instructions here) */
        uintptr_t *leaf;
        if (__builtin_expect(sh_wide(size), 0)) {
            if ((leaf = cp_sh_leaf(CP_SH_WIDE, k)) != NULL)
                __builtin_prefetch(cp_sh_entry(CP_SH_WIDE, leaf, k), 1);
        } else if ((leaf = cp_sh_leaf(CP_SH_FINE, k)) != NULL) {
            __builtin_prefetch(cp_sh_entry(CP_SH_FINE, leaf, k), 1);
        }
        return;
    }
    unsigned ng = __atomic_load_n(&T.ngen, __ATOMIC_ACQUIRE);
    if (ng) {
        const struct gen *G = &T.gens[ng - 1];
        __builtin_prefetch(&G->slots[khash((uintptr_t)p) & G->mask], 1);
    }
}

void cp_live_prefetch(const void *p, uint64_t size)
{
    if (__atomic_load_n(&cp_live_deferred, __ATOMIC_RELAXED))
        return; /* (the consumer inserts it: not this thread's cache) */
    prefetch_entry(p, size);
}

void cp_live_prefetch_deferred(const void *p, uint64_t size)
{
    prefetch_entry(p, size);
}

static bool table_insert(const void *p, uintptr_t v, uint64_t birth)
{
    uintptr_t k = (uintptr_t)p;
    if (!__atomic_load_n(&table_used, __ATOMIC_RELAXED))
        __atomic_store_n(&table_used, true, __ATOMIC_SEQ_CST);
    for (;;) {
        unsigned g = __atomic_load_n(&T.ngen, __ATOMIC_ACQUIRE) - 1;
        struct gen *G = &T.gens[g];
        if (__atomic_load_n(&fills[g].n, __ATOMIC_RELAXED) * 2 > G->mask) {
            cp_spin_lock(&grow_lock);
            int err = 0;
            if (__atomic_load_n(&T.ngen, __ATOMIC_RELAXED) - 1 == g)
                err = g + 1 >= MAXGEN || add_gen(FIRST_BITS + g + 1);
            cp_spin_unlock(&grow_lock);
            if (err)
                return false;
            continue;
        }
        uint64_t i = khash(k) & G->mask;
        for (uint64_t n = 0; n <= G->mask; n++, i = (i + 1) & G->mask) {
            struct slot *s = &G->slots[i];
            uintptr_t cur = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
            if (cur != 0 && cur != TOMB)
                continue;
            /* Claim the slot with a busy marker (k | 2: never an object address, which is
             * 16-byte aligned, nor anyone else's claim), write the value, then publish the
             * key (release): a remover that finds the key reads the right value, and two
             * inserters racing for one slot never mix their values. */
            if (__atomic_compare_exchange_n(&s->key, &cur, k | 2, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED)) {
                __atomic_store_n(&s->v, v, __ATOMIC_RELAXED);
                __atomic_store_n(&s->birth, birth, __ATOMIC_RELAXED);
                __atomic_store_n(&s->key, k, __ATOMIC_RELEASE);
                if (cur == 0)
                    __atomic_add_fetch(&fills[g].n, 1, __ATOMIC_RELAXED);
                return true;
            }
        }
        /* every slot taken (cannot happen below half full); grow and retry */
        __atomic_store_n(&fills[g].n, G->mask, __ATOMIC_RELAXED);
    }
}

/* A fine entry of k's that is k's own (its half), if any: taken out (an object whose free
 * was never seen, whose address a wide object now has: a free would find it first). */
static __attribute__((noinline)) void fine_forget(uintptr_t k)
{
    uintptr_t *leaf = cp_sh_leaf(CP_SH_FINE, k);
    if (!leaf)
        return;
    uintptr_t *e = cp_sh_entry(CP_SH_FINE, leaf, k), cur = __atomic_load_n(e, __ATOMIC_ACQUIRE);
    while (fine_own(cur, k) &&
           !__atomic_compare_exchange_n(e, &cur, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        ;
}

/* The same for a wide entry of k's (a small object of that address going to the table:
 * a free tries the wide map before the table). */
static __attribute__((noinline)) void wide_forget(uintptr_t k)
{
    uintptr_t *leaf =
        __atomic_load_n(&wide_used, __ATOMIC_RELAXED) ? cp_sh_leaf(CP_SH_WIDE, k) : NULL;
    uintptr_t *e = leaf ? cp_sh_entry(CP_SH_WIDE, leaf, k) : NULL, cur = k;
    if (e && __atomic_compare_exchange_n(&e[0], &cur, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        __atomic_store_n(&e[1], 0, __ATOMIC_RELAXED);
}

static bool wide_place(uintptr_t k, uintptr_t v, uint64_t birth)
{
    uintptr_t *leaf = cp_sh_make_leaf(CP_SH_WIDE, k);
    if (!leaf)
        return false;
    if (!__atomic_load_n(&wide_used, __ATOMIC_RELAXED))
        __atomic_store_n(&wide_used, true, __ATOMIC_SEQ_CST);
    fine_forget(k);
    uintptr_t *e = cp_sh_entry(CP_SH_WIDE, leaf, k);
    __atomic_store_n(&e[2], birth, __ATOMIC_RELAXED);
    __atomic_store_n(&e[1], v, __ATOMIC_RELAXED);
    __atomic_store_n(&e[0], k, __ATOMIC_RELEASE); /* the value is there for whoever finds k */
    return true;
}

/* k's value taken out of the wide map (its birth in *birth), or 0 if k has none there */
static __attribute__((noinline)) uintptr_t wide_take(uintptr_t k, uint64_t *birth)
{
    if (!__atomic_load_n(&wide_used, __ATOMIC_RELAXED))
        return 0;
    uintptr_t *leaf = cp_sh_leaf(CP_SH_WIDE, k);
    if (!leaf)
        return 0;
    uintptr_t *e = cp_sh_entry(CP_SH_WIDE, leaf, k), v;
    if (__atomic_load_n(&e[0], __ATOMIC_ACQUIRE) != k)
        return 0;
    *birth = __atomic_load_n(&e[2], __ATOMIC_RELAXED);
    if (alone()) {
        v = __atomic_load_n(&e[1], __ATOMIC_RELAXED);
        __atomic_store_n(&e[1], 0, __ATOMIC_RELAXED);
    } else {
        v = __atomic_exchange_n(&e[1], 0, __ATOMIC_ACQ_REL);
    }
    if (v)
        __atomic_store_n(&e[0], 0, __ATOMIC_RELEASE);
    return v; /* 0: another remover of the same key (a double free) took it */
}

static inline bool place(const void *p, uintptr_t v, uint64_t size, uint64_t birth)
{
    uintptr_t k = (uintptr_t)p;
    if (!__atomic_load_n(&T.ready, __ATOMIC_ACQUIRE) || k <= TOMB || (k & 3) || !v)
        return false; /* not an address malloc returns */
    if (sh_ok(k) && !(v & 1)) {
        if (sh_wide(size)) {
            if (wide_place(k, v, birth))
                return true;
            return table_insert(p, v, birth);
        }
        uintptr_t *leaf = cp_sh_make_leaf(CP_SH_FINE, k);
        uintptr_t want = v | sh_half(k);
        if (leaf) {
            uintptr_t *e = cp_sh_entry(CP_SH_FINE, leaf, k), cur = 0;
            /* empty, or this very address's (an object whose free we never saw): ours;
             * the granule's other half live: the table takes this one. The entry's first
             * access is a write (touch_load; else the compare-and-swap's first try, which
             * expects it empty): a load first made the kernel map the zero page, and the
             * store then fault again to copy it (perl at rate 1: each of the fine map's
             * 24,700 pages twice; ~1 us a page here, BENCHMARKS.md's session 32) */
            if (alone()) {
                cur = touch_load(e);
                if (!cur || (cur & 1) == sh_half(k)) {
                    __atomic_store_n(e, want, __ATOMIC_RELEASE);
                    __atomic_store_n(&e[1], birth, __ATOMIC_RELAXED);
                    return true;
                }
            }
            while (!cur || (cur & 1) == sh_half(k))
                /* release: the bucket is complete for whoever takes it out. The birth
                 * after: its one reader is the object's remover, whose free comes after
                 * this hook returns (and an inserter that loses the entry must not have
                 * written it) */
                if (__atomic_compare_exchange_n(e, &cur, want, 0, __ATOMIC_ACQ_REL,
                                                __ATOMIC_ACQUIRE)) {
                    __atomic_store_n(&e[1], birth, __ATOMIC_RELAXED);
                    return true;
                }
        }
        wide_forget(k);
    }
    return table_insert(p, v, birth);
}

bool cp_live_insert(const void *p, uintptr_t v, uint64_t size, uint64_t birth)
{
    if (!place(p, v, size, birth))
        return false;
    filter_inc(p);
    return true;
}

void cp_live_mark(const void *p)
{
    filter_inc(p);
}

static uintptr_t table_remove(const void *p, uint64_t *birth);

uintptr_t cp_live_remove(const void *p, uint64_t *birth)
{
    uintptr_t k = (uintptr_t)p;
    if (k <= TOMB)
        return 0;
    if (sh_ok(k)) {
        uintptr_t *leaf = cp_sh_leaf(CP_SH_FINE, k);
        if (leaf) {
            uintptr_t *e = cp_sh_entry(CP_SH_FINE, leaf, k),
                      cur = __atomic_load_n(e, __ATOMIC_ACQUIRE);
            /* (the birth is read while the entry is still this object's: once it is
             * cleared, an object in the granule's other half may take it) */
            if (alone() && fine_own(cur, k)) {
                *birth = __atomic_load_n(&e[1], __ATOMIC_RELAXED);
                __atomic_store_n(e, 0, __ATOMIC_RELAXED);
                filter_dec(p);
                return cur & ~(uintptr_t)1;
            }
            while (fine_own(cur, k)) {
                *birth = __atomic_load_n(&e[1], __ATOMIC_RELAXED);
                if (__atomic_compare_exchange_n(e, &cur, 0, 0, __ATOMIC_ACQ_REL,
                                                __ATOMIC_ACQUIRE)) {
                    filter_dec(p);
                    return cur & ~(uintptr_t)1;
                }
            }
        }
        uintptr_t v = wide_take(k, birth);
        if (v) {
            filter_dec(p);
            return v;
        }
        /* a leaf that could not be mapped sent the object to the table */
        if (!__atomic_load_n(&table_used, __ATOMIC_ACQUIRE))
            return 0;
    }
    return table_remove(p, birth);
}

const void *cp_live_entry_of(const void *p, bool wide)
{
    uintptr_t k = (uintptr_t)p;
    int m = wide ? CP_SH_WIDE : CP_SH_FINE;
    uintptr_t *leaf = sh_ok(k) ? cp_sh_leaf(m, k) : NULL;
    return leaf ? cp_sh_entry(m, leaf, k) : NULL;
}

/* The slot holding key k (and, if v is not 0, value v), searching the generations newest
 * first; NULL if there is none. */
static struct slot *table_slot(uintptr_t k, uint64_t h, unsigned ng, uintptr_t v)
{
    for (unsigned g = ng; g-- > 0;) {
        struct gen *G = &T.gens[g];
        uint64_t i = h & G->mask;
        for (uint64_t n = 0; n <= G->mask; n++, i = (i + 1) & G->mask) {
            struct slot *s = &G->slots[i];
            uintptr_t cur = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
            if (cur == 0)
                break;
            if (cur == k && (!v || __atomic_load_n(&s->v, __ATOMIC_RELAXED) == v))
                return s;
        }
    }
    return NULL;
}

static uintptr_t table_remove(const void *p, uint64_t *birth)
{
    uintptr_t k = (uintptr_t)p;
    unsigned ng = __atomic_load_n(&T.ngen, __ATOMIC_ACQUIRE);
    /* At high rates the table is far bigger than the caches and an old object sits in an
     * old generation: its home slot in every generation is requested at once, so that
     * the misses overlap instead of following one another (perf annotate on a rate-1
     * perl run: over 90% of cp_live_remove was the first load of a slot). */
    uint64_t h = khash(k);
    for (unsigned g = ng; g-- > 0;)
        __builtin_prefetch(&T.gens[g].slots[h & T.gens[g].mask]);
    struct slot *s = table_slot(k, h, ng, 0);
    if (!s)
        return 0;
    /* The value is taken with one exchange, so that cp_live_resolve's compare-and-swap of
     * it either happens before (and the remover gets the bucket) or fails (and the
     * resolver learns the ref was taken); then the slot is ours to bury. */
    uintptr_t v = __atomic_exchange_n(&s->v, 0, __ATOMIC_ACQ_REL);
    if (!v)
        return 0; /* another remover of the same key (a double free) */
    *birth = __atomic_load_n(&s->birth, __ATOMIC_RELAXED);
    __atomic_store_n(&s->key, TOMB, __ATOMIC_RELEASE);
    filter_dec(p);
    return v;
}

/* The wide map's half of cp_live_resolve */
static bool wide_resolve(uintptr_t k, uintptr_t ref, uintptr_t v)
{
    uintptr_t *leaf = cp_sh_leaf(CP_SH_WIDE, k);
    if (!leaf)
        return false;
    uintptr_t *e = cp_sh_entry(CP_SH_WIDE, leaf, k);
    if (__atomic_load_n(&e[0], __ATOMIC_ACQUIRE) != k)
        return false;
    if (alone()) {
        if (__atomic_load_n(&e[1], __ATOMIC_RELAXED) != ref)
            return false;
        __atomic_store_n(&e[1], v, __ATOMIC_RELEASE);
        return true;
    }
    return __atomic_compare_exchange_n(&e[1], &ref, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* The fine map's half of cp_live_resolve */
static inline bool fine_resolve(uintptr_t k, uintptr_t ref, uintptr_t v)
{
    uintptr_t *leaf = cp_sh_leaf(CP_SH_FINE, k);
    if (!leaf)
        return false;
    /* values have bits 0-1 clear: bit 0 stays the half */
    uintptr_t *e = cp_sh_entry(CP_SH_FINE, leaf, k), want = ref | sh_half(k);
    if (alone()) {
        if (__atomic_load_n(e, __ATOMIC_RELAXED) != want)
            return false;
        __atomic_store_n(e, v | sh_half(k), __ATOMIC_RELEASE);
        return true;
    }
    return __atomic_compare_exchange_n(e, &want, v | sh_half(k), 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

bool cp_live_resolve(const void *p, uintptr_t ref, uintptr_t v, uint64_t size)
{
    uintptr_t k = (uintptr_t)p;
    if (k <= TOMB || !__atomic_load_n(&T.ready, __ATOMIC_ACQUIRE))
        return false;
    if (sh_ok(k)) {
        /* the map its insert chose (an undone free's insert, cp_event_free_undo, chose the
         * fine one whatever the size: not found then, the ref's free is matched in
         * resolve.c's books as a free that took its ref first) */
        if (sh_wide(size) ? wide_resolve(k, ref, v) : fine_resolve(k, ref, v))
            return true;
        if (!__atomic_load_n(&table_used, __ATOMIC_ACQUIRE))
            return false;
    }
    /* ref names one allocation: only its own slot can still hold it */
    struct slot *s = table_slot(k, khash(k), __atomic_load_n(&T.ngen, __ATOMIC_ACQUIRE), ref);
    uintptr_t want = ref;
    return s && __atomic_compare_exchange_n(&s->v, &want, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

uint64_t cp_live_count(void)
{
    /* for tests: counts the keys present (no counter is kept on the hot path) */
    uint64_t n = cp_sh_count(CP_SH_FINE) + cp_sh_count(CP_SH_WIDE);
    unsigned ng = __atomic_load_n(&T.ngen, __ATOMIC_ACQUIRE);
    for (unsigned g = 0; g < ng; g++)
        for (uint64_t i = 0; i <= T.gens[g].mask; i++) {
            uintptr_t k = __atomic_load_n(&T.gens[g].slots[i].key, __ATOMIC_RELAXED);
            n += k != 0 && k != TOMB;
        }
    return n;
}

void cp_live_grow_hold(bool hold)
{
    if (hold)
        cp_spin_lock(&grow_lock);
    else
        cp_spin_unlock(&grow_lock);
}

void cp_live_reset(void)
{
    /* Single-threaded (fork child). Fresh tables rather than clearing the old ones: a
     * large table would otherwise be copied page by page by the kernel to be zeroed. */
    if (!__atomic_load_n(&T.ready, __ATOMIC_ACQUIRE))
        return;
    unsigned ng = __atomic_load_n(&T.ngen, __ATOMIC_RELAXED);
    for (unsigned g = 0; g < ng; g++)
        cp_munmap_anon(T.gens[g].slots, (T.gens[g].mask + 1) * sizeof(struct slot));
    __atomic_store_n(&T.ngen, 0, __ATOMIC_RELAXED);
    cp_sh_reset();
    wide_used = false;
    table_used = false;
    /* counters at 255 stay (live.h): malloc.c marks dlsym's pool blocks so, which free()
     * must still recognise in the child */
    for (size_t i = 0; i < sizeof cp_live_filter; i++)
        if (cp_live_filter[i] != 255)
            cp_live_filter[i] = 0;
    cp_spin_reset(&grow_lock);
    if (add_gen(FIRST_BITS))
        __atomic_store_n(&T.ready, false, __ATOMIC_RELEASE); /* nothing more is sampled */
}
