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

/* The object size of a heap counter "<prefix><size>\n<stack>" (prefix
 * "ctrprof/heap:alloc:" or "ctrprof/heap:free:"), or -1 for any other name. */
static inline long tu_heap_size(const uint8_t *name, size_t len, const char *prefix)
{
    size_t pl = strlen(prefix);
    unsigned size;
    if (len <= pl || memcmp(name, prefix, pl) != 0 ||
        sscanf((const char *)name + pl, "%u", &size) != 1)
        return -1;
    return (long)size;
}

/* A heap counter whose size is in [base, base + n): size - base, with *alloc telling an
 * allocation count from a free count; -1 for any other counter. */
static inline long tu_heap_slot(const uint8_t *name, size_t len, long base, long n, int *alloc)
{
    long a = tu_heap_size(name, len, "ctrprof/heap:alloc:");
    long f = a < 0 ? tu_heap_size(name, len, "ctrprof/heap:free:") : -1;
    long s = a >= 0 ? a : f;
    *alloc = a >= 0;
    return s >= base && s < base + n ? s - base : -1;
}

#endif
