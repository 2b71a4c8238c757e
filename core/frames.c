/*
 * frames.c — the frames of every bucket's stack, stored once (frames.h; issue 23).
 *
 * A bucket used to carry its whole stack (32 frames: 256 bytes, more than its header): a
 * recursive program with 262k distinct stacks of depth 32 spent 67 MB on them, most of it
 * the same outer frames again and again. Here a stack is a path in a trie: a node is
 * (pc, parent), 16 bytes, the parent being the node of the calling frame, the outermost
 * frame's parent the root (node 0, the empty stack). Two stacks that share their k
 * outermost frames share those k nodes; a bucket keeps only its innermost frame's node.
 * bench/progs/namestacks' 262,144 stacks of 32 frames take ~1.3 M nodes (~5 per stack:
 * the frames inward from its last branching call), 21 MB with the insertion table,
 * against 67 MB of copies.
 *
 * Contexts and lock: nodes are made only under the bucket lock (bucket.c, order 3 in
 * docs/ARCHITECTURE.md's lock table), when a new bucket is inserted; that lock guards
 * the insertion table and the counts here. Nodes are read without it (bucket.c's find,
 * from the flusher and from hooks; stacktab.c and names.c, from the flusher): a node's pc
 * and parent are written before any bucket that reaches it is published (the bucket
 * table's release store), never change and are never freed, so a reader that found the
 * bucket with an acquire load sees them. The insertion table's links (hnext) are only
 * read and written under the lock.
 *
 * Storage: pages of 4096 nodes (64 KiB) from the arena, found through a directory, so a
 * node's index (32 bits: a bucket's leaf, a node's parent) never moves. The insertion
 * table finds the node (parent, pc): chained hash heads of 32-bit indexes, doubled when
 * there are twice as many nodes as heads (2 to 4 bytes a node; it is walked only when a
 * new bucket is made); if it cannot grow, chains get longer. A chain's links always point to older
 * nodes (smaller indexes), whatever was interrupted, so a walk ends, even in a fork child that
 * inherited a half-made doubling (a _Fork child no handler saw): there lookups may then miss a node
 * and make it again, which costs memory, never a wrong stack (bucket.c compares stacks by their
 * pcs, not by their nodes).
 *
 * Fork: nodes stay valid in the child (buckets and their stacks are kept); the bucket
 * lock covers everything here.
 */
#include "frames.h"

#include "arena.h"
#include "prof.h"

#define PAGE_BITS 12
#define PAGE_NODES (1u << PAGE_BITS)
#define FIRST_HEADS 4096u
#define MAX_NODES (1u << 26) /* 64 M nodes, 1 GiB: far past any bucket cap */
static struct cp_frame *dir[MAX_NODES >> PAGE_BITS]; /* pages, written under the lock */
static uint32_t nnodes;                              /* nodes made, with the root */
static uint32_t *heads;                              /* the insertion table */
static uint32_t hmask;                               /* its size - 1 */

static inline struct cp_frame *node(uint32_t i)
{
    /* (relaxed: the page was written before the bucket that leads here was published) */
    struct cp_frame *pg = __atomic_load_n(&dir[i >> PAGE_BITS], __ATOMIC_RELAXED);
    return &pg[i & (PAGE_NODES - 1)];
}

const struct cp_frame *cp_frames_node(uint32_t i)
{
    return node(i);
}

static inline uint32_t slot(uint32_t parent, uintptr_t pc)
{
    uint64_t h = (pc ^ ((uint64_t)parent * 0x9E3779B97F4A7C15ull)) * 0xff51afd7ed558ccdull;
    return (uint32_t)(h >> 32) & hmask;
}

