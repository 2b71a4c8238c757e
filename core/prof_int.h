/*
 * prof_int.h — the engine's private header: what the four files prof.c was split into
 * share, and nothing else (resolve.c's memo of recent stacks is stackmemo.h's). preload/ and tools/
 * use prof.h; only core/ includes this.
 *
 *   events.c   threads and their rings, emit, cp_event_* (hook context)
 *   resolve.c  a record's bucket: refs, orphans, pending frees, count into the cycle's list
 * (flusher) publish.c  the counter file: opening it, names, health counters, sandboxes (flusher)
 *   flusher.c  init, the flush and its timeline, who flushes, shutdown, fork
 *
 * Shared state is declared below, grouped by the file that owns (defines and resets) it;
 * others read it, or write it only where the comment says so.
 */
#ifndef CP_PROF_INT_H
#define CP_PROF_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "line.h"
#include "bucket.h"
#include "options.h"
#include "prof.h"
#include "ring.h"
#include "spin.h"
#include "stampclock.h" /* CP_STAMP_SWITCHED */
#include "switchwatch.h"

/* Hidden: these are the engine's own, and a reference to a hidden symbol from a -fPIC
 * object is a direct RIP-relative access; to any other extern it goes through the GOT,
 * one more load per use (callgrind at rate 1: +8 instructions a malloc+free pair). */
#pragma GCC visibility push(hidden)

/* ---- owned by flusher.c ----------------------------------------------------------- */

/* immutable after cp_prof_init (and in the fork child, after atfork_child) */
extern struct cp_options cp_prof_opts;
/* one flush at a time; also guards everything resolve.c and publish.c keep */
extern cp_spin cp_flush_lock;
/* atomic: the flusher thread is up; events leave flushing to it */
extern struct cp_line_bool cp_flusher_running; /* (line.h) */
/* guarded by cp_flush_lock: ring losses and waits taken by the flush's drains */
extern uint64_t cp_ring_lost_total, cp_ring_waits_total;

/* One flush: advance the cycle, wait out events in progress, drain, publish (lock held). */
void cp_flush_locked(void);
/* A fork child's books (each bucket's flusher state, heaptime's), reset now if they have
 * not been yet: before anything outside a flush reads or writes them (a late event). Lock
 * held. */
void cp_settle_child_books(void);
/* On the event's thread, which just wrote an event (or found its ring full). */
void cp_flush_inline(bool may_start);
/* On a thread whose ring stayed full while the flusher drained nothing: flush if no flush
 * is under way (cp_flush_lock free); false: one is, or SIGBUS may not be opened here. */
bool cp_flush_help(void);
/* An event handed to its thread's inline flush without going through the ring (events.c's
 * emit, when no flusher thread runs): the record's words as a ring would hold them, an
 * allocation's new frames apart (x, nx of them). The flush counts it as the last record of
 * the thread's ring, stamped with the cycle it closes. A direct allocation's object goes
 * into the live table with its bucket when counted (resolve.c), not first with its ref
 * (cp_event_alloc). */
struct cp_direct {
    enum cp_rec_kind kind;
    unsigned n, nx;
    const uint64_t *w, *x;
};
/* false: nothing done (SIGBUS may not be opened here); the caller writes the ring */
bool cp_flush_direct(const struct cp_direct *d, bool may_start);
/* cp_flush_lock for a program's thread that stores into the file, with SIGBUS open on
 * it while held (filebus.c); false: this thread may not store into the file (nothing
 * taken, said once). cp_file_unlock(bus) after. */
bool cp_file_lock(int *bus);
void cp_file_unlock(int bus);
/* The parts (filebus.c): SIGBUS open on this thread for a store, 1 opened (cp_bus_close
 * after), 0 open already, -1 blocked and may not be opened (cp_bus_refused says so);
 * ask: the kernel's mask rather than the program's calls' (cp_bus_blocked). */
