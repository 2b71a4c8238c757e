/*
 * unwind.h — our own x86-64 stack walker: .eh_frame CFI, one frame shape cached per
 * return address (hook context; no malloc, no locks, no stdio).
 *
 * A frame's "shape" is what the CFI row at its return address says: the CFA is rsp or rbp
 * plus a constant, the return address sits at CFA-8, and rbp is either unchanged or saved
 * at CFA plus a constant. That covers what compilers emit for ordinary functions; anything
 * else (CFA expressions, stack realignment through another register, no unwind
 * information in an object) makes the walk give up, and the caller unwinds that stack
 * with libunwind instead; a frame in no loaded object (a JIT's code) is walked by its
 * frame pointer (unwind.c). Shapes are parsed from the module's .eh_frame_hdr/.eh_frame
 * (ehframe.c), found with _dl_find_object, once per return address, and kept in a
 * process-wide lock-free table; a walk over cached shapes reads two words of stack per
 * frame.
 *
 * A signal frame (the kernel's rt_sigreturn trampoline, glibc's __restore_rt) is walked
 * through: the interrupted code's registers are read from the ucontext the kernel saved.
 *
 * Every stack read is checked against the bounds of the stack it is on: the caller's for
 * the first stack, cp_stack_bounds' for the one a signal frame leads to.
 */
#ifndef CP_UNWIND_H
#define CP_UNWIND_H

#include <stdint.h>

/* Registers of the frame to start from: ip is a return address into a function whose
 * frame has stack pointer sp (its value after the return) and frame pointer bp. */
struct cp_unwind_regs {
    uintptr_t ip, sp, bp;
};

/* Walk from r, storing up to cap return addresses (r->ip first). Returns the number
 * stored (the stack ended, or cap was reached: then *full is set), or -1 if some frame
 * could not be walked with CFI (the caller must use another unwinder for this stack).
 * Stack reads are confined to [lo, hi). */
int cp_unwind_cfi(struct cp_unwind_regs r, uintptr_t *pcs, unsigned cap, uintptr_t lo, uintptr_t hi,
                  int *full);

/* The bounds [*lo, *hi) of the stack sp is on, where a walk may read (stack.c): past a
 * signal frame, the walk goes on on the interrupted code's stack. 0 if unknown. */
int cp_stack_bounds(uintptr_t sp, uintptr_t *lo, uintptr_t *hi);
/* A read below `want` is needed and *hi is lower: where the bounds were probed (a
 * coroutine's stack, stack.c), probe on; 1 if *hi reaches want now. */
int cp_stack_more(uintptr_t want, uintptr_t *hi);

/* Start-up (cp_stack_init): what the first walk would do on the program's stack. */
void cp_unwind_init(void);

/* Forget every cached shape (after dlclose: code at an address may change). */
void cp_unwind_invalidate(void);

/* This thread's cache of the last walk goes back to the pool now (tests; a thread that
 * goes gives its back by itself: a thread-specific key's destructor). */
void cp_unwind_thread_gone(void);
/* Fork child (flusher.c): the caches of threads the child does not have are free again. */
void cp_unwind_fork_child(void);

/* Tests: turn the per-thread cache of the last walk (unwind.c) off (0) and on again
 * (non-zero). */
void cp_unwind_cache_enable(int on);
/* Tests: how many of this thread's walks joined the one before. */
uint64_t cp_unwind_cache_joins(void);
/* Tests: how many caches of the last walk the pool holds (each thread's and the free). */
unsigned cp_unwind_caches(void);

/* Is the CFI walker available in this build (x86-64, glibc >= 2.35)? */
int cp_unwind_cfi_available(void);

/* Statistics for tests: shapes parsed, and of those, how many could not be used. */
void cp_unwind_stats(uint64_t *parsed, uint64_t *unusable);

#endif
