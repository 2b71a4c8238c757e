/*
 * snapshot.h — profile files named on a command line, read while their programs run (what
 * `ctrprof serve` and `ctrprof top` share). Offline context; not thread-safe (serve calls
 * it under its lock).
 *
 * An input is a file, or a directory meaning its regular files ending in ".count" (not
 * following symbolic links), listed again for every snapshot so that new processes
 * appear. A snapshot loads each file once with cp_cfile_load_any (a consistent copy as of
 * one publish boundary; a file mid-publish is waited for); a file that is gone, short,
 * corrupt or not a ctrprof profile is skipped and handed to the caller's `say`.
 */
#ifndef CP_SNAPSHOT_H
#define CP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

struct cp_snap {
    char *path;
    uint8_t *buf; /* the file's bytes (cp_cfile_load_any) */
    size_t len;
    uint64_t hash; /* of the bytes */
    char program[64];
    uint64_t rate[3]; /* MemRate, MutexFraction, BlockRate (by profile type) */
};

struct cp_snapset {
    struct cp_snap *v;
    size_t n, cap;
    size_t bad;    /* named or listed, but skipped */
    uint64_t hash; /* of every path and its bytes, in order */
};

/* Why a path was skipped (one line's worth, no newline). */
typedef void (*cp_say_fn)(void *ctx, const char *path, const char *what);

struct cp_snapin;
/* NULL after a line on stderr when an input does not exist. */
struct cp_snapin *cp_snapin_new(const char *const *paths, int n);
void cp_snapin_free(struct cp_snapin *in);

struct cp_snapset *cp_snapshot(const struct cp_snapin *in, cp_say_fn say, void *ctx);
void cp_snapset_free(struct cp_snapset *s);

/* The merged profile of type over set, minus the same paths in base (NULL: none),
 * finished (unbiased; symbolized with sym unless no_symbols). A file whose rate differs
 * from the files before it is said and left out. Release with cp_snap_release (sym is the
 * caller's and lives on). */
void cp_snap_build(struct cp_profile *p, int type, const struct cp_snapset *set,
                   const struct cp_snapset *base, int no_symbols, struct cp_symbolizer *sym,
                   cp_say_fn say, void *ctx);
void cp_snap_release(struct cp_profile *p);

#endif
