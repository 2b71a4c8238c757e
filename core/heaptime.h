/*
 * heaptime.h — the heap over time (issue 21): the running in-use total and the per-site
 * in-use at its peak, and the lifetime of each freed sampled object, in decade classes.
 *
 * Contexts: cp_ht_stamp in hooks (sampled events only: it reads CLOCK_MONOTONIC, or the
 * TSC, for the record: stampclock.h); everything else on the flusher, or whoever holds flusher.c's
 * cp_flush_lock (the inline flush, the late path after the final flush, the fork child's set-up).
 *
 * resolve.c applies each drained event to its bucket in ring order and calls cp_ht_alloc /
 * cp_ht_free with the event's time; at the end of a flush (an inline one only when due:
 * flusher.c, side_due) cp_ht_publish adds what changed to the counter file
 * (docs/SCHEMA.md, Ctrprof-Format 4: ctrprof/p:<id>, pb:<id>, l<class>:<id>, lb<class>:<id>,
 * ctrprof/heap-peak:<pid>:*), in unbiased objects and bytes; the lifetime classes at every
 * flush (cp_ht_publish_life), with the free counts they break down. Counter names come from
 * names.c (cp_names_kind's which, named by id in stacktab.c).
 */
#ifndef CP_HEAPTIME_H
#define CP_HEAPTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "stampclock.h"

struct cp_bucket;

/* Lifetime classes: [0] under 1 us, [k] 10^(k-1) us up to 10^k us, [8] 10 s and over;
 * and CP_LIFE_NONE, a free whose lifetime is not known (its birth not found): a class of its
 * own in the file (Ctrprof-Format 4 names a bucket's free record after the class of its
 * first free, implied: every free not of that class is counted in its class's counter, so
 * the implied class is the free record minus them; docs/SCHEMA.md). */
#define CP_NLIFE 9
#define CP_LIFE_NONE CP_NLIFE
#define CP_NCLASS (CP_NLIFE + 1)

/* CLOCK_MONOTONIC in nanoseconds (stampclock.h's cp_mono_ns). Never 0. */
static inline uint64_t cp_ht_now(void)
{
    return cp_mono_ns() + 1;
}

/* CTRPROF_HEAP_TIME (default on; off: none of this file's work, for measuring its cost).
 * Immutable after cp_ht_init. */
extern bool cp_ht_on __attribute__((visibility("hidden"))); /* (no GOT load: prof_int.h) */

/* A sampled event's time for its record: 0 (no time) when the feature is off; at the
 * dense rates on an invariant TSC, the TSC (stampclock.h: converted when drained). */
static inline uint64_t cp_ht_stamp(void)
{
    return !cp_ht_on ? 0 : cp_stamp_tsc_on() ? cp_stamp_tsc() : cp_ht_now();
}

/* The class of a lifetime of ns nanoseconds: the decade bounds 10^3 .. 10^10 it reaches.
 * By ns's bit length b (1..64), from two tables (heaptime.c): the class of 2^(b-1), plus
 * one if ns is past below[b], the last value before the one bound in [2^(b-1), 2^b) there
 * may be (a factor 2 holds at most one; UINT64_MAX where none). A loop over the bounds was
 * ~29 instructions a free at rate 1 (callgrind, namechurn). */
extern const uint8_t cp_ht_class_base[65] __attribute__((visibility("hidden")));
extern const uint64_t cp_ht_class_below[65] __attribute__((visibility("hidden")));
static inline unsigned cp_ht_class(uint64_t ns)
{
    unsigned b = 64 - (unsigned)__builtin_clzll(ns | 1);
    return cp_ht_class_base[b] + (ns > cp_ht_class_below[b]);
}

/* How the publisher reaches the file (publish.c): the counter for one of a bucket's names
 * (names.h: CP_NAME_*), or a named one; NULL if it cannot be had (said and counted by the
 * callee), and then waits(): true if it may be had later (the file could not grow for
 * now: a descriptor limit, memory), so that what it would count waits, as the buckets'
 * own counters do (publish.c), rather than being given up for good. */
struct cp_ht_sink {
    uint64_t *(*bucket_ctr)(struct cp_bucket *b, int which);
    uint64_t *(*named_ctr)(const char *name);
    bool (*waits)(void);
};

