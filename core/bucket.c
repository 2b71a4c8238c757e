/*
 * bucket.c — the bucket hash table (see bucket.h).
 *
 * Contexts: cp_bucket_get_hashed from the flusher (heap allocations, when their records
 * are drained: resolve.c) and cp_bucket_get from hooks (mutex and block events);
 * cp_bucket_mix from the flusher (resolve.c, under cp_flush_lock: arena memory); the
 * walk by index (cp_bucket_last_index, cp_bucket_by_hidx) from a fork child's set-up
 * and resolve.c; the lock functions from the atfork handlers; cp_bucket_prefetch
 * (bucket.h) from a hook's sampled allocation (events.c), reading only the heads.
 *
 * Publication: a new bucket is fully written (key, and its stack's nodes in frames.c),
 * then made reachable by a release store of the chain head; lookups load heads with
 * acquire, so a reader that finds a bucket sees its whole key and stack. Buckets are
 * never removed, so there is no ABA and no reclamation.
 *
 * A bucket's stack is not in the bucket: it is a path in frames.c's trie, shared with
 * every stack with the same outer frames; the bucket keeps its innermost node (leaf) and
 * depth. A lookup hashes the stack (the hash only picks a chain and filters with its
 * other 32 bits) and compares a candidate's type, depth and every frame, walking its
 * nodes from the leaf: a bucket per distinct stack, never two stacks merged.
 * Per bucket (issue 23): sizeof(struct cp_bucket), 96 bytes (was 240, and 8 a frame:
 * 496 at depth 32; then 152, of which the bytes of a heap site, their publication state
 * and counters, 48, are used only by a site of several sizes: now in a cp_bmix, made
 * when it has its second size, bucket.h; heaptime.c's state is found by the index, not a
 * pointer; a counter is its record's 4-byte offset, cfile.h's cp_cfile_value, not a
 * pointer), in pages of 256 by index; the nodes of the frames it shares with no
 * earlier stack (16 bytes each, 2 to 4 more in frames.c's insertion table: 5 nodes, ~95
 * bytes, a stack on bench/progs/namestacks); and a 4-byte chain head per bucket or
 * fewer (2^20 at dense rates). Its sums of the cycle being drained are not in it but in
 * the flusher's list of that cycle (resolve.c's cp_touched: 40 bytes per bucket touched).
 * The buckets' index (cp_bucket_by_hidx): a page of buckets is published with a release
 * store before any index in it is reachable, and a bucket never moves; read without the
 * lock.
 * Lock: the bucket lock, order 3 in docs/ARCHITECTURE.md's lock table ("Locks"); it also
 * guards frames.c's insertion.
 */
#include "bucket.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "arena.h"
#include "frames.h"
#include "line.h"
#include "log.h"
#include "newproc.h"
#include "rawsys.h"
#include "spin.h"

/* The chain heads: up to 2^16, or 2^20 at dense rates (cp_bucket_init), where a program
 * with many stacks makes a bucket for each: 262k buckets on 2^16 chains made the
 * flusher's lookups 42% of a rate-1 run (perf, bench/progs/namestacks), a cache miss a
 * step. Each head is a bucket index, 4 bytes. Mapped at the first bucket, FIRST_HEADS of
 * them (16 KiB), and grown 16-fold (grow_heads) whenever there are half as many buckets
 * as heads, up to the most: 16 KiB, 256 KiB, 4 MiB (issue 29: mapped up front, the 4 MiB
 * at rate 1 were half of an unprivileged mlockall's 8 MiB RLIMIT_MEMLOCK, which counts
 * address space, not the pages touched). A process that never records anything maps
 * none. The tables outgrown stay mapped (a lock-free reader may still be in one): with
 * 16-fold steps, a fifteenth more. cp_bucket_heads and cp_bucket_heads_mask are atomic:
 * a growth stores the new table, then its mask (both release); readers load the mask,
 * then the table (both acquire), so a mask never indexes past its table. */
#define FIRST_HEADS ((uint64_t)1 << 12)
#define GROW_BITS 4
static uint64_t NHEADS = 1u << 16;        /* the most */
CP_READ_MOSTLY uint32_t *cp_bucket_heads; /* atomic (bucket.h): bucket indexes, 0 for none */
struct cp_line_u64 cp_bucket_heads_mask;  /* atomic: their number - 1 */
static int grow_failed;                   /* guarded by lock: a growth could not be mapped */
static int ready;                         /* cp_bucket_init was called */
static cp_spin lock = CP_SPIN_INIT;
static uint64_t max_bytes, used_bytes; /* used_bytes (the buckets') guarded by lock */
static uint64_t hash_keep = ~0ull;     /* cp_bucket_hash_keep_for_tests */
static uint64_t overflowed, nbuckets;  /* atomic */

