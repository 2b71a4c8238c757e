/*
 * ring.h — one single-producer/single-consumer event ring per thread, after
 * runtime/profbuf.go.
 *
 * The producer is the owning application thread (hook context); the consumer is the
 * flusher. The data ring is an array of uint64 words; a record is a header word followed
 * by its data words:
 *
 *     header = cycle << 16 | kind << 8 | nwords        (nwords includes the header)
 *
 * A record never wraps: when it does not fit before the end of the array, the producer
 * writes a rewind marker (kind CP_REC_REWIND, nwords = the words left to the end) and
 * starts the record at index 0, as profBuf does with its wrap marker.
 *
 * Positions are monotonic 64-bit word counts; index = position & (cap - 1). The producer
 * publishes its write position with a release store (whead), the consumer its read
 * position (rtail) likewise; each side acquires the other's. Counts and flags that both
 * sides change live in their own atomic words:
 *   busy      producer: 1 while an event is being stamped and written (the flusher waits
 *             for 0 before it trusts that all records of a finished cycle are visible);
 *   lost      producer adds when it drops a record it could not wait for; the consumer
 *             takes it with an exchange (profBuf's overflow record, as a counter);
 *   waits     how often the producer waited for space (health counter);
 *   rseq      consumer increments after each drain: the futex a waiting producer sleeps on.
 */
#ifndef CP_RING_H
#define CP_RING_H

#include <stdbool.h>
#include <stdint.h>

enum cp_rec_kind { CP_REC_REWIND = 0, CP_REC_ALLOC = 1, CP_REC_FREE = 2, CP_REC_DELAY = 3 };

#define CP_RING_WORDS_DEFAULT (1u << 14)

struct cp_ring {
    /* immutable after creation */
    uint64_t *data;
    uint64_t cap; /* words, a power of two */
    struct cp_ring *next; /* registry list, newest first */

    /* producer only (its own cache line) */
    __attribute__((aligned(64))) uint64_t w;

    /* shared atomics, each documented above */
    __attribute__((aligned(64))) uint64_t whead;
    uint32_t busy;
    uint32_t state; /* CP_RING_FREE / OWNED / RELEASED */
    uint64_t lost;
    uint64_t waits;
    __attribute__((aligned(64))) uint64_t rtail;
    uint32_t rseq;
};

enum { CP_RING_FREE = 0, CP_RING_OWNED = 1, CP_RING_RELEASED = 2 };

/* Producer: append a record (kind, cycle, words). If the ring is full and may_wait, wake
 * the flusher and sleep until it has drained (counted in waits); otherwise drop the
 * record and count it in lost. Returns true if written. */
bool cp_ring_write(struct cp_ring *r, enum cp_rec_kind kind, uint64_t cycle, const uint64_t *words,
                   unsigned n, bool may_wait);

/* Consumer: call fn for every record written so far, in order; returns how many. */
typedef void (*cp_ring_fn)(void *ctx, enum cp_rec_kind kind, uint64_t cycle, const uint64_t *words,
                           unsigned n);
uint64_t cp_ring_drain(struct cp_ring *r, cp_ring_fn fn, void *ctx);

/* Initialise a ring over caller-provided memory (cap words, a power of two). */
void cp_ring_init(struct cp_ring *r, uint64_t *data, uint64_t cap);

/* Used words (producer's view, for the "wake the flusher at half full" decision). */
uint64_t cp_ring_used(const struct cp_ring *r);

/* The flusher's wake-up word: producers wake it when a ring passes half full or when they
 * must wait for space. */
extern uint32_t cp_ring_kick;
extern uint32_t cp_ring_consumer_sleeping;
void cp_ring_wake_consumer(void);

long cp_futex_wait(uint32_t *addr, uint32_t val, long timeout_ns);
long cp_futex_wake(uint32_t *addr, int n);

#endif
