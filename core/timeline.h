/*
 * timeline.h — the heap over time as a bounded series of points (timeline.c). Contexts:
 * heaptime.c's publication only (flush_lock held); cp_tl_init at init and in a fork child.
 */
#ifndef CP_TIMELINE_H
#define CP_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "heaptime.h"

#define CP_TL_MAX 2000 /* points per process; even (they are paired when all are used) */

/* The first step (the flush interval); forgets every point (a fork child's are its own). */
void cp_tl_init(uint64_t flush_ms);
/* A point now (t_ns since the process's start) if a step has passed since the last, or
 * force: the heap in use and the bytes allocated so far (both unbiased estimates). */
void cp_tl_tick(uint64_t t_ns, double inuse, double allocated, bool force);
/* Add the new (and moved) points to the file; false if a counter waits (the sink's
 * waits()): the points from there on are published at the next call. */
bool cp_tl_publish(const struct cp_ht_sink *s);
/* The pid the counters are named with (heaptime.c's too): this process's, asked once, or on
 * the flusher process (core/flusher.c: its own pid, the program's memory) the program's,
 * which it sets on its own thread-local copy with cp_tl_name_pid. */
long cp_tl_pid(void);
void cp_tl_name_pid(long pid);

#endif
