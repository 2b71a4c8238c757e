/*
 * frames.h — the frames of every bucket's stack, stored once (issue 23): a trie of
 * (parent, pc) nodes rooted at the outermost frame, so that stacks that share their outer
 * frames (a recursive program's, a server's request loop's) share their nodes; a bucket
 * keeps its innermost frame's node (its "leaf") and its depth. See frames.c.
 */
#ifndef CP_FRAMES_H
#define CP_FRAMES_H

#include <stdbool.h>
#include <stdint.h>

/* The empty stack's node (every stack's outermost frame is its child), and "none". */
#define CP_FRAME_ROOT 0u
#define CP_FRAME_NONE UINT32_MAX

/* One node: 16 bytes. */
struct cp_frame {
    uintptr_t pc;    /* a return address */
    uint32_t parent; /* the node of the frame that called this one (CP_FRAME_ROOT: none) */
    uint32_t hnext;  /* frames.c's insertion table: the next node of its chain */
};

/* The leaf of stack pcs[0..n) (innermost first), its nodes made where missing, or
 * CP_FRAME_NONE if memory ran out (the nodes made before that stay: each is a valid
 * prefix, shared by later stacks). Caller holds the bucket lock (bucket.c), which guards
 * every change here. */
uint32_t cp_frames_intern(const uintptr_t *pcs, unsigned n);
/* The node of index i (lock-free: i came from a bucket published with a release store, or
 * from a node's parent). */
const struct cp_frame *cp_frames_node(uint32_t i);
/* Whether the stack of leaf (exactly n frames deep) is pcs[0..n) (lock-free, as above). */
bool cp_frames_equal(uint32_t leaf, const uintptr_t *pcs, unsigned n);
/* The same, knowing that the outer hint_depth frames of pcs are the stack of node hint:
 * a walk that reaches hint at that depth stops there (a flusher's record shares its outer
 * frames with its ring's last stack, whose bucket it had: only the others are walked).
 * A walk that does not meet hint compares every frame. */
bool cp_frames_equal_hint(uint32_t leaf, const uintptr_t *pcs, unsigned n, uint32_t hint,
                          unsigned hint_depth);
/* The node up frames outward of leaf (the root if the stack is shorter). */
uint32_t cp_frames_ancestor(uint32_t leaf, unsigned up);
/* The nodes of leaf's stack (depth frames deep) at depths lo..hi (1 <= lo, hi <= depth) into
 * out[lo..hi]: out[d] is the node whose stack is its outer d frames. */
void cp_frames_path(uint32_t leaf, unsigned depth, unsigned lo, unsigned hi, uint32_t *out);
/* The stack of leaf, innermost first, into out[0..max): the number written (at most max:
 * the innermost max frames). */
unsigned cp_frames_read(uint32_t leaf, uintptr_t *out, unsigned max);
/* How many outermost frames the stacks of leaves a (na frames deep) and b (nb) share. */
unsigned cp_frames_shared_outer(uint32_t a, unsigned na, uint32_t b, unsigned nb);
/* Nodes made, and the bytes they and the insertion table take (bucket.c's cap counts them;
 * read under the bucket lock). */
uint64_t cp_frames_count(void);
uint64_t cp_frames_bytes(void);
/* The bytes a stack of n new frames may add at most (the cap's check, before interning). */
uint64_t cp_frames_bytes_max(unsigned n);

#endif
