/*
 * stacktab.h — a bucket's records in the counter file, Ctrprof-Format 4 (stacktab.c,
 * docs/SCHEMA.md). Context: the flusher, flush_lock held.
 */
#ifndef CP_STACKTAB_H
#define CP_STACKTAB_H

#include <stddef.h>
#include <stdint.h>

struct cp_bucket;
struct cp_cfile;
struct cp_module;

/* Make b->ctr[which] if it is not there yet (which 0: the bucket's record, holding its
 * stack and its first value; 1: ctrprof/f:<id> or, of a heap bucket whose first free
 * heaptime.c has seen, ctrprof/f<class>:<id>, its second value; heap only, 2 and 3:
 * ctrprof/ab:<id> and ctrprof/fb:<id>, bytes allocated and freed; all made after the first).
 * Modules of the frames written are reported through seen. 0 or a cp_cfile error. */
int cp_stacktab_counter(struct cp_cfile *f, struct cp_bucket *b, int which,
                        void (*seen)(void *ctx, const struct cp_module *m), void *ctx);
/* Make *out, the bucket's counter ctrprof/<kind>:<id> (naming the bucket first if it is
 * not named yet): any other per-bucket value (heaptime.c's peak and lifetimes), found
 * without a chain walk as the bucket's own are. Called once per (bucket, kind) and file:
 * the caller keeps *out. 0 or a cp_cfile error. */
int cp_stacktab_kind_counter(struct cp_cfile *f, struct cp_bucket *b, const char *kind, size_t kl,
                             uint64_t **out, void (*seen)(void *ctx, const struct cp_module *m),
                             void *ctx);
/* The file changed (opened, closed, a fork child's own): ids and ditto bases start over
 * (the caller clears its buckets' ctr and id). */
void cp_stacktab_reset(void);

#endif
