/* unit_util.h — what several unit tests do with a counter file they wrote. */
#ifndef CP_UNIT_UTIL_H
#define CP_UNIT_UTIL_H

#include <stdio.h>
#include <string.h>

#include "cfile.h"
#include "names_read.h"

/* Load the file at path as a reader does (its published snapshot) and call cb for every
 * counter (format-2 bucket records as the format-1 names they stand for: cp_names_parse).
 * 0, -1 if it cannot be loaded, or the parse's error. */
static inline int tu_read_counters_settled(const char *path, cp_cfile_counter_fn cb, void *ctx,
                                           bool *settled)
{
    uint8_t *buf;
    size_t len;
    if (cp_cfile_load_settled(path, &buf, &len, settled))
        return -1;
    int err = cp_names_parse(buf, len, NULL, cb, ctx, NULL, 0);
    cp_cfile_unload(buf, len);
    return err;
}

static inline int tu_read_counters(const char *path, cp_cfile_counter_fn cb, void *ctx)
{
    uint8_t *buf;
    size_t len;
    if (cp_cfile_load(path, &buf, &len))
        return -1;
    int err = cp_names_parse(buf, len, NULL, cb, ctx, NULL, 0);
    cp_cfile_unload(buf, len);
    return err;
}

/* A heap site's object count (Ctrprof-Format 3, as names_read.h hands it over:
 * "ctrprof/heap:alloc_objects" or "ctrprof/heap:free_objects", then the stack) whose
 * innermost frame is a pc outside every module ("?+0x<pc>") base + i * stride, i < n: i,
 * with *alloc telling an allocation count from a free count; -1 for any other counter. */
static inline long tu_heap_slot(const uint8_t *name, size_t len, uintptr_t base, uintptr_t stride,
                                long n, int *alloc)
{
    static const char a[] = "ctrprof/heap:alloc_objects\n?+0x",
                      f[] = "ctrprof/heap:free_objects\n?+0x";
    const char *p;
    if (len > sizeof a - 1 && !memcmp(name, a, sizeof a - 1)) {
        *alloc = 1;
        p = (const char *)name + sizeof a - 1;
    } else if (len > sizeof f - 1 && !memcmp(name, f, sizeof f - 1)) {
        *alloc = 0;
        p = (const char *)name + sizeof f - 1;
    } else {
        return -1;
    }
    unsigned long pc;
    if (sscanf(p, "%lx", &pc) != 1 || pc < base || (pc - base) % stride)
        return -1;
    unsigned long i = (pc - base) / stride;
    return i < (unsigned long)n ? (long)i : -1;
}

#endif