enum { CP_BUS_UNKNOWN = 0, CP_BUS_OPEN = 1, CP_BUS_BLOCKED = 2 }; /* cp_bus_blocked */
extern __thread uint8_t cp_bus_blocked __attribute__((tls_model("initial-exec")));
int cp_bus_open(bool ask);
void cp_bus_close(int opened);
/* Program threads' windows open now (the tests: a filter going in waits for them) */
unsigned cp_bus_windows_open(void);
void cp_bus_refused(void);
void cp_bus_on_flusher(void); /* the flusher thread: it has its own window */

/* Heap sampling at a rate where most objects are sampled (CP_DENSE_RATE, prof.h): the one
 * seam of the dense-rate machinery, each piece a branch on it: the live table's shadow
 * map (live.c), larger rings (events.c), 2^20 bucket chain heads (flusher.c's
 * cp_bucket_init), a larger spare before a sandbox (publish.c). */
static inline bool cp_dense(void)
{
    return cp_prof_opts.mem_rate && cp_prof_opts.mem_rate < CP_DENSE_RATE;
}

/* ---- owned by events.c ------------------------------------------------------------ */

/* atomic: the current cycle (flusher.c's timeline), the losses counted outside a ring,
 * and "the final flush has run" (set by cp_prof_shutdown, cleared by cp_prof_start) */
extern uint64_t cp_cycle;
extern uint64_t cp_lost_n[CP_NLOST];
extern int cp_stopping;
/* the ring registry: a list that only grows (atomic head); rings are reused via their
 * state. cp_reg_lock guards insertion; the atfork handlers take and reset it. */
extern struct cp_ring *cp_rings;
/* Tests only (test_prof's test_released_reused_in_drain): NULL, or called by the flush
 * between its drain of a released ring and its claim of it, where a new thread may take
 * the ring, write it and give it back unseen by the claim's CAS (flusher.c). */
/* (atomic) */
extern void (*cp_test_released_drained)(struct cp_ring *r);
extern cp_spin cp_reg_lock;
extern __thread struct cp_ring *cp_self_ring __attribute__((tls_model("initial-exec")));
/* cp_prof_started_filtered was called (publish.c): the process began under a filter */
bool cp_prof_filtered_at_start(void);
/* The live table kept by the consumer (live.h's cp_live_deferred): on at start-up where it
 * is right (rate 1, one thread, CTRPROF_FLUSHER not inline), off for good before a second
 * thread may produce (the pthread_create hook; a second ring taken), with every record
 * made under it drained first (a flush on the calling thread). Hook or constructor
 * context, no engine lock held. */
void cp_live_defer_begin(void);
void cp_live_defer_end(void);
/* The flusher process's asymmetric fence (live.h's cp_fence_asym) ended, with the
 * barrier that makes a lone thread's event in progress visible (flusher.c): before a
 * second ring is used, before a seccomp filter goes in. Any program thread. */
void cp_fence_end(void);
/* Handshakes that made the lone thread pass a barrier for its events (atomic; tests) */
extern uint64_t cp_fences;

/* ---- the encoding of a ring's records and of refs (producer: events.c; consumer:
 * resolve.c's cp_account) ------------------------------------------------------------
 *
 *   CP_REC_ALLOC  w[0] p
 *                 w[1] size << 16 | nframes << 8 | keep
 *                 w[2] its time (heaptime.h's cp_ht_stamp: 0 with CTRPROF_HEAP_TIME=0)
 *                 then the nframes - keep innermost frames; the other keep are the
 *                 outermost of the ring's previous allocation stack (ring.h's stk/cstk).
 *                 The ref is not written: both sides count the ring's allocation records.
 *   CP_REC_FREE   w[0] the live table's value (a bucket and size, resolve.c's hv_make, or
 *                 a ref)
 *                 w[1] its time, w[2] its allocation's (the live table's entry kept it:
 *                 heaptime.c's lifetimes)
 *   CP_REC_DELAY  w[0] bucket, w[1] count (1/65536 units), w[2] delay in ns
 *   CP_REC_ALLOC_PLACE  as CP_REC_ALLOC, but the producer put nothing in the live table:
 *                 the consumer puts the object there with its bucket (live.h's
 *                 cp_live_deferred). With w[1]'s bit 63 set (CP_ALLOC_HASHED) w[3] is
 *                 the stack's hash and the frames follow it (events.c's emit_place)
 *   CP_REC_FREE_PTR  w[0] the object's address, w[1] its time: the consumer takes it out of
 *                 the live table (its value and birth) and counts it as CP_REC_FREE;
 *                 nothing if it is not there (not sampled)
 *
 * An allocation's ref names it in the live table until the flusher has found its bucket,
 * and in resolve.c's books when a free takes it first. Unique per allocation: bits 24..63
 * the ring's count of allocations, 4..23 the ring's id, bit 1 set (a resolved value,
 * bucket and size, has it clear), bit 0 clear (the live table's). */
