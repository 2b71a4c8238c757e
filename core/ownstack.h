/*
 * ownstack.h — a stack of the profiler's own, for the work that needs big buffers (naming,
 * publishing, creating the counter file, starting the flusher) when it runs on an
 * application thread: an inline flush, the exit flush, the fork child.
 *
 * An application thread's stack may be a PTHREAD_STACK_MIN (16 KiB) thread's or a
 * MINSIGSTKSZ alternate signal stack; what the profiler puts on it is bounded by
 * CP_APP_STACK_BOUND (docs: README, "Stacks"; measured by tests/e2e/stacks.sh). A flush
 * needs ~9 KiB on its own (publish_bucket's and module_seen's 4 KiB name buffers, the
 * module table's PATH_MAX, the counter file's set-up), so it is switched to this stack.
 */
#ifndef CP_OWNSTACK_H
#define CP_OWNSTACK_H

/* Bytes of an application thread's stack the profiler uses at most, on any hook path
 * (sampled allocation, free, contention, exit, fork), any rate, measured by
 * tests/e2e/stacks.sh: with the CFI walker or frame pointers on any stack, and with any
 * unwinder on a stack that is not a thread's own (an alternate signal stack, a
 * coroutine's), where libunwind runs on the walk stack below. No call on these paths
 * goes through a PLT entry that is not bound yet (rawsys.h; cp_unwind_init). */
#define CP_APP_STACK_BOUND 4096
/* The same with libunwind (CTRPROF_UNWIND=libunwind or check) on a thread's own stack,
 * where libunwind runs in place (its walks are not serialised through the walk stack).
 * Tried (session wt-host): every libunwind walk on the walk stack cut a small thread's
 * use from +8,128 to +3,272 bytes (stacks.sh) for +353 instructions a sampled pair at
 * rate 1 (4,144 -> 4,497, callgrind); not kept, because the walk stack's one lock would
 * then be held across libunwind's first walk on a thread, which allocates its
 * thread-local storage: a lock hook on a thread inside an allocator that holds its own
 * lock (shim.sh 12's liblockalloc) would wait for that lock's holder, which waits for the
 * allocator. A walk stack per thread (mapped at its first libunwind walk) would not. */
#define CP_APP_STACK_BOUND_LIBUNWIND 9216

/* Size of the profiler's stack (one per process, mapped on first use, guard page below). */
#define CP_OWN_STACK_SIZE (256 * 1024)

/* Size of the stack libunwind walks of foreign stacks run on (cp_walk_stack_run). */
#define CP_WALK_STACK_SIZE (64 * 1024)

/* Run fn(arg) on the walk stack, one thread at a time (a spin lock); -1 (nothing run) if
 * it cannot be mapped. From a hook (re-entrancy guard held). A walk of the caller's stack
 * from fn goes through the switching trampoline's frame, whose CFI leads back to it. */
int cp_walk_stack_run(void (*fn)(void *), void *arg);
/* Fork child (either kind, newproc.h): the walk stack's lock, which a thread the child
 * does not have may have held, is free again. */
void cp_walk_stack_fork_child(void);

/* Run fn(arg) on the profiler's stack, or on the caller's if it cannot be mapped (said
 * once). One caller at a time: the caller holds cp_flush_lock (flusher.c), or is a fork child's
 * only thread. Not reentrant. */
void cp_own_stack_run(void (*fn)(void *), void *arg);
/* The same, the switch inline once the stack is mapped (an inline flush at rate 1 runs
 * at every event): the stack's base (ownstack.c's, guarded as the stack is), and the
 * switch itself (fn on the stack whose top is top). */
extern char *cp_own_flush_stack __attribute__((visibility("hidden")));
void cp_own_stack_call(void (*fn)(void *), void *arg, void *top)
    __attribute__((visibility("hidden")));
static inline void cp_own_stack_run_fast(void (*fn)(void *), void *arg)
{
    if (__builtin_expect(cp_own_flush_stack != 0, 1))
        cp_own_stack_call(fn, arg, cp_own_flush_stack + CP_OWN_STACK_SIZE);
    else
        cp_own_stack_run(fn, arg);
}

#endif
