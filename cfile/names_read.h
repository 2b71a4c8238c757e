/*
 * names_read.h — a profile's counters with each bucket's stack expanded, whichever format
 * wrote them: format-1 names, or a format-3 heap site's objects and bytes (names_read.c).
 * Offline only: tools, tests, fuzzers.
 */
#ifndef CP_NAMES_READ_H
#define CP_NAMES_READ_H

#include "cfile.h"

/* cp_cfile_parse, with the format-2 and -3 bucket records (docs/SCHEMA.md) expanded: each is
 * handed to counter_cb as the format-1 counters it stands for, "ctrprof/heap:alloc:<size>"
 * (and "ctrprof/heap:free:<size>" with its ctrprof/f value; mutex and block alike) then its
 * whole stack, after every other counter; ctrprof/f counters are not handed over, and
 * other per-bucket counters ctrprof/<kind>:<id> come as "ctrprof/heap:<kind>:<size>" (or
 * "ctrprof/mutex:<kind>", "ctrprof/block:<kind>") then the stack. A heap record of a
 * Ctrprof-Format 3 file (told by its metadata) is a site with unbiased values: it comes as
 * "ctrprof/heap:alloc_objects", "alloc_space", "free_objects", "free_space", and its peak
 * and life:<class> counters as "peak_objects", "peak_space", "life_objects:<class>",
 * "life_space:<class>" (bytes from its ab, fb, pb, lb:<class> counters, or the objects
 * times the record's size where the writer left them implied; other kinds as
 * "ctrprof/heap:<kind>"), each then the stack. A Ctrprof-Format 4 file's sites come as the
 * same names, from its kinds p, pb, l<c>, lb<c> and its free record ctrprof/f<c>:<id>
 * (the class it implies: the free objects and bytes less the site's other classes). Names of
 * a format-1 file, and every other counter, pass through as they are. Two records of one
 * stack (two processes sharing a file) give two calls with the same name: callers add. */
int cp_names_parse(const uint8_t *buf, size_t len, cp_cfile_meta_fn meta_cb,
                   cp_cfile_counter_fn counter_cb, void *ctx, char *where, size_t wherelen);

/* The same, handing over only the bucket records of the types in `types` (bit 0 heap, 1
 * mutex, 2 block; every other counter as cp_names_parse does): a reader of one profile
 * type does not have the others' stacks expanded (on a rate-1 heap profile of 262,144
 * stacks, most of a mutex profile's load). */
int cp_names_parse_types(const uint8_t *buf, size_t len, cp_cfile_meta_fn meta_cb,
                         cp_cfile_counter_fn counter_cb, void *ctx, char *where, size_t wherelen,
                         unsigned types);

#endif
