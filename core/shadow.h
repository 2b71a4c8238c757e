/*
 * shadow.h — the shadow maps: a heap address's entry in the live table (live.h), found by
 * indexing rather than searching.
 *
 * Contexts: live.c only, which owns what an entry means (hooks: insert and remove; the
 * flusher: resolve; the fork child: reset). Lock-free: pages and leaves are installed by
 * compare-and-swap (shadow.c's get) and never unmapped but by a fork child's reset, which
 * runs alone; entries are read and written by live.c under its own protocol.
 *
 * Why (issue 23 and before): at high rates nearly every heap object is sampled, and a
 * hash table of them is far larger than the caches: each insert and each remove was a
 * miss at a random place, and a remove probed every generation (perf, rate 1 on perl
 * with 2 million live objects: 15% of the run in cp_live_*). A map instead gives each
 * address below 2^47 (every address glibc's malloc returns) a fixed entry: one access per
 * insert and per remove, and objects allocated together have their entries together.
 *
 * Two maps, by object size (live.c's CP_LIVE_WIDE_MIN chooses), each entry holding the
 * object's value and its birth (its allocation's stamp, which its free's record carries
 * for heaptime.c's lifetimes: beside the value, the free reads it with no miss of its
 * own):
 *   - the fine map, for small objects: two words (the value, the birth) per 32-byte
 *     granule (glibc's chunks are at least 32 bytes apart, so no two of its live objects
 *     share a granule; the value's bit 0 tells which 16-byte half an object starts in:
 *     live.c). 16-byte granules were twice the memory, and the kernel's page zeroing for
 *     them was 5.6% of perl's run.
 *   - the wide map, for objects of 512 bytes or more: three words (the address, the
 *     value, the birth) per 512-byte granule. Two live objects that large cannot start in
 *     one granule, whatever the allocator.
 * Why two: a leaf's page is touched wherever one object starts in it, so the fine map
 * costs half the address range its objects fill, whatever their size (a quarter before
 * the births came in, session 21: a heap of 100,000 objects of 4 KiB took 105 MB of
 * entries for 400 MB, session 20, BENCHMARKS.md). A page of the wide map covers 85 KiB:
 * at most 1/21 of the range.
 *
 * Sizes (issue 29: mapped in steps, so that an unprivileged mlockall under the default
 * 8 MiB RLIMIT_MEMLOCK, which counts every page of address space, and a tight RLIMIT_AS
 * leave a small program room): a fine leaf is 128 KiB and covers 256 KiB of addresses, a
 * wide one 48 KiB for 1 MiB (MAP_NORESERVE: a page is touched only where objects are).
 * Leaves are found through three levels of a radix tree, as a page table's: a static top
 * (2^9 words for the fine map, 2^7 for the wide one) and two levels of pages of 2^10
 * words (8 KiB each), each page mapped with the first leaf under it. A small program at
 * rate 1 maps a leaf for each region it samples in and two 8 KiB pages for each area of
 * addresses its objects are in (brk's heap, the mmap area): a few hundred KiB. A page or
 * leaf that cannot be mapped sends its objects to live.c's hash table.
 *
 * The walk costs three dependent loads; each thread keeps the last leaf it found in each
 * map (cp_sh_last: the region and the leaf in one word, so that a signal handler's use in
 * between cannot pair one's region with another's leaf), which objects allocated together
 * share: a lookup is then a thread-local load and a compare (callgrind,
 * bench/progs/hotpath malloc at rate 1, per allocation pair: with the walk alone issue
 * 29's changes cost 63 instructions more, 2,948 -> 3,011; with the cache 43, 1.5%;
 * BENCHMARKS.md).
 */
#ifndef CP_SHADOW_H
#define CP_SHADOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CP_SH_FINE, CP_SH_WIDE, CP_SH_NMAPS };

