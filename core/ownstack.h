/*
 * ownstack.h — a stack of the profiler's own, for the work that needs big buffers (naming,
 * publishing, creating the counter file, starting the flusher) when it runs on an
 * application thread: an inline flush, solo mode's end, the exit flush, the fork child.
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
 * (sampled allocation, free, contention, exit, fork), any rate, any CTRPROF_UNWIND.
 * libunwind's own frames are most of it in CTRPROF_UNWIND=libunwind and check. */
#define CP_APP_STACK_BOUND 9216

/* Size of the profiler's stack (one per process, mapped on first use, guard page below). */
#define CP_OWN_STACK_SIZE (256 * 1024)

/* Run fn(arg) on the profiler's stack, or on the caller's if it cannot be mapped (said
 * once). One caller at a time: the caller holds flush_lock (prof.c), or is a fork child's
 * only thread. Not reentrant. */
void cp_own_stack_run(void (*fn)(void *), void *arg);

#endif