int cp_bucket_init(uint64_t max, unsigned heads_bits)
{
    max_bytes = max;
    NHEADS = (uint64_t)1 << heads_bits; /* the most (map_heads, grow_heads) */
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    return 0;
}

static uint32_t *map_heads(void)
{
    cp_spin_lock(&lock);
    uint32_t *hd = cp_bucket_heads;
    uint64_t n = FIRST_HEADS < NHEADS ? FIRST_HEADS : NHEADS;
    if (!hd && (hd = cp_mmap_anon(n * sizeof *hd)) != NULL) {
        /* release: the zeroed table is visible before the pointer (find's acquire), and
         * the pointer before the mask (the mask was 0: any table holds index 0) */
        __atomic_store_n(&cp_bucket_heads, hd, __ATOMIC_RELEASE);
        __atomic_store_n(&cp_bucket_heads_mask.v, n - 1, __ATOMIC_RELEASE);
    }
    cp_spin_unlock(&lock);
    return hd;
}

uint64_t cp_bucket_hash(enum cp_ptype type, const uintptr_t *pcs, unsigned n)
{
    /* 64-bit multiply-mix over the words, outermost first (bucket.h) */
    uint64_t h = CP_STKHASH_SEED;
    for (unsigned k = n; k-- > 0;)
        h = cp_stkhash_step(h, pcs[k]);
    return cp_stkhash_final(h, type, n);
}

void cp_bucket_hash_keep_for_tests(uint64_t keep)
{
    hash_keep = keep;
}

/* The buckets by index (bucket.h's hidx, from 1: the chains, the heads and the live
 * table's values hold indexes, 4 bytes): pages of 256 buckets from the arena, found
 * through a directory, so that index i is bucket i without a table of pointers. A page
 * is mapped, under the lock, when its first bucket is made, and published with a release
 * store before any index in it is reachable; a bucket never moves. */
#define BPAGE_BITS CP_BPAGE_BITS
#define BPAGE (1u << BPAGE_BITS)
struct cp_bucket *cp_bucket_dir[CP_HIDX_MAX >> BPAGE_BITS]; /* (bucket.h, cp_bucket_by_hidx) */
#define bdir cp_bucket_dir
static uint32_t nidx; /* indexes given (written under lock) */
static uint32_t pidx; /* the last index whose bucket is whole (release-stored by insert) */

static inline struct cp_bucket *by_idx(uint32_t i)
{
    /* (relaxed: the page was published before the index that leads here) */
    return &__atomic_load_n(&bdir[i >> BPAGE_BITS], __ATOMIC_RELAXED)[i & (BPAGE - 1)];
}

/* The next index's bucket, zeroed, with its index; NULL if none is left or its page
 * cannot be mapped (lock held). */
static struct cp_bucket *new_bucket(void)
{
    uint32_t i = nidx + 1;
    if (i >= CP_HIDX_MAX)
        return NULL;
    struct cp_bucket **pg = &bdir[i >> BPAGE_BITS];
    if (!*pg) {
        struct cp_bucket *n = cp_arena_alloc(BPAGE * sizeof *n);
        if (!n)
            return NULL;
        __atomic_store_n(pg, n, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&nidx, i, __ATOMIC_RELAXED);
    struct cp_bucket *b = &(*pg)[i & (BPAGE - 1)];
    b->hidx = i;
    return b;
}

/* A lookup's key: its hash, type, stack and whether it is an overflow bucket's; hint and
 * hint_depth as cp_frames_equal_hint's (CP_FRAME_ROOT, 0: none). */
struct key {
    uint64_t h;
    enum cp_ptype type;
    const uintptr_t *pcs;
    unsigned n;
    int overflow;
    uint32_t hint;
    unsigned hint_depth;
};

static int same(const struct cp_bucket *b, uint32_t tag, const struct key *k)
{
    return b->tag == tag && b->type == k->type && b->nstk == k->n && b->overflow == k->overflow &&
           cp_frames_equal_hint(b->leaf, k->pcs, k->n, k->hint, k->hint_depth);
}

/* Lock-free, but complete only under the lock: a growth (grow_heads) relinks the chains
 * under a reader that does not hold it, which may then miss a bucket (never loop: a link
 * always leads to an older bucket, never find a wrong one: the key is compared). Every
 * caller that finds nothing looks again under the lock before it inserts. */
static struct cp_bucket *find(const struct key *k)
{
    uint64_t h = k->h;
    /* the mask, then the table (see the heads' comment); acquire: pairs with the release
     * in insert(), the key is visible */
    uint64_t mask = __atomic_load_n(&cp_bucket_heads_mask.v, __ATOMIC_ACQUIRE);
    uint32_t *hd = __atomic_load_n(&cp_bucket_heads, __ATOMIC_ACQUIRE);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = __atomic_load_n(&hd[h & mask], __ATOMIC_ACQUIRE); i;) {
        struct cp_bucket *b = by_idx(i);
        if (same(b, tag, k))
            return b;
        i = __atomic_load_n(&b->next, __ATOMIC_RELAXED);
    }
    return NULL;
}

