/*
 * arena.h — memory the engine keeps for the life of the process: buckets, rings. Comes
 * from mmap in 256 KiB chunks (larger requests get their own chunk), is never freed and
 * never touches malloc. Thread-safe (a spin lock; allocation is off the hot path).
 */
#ifndef CP_ARENA_H
#define CP_ARENA_H

#include <stddef.h>
#include <stdint.h>

/* 16-byte aligned, zeroed memory, or NULL if mmap failed (or fault injection says so). */
void *cp_arena_alloc(size_t size);
/* Bytes the arena has mapped so far (the profiler-bytes health counter). */
uint64_t cp_arena_mapped(void);
/* Bytes handed out by cp_arena_alloc from shared chunks (for the memory figure). */
uint64_t cp_arena_used(void);
/* Before a sandbox goes in: map what the engine may need later (a fresh chunk, and
 * spare_bytes for rings, tables and large requests); from then on no mmap or munmap, and
 * cp_sandboxed (spin.h) is set. Returns 0, or -1 if the spare could not be mapped. */
int cp_arena_freeze(size_t spare_bytes);

/* fork (cp_prof_atfork_*, docs/ARCHITECTURE.md "Locks"): prepare takes the arena's locks
 * (after the bucket lock, which is held around cp_arena_alloc), parent releases them, the
 * child resets them. */
void cp_arena_lock(void);
void cp_arena_unlock(void);
void cp_arena_reset_lock(void);

/* Fault injection (tests): the nth mmap from now fails (1 = the next); 0 turns it off. */
void cp_arena_fail_after(unsigned n);
/* Every engine mmap goes through here so fault injection covers them all. */
void *cp_mmap_anon(size_t size);
/* An engine mapping (or the counter file's growth) refused with -err (ENOMEM, EAGAIN):
 * said once per process tree once profiling has started (events.c; cp_mmap_anon calls
 * it through the pointer cp_prof_init hands it: cp_arena_on_refusal). Returns 0 (so that
 * a caller with a line of its own for other errors can choose in one expression:
 * publish.c). */
int cp_mem_refused(int err);
void cp_arena_on_refusal(int (*fn)(int err));
/* Undo a cp_mmap_anon (a mapping that lost a race to be installed). */
void cp_munmap_anon(void *p, size_t size);

#endif
