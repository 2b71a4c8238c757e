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
 * Positions are monotonic 64-bit word counts; index = position & (cap - 1).
 *
 * As profBuf packs its counts and flags into one atomic word, the producer publishes
 * everything the consumer needs from it in one word, `head`, which only the producer
 * writes (plain atomic stores, no read-modify-write) and the consumer only reads:
 *
 *     bit  63      BUSY  an event is being stamped and written (the flusher waits for it
 *                        to clear before it trusts that a finished cycle is complete)
 *     bits 36..62  LOST  records the producer dropped because it could not wait (a
 *                        signal handler, a fork child before the flusher restarts), a
 *                        count modulo 2^27: profBuf's overflow count
 *     bits  0..35  POS   the write position modulo 2^36
 *
 * One release store of head publishes a record's words, ends the busy section and carries
 * any loss; one acquire load gives the consumer all three consistently. The consumer keeps
 * how much loss it has taken already and reads the difference modulo 2^27 (a flush
 * interval would need 2^27 drops for that to alias). Positions: the consumer advances its
 * full 64-bit rtail by (POS - rtail) mod 2^36, never more than cap words.
 *
 * The consumer publishes its read position with a release store of rtail, which the
 * producer acquires before reusing words; rseq (the futex a waiting producer sleeps on)
 * is bumped after each drain. waits counts how often the producer waited for space
 * (a health counter, producer-written, read like LOST as a difference).
 */
#ifndef CP_RING_H
#define CP_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "line.h"

/* (ALLOC_PLACE and FREE_PTR: the live table kept by the flush, live.h's cp_live_deferred;
 * the encodings: prof_int.h) */
enum cp_rec_kind {
    CP_REC_REWIND = 0,
    CP_REC_ALLOC = 1,
    CP_REC_FREE = 2,
    CP_REC_DELAY = 3,
    CP_REC_ALLOC_PLACE = 4,
    CP_REC_FREE_PTR = 5
};

#define CP_RING_STK 130 /* >= CP_MAX_DEPTH + 1 (prof.h), checked there */
/* the most deferred frees in a row whose stamps are left pending (events.c's
 * free_ptr_stamp), one read for each run of this many */
#define CP_RING_STAMP_RUN 16
/* The profiler's cost per thread (issue 23) is one ring: this struct (5,312 bytes, from the
 * arena) and its data, CP_RING_WORDS_DEFAULT words (128 KiB), MAP_NORESERVE, resident as
 * the thread's records wrap around it; plus the CFI walker's 3.6 KiB cache of its last
 * walk (unwind.c: a pool in the arena, reused like the rings) and 136 bytes of static TLS. At dense
 * rates a ring whose thread has had to wait for the flusher (full) is replaced by one of
 * CP_RING_WORDS_DENSE (512 KiB) once it is empty (events.c, cp_ring_grow); a thread that never
 * waits (every thread of a single-threaded program, which flushes its own events) keeps 128 KiB
 * (issue 29: 512 KiB from the start, which an unprivileged mlockall's 8 MiB counts whole). A ring
 * outlives its thread and is reused by the next (events.c, cp_thread_get): the rings number the
 * most threads ever alive at once, not the threads ever made (tests/e2e/churn.sh). Of the rings
 * whose threads have gone, the flush (flusher.c) keeps CP_RING_KEEP_RESIDENT resident and sheds the
 * others' pages (cp_ring_shed): after a spike of threads, what stays resident is the live threads'
 * rings plus four; the address space, 130 KiB a ring, stays. */
#define CP_RING_WORDS_DEFAULT (1u << 14)
#define CP_RING_WORDS_DENSE (1u << 16) /* below CP_DENSE_RATE (prof.h) */
/* The lone producer's (live.h's cp_live_deferred): its records come faster than the
 * flusher's pace at moments (perl's frees at its end: each a miss in the live table on the
 * flusher's side, an emit of two words on the program's), which a 2 MiB ring absorbs
 * (BENCHMARKS.md, "Session 34") */
