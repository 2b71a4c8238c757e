/*
 * ehframe.h — the .eh_frame parser (ehframe.c) and the shape word it answers with, which
 * the CFI walker (unwind.c) caches per return address and walks by. Internal to those two
 * files and the parser's fuzzer (tests/fuzz/fuzz_unwind.c); nothing here is the engine's
 * interface (unwind.h is).
 *
 * The shape's helpers are static inline: the walker's hot loop decodes a cached shape in
 * a few instructions, as when they were unwind.c's own.
 */
#ifndef CP_EHFRAME_H
#define CP_EHFRAME_H

#include <stdint.h>

/* The parser and the walker are built for x86-64 with glibc >= 2.35 (_dl_find_object);
 * elsewhere their entries are stubs (the end of each file): a walk answers -1 (the
 * caller's other unwinder takes the stack), a parse K_UNUSABLE. */
#if defined(__x86_64__) && defined(__GLIBC__) &&                                                   \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define HAVE_CFI 1
#else
#define HAVE_CFI 0
#endif

/* ---- shapes ------------------------------------------------------------------------ */

/* A shape in one word:
 *   bits 0-1   kind: 0 none yet, FRAME, END (return address undefined: the outermost
 *              frame), UNUSABLE
 *   bit 2      CFA is rbp + off (else rsp + off)
 *   bit 3      rbp saved at CFA + bp_off (else unchanged)
 *   bits 4-15  generation
 *   bits 16-31 bp_off (int16)
 *   bits 32-63 CFA offset (int32) */
enum { K_NONE = 0, K_FRAME = 1, K_END = 2, K_UNUSABLE = 3 };
#define S_CFA_RBP 4u
#define S_BP_SAVED 8u
#define S_SIGNAL 4u /* with K_END: the signal trampoline (__restore_rt), unwind.c: sigframe */
#define S_NOCFI 8u  /* with K_END: code no CFI covers, walked by rbp (unwind.c: nocfi_step) */
/* with S_NOCFI, in the bp_off field: the code is in no loaded object (else: in an object,
 * where no FDE covers it); NOCFI_NOTCODE: the address is in an object but in none of its
 * executable segments (its data: no code at all; unwind.c's parse_shape) */
#define NOCFI_NOOBJ 1
#define NOCFI_NOTCODE 2
#define GEN_MASK 0xfffu

static inline uint64_t make_shape(unsigned kind, int cfa_rbp, int bp_saved, int bp_off,
                                  int32_t cfa_off, unsigned gen)
{
    return (uint64_t)kind | (cfa_rbp ? S_CFA_RBP : 0) | (bp_saved ? S_BP_SAVED : 0) |
           (uint64_t)(gen & GEN_MASK) << 4 | (uint64_t)(uint16_t)(int16_t)bp_off << 16 |
           (uint64_t)(uint32_t)cfa_off << 32;
}

static inline unsigned shape_kind(uint64_t s)
{
    return (unsigned)(s & 3);
}

static inline unsigned shape_gen(uint64_t s)
{
    return (unsigned)(s >> 4) & GEN_MASK;
}

static inline int shape_bp_off(uint64_t s)
{
    return (int16_t)(uint16_t)(s >> 16);
}

static inline int32_t shape_cfa_off(uint64_t s)
{
    return (int32_t)(uint32_t)(s >> 32);
}

/* ---- the parser -------------------------------------------------------------------- */

/* The shape of the frame whose return address is pc + 1 (its row is the one at pc), in
 * the object mapped at [lo, hi) whose .eh_frame_hdr is at hdr; every read stays inside
 * [lo, hi). The shape carries generation gen. Never K_NONE: a frame no FDE covers is
 * K_END with S_NOCFI, anything the walker cannot follow K_UNUSABLE. Callers: unwind.c's
 * parse_shape (pc = ra - 1) and the fuzzer (gen 0). */
uint64_t cp_ehframe_parse(const uint8_t *hdr, const uint8_t *lo, const uint8_t *hi, uintptr_t pc,
                          unsigned gen);

#endif
