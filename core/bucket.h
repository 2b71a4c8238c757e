/*
 * bucket.h — persistent profile buckets, as runtime/mprof.go's stkbucket.
 *
 * A bucket is keyed by (type, size, stack) and lives until the process exits. Lookup is
 * lock-free (chains are only ever prepended to, with a release store); insertion takes
 * the table's spin lock and looks again. Memory comes from the arena, capped by
 * CTRPROF_MAX_BUCKET_MB: past the cap a new stack is folded into an overflow bucket
 * (one per type; for the heap one per power-of-two size, so unbiasing still has a size).
 *
 * Ownership of the fields (see the headings): the key is immutable after publication;
 * the accounting fields belong to the flusher alone (every event reaches a bucket
 * through a ring, and only the flusher drains rings), so they need no atomics.
 */
#ifndef CP_BUCKET_H
#define CP_BUCKET_H

#include <stdint.h>

#include "prof.h"

/* The heap's memRecord, reduced to what a flush-cycle engine needs (see flusher.c for the
 * timeline): fut[c % 2] collects the events of cycle c while they are drained; at the
 * end of a flush the finished cycle is added to active. */
struct cp_memrec {
    uint64_t allocs, frees;
};

struct cp_bucket {
    /* immutable after publication */
    struct cp_bucket *next;    /* hash chain */
    struct cp_bucket *allnext; /* every bucket, newest first (the flusher walks it) */
    uint64_t hash;
    uint64_t size; /* heap: object size in bytes; 0 for mutex and block */
    uint8_t type;  /* enum cp_ptype */
    uint8_t overflow; /* this is a cap-overflow bucket */
    uint16_t nstk;
    /* flusher only (here, not below, to keep the header small: 10k buckets of 32 frames
     * in under 4 MiB, issue 3) */
    uint16_t queued;     /* bit s: on the flusher's touched[s] list */
    uint16_t ctr_failed; /* counter creation failed (file full): counted, not retried */

    /* flusher only */
    union {
        struct {
            struct cp_memrec active, fut[2];
        } mem;
        struct {
            uint64_t count_q16, delay; /* active */
            uint64_t fut_count[2], fut_delay[2];
        } blk;
    } u;
    uint64_t pub[2];     /* what has been added to the file so far (alloc/free, count/delay) */
    uint64_t *ctr[2];    /* the file's counters for this bucket, once created */
    struct cp_bucket *touched[2]; /* next on the list of buckets with events in fut[s] */

    uintptr_t stk[];     /* nstk absolute return addresses, innermost first */
};

int cp_bucket_init(uint64_t max_bytes);
/* The newest bucket: walk ->allnext from here to see them all (flusher). */
struct cp_bucket *cp_bucket_all(void);
/* Buckets folded into overflow so far, and buckets created. */
uint64_t cp_bucket_overflowed(void);
uint64_t cp_bucket_count(void);
/* fork: prepare holds the insertion lock, parent/child release it. */
void cp_bucket_lock(void);
void cp_bucket_unlock(void);
void cp_bucket_reset_lock(void);
/* The stack hash (exposed for tests and benchmarks). */
uint64_t cp_bucket_hash(enum cp_ptype type, uint64_t size, const uintptr_t *pcs, unsigned n);

#endif
