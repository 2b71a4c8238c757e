/* early.h — the allocations made before the shim's constructor (early.c). */
#ifndef CP_EARLY_H
#define CP_EARLY_H

#include <stddef.h>
#include <stdint.h>

/* 1 until the constructor replays what it kept (malloc.c tests it on its slow paths) */
extern int cp_early_open;
/* Keep a successful allocation made before the constructor (p, n bytes; entry: the hook's
 * frame, whose return address is the caller's). */
void cp_early_alloc(void *p, size_t n, const uintptr_t *entry);
/* p, kept above, was freed (or realloc'd away) before the constructor ended. */
void cp_early_free(void *p);
/* The constructor, with the engine up and the guard released: account them in order. */
void cp_early_replay(void);
/* malloc.c: what free(p) records of a sampled p, without the real free (the replay). */
void cp_shim_free_record(void *p);

#endif
