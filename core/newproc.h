/*
 * newproc.h — noticing that this is a new process that no atfork handler announced.
 *
 * fork() runs the pthread_atfork handlers (cp_prof_atfork_*), which reset the engine in
 * the child. _Fork(), a raw clone(SIGCHLD) (container runtimes, some language runtimes),
 * or a fork made with the syscall do not: the child inherits "the flusher is running"
 * with no flusher, locks its threads held, the parent's rings, live table and file.
 * cp_newproc() tells, at one load and a branch, from a byte in a MADV_WIPEONFORK page:
 * the kernel gives every child, however made, that page zeroed (vfork and CLONE_VM
 * children share the parent's memory and are not new processes in this sense). Where
 * the kernel cannot wipe (before Linux 4.14), the byte stays 1 and cp_newproc_waiting()
 * compares pids on the one path where an unannounced child would otherwise hang: a full
 * ring waiting for a flusher.
 *
 * When a new process is noticed, the reset registered with cp_newproc_set_reset (the
 * host's child_reset, prof.h's struct cp_host, which cp_prof_set_host registers: the
 * shim's, which also picks the child's own file) runs on the calling thread -- the only
 * thread a child made this way has -- exactly as the atfork child handler would, and
 * cp_newproc_unseen stays true: such a child gets no flusher thread of its own until the
 * program itself creates a thread (its state may forbid creating one: after _Fork in a
 * multi-threaded parent only async-signal-safe calls are allowed); it flushes inline.
 *
 * No atfork prepare ran, so any engine lock may have been held by a thread the child does
 * not have: every entry that takes one on a program's thread asks cp_newproc() first
 * (a ring for a new thread, a new bucket, a module-table refresh, the program's first
 * thread), and the reset re-initialises them all (flusher.c's atfork_child_own, and the
 * waiter table's here, whose own atfork handler did not run either).
 *
 * Contexts: init (the constructor), atfork child (cp_newproc_mark), and the engine's
 * sampled-event, ring-wait, lock-taking and exit paths (never the unsampled hot path).
 */
#ifndef CP_NEWPROC_H
#define CP_NEWPROC_H

#include <stdbool.h>
#include <stdint.h>

extern uint8_t *cp_newproc_same; /* 1 in the process that marked it, 0 in its children */
extern bool cp_newproc_unseen;   /* this process was noticed, not announced by atfork */

/* Map the page and mark this process (cp_prof_init). */
void cp_newproc_init(void);
/* This process is the current one (after init; in the atfork child handler). */
void cp_newproc_mark(void);
/* Who resets the engine in a noticed child (default: cp_prof_atfork_child(NULL)). */
void cp_newproc_set_reset(void (*reset)(void));

bool cp_newproc_slow(void);
/* Is this a new process? If so, the engine has just been reset (returns true): an
 * event in progress that carries the parent's state (a free's live-table entry) must be
 * dropped; a new one goes on as the child's. */
static inline bool cp_newproc(void)
{
    return __builtin_expect(!__atomic_load_n(cp_newproc_same, __ATOMIC_RELAXED), 0) &&
           cp_newproc_slow();
}
/* The same, also by pid where the page cannot be wiped: for waits on the flusher. */
bool cp_newproc_waiting(void);
/* For tests: behave as on a kernel without MADV_WIPEONFORK (the pid comparison only). */
void cp_newproc_test_nowipe(void);

#endif