#define CP_RING_WORDS_DEFERRED (1u << 18)

#define CP_RING_POS_MASK ((1ull << 36) - 1)
#define CP_RING_LOST_SHIFT 36
#define CP_RING_LOST_MASK ((1ull << 27) - 1)
#define CP_RING_BUSY (1ull << 63)

struct cp_ring {
    /* set at creation; the producer may replace both with a larger ring while it is
     * empty (cp_ring_grow), the consumer loads them after the head (atomic) */
    uint64_t *data;
    uint64_t cap;         /* words, a power of two */
    struct cp_ring *next; /* registry list, newest first */
    /* immutable: 1, 2, ... in creation order. Here, not with the producer's words: the
     * consumer reads it at every allocation record (resolve.c's ref), and on that line
     * its read took the line from the producer, whose next write waited for it (perf on
     * churn at rate 1: 13% of cp_event_alloc's samples, session 35) */
    uint32_t id;

    /* producer only (its own cache line) */
    __attribute__((aligned(64))) uint64_t w; /* full write position */
    uint64_t nlost;                          /* drops so far; LOST is this mod 2^27 */
    uint64_t nref;                           /* allocations recorded (events.c; refs: prof_int.h) */
    /* a run of deferred frees (events.c's free_ptr_stamp): how many more may leave their
     * stamps to the consumer, and whether one did since the run's read */
    uint32_t stamp_run, run_held;
    /* The stack of the last allocation record written, right-aligned (its outermost
     * frame at stk[CP_RING_STK - 1]): events.c writes a stack as the frames that differ
     * from it; the consumer keeps its own copy, cstk, in step. */
    uint32_t stk_n;
    uintptr_t stk[CP_RING_STK];
    /* stkh[d]: the stack hash's state after the d outermost frames of stk (bucket.h's
     * cp_stkhash_step), for d <= stkh_n: an allocation hashes only the frames it does not
     * share with stk, to prefetch its bucket's chain head (events.c) */
    uint32_t stkh_n;
    uint64_t stkh[CP_RING_STK + 1];

    /* producer-written, consumer-read atomics */
    __attribute__((aligned(64))) uint64_t head; /* BUSY | LOST | POS, see above */
    uint64_t waits;

    /* consumer only (a line of its own: cnref, written at every allocation record, shared
     * the head word's line, which the producer writes twice an event, and the two cores
     * passed it back and forth: perf on churn at rate 1, 64-72% of cp_account's samples,
     * session 35) */
    __attribute__((aligned(64))) uint64_t lost_taken;
    uint64_t waits_taken;
    uint64_t cnref; /* allocation records drained: the producer's nref, in step */
    uint32_t cstk_n;
    uintptr_t cstk[CP_RING_STK];
    uint32_t cstkh_n; /* cstk's hash states, as stkh's (resolve.c's cp_account) */
    uint64_t cstkh[CP_RING_STK + 1];
    struct cp_bucket *cbucket; /* cstk's bucket, unless NULL or an overflow bucket */
    uint32_t cnode_n;          /* cnode[d], 1 <= d <= cnode_n: the frame node (frames.h) whose stack
                                * is cstk's outer d frames, a hint's node (resolve.c's cp_account) */
    uint32_t cnode[CP_RING_STK + 1];
    /* the last stamp read in this ring's records (resolve.c: the lower bound of a run of
     * frees), and the run's frees drained since it, waiting for their upper bound: address
     * and cycle */
    uint64_t crun_from;
    uint64_t crun_at; /* (the coarse clock at the first drain's end that found them; 0: none yet) */
    uint32_t crun_n;
    uint64_t crun[CP_RING_STAMP_RUN][2];