/* Double the insertion table (lock held); on failure keep the old one. */
static void grow(void)
{
    uint32_t cap = heads ? (hmask + 1) * 2 : FIRST_HEADS;
    uint32_t *nh = cp_mmap_anon((size_t)cap * sizeof *nh), *old = heads;
    if (!nh)
        return;
    uint32_t omask = hmask;
    hmask = cap - 1;
    /* relinking in index order keeps every link pointing to an older node */
    for (uint32_t i = 1; i < nnodes; i++) {
        struct cp_frame *f = node(i);
        uint32_t s = slot(f->parent, f->pc);
        f->hnext = nh[s];
        nh[s] = i;
    }
    heads = nh;
    if (old)
        cp_munmap_anon(old, ((size_t)omask + 1) * sizeof *old);
}

/* The node (parent, pc), made if missing; CP_FRAME_NONE if it cannot be. fresh: parent
 * was made just now, so it has no child to look for. */
static uint32_t child(uint32_t parent, uintptr_t pc, bool fresh)
{
    uint32_t s = slot(parent, pc);
    for (uint32_t i = fresh ? 0 : heads[s]; i; i = node(i)->hnext) {
        const struct cp_frame *f = node(i);
        if (f->pc == pc && f->parent == parent)
            return i;
    }
    uint32_t i = nnodes;
    if (i >= MAX_NODES)
        return CP_FRAME_NONE;
    if (!dir[i >> PAGE_BITS]) {
        struct cp_frame *pg = cp_arena_alloc(PAGE_NODES * sizeof *pg);
        if (!pg)
            return CP_FRAME_NONE;
        __atomic_store_n(&dir[i >> PAGE_BITS], pg, __ATOMIC_RELAXED);
    }
    struct cp_frame *f = node(i);
    f->pc = pc;
    f->parent = parent;
    f->hnext = heads[s];
    heads[s] = i;
    nnodes = i + 1;
    if (nnodes > 2 * (hmask + 1)) /* chains of 1 to 2 on average */
        grow();
    return i;
}

/* The last stack interned, from its outermost frame (depth 1) in: its pcs and nodes
 * (path_node[0] the root), path_n deep. A new stack starts from the node of the outer
 * frames it shares with it: a program's consecutive new stacks share most of theirs (a
 * recursion's depth-first order), and the walk from the root was a cache miss a frame
 * in the insertion table (7% of a rate-1 run of bench/progs/namestacks, perf). Guarded
 * by the bucket lock; path_n is lowered before the entries change and raised after, so a
 * _Fork child that copied an update half done sees only entries that hold. */
static uintptr_t path_pc[CP_MAX_DEPTH + 1];
static uint32_t path_node[CP_MAX_DEPTH + 1];
static unsigned path_n;

