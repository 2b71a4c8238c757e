/*
 * why.c — see why.h. The rules: with heap sampling on and no heap sample,
 *   - a process that allocated less than one sampling interval through malloc, and ran
 *     briefly without contention, simply allocated too little at this rate;
 *   - one that allocated little through malloc but ran a second or more of CPU, or
 *     recorded mutex or block samples (so the shim was there and working), allocates
 *     outside malloc: its own allocator, or one linked in statically;
 *   - one that exec'd a program with LD_PRELOAD cleared (env -i) ran it unprofiled;
 *   - without notes, nothing more can be said than that no sample was drawn.
 */
#include "why.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfile.h"
#include "packed.h"
#include "profile.h"

void cp_notes_on_meta(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct cp_notes *n = ctx;
    if (cp_meta_key(k, kl, "MemRate"))
        n->mem_rate = cp_meta_u64(v, vl), n->have_rate = 1;
}

static int is(const uint8_t *name, size_t len, const char *want)
{
    return cp_meta_key((const char *)name, len, want);
}

void cp_notes_on_counter(void *ctx, const uint8_t *name, size_t len, uint64_t v)
{
    struct cp_notes *n = ctx;
    if (is(name, len, "ctrprof/note:malloc-bytes"))
        n->have_bytes = 1, n->malloc_bytes += v;
    else if (is(name, len, "ctrprof/note:forks"))
        n->forks += v;
    else if (is(name, len, "ctrprof/note:exec-without-shim"))
        n->exec_unprofiled += v;
    else if (is(name, len, "ctrprof/note:cpu-ms"))
        n->have_cpu = 1, n->cpu_ms += v;
    else if (is(name, len, "ctrprof/health:samples:heap"))
        n->heap_samples += v;
    else if (is(name, len, "ctrprof/health:samples:mutex") ||
             is(name, len, "ctrprof/health:samples:block"))
        n->lock_samples += v;
}

int cp_notes_read(const char *path, struct cp_notes *n)
{
    uint8_t *buf;
    size_t len;
    if (cp_cfile_load_any(path, &buf, &len, NULL) != 0)
        return -1;
    int rc =
        cp_cfile_parse(buf, len, cp_notes_on_meta, cp_notes_on_counter, n, NULL, 0) == 0 ? 0 : -1;
    cp_cfile_unload(buf, len);
    return rc;
}

void cp_notes_add(struct cp_notes *to, const struct cp_notes *from)
{
    to->have_bytes |= from->have_bytes;
    to->have_cpu |= from->have_cpu;
    to->malloc_bytes += from->malloc_bytes;
    to->cpu_ms += from->cpu_ms;
    to->exec_unprofiled += from->exec_unprofiled;
    to->forks += from->forks;
    to->heap_samples += from->heap_samples;
    to->lock_samples += from->lock_samples;
    if (from->have_rate)
        to->mem_rate = from->mem_rate, to->have_rate = 1; /* (the last file's, as read) */
}

static void human(uint64_t b, char *out, size_t len)
{
    if (b >= 10u << 20)
        snprintf(out, len, "%" PRIu64 " MiB", b >> 20);
    else if (b >= 10u << 10)
        snprintf(out, len, "%" PRIu64 " KiB", b >> 10);
    else
        snprintf(out, len, "%" PRIu64 " bytes", b);
}

int cp_why_exec(const struct cp_notes *n, const char *prog, char *out, size_t len)
{
    if (!n->exec_unprofiled)
        return 0;
    snprintf(out, len,
             "%s exec'd a program with LD_PRELOAD cleared from its environment (a wrapper such "
             "as env -i, or a launcher that resets it): what it ran was not profiled",
             prog);
    return 1;
}

int cp_why_empty(const struct cp_notes *n, const char *prog, char *out, size_t len)
{
    if (n->heap_samples || n->mem_rate == 0)
        return 0;
    if (n->exec_unprofiled)
        return cp_why_exec(n, prog, out, len);
    char b[32], r[32];
    human(n->malloc_bytes, b, sizeof b);
    human(n->mem_rate, r, sizeof r);
    if (n->have_bytes && n->malloc_bytes < n->mem_rate && (n->cpu_ms >= 1000 || n->lock_samples)) {
        snprintf(out, len,
                 "%s allocated only %s through malloc in %.1f s of CPU%s: it appears to allocate "
                 "outside malloc (its own allocator, or one linked in statically), which ctrprof "
                 "does not see",
                 prog, b, (double)n->cpu_ms / 1000,
                 n->lock_samples ? " while its locks were profiled" : "");
        return 1;
    }
    if (n->have_bytes) {
        snprintf(
            out, len,
            "%s allocated %s through malloc, %s one sample at a rate of %s, and none was drawn "
            "(--rate 1 records every allocation)",
            prog, b, n->malloc_bytes < n->mem_rate ? "less than" : "about", r);
        return 1;
    }
    snprintf(out, len,
             "%s drew no heap sample at a rate of %s (too few bytes allocated, or allocation "
             "outside malloc; --rate 1 records every allocation)",
             prog, r);
    return 1;
}