    /* consumer-written atomics */
    __attribute__((aligned(64))) uint64_t rtail;
    uint32_t rseq;
    /* the producer is about to sleep on rseq, or sleeps (written by the producer, only
     * when its ring is full): a drain makes the futex call only then (cp_ring_drain) */
    uint32_t rwaiting;
    uint32_t state; /* CP_RING_FREE / OWNED / RELEASED / DRAINING: the registry's, CAS by
                     * both sides (DRAINING: the flusher's, shedding a released ring's
                     * pages before it is FREE) */
};

enum { CP_RING_FREE = 0, CP_RING_OWNED = 1, CP_RING_RELEASED = 2, CP_RING_DRAINING = 3 };

/* Producer: append a record (kind, cycle, words). If the ring is full and may_wait, wake
 * the flusher and sleep until it has drained (counted in waits); otherwise drop the
 * record and count it in lost. Returns true if written. */
bool cp_ring_write(struct cp_ring *r, enum cp_rec_kind kind, uint64_t cycle, const uint64_t *words,
                   unsigned n, bool may_wait);

/* The head word for the producer's state (ring.c's header). */
static inline uint64_t cp_ring_pack(const struct cp_ring *r, uint64_t busy)
{
    return busy | (r->nlost & CP_RING_LOST_MASK) << CP_RING_LOST_SHIFT | (r->w & CP_RING_POS_MASK);
}

/* Producer: mark an event in progress (seq_cst: the flusher's cycle handshake, flusher.c).
 * The next cp_ring_write or cp_ring_drop ends it with the same store that publishes. */
static inline void cp_ring_begin(struct cp_ring *r)
{
    /* seq_cst: ordered before the caller's seq_cst load of the cycle (flusher.c) */
    __atomic_store_n(&r->head, cp_ring_pack(r, CP_RING_BUSY), __ATOMIC_SEQ_CST);
}

/* The same in a process with one thread (events.c: no flusher thread to order against,
 * nobody else to see the busy bit but this thread's own signal handlers): no locked
 * instruction. */
