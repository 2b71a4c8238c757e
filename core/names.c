/*
 * names.c — building counter names (docs/SCHEMA.md is the public contract).
 * Context: the flusher, once per bucket (names are cached as counter pointers).
 */
#include "names.h"

#include <stdbool.h>
#include <string.h>

#include "bucket.h"
#include "cfile.h"
#include "heaptime.h"
#include "log.h"
#include "modules.h"
#include "stack.h"

static const char *const heads[CP_NPTYPES][2] = {
    [CP_HEAP] = {"ctrprof/heap:alloc_objects", "ctrprof/heap:free_objects"},
    [CP_MUTEX] = {"ctrprof/mutex:contentions", "ctrprof/mutex:delay"},
    [CP_BLOCK] = {"ctrprof/block:contentions", "ctrprof/block:delay"},
};

static char *put_hex(char *o, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        o[i] = hex[v & 15];
    return o + digits;
}

/* "\n%08x+0x%lx" (id, off), or "\n?+0x%lx" (off) when !known, written directly (put_hex): through
 * cp_fmt a bucket's name cost ~500 instructions a frame, most of a default-rate sample's
 * cost in a single-threaded process (callgrind, gcc -O2's cc1: 28 M of the 43 M that
 * sampling at 512 KiB adds). frame has room for 40 bytes. */
static size_t put_frame(char *frame, bool known, uint32_t id, uintptr_t off)
{
    char *o = frame;
    *o++ = '\n';
    if (known)
        o = put_hex(o, id, 8);
    else
        *o++ = '?';
    memcpy(o, "+0x", 3);
    o += 3;
    o = put_hex(o, off, off ? (67 - __builtin_clzll(off)) / 4 : 1);
    return (size_t)(o - frame);
}

size_t cp_names_frames(const uintptr_t *pcs, unsigned n, char *buf, size_t len,
                       void (*seen)(void *ctx, const struct cp_module *m), void *ctx)
{
    return cp_names_frames_short(pcs, n, buf, len, seen, ctx, false);
}

size_t cp_names_frames_short(const uintptr_t *pcs, unsigned n, char *buf, size_t len,
                             void (*seen)(void *ctx, const struct cp_module *m), void *ctx,
                             bool dittos)
{
    size_t o = 0;
    const struct cp_module *prev = NULL;
    for (unsigned i = 0; i < n; i++) {
        uintptr_t pc = pcs[i];
        char frame[48];
        size_t fl;
        if (pc == CP_PC_TRUNCATED) {
            fl = cp_fmt(frame, sizeof frame, "\ntruncated");
            prev = NULL;
        } else {
            const struct cp_module *m = cp_modules_find(pc);
            if (dittos && m && m == prev) {
                /* "+<offset>": the module of the line above (docs/SCHEMA.md) */
                uintptr_t off = pc - m->bias;
                frame[0] = '\n';
                frame[1] = '+';
                fl = (size_t)(put_hex(frame + 2, off, off ? (67 - __builtin_clzll(off)) / 4 : 1) -
                              frame);
            } else {
                fl = put_frame(frame, m != NULL, m ? m->id : 0, m ? pc - m->bias : pc);
            }
            if (m && seen && m != prev)
                seen(ctx, m);
            prev = m;
        }
        if (o + fl > len) /* never cut a frame */
            return 0;
        memcpy(buf + o, frame, fl);
        o += fl;
    }
    return o;
}

/* heaptime.h's lifetime classes in Ctrprof-Format 4's kinds: the decade's digit (0: under
 * 1 us ... 8: 10 s and over; docs/SCHEMA.md), u: not known */
size_t cp_names_kind(int which, char *buf, size_t len)
{
    static const char cls[CP_NCLASS + 1] = "012345678u";
    size_t o;
    _Static_assert(CP_NAME_LIFE0 + CP_NCLASS == CP_NAME_PEAKB, "names.h's numbering");
    if (which == CP_NAME_PEAK)
        o = cp_fmt(buf, len, "p");
    else if (which >= CP_NAME_LIFE0 && which < CP_NAME_LIFE0 + CP_NCLASS)
        o = cp_fmt(buf, len, "l%c", cls[which - CP_NAME_LIFE0]);
    else if (which == CP_NAME_PEAKB)
        o = cp_fmt(buf, len, "pb");
    else if (which >= CP_NAME_LIFEB0 && which < CP_NAME_LIFEB0 + CP_NCLASS)
        o = cp_fmt(buf, len, "lb%c", cls[which - CP_NAME_LIFEB0]);
    else
        return 0;
    return o < len ? o : 0;
}

size_t cp_names_bucket(const struct cp_bucket *b, int which, char *buf, size_t len,
                       void (*seen)(void *ctx, const struct cp_module *m), void *ctx)
{
    if (len > CP_CFILE_MAX_NAME)
        len = CP_CFILE_MAX_NAME;
    size_t o;
    /* (the peak and lifetime counters are named by id through the stack table, with
     * cp_names_kind: only the two format-1 names are built whole here) */
    if (which < 0 || which > CP_NAME_FREE)
        return 0;
    o = cp_fmt(buf, len, "%s", heads[b->type][which]);
    if (b->overflow)
        o += cp_fmt(buf + o, o < len ? len - o : 0, "\nctrprof-overflow");
    if (o >= len)
        return 0;
    /* (zeroed: gcc -O3 cannot see that cp_bucket_stack writes the n frames read; a
     * bucket is named once) */
    uintptr_t stk[CP_MAX_DEPTH] = {0};
    unsigned n = cp_bucket_stack(b, stk);
    size_t fl = cp_names_frames(stk, n, buf + o, len - o, seen, ctx);
    if (n && !fl) /* cannot happen at depth <= 128 */
        return 0;
    return o + fl;
}

size_t cp_names_module(const struct cp_module *m, char *buf, size_t len)
{
    if (len > CP_CFILE_MAX_NAME)
        len = CP_CFILE_MAX_NAME;
    size_t o = cp_fmt(buf, len, "ctrprof/module:%08x:", m->id);
    if (m->buildid_len == 0)
        o += cp_fmt(buf + o, o < len ? len - o : 0, "-");
    for (unsigned i = 0; i < m->buildid_len; i++)
        o += cp_fmt(buf + o, o < len ? len - o : 0, "%02x", m->buildid[i]);
    const char *path = m->path[0] && !strchr(m->path, '\n') ? m->path : "?";
    o += cp_fmt(buf + o, o < len ? len - o : 0, ":%s", path);
    return o <= len ? o : 0;
}