#define REF_ID_BITS 20 /* a ring's id in a ref */
/* An allocation's size in its record: under 2^47 (x86-64's user space; the file counts an
 * object of 2^40 bytes or more as 2^40 - 1 bytes anyway), bit 63 left for this flag */
#define SIZE_LIMIT ((uint64_t)1 << 47)
/* An allocation record's w[1], bit 63: its stack's hash (cp_stkhash_final's) follows its
 * time, as w[3], and the ref (not written to a ring) is w[4] (events.c: the producer
 * hashed the stack, where the chains' heads outgrow the caches) */
#define CP_ALLOC_HASHED ((uint64_t)1 << 63)
static inline uint64_t cp_alloc_size(uint64_t w1)
{
    return (w1 & ~CP_ALLOC_HASHED) >> 16;
}

static inline bool cp_is_ref(uintptr_t v)
{
    return (v & 2) != 0;
}

static inline uintptr_t cp_make_ref(uint64_t nref, uint32_t id)
{
    return (uintptr_t)(nref << (4 + REF_ID_BITS)) | (uintptr_t)id << 4 | 2;
}

/* ---- owned by resolve.c (guarded by cp_flush_lock) -------------------------------- */

/* events counted so far, and those whose stack was cut at CTRPROF_DEPTH (publish.c
 * publishes them; flusher.c zeroes them in a fork child with a file of its own) */
extern uint64_t cp_samples[CP_NPTYPES];
extern uint64_t cp_trunc_events;
/* the buckets with events in cycle slot s and those events (bucket.h's struct cp_fut):
 * e[0..n), a bucket's at b->tpos[s] while bit s of b->queued is set */
struct cp_touched {
    struct cp_fut *e;
    uint32_t n, cap;
};
extern struct cp_touched cp_touched[2];

void cp_account(void *ctx, enum cp_rec_kind kind, uint64_t c, const uint64_t *w, unsigned n);
/* On r's own thread: CP_STAMP_SWITCHED if its run of frees left some to the consumer and
 * the thread was switched off its CPU since the run's read (switchwatch.h), else 0: what
 * the time that closes the run carries (events.c's stamps, resolve.c's close on that
 * thread). */
static inline uint64_t cp_run_switched(const struct cp_ring *r)
{
    return r->run_held && !cp_sw_armed() ? CP_STAMP_SWITCHED : 0;
}
/* The end of a drain of r by cp_account: the frees of a run that wait for their bracket's
 * end (resolve.c, "frees in a run") are applied if none can come (own: the drain is on the
 * ring's thread, which gives the end; or the ring's thread is gone), or they waited too
 * long. */
enum cp_close {
    CP_CLOSE_DRAINED, /* a drain's end on another task (gone or waiting too long: applied) */
    CP_CLOSE_OWN,     /* a drain on the ring's own thread (exit's final flush) */
    CP_CLOSE_GONE,    /* the program is gone (the flusher process's last flushes) */
};
void cp_account_close(struct cp_ring *r, enum cp_close how);
/* Pending frees whose bracket held more than one lifetime class: their class is not known
 * (published as ctrprof/health:life-unbracketed). Guarded by cp_flush_lock. */
