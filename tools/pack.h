/* pack.h — packing a profile nobody writes any more (pack.c): `ctrprof pack`, and
 * `ctrprof run` when its program is done. Offline context. */
#ifndef CP_PACK_H
#define CP_PACK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "cfile.h"

struct cp_pack_opts {
    int level; /* zstd's, 1..19 */
    bool keep; /* keep the counter file beside its packed copy */
    /* (may be NULL) handed the file's metadata and counters by the parse that checks it is
     * whole, as cp_cfile_parse hands them: `ctrprof run` reads the shim's notes there
     * instead of unpacking and parsing the packed copy again */
    cp_cfile_meta_fn meta;
    cp_cfile_counter_fn counter;
};

struct cp_pack_done {
    size_t from, to;       /* bytes of the counter file, and of its packed copy */
    char packed[PATH_MAX]; /* the packed copy's path (set whatever the outcome) */
    bool parsed;           /* the file parsed: the hooks had all of it (packed or not) */
};

/* One file of a batch. In: path, and ctx (the hooks' context for this file; NULL: the
 * hooks are not called for it). Out: rc 0: packed into path.zst and path removed (unless
 * o->keep); 1: left as it is for a reason that is no fault (a process still maps it, it is
 * packed already, path.zst exists, a symbolic link); -1: an error (unreadable, not a
 * whole counter file, the packed copy cannot be written). why: what happened, without
 * the path. */
struct cp_pack_one {
    const char *path;
    void *ctx;
    int rc;
    struct cp_pack_done done;
    char why[PATH_MAX + 200];
};

/* Pack n files, with one look at who writes them before and one after (each a pass over
 * every process's /proc/PID/fd and maps: holders.h), not two a file. */
void cp_pack_batch(struct cp_pack_one *f, size_t n, const struct cp_pack_opts *o);

#endif
