/*
 * meta.h — the counter file's metadata text (docs/SCHEMA.md, "Metadata"): built once at
 * start-up from the options, and the one difference a shared file may have (another
 * day's Time lines). The engine's side of the file format; the shim only says what goes
 * in (preload/shim.c's constructor).
 */
#ifndef CP_META_H
#define CP_META_H

#include <stddef.h>

#include "options.h"

/* The metadata for a file created `days` days after 1970-01-01 (UTC) by `program` (or
 * "shared") under the options o, into buf (NUL-terminated, cut at size - 1). Returns its
 * length. No malloc, no stdio: constructor context. */
size_t cp_meta_build(char *buf, size_t size, long days, const char *program, const char *version,
                     const struct cp_options *o);

/* A shared file created on another day differs from our metadata only in its two Time
 * lines: read the header of the file at path and, if that is the only difference, adopt
 * its text into meta (*len updated; size is meta's buffer). Returns 0 if adopted, -1 if
 * the file cannot be read or differs in anything else. */
int cp_meta_adopt_shared(const char *path, char *meta, size_t *len, size_t size);

/* The largest metadata text a counter file holds (cfile.h's CP_CFILE_MAX_META; meta.c
 * checks they agree), and whether cp_prof_init's error says a shared file was written with
 * other metadata (cfile.h's CP_CFILE_EMISMATCH), which cp_meta_adopt_shared may cure. */
#define CP_META_MAX 512u
int cp_meta_mismatch(int err);

#endif