static inline void cp_ring_begin_alone(struct cp_ring *r)
{
    __atomic_store_n(&r->head, cp_ring_pack(r, CP_RING_BUSY), __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void cp_ring_wake_consumer(void);

/* Producer: append a record (kind, cycle, words[0..n), more[0..m)) the caller has made
 * room for (2 * (n + m + 1) free words cover any rewind marker): cp_ring_write's append
 * without its check, inline for events.c's emit. */
static inline void cp_ring_put(struct cp_ring *r, enum cp_rec_kind kind, uint64_t cycle,
                               const uint64_t *words, unsigned n, const uint64_t *more, unsigned m)
{
    unsigned total = n + m + 1;
    uint64_t pos = r->w, start = pos, idx = pos & (r->cap - 1);
    if (idx + total > r->cap) {
        r->data[idx] = r->cap - idx; /* rewind marker: kind 0, cycle 0, nwords */
        pos += r->cap - idx;
        idx = 0;
    }
    uint64_t *d = r->data + idx;
    d[0] = cycle << 16 | (uint64_t)kind << 8 | total;
    for (unsigned i = 0; i < n; i++)
        d[1 + i] = words[i];
    for (unsigned i = 0; i < m; i++)
        d[1 + n + i] = more[i];
    r->w = pos + total;
    /* release: publishes the record words (and ends a busy section) to the consumer's
     * acquire of head */
    __atomic_store_n(&r->head, cp_ring_pack(r, 0), __ATOMIC_RELEASE);
    /* wake the flusher once, when the ring passes half full: a wake on every record past
     * the mark cost a futex call each while the flusher was getting up (perf, cc1 at
     * rate 1: 5% of the program's thread in the kernel) */
    uint64_t tail = __atomic_load_n(&r->rtail, __ATOMIC_RELAXED);
    if (r->w - tail > r->cap / 2 && start - tail <= r->cap / 2)
        cp_ring_wake_consumer();
}
/* Producer, outside a busy section, its ring empty (nothing written that the consumer
 * has not released: r->w == rtail, acquired): use data, cap words, from now on. Returns
 * the old data, which nobody reads any more (the consumer reads data only for positions
 * it has not released, after loading a head that published them). */
uint64_t *cp_ring_grow(struct cp_ring *r, uint64_t *data, uint64_t cap);
/* Producer: end a busy section without writing. */
void cp_ring_end(struct cp_ring *r);
/* Producer: count one dropped record (ends a busy section too). */
void cp_ring_drop(struct cp_ring *r);
/* Producer: count one wait for space. */
void cp_ring_count_wait(struct cp_ring *r);
/* Producer: the ring lacks `need` free words: count a wait, wake the consumer and sleep
 * until it has drained (or 10 ms). The one wait for space, emit's (events.c) and
 * cp_ring_write's; the caller re-checks the space and decides again. false: do not wait,
 * drop the event (cp_ring_drop): the consumer has drained nothing (cp_ring_progress) for
 * CP_RING_STALL_NS of this thread's waiting, or a stall was found since its last drain.
 * The consumer (the flusher) may be blocked on the loader's lock that this very thread
 * holds (a dl_iterate_phdr callback that allocates, while the flusher loads libunwind
 * or reads the loaded objects to name a frame): waiting on, the program hung for good. */
bool cp_ring_wait_room(struct cp_ring *r, uint64_t need);
#define CP_RING_STALL_NS 2000000000ull
/* Consumer: the drains so far (flusher.c adds one after each flush's drains; atomic) */
extern struct cp_line_u64 cp_ring_progress; /* (line.h) */

/* Consumer: is an event in progress (seq_cst load)? */
bool cp_ring_busy(const struct cp_ring *r);
/* Consumer: drops and waits since the previous call (inline: an inline flush at rate 1
 * takes both at every event). */
static inline uint64_t cp_ring_take_lost(struct cp_ring *r)
{
    uint64_t l =
        __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) >> CP_RING_LOST_SHIFT & CP_RING_LOST_MASK;
    uint64_t d = (l - r->lost_taken) & CP_RING_LOST_MASK;
    r->lost_taken = l;
    return d;
}
static inline uint64_t cp_ring_take_waits(struct cp_ring *r)
{
    uint64_t w = __atomic_load_n(&r->waits, __ATOMIC_RELAXED);
    uint64_t d = w - r->waits_taken;
    r->waits_taken = w;
    return d;
}
/* Consumer's view of the published write position, modulo 2^36. */
static inline uint64_t cp_ring_head_pos(const struct cp_ring *r)
{
    return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) & CP_RING_POS_MASK;
}
/* Single-threaded (fork child): forget the contents and the counts. */
void cp_ring_forget(struct cp_ring *r);
/* Consumer, on a ring whose thread has gone and which it has drained, before anyone may
 * take it (RELEASED, under the flush lock): give its data's pages back to the kernel, so
 * that a spike of threads does not leave their rings resident for the process's life. The
 * address space stays (the ring is reused); the next owner's writes fault pages in again.
 * Not once the process is sandboxed (no new kind of system call then). */
void cp_ring_shed(struct cp_ring *r);
/* Free rings the consumer keeps resident before it sheds more (cp_ring_shed). */
#define CP_RING_KEEP_RESIDENT 4

/* Consumer: call fn for every record written so far, in order; returns how many. */
typedef void (*cp_ring_fn)(void *ctx, enum cp_rec_kind kind, uint64_t cycle, const uint64_t *words,
                           unsigned n);
uint64_t cp_ring_drain(struct cp_ring *r, cp_ring_fn fn, void *ctx);
/* cp_ring_drain, also calling pre for each record up to CP_RING_AHEAD - 1 records before
 * fn gets it (its kind and words, as fn's, for the look to come: resolve.c's
 * cp_account_ahead starts loading the live table's entry a deferred record will take; its
 * misses, one an event on perl's heap, otherwise come one after the other). */
