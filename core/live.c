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
#include "spin.h"

#define TOMB ((uintptr_t)1) /* a claim in progress is the key | 2 */
#define MAXGEN 40
#define FIRST_BITS 12

struct slot {
    uintptr_t key; /* 0 empty, 1 tombstone, else the object address */
    uintptr_t v;   /* its value (live.h); 0 while a remover takes it */
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
uint8_t cp_live_filter[1u << CP_LIVE_FILTER_BITS];
static _Alignas(64) struct {
    bool ready;                 /* atomic: the first generation exists */
    unsigned ngen;              /* atomic: generations published */
    struct gen gens[MAXGEN];    /* gens[i] immutable once published via ngen */
} T;
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

/* ---- the shadow map ------------------------------------------------------------------
 *
 * At high rates nearly every heap object is sampled and the hash table above is far larger
 * than the caches: each insert and each remove was a miss at a random place, and a remove
 * probed every generation (perf, rate 1 on perl with 2 million live objects: 15% of the
 * run in cp_live_*). So a 16-byte-aligned address below 2^47 (every address glibc's malloc
 * returns) has its bucket in a direct map instead: regions of addresses (sizes below), each
 * a leaf of one word per 32-byte granule, mapped on first use (MAP_NORESERVE; a page is
 * touched only where sampled objects are). One access per insert and per remove, and
 * objects allocated together have their entries together. glibc's chunks are at least 32
 * bytes apart, so no two of its live objects share a granule; an allocator with 16-byte
 * objects can put two in one, so an entry is the value (bits 0-1 clear: a ref, or the
 * bucket and size, resolve.c's hv_make) with the object's half of the granule in bit 0, and when the other half is taken the object
 * goes to the table. A quarter of the heap's size in entries at most (16-byte granules
 * were half: on perl at rate 1 the kernel's page zeroing for them was 5.6% of the run).
 * Other addresses (8-byte-aligned small objects, 57-bit address spaces) and leaves that
 * cannot be mapped use the hash table. Only at high rates (cp_live_init's dense): at the
 * default rate the few sampled objects fit the table's cache lines and the map's address
 * space would buy nothing.
 *
 * Sizes (issue 29: mapped in steps, so that an unprivileged mlockall under the default
 * 8 MiB RLIMIT_MEMLOCK, which counts every page of address space, and a tight RLIMIT_AS
 * leave a small program room): a region is 256 KiB of addresses and its leaf 64 KiB; the
 * leaves are found through three levels of a radix tree, as a page table's: a top of
 * 2^9 words (4 KiB, static) and two levels of pages of 2^10 words (8 KiB each: 256 GiB
 * and 256 MiB of addresses), each page mapped with the first leaf under it. A small
 * program at rate 1 maps a leaf for each 256 KiB of address space it samples in and two
 * 8 KiB pages for each region of addresses its objects are in (brk's heap, the mmap
 * area): a few hundred KiB. (Until issue 29 a region was 64 MiB: a 16 MiB directory at
 * start-up and a 16 MiB leaf at the first sample, 32 MiB of address space for a program
 * that allocates a few bytes.) A page or leaf that cannot be mapped (the limits above)
 * sends the objects it would have held to the hash table. The walk costs two more
 * dependent loads than the one directory did; each thread keeps the last leaf it found
 * (sh_last: the region and the leaf in one word, so that a signal handler's use in
 * between cannot pair one's region with another's leaf), which objects allocated
 * together share: a lookup is then a thread-local load and a compare (callgrind,
 * bench/progs/hotpath malloc at rate 1, per allocation pair: with the walk alone issue
 * 29's changes cost 63 instructions more, 2,948 -> 3,011; with the cache 43, 1.5%, of
 * which 37 in cp_live_*; BENCHMARKS.md). A leaf is never unmapped but by a fork child's
 * reset, which clears its one thread's. */
#define SH_ADDR_BITS 47
#define SH_REGION_BITS 18
#define SH_GRAN_BITS 5 /* 32-byte granules */
#define SH_LEAF_N ((size_t)1 << (SH_REGION_BITS - SH_GRAN_BITS))
#define SH_PAGE_BITS 10 /* the two middle levels */
#define SH_PAGE_N ((size_t)1 << SH_PAGE_BITS)
#define SH_L3_SHIFT SH_REGION_BITS
#define SH_L2_SHIFT (SH_L3_SHIFT + SH_PAGE_BITS)
#define SH_TOP_SHIFT (SH_L2_SHIFT + SH_PAGE_BITS)
#define SH_TOP_N ((size_t)1 << (SH_ADDR_BITS - SH_TOP_SHIFT))

static void *sh_top[SH_TOP_N]; /* level-2 pages (atomic entries) */
#define SH_RBITS (SH_ADDR_BITS - SH_REGION_BITS) /* a region's number */
/* this thread's last leaf: (leaf >> 12) << SH_RBITS | its region's number; 0 = none (a
 * page-aligned leaf below 2^47 has 35 significant bits, a region's number 29) */
static __thread uint64_t sh_last __attribute__((tls_model("initial-exec")));
static bool sh_on;             /* the shadow map is in use (dense: cp_live_init) */
static bool table_used;        /* atomic: some object went to the hash table */

/* which 16-byte half of its granule k starts in (the entry's low bit) */
static inline uintptr_t sh_half(uintptr_t k)
{
    return (k >> 4) & 1;
}

static inline bool sh_ok(uintptr_t k)
{
    return (k & 15) == 0 && k < ((uintptr_t)1 << SH_ADDR_BITS) && sh_on;
}

/* The slots of k's level-2 and level-3 pages' entries, given the page. */
static inline void **sh_l2_slot(void **l2, uintptr_t k)
{
    return &l2[(k >> SH_L2_SHIFT) & (SH_PAGE_N - 1)];
}

static inline void **sh_l3_slot(void **l3, uintptr_t k)
{
    return &l3[(k >> SH_L3_SHIFT) & (SH_PAGE_N - 1)];
}

static inline void sh_remember(uintptr_t k, const uintptr_t *leaf)
{
    __atomic_store_n(&sh_last, (uint64_t)(uintptr_t)leaf >> 12 << SH_RBITS | k >> SH_REGION_BITS,
                     __ATOMIC_RELAXED);
}

static __attribute__((noinline)) uintptr_t *sh_walk(uintptr_t k)
{
    void **l2 = __atomic_load_n(&sh_top[k >> SH_TOP_SHIFT], __ATOMIC_ACQUIRE);
    void **l3 = l2 ? __atomic_load_n(sh_l2_slot(l2, k), __ATOMIC_ACQUIRE) : NULL;
    uintptr_t *leaf = l3 ? __atomic_load_n(sh_l3_slot(l3, k), __ATOMIC_ACQUIRE) : NULL;
    if (leaf)
        sh_remember(k, leaf);
    return leaf;
}

static inline uintptr_t *sh_leaf(uintptr_t k)
{
    /* (the leaf was published to this thread when it was remembered: an acquire then) */
    uint64_t c = __atomic_load_n(&sh_last, __ATOMIC_RELAXED);
    if (__builtin_expect(c && (c & (((uint64_t)1 << SH_RBITS) - 1)) == k >> SH_REGION_BITS, 1))
        return (uintptr_t *)(uintptr_t)(c >> SH_RBITS << 12);
    return sh_walk(k);
}

static uintptr_t *sh_entry(uintptr_t *leaf, uintptr_t k)
{
    return &leaf[(k >> SH_GRAN_BITS) & (SH_LEAF_N - 1)];
}

/* *slot, or if it is empty a fresh zeroed mapping of `bytes` installed there (unless
 * another thread did first: then theirs); NULL if none can be mapped. */
static void *sh_get(void **slot, size_t bytes)
{
    void *cur = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (cur)
        return cur;
    void *n = cp_mmap_anon(bytes);
    if (!n)
        return NULL;
    /* release: the zeroed page is visible before the pointer (the acquire loads above) */
    if (!__atomic_compare_exchange_n(slot, &cur, n, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        cp_munmap_anon(n, bytes); /* another thread made it */
        return cur;
    }
    return n;
}

/* The leaf for k, made (and the pages above it) if need be; NULL if it cannot be. */
static __attribute__((noinline)) uintptr_t *sh_new_leaf(uintptr_t k)
{
    void **l2 = sh_get(&sh_top[k >> SH_TOP_SHIFT], SH_PAGE_N * sizeof(void *));
    void **l3 = l2 ? sh_get(sh_l2_slot(l2, k), SH_PAGE_N * sizeof(void *)) : NULL;
    uintptr_t *leaf = l3 ? sh_get(sh_l3_slot(l3, k), SH_LEAF_N * sizeof(uintptr_t)) : NULL;
    if (leaf)
        sh_remember(k, leaf);
    return leaf;
}

static inline uintptr_t *sh_make_leaf(uintptr_t k)
{
    uintptr_t *leaf = sh_leaf(k);
    return leaf ? leaf : sh_new_leaf(k);
}

/* Visit every level-3 page's slot (counting, the fork child's reset): `slot` is a
 * void ** to a leaf pointer, maybe NULL. */
#define SH_FOR_EACH_L3(l2, l3, slot)                                                        \
    for (size_t t_ = 0; t_ < SH_TOP_N; t_++)                                                \
        for (void **l2 = __atomic_load_n(&sh_top[t_], __ATOMIC_ACQUIRE); l2; l2 = NULL)    \
            for (size_t i2_ = 0; i2_ < SH_PAGE_N; i2_++)                                    \
                for (void **l3 = __atomic_load_n(&l2[i2_], __ATOMIC_ACQUIRE); l3; l3 = NULL) \
                    for (void **slot = l3; slot < l3 + SH_PAGE_N; slot++)

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
    return __libc_single_threaded;
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
    while (v != 255 && !__atomic_compare_exchange_n(c, &v, v + 1, 1, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED))
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

void cp_live_prefetch(const void *p)
{
    uintptr_t k = (uintptr_t)p;
    if (sh_ok(k)) {
        uintptr_t *leaf = sh_leaf(k);
        if (leaf)
            __builtin_prefetch(sh_entry(leaf, k), 1);
        return;
    }
    unsigned ng = __atomic_load_n(&T.ngen, __ATOMIC_ACQUIRE);
    if (ng) {
        const struct gen *G = &T.gens[ng - 1];
        __builtin_prefetch(&G->slots[khash((uintptr_t)p) & G->mask], 1);
    }
}

static bool table_insert(const void *p, uintptr_t v)
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

static inline bool place(const void *p, uintptr_t v)
{
    uintptr_t k = (uintptr_t)p;
    if (!__atomic_load_n(&T.ready, __ATOMIC_ACQUIRE) || k <= TOMB || (k & 3) || !v)
        return false; /* not an address malloc returns */
    if (sh_ok(k) && !(v & 1)) {
        uintptr_t *leaf = sh_make_leaf(k);
        uintptr_t want = v | sh_half(k);
        if (leaf) {
            uintptr_t *e = sh_entry(leaf, k), cur = __atomic_load_n(e, __ATOMIC_ACQUIRE);
            /* empty, or this very address's (an object whose free we never saw): ours;
             * the granule's other half live: the table takes this one */
            if (alone() && (!cur || (cur & 1) == sh_half(k))) {
                __atomic_store_n(e, want, __ATOMIC_RELEASE);
                return true;
            }
            while (!cur || (cur & 1) == sh_half(k))
                /* release: the bucket is complete for whoever takes it out */
                if (__atomic_compare_exchange_n(e, &cur, want, 0, __ATOMIC_ACQ_REL,
                                                __ATOMIC_ACQUIRE))
                    return true;
        }
    }
    return table_insert(p, v);
}

bool cp_live_insert(const void *p, uintptr_t v)
{
    if (!place(p, v))
        return false;
    filter_inc(p);
    return true;
}

void cp_live_mark(const void *p)
{
    filter_inc(p);
}

static uintptr_t table_remove(const void *p);

uintptr_t cp_live_remove(const void *p)
{
    uintptr_t k = (uintptr_t)p;
    if (k <= TOMB)
        return 0;
    if (sh_ok(k)) {
        uintptr_t *leaf = sh_leaf(k);
        if (leaf) {
            uintptr_t *e = sh_entry(leaf, k), cur = __atomic_load_n(e, __ATOMIC_ACQUIRE);
            if (alone() && cur && (cur & 1) == sh_half(k)) {
                __atomic_store_n(e, 0, __ATOMIC_RELAXED);
                filter_dec(p);
                return cur & ~(uintptr_t)1;
            }
            while (cur && (cur & 1) == sh_half(k))
                if (__atomic_compare_exchange_n(e, &cur, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                    filter_dec(p);
                    return cur & ~(uintptr_t)1;
                }
        }
        /* a leaf that could not be mapped sent the object to the table */
        if (!__atomic_load_n(&table_used, __ATOMIC_ACQUIRE))
            return 0;
    }
    return table_remove(p);
}

const void *cp_live_entry_of(const void *p)
{
    uintptr_t k = (uintptr_t)p;
    uintptr_t *leaf = sh_ok(k) ? sh_leaf(k) : NULL;
    return leaf ? sh_entry(leaf, k) : NULL;
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

static uintptr_t table_remove(const void *p)
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
    __atomic_store_n(&s->key, TOMB, __ATOMIC_RELEASE);
    filter_dec(p);
    return v;
}

bool cp_live_resolve(const void *p, uintptr_t ref, uintptr_t v)
{
    uintptr_t k = (uintptr_t)p;
    if (k <= TOMB || !__atomic_load_n(&T.ready, __ATOMIC_ACQUIRE))
        return false;
    if (sh_ok(k)) {
        uintptr_t *leaf = sh_leaf(k);
        if (leaf) {
            uintptr_t *e = sh_entry(leaf, k), want = ref | sh_half(k);
            /* a bucket is 16-byte aligned: bit 0 stays the half */
            if (alone()) {
                if (__atomic_load_n(e, __ATOMIC_RELAXED) != want)
                    goto table;
                __atomic_store_n(e, v | sh_half(k), __ATOMIC_RELEASE);
                return true;
            }
            if (__atomic_compare_exchange_n(e, &want, v | sh_half(k), 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_RELAXED))
                return true;
        }
    table:
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
    uint64_t n = 0;
    SH_FOR_EACH_L3(l2, l3, slot) {
        uintptr_t *leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        for (size_t i = 0; leaf && i < SH_LEAF_N; i++)
            n += __atomic_load_n(&leaf[i], __ATOMIC_RELAXED) != 0;
    }
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
    /* the leaves and pages go; the top stays, cleared, and this thread (the child's one)
     * forgets its last leaf */
    __atomic_store_n(&sh_last, 0, __ATOMIC_RELAXED);
    SH_FOR_EACH_L3(l2, l3, slot) {
        if (*slot)
            cp_munmap_anon(*slot, SH_LEAF_N * sizeof(uintptr_t));
        if (slot == l3 + SH_PAGE_N - 1) /* its last slot: the page itself */
            cp_munmap_anon(l3, SH_PAGE_N * sizeof(void *));
    }
    for (size_t t = 0; t < SH_TOP_N; t++)
        if (sh_top[t]) {
            cp_munmap_anon(sh_top[t], SH_PAGE_N * sizeof(void *));
            sh_top[t] = NULL;
        }
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