/* Start of the process's accounting (init, and in a fork child): the time origin of the
 * peak's time, the sampling rate (for the unbiased total) and the publication interval. */
void cp_ht_init(uint64_t mem_rate, uint64_t flush_ms, bool on);
/* A sampled allocation of b of size bytes, drained at time t (its record's stamp:
 * cp_ht_stamp's, converted here; ns, cp_ht_now, in tests); counted with its own weight
 * (hweight.h). */
void cp_ht_alloc(struct cp_bucket *b, uint64_t size, uint64_t t);
/* A sampled free of b's object of size bytes at time t, born at `birth` (both stamps as
 * for cp_ht_alloc: the birth is the one the live table kept, live.h); either 0: not known
 * (the object's lifetime is not classed, nor is it if the birth is later than t). */
void cp_ht_free(struct cp_bucket *b, uint64_t size, uint64_t t, uint64_t birth);
/* The same for a free whose class was found when it was drained (cp_ht_life), before its
 * allocation was (resolve.c's pending frees). */
void cp_ht_free_class(struct cp_bucket *b, uint64_t size, unsigned k);
/* The lifetime class of a free at stamp t of an object born at stamp `birth` (either 0:
 * CP_LIFE_NONE), as cp_ht_free would class it. */
unsigned cp_ht_life(uint64_t t, uint64_t birth);
/* Add what changed to the file. The peak's per-site counters are rewritten (a walk over
 * every heap bucket) at most once per flush interval unless the peak grew by an eighth
 * since they were, or now if force (the final flush). A counter that waits (the sink's
 * waits()) holds every publication here back for a flush interval, force aside. */
void cp_ht_publish(const struct cp_ht_sink *s, bool force);
/* Only the lifetime classes that changed (cp_ht_publish does it too): at every flush, so
 * that a bucket's explicit classes go out with its free counter (publish.c). */
void cp_ht_publish_life(const struct cp_ht_sink *s);
/* Has a class changed since (is cp_ht_publish_life's list not empty)? Inline, as the two
 * below: a single-threaded process at rate 1 asks at every event (flusher.c). */
extern uint32_t cp_ht_lhead __attribute__((visibility("hidden")));
static inline bool cp_ht_life_due(void)
{
    return cp_ht_lhead != 0;
}
/* The class a heap bucket's free record implies (stacktab.c names it so, Ctrprof-Format
 * 4): its first free's (0 .. CP_LIFE_NONE), fixed from then on; -1 if none (no free seen,
 * or the heap over time is off: a free record that implies no class). */
int cp_ht_implied_class(const struct cp_bucket *b);
/* For a flush that puts publication off (flusher.c, an inline flush): the time of the
 * latest event applied (ns, cp_ht_now; 0 if none had one), and whether the peak has grown
 * by an eighth since it was published (cp_ht_publish is then due at once, interval or
 * not: the 1/8 bound below holds for a process that goes quiet or is killed). */
extern uint64_t cp_ht_last_t __attribute__((visibility("hidden")));
extern bool cp_ht_pressing __attribute__((visibility("hidden")));
static inline uint64_t cp_ht_last_event(void)
{
    return cp_ht_last_t;
}
static inline bool cp_ht_peak_pressing(void)
{
    return cp_ht_pressing;
}
/* Fork child: the parent's objects and peak are not the child's. newfile: the child
 * writes a file of its own (every counter pointer is forgotten); otherwise the counters
 * stay and the child's lifetimes add to the parent's, its peak to the parent's. */
void cp_ht_atfork_child(bool newfile);
/* For tests: the running total and the peak (unbiased bytes), the peak's time (ns since
 * cp_ht_init), and a bucket's unbiased objects (or bytes) at the peak and freed in a
 * lifetime class (cls < CP_NCLASS, the implied one included), whole. */
void cp_ht_stats(double *inuse, double *peak, uint64_t *peak_ns);
uint64_t cp_ht_bucket_peak(const struct cp_bucket *b, bool bytes);
uint64_t cp_ht_bucket_life(const struct cp_bucket *b, unsigned cls, bool bytes);

#endif