extern uint64_t cp_life_unbracketed;
/* Frees in a run applied so far, bracketed (ctrprof/health:life-in-run). The same guard. */
extern uint64_t cp_life_in_run;
/* cp_account's look ahead (ring.h's cp_ring_drain_ahead): the live table's entry of a
 * deferred record (live.h's cp_live_deferred) starts loading some records before it is
 * applied */
void cp_account_ahead(enum cp_rec_kind kind, const uint64_t *w, unsigned n);
/* A drain of the deferred ring r with that look ahead (flusher.c), its newest objects kept
 * apart from the live table until their free, their slot's next object or the drain's
 * end (core/young.h): the records drained. cp_flush_lock held. */
uint64_t cp_account_drain_deferred(struct cp_ring *r);
/* the same for a record that did not go through the ring (struct cp_direct) */
void cp_account_direct(struct cp_ring *r, const struct cp_direct *d, uint64_t c);
/* A heap event of a thread alone (flusher.c's flush: its ring the only one, empty, and
 * nothing waiting in either cycle slot), counted straight into its bucket's active values,
 * as a late event is: its bucket to publish, or NULL. */
struct cp_bucket *cp_account_alone(struct cp_ring *r, const struct cp_direct *d);
/* (late events: publish.c's cp_late_event; place: a CP_REC_ALLOC_PLACE's object is put in
 * the live table here) */
struct cp_bucket *cp_resolve_alloc(void *p, uint64_t size, uint64_t ref, const uintptr_t *pcs,
                                   unsigned n, uint64_t c, bool late, uint64_t t, bool place);
struct cp_bucket *cp_resolve_free_event(const uint64_t *w, uint64_t c, bool late);
struct cp_bucket *cp_resolve_free_ptr(const uint64_t *w, uint64_t c, bool late);
/* At the end of the flush that finished cycle c: let go of its pending frees that met no
 * allocation. The test inline: an inline flush at rate 1 runs it at every event. */
extern uint64_t cp_um_pending[2]; /* pending frees by the parity of their cycle */
void cp_um_expire_scan(uint64_t c);
static inline void cp_um_expire(uint64_t c)
{
    if (cp_um_pending[c & 1])
        cp_um_expire_scan(c);
}
/* fork child: forget the parent's orphans and pending frees */
void cp_um_forget(void);

/* ---- owned by publish.c (guarded by cp_flush_lock) -------------------------------- */

/* a per-process file waits to be created (publish.c, cp_open_pending) */
extern bool cp_file_pending;

int cp_file_init(const char *path, const char *meta, size_t metalen, bool lazy);
void cp_open_pending(void);
/* the host's file_taken (prof.h), from cp_prof_set_host */
void cp_publish_set_file_taken(int (*fn)(char *path, size_t size));
void cp_check_file(void);
void cp_publish_begin(void);
void cp_publish_end(void);
/* a bucket's deltas into the file; the number of counters it had to make there */
unsigned cp_publish_bucket(struct cp_bucket *b);
void cp_publish_health(void);
/* The flush now beginning is the image's last (exit, exec): a counter that cannot be made
 * for now is lost, not left waiting (cp_flush_lock held). */
void cp_publish_final(void);
/* heaptime.c's publication, through this file's counters (force: the final flush) */
void cp_publish_heaptime(bool force);
/* Only the lifetime classes that changed (heaptime.h), at every flush: with the free counts
 * they break down (Ctrprof-Format 4 implies a bucket's first class from its free record). */
void cp_publish_heaptime_life(void);
void cp_late_event(enum cp_rec_kind kind, const uint64_t *w, unsigned n, const uint64_t *x,
                   unsigned nx);
/* fork child: the health counters' sources so far are the parent's, published by the
 * parent (what it had not published yet too: an inline flush puts them off, flusher.c):
 * the child's start from here */
void cp_publish_fork_health(void);
/* fork child with a file of its own (newpath): drop the parent's file and what was
 * published into it. Returns false if there was no file to drop. */
bool cp_publish_fork_file(const char *newpath);

#pragma GCC visibility pop

#endif
