/*
 * names.h — counter names for buckets, modules and health, per docs/SCHEMA.md.
 * Context: the flusher (and tests). No malloc: names are built into caller buffers.
 */
#ifndef CP_NAMES_H
#define CP_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cp_bucket;
struct cp_module;

/* Which of a bucket's counters: heap alloc / mutex and block contentions, free / delay;
 * heap only: the unbiased objects in use at the peak, and freed objects by lifetime class
 * (CP_NAME_LIFE0 + k, k < CP_NCLASS in heaptime.h: the nine decades, then "lifetime not
 * known"); the same in bytes (PEAKB, LIFEB0). */
enum {
    CP_NAME_ALLOC = 0,
    CP_NAME_FREE = 1,
    CP_NAME_PEAK = 2,
    CP_NAME_LIFE0 = 3,
    CP_NAME_PEAKB = 13,
    CP_NAME_LIFEB0 = 14
};
/* A bucket's counter name as readers see it with its stack expanded, which CP_NAME_ALLOC
 * or CP_NAME_FREE (docs/SCHEMA.md: a heap site's "ctrprof/heap:alloc_objects" or
 * "free_objects", a mutex or block bucket's format-1 name; the file's own names come from
 * stacktab.c).
 * Returns the name's length (<= CP_CFILE_MAX_NAME), 0 if it cannot be built. Frames
 * that fall into a known module are reported through seen(ctx, module) so the caller can
 * publish the module's record. */
size_t cp_names_bucket(const struct cp_bucket *b, int which, char *buf, size_t len,
                       void (*seen)(void *ctx, const struct cp_module *m), void *ctx);
/* The frame lines of pcs[0..n), each "\n<frame>" (docs/SCHEMA.md), into buf[0..len);
 * modules reported through seen as above. Returns the length, 0 if they do not fit. */
size_t cp_names_frames(const uintptr_t *pcs, unsigned n, char *buf, size_t len,
                       void (*seen)(void *ctx, const struct cp_module *m), void *ctx);
/* The same, and with dittos, a frame in the module of the frame above it written
 * "\n+<offset hex>" (Ctrprof-Format 2 and 3's records, stacktab.c). */
size_t cp_names_frames_short(const uintptr_t *pcs, unsigned n, char *buf, size_t len,
                             void (*seen)(void *ctx, const struct cp_module *m), void *ctx,
                             bool dittos);
/* ctrprof/module:<id>:<build-id hex or ->:<path> */
size_t cp_names_module(const struct cp_module *m, char *buf, size_t len);

/* A heap bucket's per-bucket counter kind for which >= CP_NAME_PEAK, as Ctrprof-Format 4
 * names it (ctrprof/<kind>:<id>, stacktab.h; short, so that the counter takes the format's
 * smallest record): "p" (objects at the peak), "l<c>" (objects freed in lifetime class c:
 * a digit 0-8, or "u" for a lifetime not known), "pb", "lb<c>" (the same in bytes). Its
 * length, or 0. */
size_t cp_names_kind(int which, char *buf, size_t len);

#endif
