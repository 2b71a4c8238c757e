/*
 * bucket.c — the bucket hash table (see bucket.h).
 *
 * Contexts: cp_bucket_get from the flusher (heap allocations, when their records are
 * drained) and from hooks (mutex and block events); cp_bucket_all from the flusher; the
 * lock functions from the atfork handlers.
 *
 * Publication: a new bucket is fully written (key and stack), then made reachable by a
 * release store of the chain head (and of the all-list head); lookups load heads with
 * acquire, so a reader that finds a bucket sees its whole key. Buckets are never removed,
 * so there is no ABA and no reclamation.
 * Lock: the bucket lock, order 3 in docs/ARCHITECTURE.md's lock table ("Locks").
 */
#include "bucket.h"

#include <string.h>

#include "arena.h"
#include "log.h"
#include "newproc.h"
#include "spin.h"

/* The chain heads: 2^16, or 2^20 at dense rates (cp_bucket_init), where a program with
 * many stacks makes a bucket for each: 262k buckets on 2^16 chains made the flusher's
 * lookups 42% of a rate-1 run (perf, bench/progs/namestacks), a cache miss a step. Mapped
 * at the first bucket (atomic; set once, under lock): a process that never records
 * anything does not pay their address space (512 KiB, or 8 MiB touched only where
 * chains are) */
static uint64_t NHEADS = 1u << 16;
static struct cp_bucket **heads;
static int ready; /* cp_bucket_init was called */
static struct cp_bucket *all;    /* atomic: newest bucket */
static cp_spin lock = CP_SPIN_INIT;
static uint64_t max_bytes, used_bytes; /* used_bytes guarded by lock */
static uint64_t overflowed, nbuckets;  /* atomic */

int cp_bucket_init(uint64_t max, unsigned heads_bits)
{
    max_bytes = max;
    NHEADS = (uint64_t)1 << heads_bits;
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    return 0;
}

static struct cp_bucket **map_heads(void)
{
    cp_spin_lock(&lock);
    struct cp_bucket **hd = heads;
    if (!hd && (hd = cp_mmap_anon(NHEADS * sizeof *hd)) != NULL)
        /* release: the zeroed table is visible before the pointer (find's acquire) */
        __atomic_store_n(&heads, hd, __ATOMIC_RELEASE);
    cp_spin_unlock(&lock);
    return hd;
}

uint64_t cp_bucket_hash(enum cp_ptype type, uint64_t size, const uintptr_t *pcs, unsigned n)
{
    /* 64-bit multiply-mix over the words: fast for 32-frame stacks, well spread. */
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)type << 56) ^ size;
    for (unsigned i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    h ^= n;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

static int same(const struct cp_bucket *b, uint64_t h, enum cp_ptype type, uint64_t size,
                const uintptr_t *pcs, unsigned n)
{
    return b->hash == h && b->type == type && b->size == size && b->nstk == n &&
           memcmp(b->stk, pcs, n * sizeof *pcs) == 0;
}

static struct cp_bucket *find(uint64_t h, enum cp_ptype type, uint64_t size, const uintptr_t *pcs,
                              unsigned n)
{
    /* acquire: pairs with the release in insert(); the key is visible */
    struct cp_bucket **hd = __atomic_load_n(&heads, __ATOMIC_ACQUIRE);
    for (struct cp_bucket *b = __atomic_load_n(&hd[h % NHEADS], __ATOMIC_ACQUIRE); b;
         b = b->next)
        if (same(b, h, type, size, pcs, n))
            return b;
    return NULL;
}

/* Called with the lock held, after a second lookup failed. */
static struct cp_bucket *insert(uint64_t h, enum cp_ptype type, uint64_t size,
                                const uintptr_t *pcs, unsigned n, int overflow)
{
    size_t bytes = sizeof(struct cp_bucket) + n * sizeof *pcs;
    struct cp_bucket *b = cp_arena_alloc(bytes);
    if (!b)
        return NULL;
    used_bytes += bytes;
    b->hash = h;
    b->type = (uint8_t)type;
    b->size = size;
    b->nstk = (uint16_t)n;
    b->overflow = (uint8_t)overflow;
    memcpy(b->stk, pcs, n * sizeof *pcs);
    b->next = heads[h % NHEADS];
    b->allnext = all;
    /* release: publishes the bucket's key to find() and the flusher's walk */
    __atomic_store_n(&heads[h % NHEADS], b, __ATOMIC_RELEASE);
    __atomic_store_n(&all, b, __ATOMIC_RELEASE);
    __atomic_add_fetch(&nbuckets, 1, __ATOMIC_RELAXED);
    return b;
}

struct cp_bucket *cp_bucket_get(enum cp_ptype type, uint64_t size, const uintptr_t *pcs,
                                unsigned n)
{
    if (!__atomic_load_n(&heads, __ATOMIC_ACQUIRE) &&
        (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE) || !map_heads()))
        return NULL;
    if (n > CP_MAX_DEPTH)
        n = CP_MAX_DEPTH;
    uint64_t h = cp_bucket_hash(type, size, pcs, n);
    struct cp_bucket *b = find(h, type, size, pcs, n);
    if (b)
        return b;
    cp_newproc(); /* a child no handler saw (newproc.h) is reset before the lock is taken */
    cp_spin_lock(&lock);
    b = find(h, type, size, pcs, n);
    if (!b) {
        size_t bytes = sizeof(struct cp_bucket) + n * sizeof *pcs;
        if (used_bytes + bytes <= max_bytes) {
            b = insert(h, type, size, pcs, n, 0);
        } else {
            /* Past the cap: fold into the overflow bucket of this type (and, for the
             * heap, of this power-of-two size class), counted. */
            uint64_t osize = 0;
            if (type == CP_HEAP) {
                osize = 1;
                while (osize < size && osize < (1ull << 62))
                    osize <<= 1;
            }
            static const uintptr_t none[1] = {0};
            uint64_t oh = cp_bucket_hash(type, osize, none, 0) ^ 0x5bd1e995;
            b = find(oh, type, osize, none, 0);
            if (!b)
                b = insert(oh, type, osize, none, 0, 1);
            __atomic_add_fetch(&overflowed, 1, __ATOMIC_RELAXED);
        }
    }
    cp_spin_unlock(&lock);
    return b;
}

struct cp_bucket *cp_bucket_all(void)
{
    return __atomic_load_n(&all, __ATOMIC_ACQUIRE);
}

uint64_t cp_bucket_overflowed(void)
{
    return __atomic_load_n(&overflowed, __ATOMIC_RELAXED);
}

uint64_t cp_bucket_count(void)
{
    return __atomic_load_n(&nbuckets, __ATOMIC_RELAXED);
}

void cp_bucket_lock(void)
{
    cp_spin_lock(&lock);
}

void cp_bucket_unlock(void)
{
    cp_spin_unlock(&lock);
}

void cp_bucket_reset_lock(void)
{
    cp_spin_reset(&lock);
}