uint32_t cp_frames_intern(const uintptr_t *pcs, unsigned n)
{
    if (!heads) {
        if (!dir[0]) { /* the root: node 0 */
            struct cp_frame *pg = cp_arena_alloc(PAGE_NODES * sizeof *pg);
            if (!pg)
                return CP_FRAME_NONE;
            __atomic_store_n(&dir[0], pg, __ATOMIC_RELAXED);
        }
        nnodes = nnodes ? nnodes : 1;
        grow();
        if (!heads)
            return CP_FRAME_NONE;
    }
    if (n > CP_MAX_DEPTH)
        n = CP_MAX_DEPTH;
    unsigned d = 0, have = __atomic_load_n(&path_n, __ATOMIC_RELAXED);
    while (d < n && d < have && path_pc[d + 1] == pcs[n - 1 - d])
        d++;
    uint32_t at = d ? path_node[d] : CP_FRAME_ROOT;
    __atomic_store_n(&path_n, d, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* (lowered before the entries change) */
    for (uint32_t made = nnodes; d < n; d++) {
        at = child(at, pcs[n - 1 - d], at >= made); /* (a node made in this walk) */
        if (at == CP_FRAME_NONE)
            return at;
        path_pc[d + 1] = pcs[n - 1 - d];
        path_node[d + 1] = at;
        __atomic_store_n(&path_n, d + 1, __ATOMIC_RELEASE);
    }
    return at;
}

bool cp_frames_equal(uint32_t leaf, const uintptr_t *pcs, unsigned n)
{
    return cp_frames_equal_hint(leaf, pcs, n, CP_FRAME_ROOT, 0);
}

bool cp_frames_equal_hint(uint32_t leaf, const uintptr_t *pcs, unsigned n, uint32_t hint,
                          unsigned hint_depth)
{
    /* A stack's nodes are mostly made together, in one page: the page's address is kept
     * and the directory read again only when a parent lies in another, so that each step
     * of this chain of dependent loads is one load, not two (bucket.c's find at rate 1) */
    uint32_t pgi = leaf >> PAGE_BITS;
    const struct cp_frame *pg = __atomic_load_n(&dir[pgi], __ATOMIC_RELAXED);
    for (unsigned k = 0; k < n; k++) {
        if (leaf == hint && n - k == hint_depth)
            return true; /* the rest is the hint's path, which the caller says pcs ends with */
        if (leaf == CP_FRAME_ROOT)
            return false;
        if (__builtin_expect(leaf >> PAGE_BITS != pgi, 0)) {
            pgi = leaf >> PAGE_BITS;
            pg = __atomic_load_n(&dir[pgi], __ATOMIC_RELAXED);
        }
        const struct cp_frame *f = &pg[leaf & (PAGE_NODES - 1)];
        if (f->pc != pcs[k])
            return false;
        leaf = f->parent;
    }
    return leaf == CP_FRAME_ROOT;
}

uint32_t cp_frames_ancestor(uint32_t leaf, unsigned up)
{
    for (; up && leaf != CP_FRAME_ROOT; up--)
        leaf = node(leaf)->parent;
    return leaf;
}

void cp_frames_path(uint32_t leaf, unsigned depth, unsigned lo, unsigned hi, uint32_t *out)
{
    for (; depth > hi; depth--)
        leaf = node(leaf)->parent;
    for (; depth >= lo; depth--) {
        out[depth] = leaf;
        leaf = node(leaf)->parent;
    }
}

unsigned cp_frames_read(uint32_t leaf, uintptr_t *out, unsigned max)
{
    unsigned k = 0;
    for (; k < max && leaf != CP_FRAME_ROOT; k++) {
        const struct cp_frame *f = node(leaf);
        out[k] = f->pc;
        leaf = f->parent;
    }
    return k;
}

unsigned cp_frames_shared_outer(uint32_t a, unsigned na, uint32_t b, unsigned nb)
{
    /* the depth of their deepest common node: bring both to one depth, then up together */
    for (; na > nb; na--)
        a = node(a)->parent;
    for (; nb > na; nb--)
        b = node(b)->parent;
    /* nodes are unique per (parent, pc) except after a fork child's lost doubling (see
     * the top); compare pcs, not nodes, below a node where they differ */
    unsigned shared = 0;
    for (unsigned d = na; d > 0; d--) {
        if (a == b) {
            shared += d;
            break;
        }
        const struct cp_frame *fa = node(a), *fb = node(b);
        shared = fa->pc == fb->pc ? shared + 1 : 0;
        a = fa->parent;
        b = fb->parent;
    }
    return shared;
}

uint64_t cp_frames_count(void)
{
    return nnodes ? nnodes - 1 : 0;
}

uint64_t cp_frames_bytes(void)
{
    return (uint64_t)nnodes * sizeof(struct cp_frame) + (heads ? ((uint64_t)hmask + 1) * 4 : 0);
}

uint64_t cp_frames_bytes_max(unsigned n)
{
    /* its nodes, and the insertion table's growth if they make it double (at most once:
     * n <= CP_MAX_DEPTH, far below its size) */
    uint64_t b = (uint64_t)n * sizeof(struct cp_frame), size = heads ? (uint64_t)hmask + 1 : 0;
    if (!heads)
        b += sizeof(struct cp_frame) + FIRST_HEADS * 4;
    else if (nnodes + n > 2 * size)
        b += size * 4;
    return b;
}
