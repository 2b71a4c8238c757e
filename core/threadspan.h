/*
 * threadspan.h — how far below a thread's descriptor its own stack reaches (threadspan.c),
 * for stack.c's walk bounds: a frame further down is on another stack (a fiber's, a
 * coroutine's), walked with libunwind on the walk stack, never in place.
 *
 * Contexts: cp_threadspan from hooks (a walk on the calling thread); cp_threadspan_init
 * from cp_stack_init (start-up). The table the shim's pthread_create hook fills is
 * stack.h's cp_stack_thread_coming / _made (its lock: docs/ARCHITECTURE.md, "Locks").
 */
#ifndef CP_THREADSPAN_H
#define CP_THREADSPAN_H

#include <stdint.h>

/* The default window, from the process's default thread stack size. */
void cp_threadspan_init(void);

/* this thread's window once known (0: not yet; threadspan.c) */
extern __thread uintptr_t cp_threadspan_mine __attribute__((tls_model("initial-exec")));
uintptr_t cp_threadspan_find(uintptr_t self);

/* The window of the calling thread, whose descriptor is self (not the main thread's:
 * stack.c bounds that one by RLIMIT_STACK). */
static inline uintptr_t cp_threadspan(uintptr_t self)
{
    uintptr_t s = cp_threadspan_mine;
    return s ? s : cp_threadspan_find(self);
}

#endif