/* A map's geometry, from its number (a constant wherever it is used, so every one folds). */
#define CP_SH_ADDR_BITS 47
#define CP_SH_PAGE_BITS 10 /* the two middle levels: pages of 2^10 words */
#define CP_SH_PAGE_N ((size_t)1 << CP_SH_PAGE_BITS)
#define CP_SH_GRAN_BITS(m) ((m) == CP_SH_FINE ? 5 : 9)
#define CP_SH_WORDS(m) ((m) == CP_SH_FINE ? 2 : 3)                  /* words an entry */
#define CP_SH_LEAF_N(m) ((size_t)((m) == CP_SH_FINE ? 8192 : 2048)) /* entries a leaf */
#define CP_SH_LEAF_BYTES(m) (CP_SH_LEAF_N(m) * CP_SH_WORDS(m) * sizeof(uintptr_t))
#define CP_SH_REGION_BITS(m) ((m) == CP_SH_FINE ? 18 : 20) /* gran + log2(LEAF_N) */
#define CP_SH_L2_SHIFT(m) (CP_SH_REGION_BITS(m) + CP_SH_PAGE_BITS)
#define CP_SH_TOP_SHIFT(m) (CP_SH_L2_SHIFT(m) + CP_SH_PAGE_BITS)
#define CP_SH_TOP_N(m) ((size_t)1 << (CP_SH_ADDR_BITS - CP_SH_TOP_SHIFT(m)))
#define CP_SH_RBITS(m) (CP_SH_ADDR_BITS - CP_SH_REGION_BITS(m)) /* a region's number */

/* level-2 pages (atomic entries), by map; the wide map uses the first 2^6 */
extern void *cp_sh_top[CP_SH_NMAPS][CP_SH_TOP_N(CP_SH_FINE)];
/* this thread's last leaf, by map: (leaf >> 12) << RBITS | its region's number; 0 = none
 * (a page-aligned leaf below 2^47 has 35 significant bits, a region's number at most 29) */
extern __thread uint64_t cp_sh_last[CP_SH_NMAPS] __attribute__((tls_model("initial-exec")));

/* The leaf holding k's entry, found by the walk (and remembered), or NULL if there is none
 * yet; out of line: the thread's last leaf was another. */
uintptr_t *cp_sh_walk_fine(uintptr_t k);
uintptr_t *cp_sh_walk_wide(uintptr_t k);
/* The same, made (and the pages above it) if need be; NULL if it cannot be mapped. */
uintptr_t *cp_sh_new_leaf(int m, uintptr_t k);

static inline uintptr_t *cp_sh_leaf(int m, uintptr_t k)
{
    /* (the leaf was published to this thread when it was remembered: an acquire then) */
    uint64_t c = __atomic_load_n(&cp_sh_last[m], __ATOMIC_RELAXED);
    if (__builtin_expect(
            c && (c & (((uint64_t)1 << CP_SH_RBITS(m)) - 1)) == k >> CP_SH_REGION_BITS(m), 1))
        return (uintptr_t *)(uintptr_t)(c >> CP_SH_RBITS(m) << 12);
    return m == CP_SH_FINE ? cp_sh_walk_fine(k) : cp_sh_walk_wide(k);
}

static inline uintptr_t *cp_sh_make_leaf(int m, uintptr_t k)
{
    uintptr_t *leaf = cp_sh_leaf(m, k);
    return leaf ? leaf : cp_sh_new_leaf(m, k);
}

/* k's entry in its leaf: CP_SH_WORDS(m) words */
static inline uintptr_t *cp_sh_entry(int m, uintptr_t *leaf, uintptr_t k)
{
    return &leaf[((k >> CP_SH_GRAN_BITS(m)) & (CP_SH_LEAF_N(m) - 1)) * CP_SH_WORDS(m)];
}

/* Entries of map m whose first word is not 0 (for tests: a walk of every leaf). */
uint64_t cp_sh_count(int m);
/* A fork child (one thread): unmap every leaf and page, forget this thread's last leaves. */
void cp_sh_reset(void);

#endif
