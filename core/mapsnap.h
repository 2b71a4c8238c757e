/*
 * mapsnap.h — a snapshot of this process's readable mappings (/proc/self/maps), for
 * walks on a stack whose bounds nobody keeps (a coroutine's, a fiber's) when they cannot
 * be probed with process_vm_readv (a seccomp filter refuses it, or the process is
 * sandboxed and must not ask: stack.c, foreign_bounds). The walk then reads up to the end
 * of the readable mapping that holds its starting frame, with no system call.
 *
 * Taken off the hot path: before a sandbox goes in (publish.c, cp_prof_sandbox), and
 * again by whoever flushes (the flusher thread, or an inline flush on the profiler's own
 * stack) when a lookup missed, unless the process is sandboxed. A lookup between a
 * mapping's creation and the next refresh misses (that walk goes to libunwind, as
 * before). Staleness: a mapping unmapped since the snapshot still counts; the walk
 * starts on a live stack, so this only matters for frames past the stack's top, the
 * same trade the per-thread bounds cache (stack.c, fc_lo) makes.
 *
 * Contexts: lookup from hooks (any thread, lock-free: a seqlock over two buffers);
 * refresh with the flush lock held, on a stack with 4 KiB to spare.
 */
#ifndef CP_MAPSNAP_H
#define CP_MAPSNAP_H

#include <stdbool.h>
#include <stdint.h>

/* The readable mapping holding p: its end in *hi. false (and a refresh wanted) if none. */
bool cp_mapsnap_find(uintptr_t p, uintptr_t *hi);
/* Is a refresh wanted (a lookup missed since the last one)? Inline: an inline flush asks
 * at every event. */
extern int cp_mapsnap_want __attribute__((visibility("hidden")));
static inline bool cp_mapsnap_wanted(void)
{
    return __atomic_load_n(&cp_mapsnap_want, __ATOMIC_RELAXED) != 0;
}
/* Read /proc/self/maps into the spare buffer and publish it. 0 or a negative errno. */
int cp_mapsnap_refresh(void);
/* Fork child (either kind, newproc.h): a refresh the parent's flusher was making when a
 * _Fork copied the process left its buffer's sequence odd; make it even again, so that
 * the next refresh of that buffer publishes it readable. */
void cp_mapsnap_fork_child(void);

#endif