unsigned cp_bucket_stack(const struct cp_bucket *b, uintptr_t *out)
{
    return cp_frames_read(b->leaf, out, b->nstk < CP_MAX_DEPTH ? b->nstk : CP_MAX_DEPTH);
}

uint64_t cp_bucket_bytes(void)
{
    return used_bytes + cp_frames_bytes();
}

/* Once the heads are dense (a bucket for every 32 heads: by then nearly every 4 KiB
 * page of them has been touched), ask for them in 2 MiB pages: each lookup's first load
 * is at a random head, and with 4 KiB pages it was a TLB miss as well as a cache miss
 * (bench/progs/namestacks at rate 1: the producer's prefetch of the head, events.c, was
 * 9.9% of the CPU, stalled on the page walk; 4.4% with huge pages; CPU -11% in paired
 * runs, BENCHMARKS.md). Not at the start: a program with few stacks would then have the
 * whole 4 MiB resident, not the pages of its chains. Synchronous (MADV_COLLAPSE, Linux 6.1),
 * with the hint for khugepaged should it fail; neither in a sandbox (a filter may forbid
 * them, arena.c). Lock held, once. */
static void heads_huge(void)
{
    static int done;
    uint64_t n = cp_bucket_heads_mask.v + 1;
    size_t bytes = n * sizeof *cp_bucket_heads;
    if (done || bytes < (4u << 20) || nbuckets < n / 32 ||
        __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return;
    done = 1;
    cp_raw_syscall(SYS_madvise, (long)cp_bucket_heads, (long)bytes, MADV_HUGEPAGE, 0, 0, 0);
    cp_raw_syscall(SYS_madvise, (long)cp_bucket_heads, (long)bytes, 25 /* MADV_COLLAPSE */, 0, 0,
                   0);
}

/* The hash a bucket was found by (its key's: what cp_bucket_get_hashed's callers give,
 * cp_bucket_hash of its stack, or the overflow bucket's), from its stack. Lock held. */
static uint64_t hash_of(const struct cp_bucket *b)
{
    static const uintptr_t none[1] = {0};
    if (b->overflow)
        return (cp_bucket_hash(b->type, none, 0) ^ 0x5bd1e995) & hash_keep;
    uintptr_t pcs[CP_MAX_DEPTH];
    unsigned n = cp_bucket_stack(b, pcs);
    return cp_bucket_hash(b->type, pcs, n) & hash_keep;
}

/* Lock held, after an insert: once there are half as many buckets as heads, a table
 * GROW_BITS bits larger with every bucket relinked into it, in index order (so that a
 * link always leads to an older bucket, as in frames.c's grow), then published. A
 * growth that cannot be mapped leaves the chains longer, not wrong, and is not tried
 * again. The buckets' hashes are not kept (8 bytes a bucket, issue 23's layout): each
 * is hashed again from its stack, as many frames as its depth, twice per bucket in all
 * at 16-fold steps. */
static void grow_heads(void)
{
    uint64_t n = cp_bucket_heads_mask.v + 1;
    if (nbuckets * 2 < n || n >= NHEADS || grow_failed)
        return;
    uint64_t cap = n << GROW_BITS < NHEADS ? n << GROW_BITS : NHEADS;
    uint32_t *nh = cp_mmap_anon(cap * sizeof *nh);
    if (!nh) {
        grow_failed = 1;
        return;
    }
    for (uint32_t i = 1; i <= nidx; i++) {
        struct cp_bucket *b = by_idx(i);
        uint32_t *head = &nh[hash_of(b) & (cap - 1)];
        /* relaxed: a reader in the old table may follow it (find) */
        __atomic_store_n(&b->next, *head, __ATOMIC_RELAXED);
        *head = i;
    }
    __atomic_store_n(&cp_bucket_heads, nh, __ATOMIC_RELEASE);
    __atomic_store_n(&cp_bucket_heads_mask.v, cap - 1, __ATOMIC_RELEASE);
}

/* Called with the lock held, after a second lookup failed. */
static struct cp_bucket *insert(uint64_t h, enum cp_ptype type, const uintptr_t *pcs, unsigned n,
                                int overflow)
{
    uint32_t leaf = cp_frames_intern(pcs, n);
    if (leaf == CP_FRAME_NONE)
        return NULL;
    struct cp_bucket *b = new_bucket();
    if (!b)
        return NULL;
    used_bytes += sizeof *b;
    b->tag = (uint32_t)(h >> 32);
    b->leaf = leaf;
    b->type = (uint8_t)type;
    b->nstk = (uint16_t)n;
    b->overflow = (uint8_t)overflow;
    b->trunc = n && pcs[n - 1] == CP_PC_TRUNCATED;
    b->next = cp_bucket_heads[h & cp_bucket_heads_mask.v];
    /* release: publishes the bucket's key and its stack's nodes to find() */
    __atomic_store_n(&cp_bucket_heads[h & cp_bucket_heads_mask.v], b->hidx, __ATOMIC_RELEASE);
    /* release: every index up to this one is a whole bucket (cp_bucket_published_index) */
    __atomic_store_n(&pidx, b->hidx, __ATOMIC_RELEASE);
    __atomic_add_fetch(&nbuckets, 1, __ATOMIC_RELAXED);
    grow_heads();
    heads_huge();
    return b;
}

struct cp_bucket *cp_bucket_get(enum cp_ptype type, const uintptr_t *pcs, unsigned n)
{
    if (n > CP_MAX_DEPTH)
        n = CP_MAX_DEPTH;
    return cp_bucket_get_hashed(type, pcs, n, cp_bucket_hash(type, pcs, n), CP_FRAME_ROOT, 0);
}

struct cp_bucket *cp_bucket_get_hashed(enum cp_ptype type, const uintptr_t *pcs, unsigned n,
                                       uint64_t h, uint32_t hint, unsigned hint_depth)
{
    if (!__atomic_load_n(&cp_bucket_heads, __ATOMIC_ACQUIRE) &&
        (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE) || !map_heads()))
        return NULL;
    if (n > CP_MAX_DEPTH) {
        n = CP_MAX_DEPTH;
        h = cp_bucket_hash(type, pcs, n);
        hint = CP_FRAME_ROOT; /* (its depths were the whole stack's) */
        hint_depth = 0;
    }
    struct key k = {h & hash_keep, type, pcs, n, 0, hint, hint_depth};
    struct cp_bucket *b = find(&k);
    if (b)
        return b;
    cp_newproc(); /* a child no handler saw (newproc.h) is reset before the lock is taken */
    cp_spin_lock(&lock);
    b = find(&k);
    if (!b) {
        uint64_t bytes = sizeof(struct cp_bucket) + cp_frames_bytes_max(n);
        /* (the last three indexes are kept for the overflow buckets) */
        if (cp_bucket_bytes() + bytes <= max_bytes && nidx + CP_NPTYPES + 1 < CP_HIDX_MAX) {
            b = insert(k.h, type, pcs, n, 0);
        } else {
            /* Past the cap: fold into the overflow bucket of this type, counted (a heap
             * sample carries its own weight, so one bucket serves every size). */
            static const uintptr_t none[1] = {0};
            struct key o = {(cp_bucket_hash(type, none, 0) ^ 0x5bd1e995) & hash_keep,
                            type,
                            none,
                            0,
                            1,
                            CP_FRAME_ROOT,
                            0};
            b = find(&o);
            if (!b)
                b = insert(o.h, type, none, 0, 1);
            __atomic_add_fetch(&overflowed, 1, __ATOMIC_RELAXED);
        }
    }
    cp_spin_unlock(&lock);
    return b;
}

bool cp_bucket_mix(struct cp_bucket *b)
{
    if (b->u.mem.mixed)
        return true;
    /* (the flusher's, under cp_flush_lock: the arena's lock, order 4, under it) */
    struct cp_bmix *m = cp_arena_alloc(sizeof *m);
    if (!m)
        return false;
    uint64_t s0 = b->u.mem.size0;
    *m = (struct cp_bmix){b->u.mem.active.aobj * s0, b->u.mem.active.fobj * s0, {0, 0}, {0, 0}};
    b->u.mem.mix = m;
    b->u.mem.mixed = 1;
    return true;
}

uint64_t cp_bucket_overflowed(void)
{
    return __atomic_load_n(&overflowed, __ATOMIC_RELAXED);
}

uint32_t cp_bucket_last_index(void)
{
    return __atomic_load_n(&nidx, __ATOMIC_RELAXED);
}

uint32_t cp_bucket_published_index(void)
{
    return __atomic_load_n(&pidx, __ATOMIC_ACQUIRE);
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
