/*
 * names_read.h — a profile's counters as Ctrprof-Format 1 names, whichever format wrote
 * them (names_read.c). Offline only: tools, tests, fuzzers.
 */
#ifndef CP_NAMES_READ_H
#define CP_NAMES_READ_H

#include "cfile.h"

/* cp_cfile_parse, with the format-2 bucket records (docs/SCHEMA.md) expanded: each is
 * handed to counter_cb as the format-1 counters it stands for, "ctrprof/heap:alloc:<size>"
 * (and "ctrprof/heap:free:<size>" with its ctrprof/f value; mutex and block alike) then its
 * whole stack, after every other counter; ctrprof/f counters are not handed over, and
 * other per-bucket counters ctrprof/<kind>:<id> come as "ctrprof/heap:<kind>:<size>" (or
 * "ctrprof/mutex:<kind>", "ctrprof/block:<kind>") then the stack. Names of
 * a format-1 file, and every other counter, pass through as they are. Two records of one
 * stack (two processes sharing a file) give two calls with the same name: callers add. */
int cp_names_parse(const uint8_t *buf, size_t len, cp_cfile_meta_fn meta_cb,
                   cp_cfile_counter_fn counter_cb, void *ctx, char *where, size_t wherelen);

#endif
