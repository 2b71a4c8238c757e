/*
 * shadow.c — the shadow maps' pages and leaves (shadow.h: the design and the geometry).
 *
 * Contexts: live.c's hooks and flusher paths (walks, new leaves: lock-free), the fork
 * child (reset: alone), tests (count). Memory: cp_mmap_anon only; a page or leaf that
 * lost the race to be installed is unmapped at once.
 */
#include "shadow.h"

#include "arena.h"

_Static_assert(CP_SH_LEAF_N(CP_SH_FINE) << CP_SH_GRAN_BITS(CP_SH_FINE) ==
                   (size_t)1 << CP_SH_REGION_BITS(CP_SH_FINE),
               "a fine leaf covers its region");
_Static_assert(CP_SH_LEAF_N(CP_SH_WIDE) << CP_SH_GRAN_BITS(CP_SH_WIDE) ==
                   (size_t)1 << CP_SH_REGION_BITS(CP_SH_WIDE),
               "a wide leaf covers its region");
_Static_assert(CP_SH_TOP_N(CP_SH_WIDE) <= CP_SH_TOP_N(CP_SH_FINE), "the tops' array");

void *cp_sh_top[CP_SH_NMAPS][CP_SH_TOP_N(CP_SH_FINE)];
__thread uint64_t cp_sh_last[CP_SH_NMAPS] __attribute__((tls_model("initial-exec")));

/* The slots of k's level-2 and level-3 pages' entries, given the page. */
static inline void **l2_slot(int m, void **l2, uintptr_t k)
{
    return &l2[(k >> CP_SH_L2_SHIFT(m)) & (CP_SH_PAGE_N - 1)];
}

static inline void **l3_slot(int m, void **l3, uintptr_t k)
{
    return &l3[(k >> CP_SH_REGION_BITS(m)) & (CP_SH_PAGE_N - 1)];
}

static inline void remember(int m, uintptr_t k, const uintptr_t *leaf)
{
    __atomic_store_n(&cp_sh_last[m],
                     (uint64_t)(uintptr_t)leaf >> 12 << CP_SH_RBITS(m) | k >> CP_SH_REGION_BITS(m),
                     __ATOMIC_RELAXED);
}

static inline __attribute__((always_inline)) uintptr_t *walk(int m, uintptr_t k)
{
    void **l2 = __atomic_load_n(&cp_sh_top[m][k >> CP_SH_TOP_SHIFT(m)], __ATOMIC_ACQUIRE);
    void **l3 = l2 ? __atomic_load_n(l2_slot(m, l2, k), __ATOMIC_ACQUIRE) : NULL;
    uintptr_t *leaf = l3 ? __atomic_load_n(l3_slot(m, l3, k), __ATOMIC_ACQUIRE) : NULL;
    if (leaf)
        remember(m, k, leaf);
    return leaf;
}

uintptr_t *cp_sh_walk_fine(uintptr_t k)
{
    return walk(CP_SH_FINE, k);
}

uintptr_t *cp_sh_walk_wide(uintptr_t k)
{
    return walk(CP_SH_WIDE, k);
}

/* *slot, or if it is empty a fresh zeroed mapping of `bytes` installed there (unless
 * another thread did first: then theirs); NULL if none can be mapped. */
static void *get(void **slot, size_t bytes)
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

uintptr_t *cp_sh_new_leaf(int m, uintptr_t k)
{
    void **l2 = get(&cp_sh_top[m][k >> CP_SH_TOP_SHIFT(m)], CP_SH_PAGE_N * sizeof(void *));
    void **l3 = l2 ? get(l2_slot(m, l2, k), CP_SH_PAGE_N * sizeof(void *)) : NULL;
    uintptr_t *leaf = l3 ? get(l3_slot(m, l3, k), CP_SH_LEAF_BYTES(m)) : NULL;
    if (leaf)
        remember(m, k, leaf);
    return leaf;
}

/* Visit every level-3 page's slot of map m: `slot` is a void ** to a leaf pointer, maybe
 * NULL; `l3` its page. */
#define FOR_EACH_L3(m, l3, slot)                                                                   \
    for (size_t t_ = 0; t_ < CP_SH_TOP_N(m); t_++)                                                 \
        for (void **l2_ = __atomic_load_n(&cp_sh_top[m][t_], __ATOMIC_ACQUIRE); l2_; l2_ = NULL)   \
            for (size_t i2_ = 0; i2_ < CP_SH_PAGE_N; i2_++)                                        \
                for (void **l3 = __atomic_load_n(&l2_[i2_], __ATOMIC_ACQUIRE); l3; l3 = NULL)      \
                    for (void **slot = l3; slot < l3 + CP_SH_PAGE_N; slot++)

uint64_t cp_sh_count(int m)
{
    uint64_t n = 0;
    FOR_EACH_L3 (m, l3, slot) {
        uintptr_t *leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        for (size_t i = 0; leaf && i < CP_SH_LEAF_N(m); i++)
            n += __atomic_load_n(&leaf[i * CP_SH_WORDS(m)], __ATOMIC_RELAXED) != 0;
    }
    return n;
}

static void reset_map(int m)
{
    __atomic_store_n(&cp_sh_last[m], 0, __ATOMIC_RELAXED);
    FOR_EACH_L3 (m, l3, slot) {
        if (*slot)
            cp_munmap_anon(*slot, CP_SH_LEAF_BYTES(m));
        if (slot == l3 + CP_SH_PAGE_N - 1) /* its last slot: the page itself */
            cp_munmap_anon(l3, CP_SH_PAGE_N * sizeof(void *));
    }
    for (size_t t = 0; t < CP_SH_TOP_N(m); t++)
        if (cp_sh_top[m][t]) {
            cp_munmap_anon(cp_sh_top[m][t], CP_SH_PAGE_N * sizeof(void *));
            cp_sh_top[m][t] = NULL;
        }
}

void cp_sh_reset(void)
{
    /* the leaves and pages go; the tops stay, cleared, and this thread (the child's one)
     * forgets its last leaves */
    reset_map(CP_SH_FINE);
    reset_map(CP_SH_WIDE);
}