#define CP_RING_AHEAD 8
typedef void (*cp_ring_pre_fn)(enum cp_rec_kind kind, const uint64_t *words, unsigned n);
uint64_t cp_ring_drain_ahead(struct cp_ring *r, cp_ring_fn fn, cp_ring_pre_fn pre, void *ctx);
/* The same by the ring's own producer (an inline flush on the thread that writes it),
 * which cannot be waiting for room meanwhile: no wake-up of a waiter. */
uint64_t cp_ring_drain_own(struct cp_ring *r, cp_ring_fn fn, void *ctx);
/* The drain's loop, inline: fn for every record written so far, in order; with pre (not
 * NULL), a second cursor calls pre for each record up to CP_RING_AHEAD - 1 records before
 * fn gets it (cp_ring_drain_ahead). Both stop at a corrupted header, where the first
 * resyncs. Returns how many records fn got. */
static inline uint64_t cp_ring_drain_span(struct cp_ring *r, cp_ring_fn fn, cp_ring_pre_fn pre,
                                          void *ctx)
{
    uint64_t n = 0;
    uint64_t pos = r->rtail, ahead = pos;
    unsigned lead = 0;
    /* acquire: pairs with the producer's release of head: the records are complete, and
     * the data and cap they were written to (cp_ring_grow) are the ones loaded after */
    uint64_t end = pos + ((cp_ring_head_pos(r) - pos) & CP_RING_POS_MASK);
    /* (data is loaded again at each record, not kept in a register across fn: one more
     * saved register was 7 instructions a drain, 14 an allocation pair at rate 1) */
    uint64_t mask = __atomic_load_n(&r->cap, __ATOMIC_RELAXED) - 1;
    while (pos < end) {
        uint64_t *data = __atomic_load_n(&r->data, __ATOMIC_RELAXED);
        for (; pre && lead < CP_RING_AHEAD && ahead < end; lead++) {
            uint64_t ha = data[ahead & mask];
            unsigned wa = (unsigned)(ha & 0xff);
            if (wa == 0 || wa > mask + 1)
                break;
            enum cp_rec_kind ka = (enum cp_rec_kind)((ha >> 8) & 0xff);
            if (ka != CP_REC_REWIND)
                pre(ka, &data[(ahead & mask) + 1], wa - 1);
            ahead += wa;
        }
        uint64_t h = data[pos & mask];
        unsigned words = (unsigned)(h & 0xff);
        enum cp_rec_kind kind = (enum cp_rec_kind)((h >> 8) & 0xff);
        if (words == 0 || words > mask + 1) /* cannot happen: a corrupted ring; resync */
            break;
        if (kind != CP_REC_REWIND) {
            fn(ctx, kind, h >> 16, &data[(pos & mask) + 1], words - 1);
            n++;
        }
        pos += words;
        if (lead)
            lead--;
    }
    pos = end;
    /* release: the producer may reuse the words up to pos */
    __atomic_store_n(&r->rtail, pos, __ATOMIC_RELEASE);
    return n;
}

/* cp_ring_drain_own inline, for a caller whose fn is known there (an inline flush at
 * rate 1 drains at every event: flusher.c calls its fn directly, two calls fewer). */
static inline uint64_t cp_ring_drain_records(struct cp_ring *r, cp_ring_fn fn, void *ctx)
{
    return cp_ring_drain_span(r, fn, NULL, ctx);
}

/* Initialise a ring over caller-provided memory (cap words, a power of two). */
void cp_ring_init(struct cp_ring *r, uint64_t *data, uint64_t cap);

/* Used words (producer's view, for the "wake the flusher at half full" decision). */
static inline uint64_t cp_ring_used(const struct cp_ring *r)
{
    return r->w - __atomic_load_n(&r->rtail, __ATOMIC_ACQUIRE);
}

/* The flusher's wake-up word: producers wake it when a ring passes half full or when they
 * must wait for space. */
extern uint32_t cp_ring_kick;
extern uint32_t cp_ring_consumer_sleeping;

long cp_futex_wait(uint32_t *addr, uint32_t val, long timeout_ns);
long cp_futex_wake(uint32_t *addr, int n);

#endif
