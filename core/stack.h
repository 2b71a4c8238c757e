/*
 * stack.h — stack capture (hook and flusher contexts). Part of the engine's interface to
 * the shim (core/prof.h includes it): it includes nothing else of core/ (the module table
 * is modules.h's, which the shim never sees).
 *
 * Capture: our CFI walker (default, unwind.h), with libunwind's unw_backtrace for any
 * stack it cannot walk; libunwind alone; frame pointers (CTRPROF_UNWIND=fp, bounded and
 * checked against the thread's stack so a frame-pointer-less caller cannot fault us); or
 * CTRPROF_UNWIND=check, both ways with libunwind's result kept and differences counted.
 */
#ifndef CP_STACK_H
#define CP_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"

/* Or'ed into the unwind argument below by a caller that must not allocate (a lock hook,
 * which may run while an allocator behind us holds its own mutex): libunwind, loaded with
 * dlopen, allocates its thread-local storage on a thread's first walk, so there a stack
 * the CFI walker cannot follow goes to frame pointers until this thread has used
 * libunwind once from a context that may allocate (a heap sample). */
#define CP_UNWIND_NOALLOC 0x100

/* The most frames a caller asks cp_stack_capture* for (CTRPROF_DEPTH's cap, 128, and 24
 * of the shim's): buffers on the program's stack are sized by it (ownstack.h). */
#define CP_STACK_MAX_WALK 152

/* Capture up to max return addresses of the calling thread, innermost first, skipping
 * the innermost `skip` frames (the profiler's own). Returns the number stored. Sets
 * *truncated when the stack was deeper than max. */
unsigned cp_stack_capture(int unwind, uintptr_t *pcs, unsigned max, unsigned skip, int *truncated);
/* The same, from the caller of the function whose frame-pointer frame is `frame` (its
 * saved rbp slot: frame[0] is the caller's rbp, frame[1] the return address, frame + 2
 * the caller's stack pointer), skipping every frame below it without looking at them.
 * Only the CFI walker starts there; the other unwinders, and a CFI walk that fails,
 * capture from the calling function as cp_stack_capture does, frames below `frame`
 * included. */
unsigned cp_stack_capture_from(int unwind, const uintptr_t *frame, uintptr_t *pcs, unsigned max,
                               int *truncated);
/* Note which thread is the main one and where its stack ends (the shim's constructor;
 * before it, captures on the main thread find no bounds: the CFI walk hands them to
 * libunwind, the frame-pointer walk returns nothing). Other threads need no set-up. */
void cp_stack_init(void);
/* Learn the signal trampoline's address (the frame-pointer walk goes through a signal
 * frame at it, as the CFI walker does): once a handler installed through glibc is in
 * place (the shim's SIGBUS one). Constructor only. */
void cp_stack_learn_restorer(void);
/* Counts since start-up: CFI walks that handed the stack to libunwind; in CP_UNWIND_CHECK
 * mode, stacks walked both ways and how many of them differed. */
void cp_stack_stats(uint64_t *fallbacks, uint64_t *checked, uint64_t *differ);
/* libunwind is loaded on first need (stack.c), in a context where dlopen is safe: start-up
 * (CTRPROF_UNWIND=libunwind or check) or the flusher thread, once a walk has wanted it
 * (wanted: asked for, not tried yet). Until then such walks use frame pointers, counted in
 * fp_fallbacks. load returns 0 once libunwind is there, -1 if it cannot be (said once). */
int cp_stack_load_libunwind(void);
/* (inline: a single-threaded process asks at every inline flush, flusher.c) */
extern int cp_stack_lu_state __attribute__((visibility("hidden")));
extern int cp_stack_lu_wanted __attribute__((visibility("hidden")));
static inline bool cp_stack_libunwind_wanted(void)
{
    return __atomic_load_n(&cp_stack_lu_wanted, __ATOMIC_RELAXED) &&
           !__atomic_load_n(&cp_stack_lu_state, __ATOMIC_RELAXED);
}
/* A fork child whose parent had other threads: never call dl_iterate_phdr (no libunwind
 * walks, no module refresh) until exec; the loader's lock may be held by a thread that
 * is not in this process (stack.c). */
void cp_stack_loader_suspect(void);
uint64_t cp_stack_fp_fallbacks(void);
/* 1 once libunwind is loaded in this process and its walks can run (published as
 * ctrprof/health:libunwind-loaded, which a test waits on instead of guessing how long
 * the loading takes), else 0; it never goes back to 0. */
uint64_t cp_stack_libunwind_loaded(void);

/* Before a sandbox (publish.c): this thread's alternate signal stack, if it has one, is
 * remembered as a stack the walker knows, so that a handler's walk on it needs no
 * sigaltstack call afterwards (walks on other unknown stacks then have no bounds). */
void cp_stack_note_altstack(void);

/* A thread is being made (the shim's pthread_create hook) with a stack block of `size`
 * bytes (0: the default): coming before the real call, made after it with the new
 * thread's descriptor (self 0: the call failed). A walk on that thread then takes frames
 * within its own block's size below its descriptor for its own stack (a fiber's stack
 * mmap'd just below a small thread's block is another stack: threadspan.c). */
void cp_stack_thread_coming(size_t size);
void cp_stack_thread_made(uintptr_t self, size_t size);
/* The fork child: the table's lock (another thread's pthread_create hook may have held
 * it) and the threads coming (the parent's) are reset. */
void cp_stack_fork_child(void);
/* Tests only (test_forklocks): take or release that lock. */
void cp_stack_table_hold(bool hold);

/* Code was unloaded or loaded (the dlclose/dlopen hooks, preload/dl.c): every cached
 * unwind shape is parsed again when next met (unwind.c's cp_unwind_invalidate). */
void cp_stack_code_changed(void);

#endif
