/*
 * prof.c — the engine: cycles, rings, the flusher, publication into the counter file.
 *
 * About 1,700 lines: past the project's ~600-line bound and more than one responsibility
 * (events, ref resolution, publication, the flusher and fork, solo mode, sandboxes). The
 * split by responsibility is issue 20's work, not done yet.
 *
 * Contexts:
 *   hooks    cp_thread_get/release, cp_event_*, cp_prof_lost (sampled events only)
 *   flusher  the thread started by cp_prof_start(); flush() also runs on the exit path,
 *            inline (single-threaded processes) and where solo mode ends, on a program's
 *            thread but on the profiler's own stack (ownstack.h), never on the program's
 *            stack (its naming and publishing buffers are ~9 KiB)
 *   atfork   cp_prof_atfork_*
 *
 * The timeline (Go's mprof.go accounts per GC cycle; here a cycle is a flush interval):
 *
 *         cycle c                          | cycle c+1
 *   app   alloc(b1)@c   free(b1)@c   alloc(b2)@c | free(b2)@c+1   alloc(b3)@c+1 ...
 *                                              |
 *   flusher                                    F: cycle = c+1 (seq_cst)
 *                                                 wait until no thread is mid-event
 *                                                 drain every ring:
 *                                                   records @c   -> fut[c % 2]
 *                                                   records @c+1 -> fut[(c+1) % 2]
 *                                                 active += fut[c % 2]; fut[c % 2] = 0
 *                                                 add (active - published) to the file
 *
 * Every event is stamped, on its own thread, with the cycle it happened in, read while
 * the thread's ring is marked busy:
 *
 *     thread:  busy = 1 (seq_cst); c = cycle (seq_cst); write record @c;
 *              publish it with busy = 0 (release; busy is a bit of the ring's head word,
 *              so this is the one store that publishes the record, see ring.h)
 *     flusher: cycle = c+1 (seq_cst); for each ring: wait while busy; then drain
 *
 * In the single total order of seq_cst operations, either the flusher's load of busy sees
 * a thread's busy = 1 (and waits for the record to be complete), or that thread's busy = 1
 * comes later, so its cycle load comes after cycle = c+1 and it stamps c+1. Hence, once
 * the flusher has waited and drained, every event of cycles <= c is in fut[c % 2], and
 * publishing cycle c publishes exactly the events that happened before the boundary: a
 * consistent snapshot. A free that happens after its allocation (the program orders them:
 * a pointer has to reach the freeing thread) is stamped with a cycle >= the allocation's,
 * so no published profile ever has a free without its allocation, even across threads.
 *
 * Why two slots and not Go's three. Go stamps allocations into future[(c+2)%3] and frees
 * into future[(c+1)%3] because mProf_Malloc cannot synchronise with the GC: an object
 * allocated during cycle c may be swept (freed) before the cycle it was stamped with is
 * published, so publication trails by two cycles and a third slot holds the cycle being
 * filled while the other two wait. The busy handshake above gives the flusher the
 * synchronisation Go lacks: the cycle being drained is complete when the flusher reads
 * it, so only "the cycle being published" and "the cycle being filled" exist. A third
 * slot would only delay publication (and the crash-durability promise) by a flush.
 *
 * Publication order: for each bucket the alloc (or contentions) counter is added before
 * the free (or delay) counter, so a reader of the live file never sees free > alloc.
 */
#include "prof.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "arena.h"
#include "bucket.h"
#include "cfile.h"
#include "heaptime.h"
#include "live.h"
#include "log.h"
#include "names.h"
#include "newproc.h"
#include "ownstack.h"
#include "rawsys.h"
#include "ring.h"
#include "rlimit.h"
#include "spin.h"
#include "stack.h"

/* ---- state ------------------------------------------------------------------------- */

/* immutable after cp_prof_init (and in the fork child, after atfork_child) */
static struct cp_options opts;
static bool enabled;
static bool have_file;
static struct cp_cfile file;
static char meta_text[CP_CFILE_MAX_META + 1];
static size_t meta_len;

/* atomic */
static uint64_t cycle = 1;
static uint64_t lost[CP_NLOST];
static int stopping;

/* the ring registry: a list that only grows; rings are reused via their state */
static struct cp_ring *rings; /* atomic head */
static cp_spin reg_lock = CP_SPIN_INIT;
static uint32_t nrings_made; /* guarded by reg_lock */
#define REF_ID_BITS 20       /* a ring's id in a ref (cp_event_alloc) */
static __thread struct cp_ring *self_ring __attribute__((tls_model("initial-exec")));
/* this thread's ring could not be mapped */
static __thread bool no_ring __attribute__((tls_model("initial-exec")));

/* the flusher: see "Who flushes" below */
static cp_spin flush_lock = CP_SPIN_INIT; /* one flush at a time */
static pthread_t flusher;
static bool flusher_running; /* atomic: the thread is up; events leave flushing to it */
static int flusher_claimed;  /* atomic: someone has started (or failed to start) it */
static bool flusher_wanted;  /* atomic: events came too fast for inline flushing */
static int flusher_stop;     /* atomic: the thread is asked to return (cp_prof_step_aside) */
static pid_t flusher_tid;    /* atomic: its kernel thread id, while it runs */
static uint64_t inline_flushes, inline_window_ns; /* guarded by flush_lock */
static bool alone_may_start; /* a single-threaded process may get the thread (cp_prof_start) */

/* Heap sampling at a rate where most objects are sampled (CP_DENSE_RATE, prof.h): the
 * live table's shadow map, larger rings, a flusher from the start, solo mode. */
static bool dense(void)
{
    return opts.mem_rate && opts.mem_rate < CP_DENSE_RATE;
}

/* ---- solo mode (see "Solo mode" below) ---- */
enum { SOLO_OFF, SOLO_ON, SOLO_ENDING };
uint32_t cp_prof_solo; /* atomic; prof.h's cp_event_solo reads it */
#define solo cp_prof_solo
static struct cp_ring *solo_ring; /* atomic: the ring whose heap events are solo, once one has */

/* flusher only (guarded by flush_lock): totals already added to the file */
static uint64_t pub_samples[CP_NPTYPES], samples[CP_NPTYPES];
static uint64_t pub_lost[CP_NLOST], pub_waits, pub_overflowed, pub_bytes, pub_trunc, trunc_events;
static uint64_t ring_lost_total, ring_waits_total, flushes;

/* A per-process file (the first process's, and a fork child's own) is created lazily, at
 * the first flush that has something to publish, so that a process that records nothing
 * -- fork+exec, which replaces the child before it does anything, or a short process
 * that never reaches a sample -- leaves no empty file behind and never pays for creating
 * one (0.5-1 ms on an ext4 disk). Guarded by flush_lock. */
static bool file_pending;
static char pending_path[CP_PATH_MAX];
static char process_counter[160]; /* ctrprof/process:<program>, added when the file opens */

/* module records published by this process (flusher only) */
#define MODSET 1024
static uint32_t mod_published[MODSET];
static unsigned nmod_published;

bool cp_prof_enabled(void)
{
    return __atomic_load_n(&enabled, __ATOMIC_ACQUIRE);
}

/* ---- named counters ---------------------------------------------------------------- */

static void add_named(const char *name, uint64_t n)
{
    if (!have_file || n == 0)
        return;
    uint64_t *v;
    if (cp_cfile_counter(&file, name, strlen(name), &v) == 0)
        cp_cfile_add(v, n);
}

/* The health counters, added to on most flushes, keep their place in the file: a lookup
 * walks the name's hash chain, which a profile of 10^5 buckets makes hundreds of counters
 * long (the file format has 512 chains), and at rate 1 rings fill and flush hundreds of
 * times a second (perf on gcc's cc1 at rate 1: the chain walks were 5% of the run). Keyed
 * by the address of the name, a string literal; forgotten when the file changes. */
#define NAMED_CACHE 24
static struct {
    const char *name;
    uint64_t *ctr;
} named_cache[NAMED_CACHE];
static unsigned n_named_cache;

static void add_health(const char *name, uint64_t n)
{
    if (!have_file || n == 0)
        return;
    for (unsigned i = 0; i < n_named_cache; i++)
        if (named_cache[i].name == name) {
            cp_cfile_add(named_cache[i].ctr, n);
            return;
        }
    uint64_t *v;
    if (cp_cfile_counter(&file, name, strlen(name), &v) == 0) {
        cp_cfile_add(v, n);
        if (n_named_cache < NAMED_CACHE) {
            named_cache[n_named_cache].name = name;
            named_cache[n_named_cache++].ctr = v;
        }
    }
}

void cp_prof_set_process(const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof process_counter)
        n = sizeof process_counter - 1;
    memcpy(process_counter, name, n);
    process_counter[n] = 0;
    add_named(process_counter, 1);
}

/* Counters that exist from the moment the file opens:
 *  - lost:nbucket: when the file system fills up, it is the one still written;
 *  - publishing / flushes: a seqlock shared by every process writing the file. A publish
 *    adds 1 to publishing before it adds anything else and 1 to flushes after everything
 *    (cp_cfile_add is a locked RMW: a full barrier on x86-64), so a reader that sees the
 *    two equal before and after its copy has one published snapshot (cp_cfile_load). */
static uint64_t *seq_begun, *seq_ended;

static void reserve_counters(void)
{
    static const char nbucket[] = "ctrprof/health:lost:nbucket";
    static const char begun[] = CP_CFILE_SEQ_BEGUN, ended[] = CP_CFILE_SEQ_ENDED;
    uint64_t *v;
    seq_begun = seq_ended = NULL;
    if (!have_file)
        return;
    (void)cp_cfile_counter(&file, nbucket, sizeof nbucket - 1, &v);
    /* ended first: a reader that finds begun finds ended */
    if (cp_cfile_counter(&file, ended, sizeof ended - 1, &seq_ended) ||
        cp_cfile_counter(&file, begun, sizeof begun - 1, &seq_begun))
        seq_begun = seq_ended = NULL;
}

static void publish_begin(void)
{
    if (seq_begun)
        cp_cfile_add(seq_begun, 1);
}

static void publish_end(void)
{
    if (seq_ended)
        cp_cfile_add(seq_ended, 1);
}

/* Has the file stopped being ours to write (flush_lock held)? A store that faulted (the
 * file was truncated under us, or its file system had no block for a page) ends
 * publishing into it: nothing more is written there, said once. A file that can merely
 * no longer grow (its path leads elsewhere, full, a sandbox) keeps its counters; new
 * ones fail and are counted in lost:nbucket (publish_bucket). */
static void check_file(void)
{
    if (!have_file || cp_cfile_stopped(&file) != CP_CFILE_EBROKEN)
        return;
    have_file = false;
    seq_begun = seq_ended = NULL;
    n_named_cache = 0;
    static int once;
    cp_log_once(&once, "%s: the profile was truncated under the program (or its file system "
                       "had no room for a page); profiling into it has stopped",
                file.path);
}

/* Open the pending per-process file (flush_lock held). */
static void open_pending(void)
{
    if (!file_pending)
        return;
    file_pending = false;
    int err = cp_cfile_open(&file, pending_path, meta_text, meta_len);
    have_file = err == 0;
    n_named_cache = 0;
    if (!have_file) {
        if (cp_log_tree_first(CP_LOG_TREE_NOT_PROFILING)) /* forked workers: one line */
            cp_log("%s: %s; not profiling", pending_path, cp_cfile_strerror(err));
        return;
    }
    reserve_counters();
    if (process_counter[0])
        add_named(process_counter, 1);
}

/* ---- sandboxes --------------------------------------------------------------------- *
 *
 * A program that installs a seccomp filter (OpenSSH's pre-auth child, renderers, hardened
 * daemons) may forbid any system call the engine would make for the first time later:
 * openat for a lazily created file, fallocate/mmap to grow it, mmap for a new thread's
 * ring, clone for the flusher, sched_yield in a spin. The shim calls cp_prof_sandbox just
 * before the filter goes in; everything that needs a system call is done then:
 *   - the per-process file is created even if nothing was recorded yet, and everything
 *     recorded so far is published;
 *   - it is made CP_SANDBOX_FILE_MARGIN longer than its records and all of it mapped;
 *   - the arena maps a fresh chunk and CP_SANDBOX_SPARE bytes for rings and tables;
 * and from then on (cp_sandboxed) the engine makes no new kind of system call: no file
 * growth, no mmap/munmap, no thread start, no libunwind loading, spins instead of
 * sched_yield. What does not fit is counted as lost and said once. The calls that stay
 * are the ones every filter that lets glibc work allows: futex, clock_gettime (vDSO),
 * write (a diagnostic), getpid. If the filter could not be installed, everything thaws. */
int cp_prof_sandbox(void)
{
    if (!cp_prof_enabled() || __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return 0;
    /* everything recorded so far is published while the file can still grow (the room
     * made below is for what comes after), and the profiler's own flush stack is mapped
     * now (its guard page needs mprotect, which an allow-list rarely has) */
    cp_prof_flush_all();
    cp_spin_lock(&flush_lock);
    open_pending();
    if (have_file) {
        int err = cp_cfile_presize(&file, CP_SANDBOX_FILE_MARGIN);
        if (err) {
            static int once;
            cp_log_once(&once, "%s: no room made before the sandbox (%s)", file.path,
                        cp_cfile_strerror(err));
        }
        cp_cfile_freeze(&file);
    }
    cp_spin_unlock(&flush_lock);
    cp_arena_freeze(dense() ? CP_SANDBOX_SPARE : CP_SANDBOX_SPARE / 4);
    return 1;
}

void cp_prof_sandbox_failed(void)
{
    /* the filter did not go in: growth and mmap are allowed again */
    __atomic_store_n(&cp_sandboxed, 0, __ATOMIC_RELEASE);
    cp_spin_lock(&flush_lock);
    if (have_file)
        __atomic_store_n(&file.frozen, 0, __ATOMIC_RELEASE);
    cp_spin_unlock(&flush_lock);
}

void cp_prof_notes(uint64_t malloc_bytes, bool bytes_known, uint64_t cpu_ms, uint64_t forks)
{
    if (!cp_prof_enabled())
        return;
    static const char nb[] = "ctrprof/note:malloc-bytes", nc[] = "ctrprof/note:cpu-ms";
    cp_spin_lock(&flush_lock);
    open_pending(); /* a profile with nothing but these says why it is empty */
    uint64_t *v;
    if (have_file && bytes_known && cp_cfile_counter(&file, nb, sizeof nb - 1, &v) == 0)
        cp_cfile_add(v, malloc_bytes);
    if (have_file && cp_cfile_counter(&file, nc, sizeof nc - 1, &v) == 0)
        cp_cfile_add(v, cpu_ms);
    add_named("ctrprof/note:forks", forks);
    cp_spin_unlock(&flush_lock);
}

void cp_prof_note_exec_unprofiled(void)
{
    if (!cp_prof_enabled())
        return;
    cp_spin_lock(&flush_lock);
    open_pending();
    add_named("ctrprof/note:exec-without-shim", 1);
    cp_spin_unlock(&flush_lock);
}

int cp_prof_add_named(const char *name, uint64_t n)
{
    if (!have_file)
        return -ENOENT;
    uint64_t *v;
    int err = cp_cfile_counter(&file, name, strlen(name), &v);
    if (err == 0)
        cp_cfile_add(v, n);
    return err;
}

/* ---- lifecycle --------------------------------------------------------------------- */

int cp_prof_init(const struct cp_options *opt, const char *path, const char *meta,
                 size_t metalen, bool lazy)
{
    opts = *opt;
    cp_newproc_init();
    if (metalen > CP_CFILE_MAX_META)
        return CP_CFILE_EMETALEN;
    int err = cp_bucket_init(opts.max_bucket_mb << 20);
    cp_ht_init(opts.mem_rate, opts.flush_ms, opts.heap_time);
    solo = dense() ? SOLO_ON : SOLO_OFF;
    if (err == 0 && cp_live_init(dense()) != 0)
        err = -ENOMEM;
    if (err) {
        cp_log("cannot map profiler memory (%s); not profiling", cp_cfile_strerror(err));
        return err;
    }
    if (path) { /* kept for files created later: a lazy one, a fork child's */
        memcpy(meta_text, meta, metalen);
        meta_len = metalen;
    }
    if (path && lazy) {
        size_t pl = strlen(path);
        if (pl >= sizeof pending_path)
            return -ENAMETOOLONG;
        memcpy(pending_path, path, pl + 1);
        file_pending = true;
    } else if (path) {
        err = cp_cfile_open(&file, path, meta, metalen);
        if (err) {
            cp_log("%s: %s; not profiling", path, cp_cfile_strerror(err));
            return err;
        }
        have_file = true;
        reserve_counters();
    }
    __atomic_store_n(&enabled, true, __ATOMIC_RELEASE);
    return 0;
}

/* ---- threads ----------------------------------------------------------------------- */

static void drain_ring(struct cp_ring *r);

struct cp_thread *cp_thread_get(void)
{
    if (self_ring)
        return (struct cp_thread *)self_ring;
    if (!cp_prof_enabled())
        return NULL;
    /* reuse a ring whose thread has gone and which the flusher has drained */
    for (struct cp_ring *r = __atomic_load_n(&rings, __ATOMIC_ACQUIRE); r; r = r->next) {
        uint32_t s = CP_RING_FREE;
        if (__atomic_load_n(&r->state, __ATOMIC_RELAXED) == CP_RING_FREE &&
            __atomic_compare_exchange_n(&r->state, &s, CP_RING_OWNED, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            self_ring = r;
            return (struct cp_thread *)r;
        }
    }
    /* A ring whose thread has gone and which the flusher has not drained yet: drained
     * here, and taken. Waiting for the flusher, a program making threads faster than the
     * flush interval mapped a new ring for each (rate 1, 10k short-lived threads: 7.1 GB
     * of address space). A ring costs 128 KiB of address space (512 KiB at dense rates),
     * MAP_NORESERVE, touched as it fills; there are as many as threads alive at once. */
    for (struct cp_ring *r = __atomic_load_n(&rings, __ATOMIC_ACQUIRE); r; r = r->next) {
        if (__atomic_load_n(&r->state, __ATOMIC_RELAXED) != CP_RING_RELEASED)
            continue;
        cp_spin_lock(&flush_lock);
        uint32_t s = CP_RING_RELEASED;
        bool mine = __atomic_compare_exchange_n(&r->state, &s, CP_RING_OWNED, 0,
                                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
        if (mine) /* as flush_locked drains it (the records keep their cycles) */
            drain_ring(r);
        cp_spin_unlock(&flush_lock);
        if (mine) {
            self_ring = r;
            return (struct cp_thread *)r;
        }
    }
    if (no_ring)
        return NULL;
    /* the arena aligns to 16; the ring's cache-line groups need 64 */
    uint8_t *raw = cp_arena_alloc(sizeof(struct cp_ring) + 63);
    struct cp_ring *r = raw ? (struct cp_ring *)(((uintptr_t)raw + 63) & ~(uintptr_t)63) : NULL;
    /* At dense rates a record carries its stack (a few hundred bytes) and events come
     * every microsecond or two: a larger ring lets the flusher drain in bigger batches
     * and keeps the thread from waiting for it. */
    uint64_t words = dense() ? CP_RING_WORDS_DENSE : CP_RING_WORDS_DEFAULT;
    uint64_t *data = r ? cp_mmap_anon(words * sizeof(uint64_t)) : NULL;
    if (!data) {
        /* The thread goes on unprofiled; its events are counted as lost:noring (in the
         * file), the rest of the process keeps profiling. Not retried: a failing mmap on
         * every sampled event would cost the program a system call each time. */
        static int once;
        no_ring = true;
        cp_log_once(&once, "cannot map an event ring for a thread; its samples are counted "
                           "as lost (ctrprof/health:lost:noring)");
        return NULL;
    }
    cp_ring_init(r, data, words);
    r->state = CP_RING_OWNED;
    cp_spin_lock(&reg_lock);
    /* an id for the refs of its allocations (cp_event_alloc); rings are reused, so this
     * counts the most threads ever alive at once, which 2^20 bounds in practice (the
     * kernel's default threads-max is lower on most machines) */
    r->id = ++nrings_made & ((1u << REF_ID_BITS) - 1);
    r->next = rings;
    /* release: publishes the initialised ring to the flusher's acquire of rings */
    __atomic_store_n(&rings, r, __ATOMIC_RELEASE);
    cp_spin_unlock(&reg_lock);
    self_ring = r;
    return (struct cp_thread *)r;
}

void cp_thread_release(struct cp_thread *t)
{
    struct cp_ring *r = (struct cp_ring *)t;
    if (!r)
        return;
    if (self_ring == r)
        self_ring = NULL;
    /* release: the records written so far are visible before the ring may be reused */
    __atomic_store_n(&r->state, CP_RING_RELEASED, __ATOMIC_RELEASE);
}

/* ---- events ------------------------------------------------------------------------ */

static void late_event(enum cp_rec_kind kind, const uint64_t *w, unsigned n, const uint64_t *x,
                       unsigned nx);
static void flush_inline(bool may_start);

/* Record (kind, w[0..n), x[0..nx - xkeep)) in r: an allocation's last xkeep frames are
 * the ring's previous stack, and its ref, w[n], is not written (cp_event_alloc). Returns
 * EMIT_WRITTEN, EMIT_DROPPED (counted in the ring's lost) or EMIT_LATE (after the final
 * flush: accounted at once, with all of x and the ref). A solo record (solo_rec, a heap
 * event in solo mode) checks the mode once it is busy and returns EMIT_RETRY, writing
 * nothing, if solo mode is ending. */
enum { EMIT_DROPPED, EMIT_WRITTEN, EMIT_LATE, EMIT_RETRY };
/* Inlined into each caller, so that a free's one-word record is written with constant
 * sizes (callgrind, perl at rate 1: emit's generic loops and its prologue were ~105
 * instructions a free). */
static inline __attribute__((always_inline)) int emit(struct cp_ring *r, enum cp_rec_kind kind,
                                                      const uint64_t *w, unsigned n,
                                                      const uint64_t *x, unsigned nx,
                                                      unsigned xkeep, bool solo_rec)
{
    /* Make room first, outside the busy section: a thread waiting for the flusher while
     * marked busy would wait for a flusher that waits for it. Without a flusher thread
     * every event is flushed by the thread that wrote it, so the ring is empty here;
     * should it not be, this thread flushes. */
    /* the record, plus a worst-case rewind marker (a record never wraps) */
    uint64_t need = 2 * (n + nx - xkeep + 1);
    while (r->cap - cp_ring_used(r) < need) {
        if (!__atomic_load_n(&flusher_running, __ATOMIC_ACQUIRE)) {
            flush_inline(false);
            if (r->cap - cp_ring_used(r) < need) {
                cp_ring_drop(r);
                return EMIT_DROPPED;
            }
            break;
        }
        if (cp_newproc_waiting())
            continue; /* a child that no atfork handler saw: no flusher; now inline */
        cp_ring_count_wait(r);
        uint32_t seq = __atomic_load_n(&r->rseq, __ATOMIC_ACQUIRE);
        cp_ring_wake_consumer();
        if (r->cap - cp_ring_used(r) < need)
            cp_futex_wait(&r->rseq, seq, 10 * 1000 * 1000);
    }
    cp_ring_begin(r); /* busy, seq_cst */
    if (solo_rec && __atomic_load_n(&solo, __ATOMIC_SEQ_CST) != SOLO_ON) {
        /* solo mode is ending: the ender did not see this event busy, so it may be
         * draining already; the caller makes it again the other way (EMIT_RETRY) */
        cp_ring_end(r);
        return EMIT_RETRY;
    }
    uint64_t c = __atomic_load_n(&cycle, __ATOMIC_SEQ_CST);
    if (__builtin_expect(__atomic_load_n(&stopping, __ATOMIC_SEQ_CST), 0)) {
        /* After the final flush (exit): destructors of libraries finalised after ours
         * still allocate and free. Seen while busy, so the final flush either waited for
         * this event (it read stopping = 0) or will never see it: account it directly. */
        cp_ring_end(r);
        late_event(kind, w, n, x, nx);
        return EMIT_LATE;
    }
    /* cannot fail: room was made above. Its one release store of the head word publishes
     * the record and clears busy (the flusher's seq_cst load of head pairs with it). */
    cp_ring_put(r, kind, c, w, n, x, nx - xkeep);
    if (!__atomic_load_n(&flusher_running, __ATOMIC_ACQUIRE))
        flush_inline(kind != CP_REC_DELAY);
    return EMIT_WRITTEN;
}

/* An allocation's ref: names it in the live table until the flusher has found its
 * bucket, and in the flusher's books (unmatched, below) when a free takes it first.
 * Unique per allocation: bits 24..63 the ring's count of allocations, 4..23 the ring's
 * id, bit 1 set (a bucket pointer is 16-byte aligned), bit 0 clear (the live table's). */
static inline bool is_ref(uintptr_t v)
{
    return (v & 2) != 0;
}

static inline uintptr_t make_ref(uint64_t nref, uint32_t id)
{
    return (uintptr_t)(nref << (4 + REF_ID_BITS)) | (uintptr_t)id << 4 | 2;
}

#define SIZE_LIMIT ((uint64_t)1 << 48)

/* How many of the last `most` words before a and before b are equal (the longest common
 * suffix of two stacks, compared from their outer ends). Four frames a step with SSE2:
 * consecutive stacks share ~10 outer frames on perl, where the 2-wide scalar loop was
 * ~80 instructions a sample. */
static inline unsigned common_suffix(const uintptr_t *a, const uintptr_t *b, unsigned most)
{
    unsigned k = 0;
#if defined(__SSE2__)
    while (k + 4 <= most) {
        __m128i x0 = _mm_loadu_si128((const __m128i *)(a - k - 2));
        __m128i y0 = _mm_loadu_si128((const __m128i *)(b - k - 2));
        __m128i x1 = _mm_loadu_si128((const __m128i *)(a - k - 4));
        __m128i y1 = _mm_loadu_si128((const __m128i *)(b - k - 4));
        /* frames k+1..k+4 in mask bytes 0..3 (a frame is equal when both its halves are:
         * the shuffles put each load's outer frame first) */
        __m128i e0 = _mm_shuffle_epi32(_mm_cmpeq_epi32(x0, y0), 0x4e);
        __m128i e1 = _mm_shuffle_epi32(_mm_cmpeq_epi32(x1, y1), 0x4e);
        uint32_t m = (uint32_t)_mm_movemask_epi8(e0) | (uint32_t)_mm_movemask_epi8(e1) << 16;
        if (m != 0xffffffffu)
            return k + ((unsigned)__builtin_ctz(~m) >> 3);
        k += 4;
    }
#endif
    while (k < most && *(a - k - 1) == *(b - k - 1))
        k++;
    return k;
}

_Static_assert(CP_RING_STK >= CP_MAX_DEPTH + 1, "a ring keeps a whole stack");
_Static_assert(CP_MAX_DEPTH + 1 <= 255, "a record's frame counts fit a byte");

/* ---- solo mode ----------------------------------------------------------------------
 *
 * At dense rates nearly every heap object is sampled, and the live table (live.h) is
 * touched twice for each: an insert where the object is allocated and a remove where it
 * is freed, at a random place in a map a quarter of the heap's size (perl at rate 1: a
 * cache miss on each free, 5% of the program's thread, and the flusher's resolving CAS
 * had taken the entry's line to its own core in between). The table is there so that a
 * free made by any thread finds its allocation whatever order the flusher drains the
 * rings in. While every heap event of the process comes from one ring, that ring's order
 * is the program's, and the flusher keeps the table itself: an allocation's record
 * (p | 1) puts p -> bucket in the table when it is drained, a free's record (p | 1)
 * takes p out (an unsampled pointer the filter let through is not there: nothing is
 * counted). The program's thread only counts the object in the filter (cp_live_mark),
 * so that free() still passes over unsampled pointers with one load.
 *
 * Solo mode ends for good (a fork child starts afresh) at the first heap event on a
 * second ring. That thread marks the mode ENDING, waits until the solo ring is neither
 * busy with an event nor inside a realloc (in_op), drains every ring (the table is then
 * complete) and marks it OFF; from then on each thread keeps the table itself, as without
 * solo mode. An event reads the mode after the seq_cst store that marks it busy, and the
 * ender reads busy after its seq_cst change of the mode: either the ender waits for the
 * event, or the event sees ENDING, writes nothing and is made again the other way once
 * the mode is OFF. A realloc marks in_op with the same handshake before the real call and
 * records the old block's free before it clears it: the block is free once the real call
 * returns, but no other thread's allocation can be recorded before the ender has drained
 * that free. Mutex and block events use no table and leave solo mode alone. A ring that
 * a new thread reuses after the solo thread has gone keeps solo mode: the flusher drained
 * everything the old thread wrote before the ring could be reused. */

static void solo_wait(void)
{
    while (__atomic_load_n(&solo, __ATOMIC_ACQUIRE) == SOLO_ENDING)
        cp_futex_wait(&solo, SOLO_ENDING, 1000 * 1000);
}

static void solo_end(void)
{
    uint32_t s = SOLO_ON;
    if (!__atomic_compare_exchange_n(&solo, &s, SOLO_ENDING, 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        solo_wait(); /* ended, or another thread is ending it */
        return;
    }
    struct cp_ring *o = __atomic_load_n(&solo_ring, __ATOMIC_ACQUIRE);
    /* Neither waits for anything this thread holds: in_op covers the real realloc (no
     * lock of ours; this thread holds none of the allocator's, being in a hook) and the
     * record, which may wait for the flusher, which waits for no one here. */
    for (unsigned spins = 0; o && (__atomic_load_n(&o->in_op, __ATOMIC_SEQ_CST) || cp_ring_busy(o));
         spins++)
        if (spins > 64)
            cp_yield(); /* raw: on the program's stack */
    cp_prof_flush_all();
    __atomic_store_n(&solo, SOLO_OFF, __ATOMIC_RELEASE);
    cp_futex_wake(&solo, INT32_MAX);
}

/* May r record its heap events solo? r claims solo mode if no ring has yet; a heap event
 * on another ring ends it, as does one of a thread without a ring (r NULL: its events
 * cannot be ordered after the solo ring's, so the table must be complete first). */
static __attribute__((noinline)) bool solo_claim(struct cp_ring *r, uint32_t s)
{
    if (!r) {
        solo_end();
        return false;
    }
    struct cp_ring *o = __atomic_load_n(&solo_ring, __ATOMIC_ACQUIRE);
    if (!o && __atomic_compare_exchange_n(&solo_ring, &o, r, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        o = r;
    if (o != r) {
        solo_end();
        return false;
    }
    if (s == SOLO_ENDING) {
        solo_wait();
        return false;
    }
    return true; /* the event confirms it once busy */
}

static inline bool solo_for(struct cp_ring *r)
{
    uint32_t s = __atomic_load_n(&solo, __ATOMIC_ACQUIRE);
    if (s == SOLO_OFF)
        return false;
    if (s == SOLO_ON && r && __atomic_load_n(&solo_ring, __ATOMIC_ACQUIRE) == r)
        return true; /* the common case, inline */
    return solo_claim(r, s);
}

void cp_event_alloc(struct cp_thread *t, void *p, uint64_t size, const uintptr_t *pcs, unsigned n)
{
    struct cp_ring *r = (struct cp_ring *)t;
    cp_newproc(); /* a new process starts clean (newproc.h); this allocation is its own */
    if (!r) {
        cp_prof_lost(CP_LOST_NORING, 1);
        return;
    }
    if (n > CP_MAX_DEPTH + 1)
        n = CP_MAX_DEPTH + 1;
    /* The stack goes to the ring as it is: finding its bucket (a hash, a chain head, the
     * bucket's key: misses in tables the size of the program's caches, a third of the
     * cost of an event on cc1 at rate 1) is the flusher's work, on its own core (account).
     * Written as the frames that differ from the ring's previous stack, whose outermost
     * `keep` frames it shares (consecutive allocations share most of theirs: cc1 writes 5
     * words an event for 26 frames on average), so the thread's caches see a few words. */
    unsigned keep = common_suffix(pcs + n, r->stk + CP_RING_STK, n < r->stk_n ? n : r->stk_n);
    /* The record: p (| 1 in solo mode), then size, frames and kept frames in one word (an
     * object of 2^48 bytes or more cannot be allocated on x86-64), its time (heaptime.h:
     * lifetimes, the peak's moment), then the new frames. The ref is not written: the
     * consumer counts this ring's allocation records (cnref). */
    uintptr_t ref = make_ref(r->nref, r->id);
    uint64_t w[4] = {(uint64_t)(uintptr_t)p,
                     (size < SIZE_LIMIT ? size : SIZE_LIMIT - 1) << 16 | n << 8 | keep,
                     cp_ht_stamp(), ref};
    bool so = solo_for(r);
    int e;
    for (;;) {
        if (so)
            w[0] |= 1;
        else if (!cp_live_insert(p, ref)) {
            cp_prof_lost(CP_LOST_NBUCKET, 1);
            return;
        }
        e = emit(r, CP_REC_ALLOC, w, 3, (const uint64_t *)pcs, n, keep, so);
        if (e != EMIT_RETRY)
            break;
        solo_wait(); /* solo mode ended meanwhile: the table is the thread's to keep now */
        so = false;
        w[0] &= ~(uint64_t)1;
    }
    if (so && e != EMIT_DROPPED)
        cp_live_mark(p); /* before p is the program's, so its free is recorded */
    else if (!so && e == EMIT_DROPPED)
        cp_live_remove(p); /* its free must not be looked for; its ref is the next one's */
    switch (e) {
    case EMIT_WRITTEN:
        r->nref++;
        memcpy(r->stk + CP_RING_STK - n, pcs, (n - keep) * sizeof *pcs);
        r->stk_n = n;
        break;
    case EMIT_LATE: /* accounted with this ref, which no ring record will carry */
        r->nref++;
        break;
    default:
        break;
    }
}

int cp_event_free_solo(struct cp_thread *t, void *p)
{
    struct cp_ring *r = (struct cp_ring *)t;
    if (cp_newproc())
        return 1; /* the parent's object, in a new process: not this one's to count */
    if (!solo_for(r))
        return 0;
    /* a free's record: the live table's value (here p | 1: the flusher looks it up), the
     * address and the time (heaptime.h: the object's lifetime) */
    uint64_t w[3] = {(uint64_t)(uintptr_t)p | 1, (uint64_t)(uintptr_t)p, cp_ht_stamp()};
    if (emit(r, CP_REC_FREE, w, 3, NULL, 0, 0, true) != EMIT_RETRY)
        return 1;
    solo_wait();
    return 0;
}

bool cp_event_solo_begin(struct cp_thread *t)
{
    struct cp_ring *r = (struct cp_ring *)t;
    cp_newproc();
    if (!solo_for(r))
        return false;
    __atomic_store_n(&r->in_op, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&solo, __ATOMIC_SEQ_CST) == SOLO_ON)
        return true;
    __atomic_store_n(&r->in_op, 0, __ATOMIC_RELEASE);
    solo_wait();
    return false;
}

void cp_event_solo_end(struct cp_thread *t, void *freed)
{
    struct cp_ring *r = (struct cp_ring *)t;
    if (freed) {
        /* no check of the mode: an ender waits for in_op, so this is still solo */
        uint64_t w[3] = {(uint64_t)(uintptr_t)freed | 1, (uint64_t)(uintptr_t)freed, cp_ht_stamp()};
        emit(r, CP_REC_FREE, w, 3, NULL, 0, 0, false);
    }
    /* release: the record is published before an ender can see in_op clear */
    __atomic_store_n(&r->in_op, 0, __ATOMIC_RELEASE);
}

bool cp_event_free(struct cp_thread *t, void *p)
{
    if (cp_event_solo() && cp_live_maybe(p) && cp_event_free_solo(t, p))
        return true;
    uintptr_t v = cp_event_free_take(p);
    if (v)
        cp_event_free_commit(t, p, v);
    return v != 0;
}

uintptr_t cp_event_free_take(void *p)
{
    if (!cp_live_maybe(p) || cp_newproc()) /* (a new process: the table is empty now) */
        return 0;
    if (cp_event_solo())
        solo_end(); /* the table answers only once it is complete */
    return cp_live_remove(p);
}

void cp_event_free_commit(struct cp_thread *t, const void *p, uintptr_t v)
{
    if (cp_newproc())
        return; /* v was the parent's (the shim took it from the table): not ours to count */
    if (!t) {
        cp_prof_lost(CP_LOST_NORING, 1);
        return;
    }
    uint64_t w[3] = {v, (uint64_t)(uintptr_t)p, cp_ht_stamp()};
    emit((struct cp_ring *)t, CP_REC_FREE, w, 3, NULL, 0, 0, false);
}

void cp_event_free_undo(void *p, uintptr_t v)
{
    if (!cp_live_insert(p, v))
        cp_prof_lost(CP_LOST_NBUCKET, 1);
}

void cp_event_delay(struct cp_thread *t, struct cp_bucket *b, uint64_t count_q16, uint64_t delay_ns)
{
    cp_newproc();
    if (!t || !b) {
        cp_prof_lost(t ? CP_LOST_NBUCKET : CP_LOST_NORING, 1);
        return;
    }
    uint64_t w[3] = {(uint64_t)(uintptr_t)b, count_q16, delay_ns};
    emit((struct cp_ring *)t, CP_REC_DELAY, w, 3, NULL, 0, 0, false);
}

void cp_prof_lost(enum cp_lost why, uint64_t n)
{
    if ((unsigned)why < CP_NLOST)
        __atomic_add_fetch(&lost[why], n, __ATOMIC_RELAXED);
}

/* ---- the flush --------------------------------------------------------------------- */

/* The buckets with events in fut[s], so that a flush visits those and not every bucket
 * (at rate 1 rings fill and flush hundreds of times a second, and a walk over 10^5
 * buckets each time was 11% of a rate-1 run of gcc's cc1, perf record). Flusher only. */
static struct cp_bucket *touched_head[2];

/* Add one event of cycle c to b's fut[c % 2]. */
static void count(struct cp_bucket *b, enum cp_rec_kind kind, uint64_t c, const uint64_t *w,
                  unsigned n)
{
    unsigned s = (unsigned)(c & 1);
    if (!(b->queued & (1u << s))) {
        b->queued |= (uint16_t)(1u << s);
        b->touched[s] = touched_head[s];
        touched_head[s] = b;
    }
    switch (kind) {
    case CP_REC_ALLOC:
        b->u.mem.fut[s].allocs++;
        samples[CP_HEAP]++;
        break;
    case CP_REC_FREE:
        b->u.mem.fut[s].frees++;
        break;
    case CP_REC_DELAY:
        if (n >= 3) {
            b->u.blk.fut_count[s] += w[1];
            b->u.blk.fut_delay[s] += w[2];
            samples[b->type]++;
        }
        break;
    default:
        break;
    }
    if (b->nstk && b->stk[b->nstk - 1] == CP_PC_TRUNCATED && kind != CP_REC_FREE)
        trunc_events++;
}

/* ---- refs the live table no longer holds ---------------------------------------------
 *
 * The flusher (or whoever holds flush_lock) finds an allocation's bucket and replaces its
 * ref in the live table with the bucket (cp_live_resolve). A free (or a realloc) that
 * took the object out of the table before that carries the ref, and the two meet here:
 *   - the allocation was resolved first: its bucket waits under the ref (an "orphan")
 *     for the free, however long that comes after (a realloc that fails puts the ref
 *     back in the live table, and the object lives on);
 *   - the free was drained first (its ring before the allocation's): it waits under the
 *     ref with its cycle ("pending") for the allocation. The allocation happened before
 *     the free (the program hands the pointer over), so its cycle is <= the free's and it
 *     is drained no later than the flush that ends the free's cycle: a pending free still
 *     here after that flush has no allocation to meet (it was dropped from a full ring,
 *     or found no bucket) and is let go, counted in unmatched.
 * Both are rare and short-lived; an open-addressing table (linear probing, deletion by
 * backward shift), doubled when half full. Guarded by flush_lock. */
struct um_slot {
    uint64_t ref; /* 0: empty */
    uint64_t val; /* a bucket pointer, or (cycle << 1 | 1) for a pending free */
};
static struct um_slot *um;
static uint64_t um_mask, um_n, unmatched;
/* Pending frees by the parity of their cycle. At the end of the flush that finishes
 * cycle c every pending free is of cycle c or c + 1 (older ones were let go by earlier
 * flushes), so those of c's parity are exactly the ones to let go. */
static uint64_t um_pending[2];
static uint64_t n_orphans, n_pending; /* ever made, for tests */

static uint64_t um_hash(uint64_t ref)
{
    /* a ring's refs differ only in their high bits: mix those down (a multiply alone
     * leaves the low bits a function of the low bits, and every ref of a ring probed
     * from one slot: chains of thousands in bench_micro) */
    ref ^= ref >> 33;
    ref *= 0xff51afd7ed558ccdull;
    ref ^= ref >> 33;
    ref *= 0xc4ceb9fe1a85ec53ull;
    return ref ^ (ref >> 33);
}

static struct um_slot *um_find(uint64_t ref)
{
    if (!um)
        return NULL;
    for (uint64_t i = um_hash(ref) & um_mask;; i = (i + 1) & um_mask) {
        if (um[i].ref == ref)
            return &um[i];
        if (!um[i].ref)
            return NULL;
    }
}

static void um_delete(struct um_slot *e)
{
    uint64_t i = (uint64_t)(e - um);
    if (um[i].val & 1)
        um_pending[(um[i].val >> 1) & 1]--;
    um_n--;
    for (uint64_t j = (i + 1) & um_mask; um[j].ref; j = (j + 1) & um_mask) {
        uint64_t home = um_hash(um[j].ref) & um_mask;
        /* move j back to the hole at i if its home is not in (i, j] (cyclically) */
        if (((j - home) & um_mask) >= ((j - i) & um_mask)) {
            um[i] = um[j];
            i = j;
        }
    }
    um[i].ref = 0;
}

/* The empty slot where ref goes (the table has one). */
static struct um_slot *um_empty(uint64_t ref)
{
    uint64_t i = um_hash(ref) & um_mask;
    while (um[i].ref)
        i = (i + 1) & um_mask;
    return &um[i];
}

static bool um_put(uint64_t ref, uint64_t val)
{
    if (!um || (um_n + 1) * 2 > um_mask + 1) {
        uint64_t cap = um ? (um_mask + 1) * 2 : 1024;
        struct um_slot *n = cp_mmap_anon(cap * sizeof *n), *o = um;
        if (!n)
            return false;
        uint64_t omask = um_mask;
        um = n;
        um_mask = cap - 1;
        for (uint64_t i = 0; o && i <= omask; i++)
            if (o[i].ref)
                *um_empty(o[i].ref) = o[i];
        if (o)
            cp_munmap_anon(o, (omask + 1) * sizeof *o);
    }
    *um_empty(ref) = (struct um_slot){ref, val};
    um_n++;
    if (val & 1) {
        um_pending[(val >> 1) & 1]++;
        n_pending++;
    } else {
        n_orphans++;
    }
    return true;
}

/* At the end of the flush that finished cycle c: let go of pending frees of cycles <= c
 * (rare: their allocation records were dropped; the scan runs only when there are some). */
static void um_expire(uint64_t c)
{
    for (uint64_t i = 0; um_pending[c & 1] && i <= um_mask;) {
        if (um[i].ref && (um[i].val & 1) && (um[i].val >> 1) <= c) {
            um_delete(&um[i]);
            unmatched++;
            continue; /* the backward shift may have moved another entry into i */
        }
        i++;
    }
}

/* An allocation (p, size, ref, stack): its bucket, found now; counted in cycle c (late:
 * straight into the published state). NULL if no bucket could be had. p | 1: a solo
 * allocation, which the flusher puts in the live table itself. */
static struct cp_bucket *resolve_alloc(void *p, uint64_t size, uint64_t ref, const uintptr_t *pcs,
                                       unsigned n, uint64_t c, bool late, uint64_t t)
{
    struct cp_bucket *b = cp_bucket_get(CP_HEAP, size, pcs, n);
    if (!b) {
        cp_prof_lost(CP_LOST_NBUCKET, 1);
        return NULL;
    }
    bool solo_rec = (uintptr_t)p & 1;
    if (solo_rec) {
        p = (void *)((uintptr_t)p & ~(uintptr_t)1);
        cp_live_prefault(p);
        /* (an entry of the same address whose free was dropped is replaced) */
        if (!cp_live_put(p, (uintptr_t)b)) {
            cp_prof_lost(CP_LOST_NBUCKET, 1); /* not counted: its free would not be */
            return NULL;
        }
    }
    if (late)
        b->u.mem.active.allocs++;
    else
        count(b, CP_REC_ALLOC, c, NULL, 0);
    cp_ht_alloc(b, p, t);
    if (solo_rec)
        return b; /* in the table: no ref to match */
    struct um_slot *e = um_find(ref);
    if (e && (e->val & 1)) { /* its free was drained first */
        uint64_t fc = e->val >> 1;
        um_delete(e);
        if (late)
            b->u.mem.active.frees++;
        else
            count(b, CP_REC_FREE, fc, NULL, 0);
        cp_ht_free(b, p, 0); /* (its time is not kept: not classed) */
    } else if (cp_live_resolve(p, ref, (uintptr_t)b)) {
        cp_live_prefault(p);
    } else if (!um_put(ref, (uintptr_t)b)) {
        /* a free took the ref, and there is no memory to remember the bucket for it */
        cp_prof_lost(CP_LOST_NBUCKET, 1);
    }
    return b;
}

/* A free record's bucket: the value it took from the live table, a bucket or a ref. NULL
 * if it must wait for its allocation (or cannot be placed). p | 1: a solo free, whose
 * value the flusher takes out of the table now (none: p was not sampled). */
static struct cp_bucket *resolve_free(uint64_t v, uint64_t c, bool late)
{
    if (v & 1) {
        v = cp_live_remove((void *)(uintptr_t)(v & ~(uint64_t)1));
        if (!v)
            return NULL;
    }
    if (!is_ref(v))
        return (struct cp_bucket *)(uintptr_t)v;
    struct um_slot *e = um_find(v);
    if (e && !(e->val & 1)) {
        struct cp_bucket *b = (struct cp_bucket *)(uintptr_t)e->val;
        um_delete(e);
        return b;
    }
    /* late: every earlier record is drained, so its allocation will not come */
    if (late || !um_put(v, c << 1 | 1))
        unmatched++;
    return NULL;
}

void cp_prof_ref_stats(uint64_t *orphans, uint64_t *pending, uint64_t *unmatched_frees)
{
    cp_spin_lock(&flush_lock);
    *orphans = n_orphans;
    *pending = n_pending;
    *unmatched_frees = unmatched;
    cp_spin_unlock(&flush_lock);
}

static void account(void *ctx, enum cp_rec_kind kind, uint64_t c, const uint64_t *w, unsigned n)
{
    struct cp_ring *r = ctx;
    struct cp_bucket *b;
    switch (kind) {
    case CP_REC_ALLOC: {
        /* (p, size << 16 | nframes << 8 | keep, time), then the nframes - keep innermost
         * frames; the other keep are the outermost of this ring's previous stack. The ref
         * is this ring's count of allocation records (cp_event_alloc). */
        uintptr_t ref = make_ref(r->cnref++, r->id);
        unsigned nf = (unsigned)(w[1] >> 8) & 0xff, keep = (unsigned)w[1] & 0xff;
        if (n < 3 || nf > CP_RING_STK || keep > nf || keep > r->cstk_n || n - 3 != nf - keep)
            return; /* cannot happen: the producer wrote it */
        uintptr_t *stk = r->cstk + CP_RING_STK - nf;
        memcpy(stk, w + 3, (nf - keep) * sizeof *stk);
        r->cstk_n = nf;
        resolve_alloc((void *)(uintptr_t)w[0], w[1] >> 16, ref, stk, nf, c, false, w[2]);
        return;
    }
    case CP_REC_FREE: /* (live table value, p, time) */
        if (n >= 3 && (b = resolve_free(w[0], c, false))) {
            count(b, kind, c, w, n);
            cp_ht_free(b, (const void *)(uintptr_t)w[1], w[2]);
        }
        return;
    case CP_REC_DELAY:
        if (n >= 1)
            count((struct cp_bucket *)(uintptr_t)w[0], kind, c, w, n);
        return;
    default:
        return;
    }
}

static void module_seen(void *ctx, const struct cp_module *m)
{
    for (unsigned i = 0; i < nmod_published; i++)
        if (mod_published[i] == m->id)
            return;
    char name[CP_CFILE_MAX_NAME];
    size_t n = cp_names_module(m, name, sizeof name);
    uint64_t *v;
    if (n && have_file && cp_cfile_counter(&file, name, n, &v) == 0) {
        cp_cfile_add(v, 1);
        if (nmod_published < MODSET)
            mod_published[nmod_published++] = m->id;
    }
}

static void publish_bucket(struct cp_bucket *b)
{
    uint64_t val[2];
    if (b->type == CP_HEAP) {
        val[0] = b->u.mem.active.allocs;
        val[1] = b->u.mem.active.frees;
    } else {
        val[0] = b->u.blk.count_q16;
        val[1] = b->u.blk.delay;
    }
    if (!have_file || b->ctr_failed)
        return;
    for (int i = 0; i < 2; i++) {
        if (val[i] == b->pub[i])
            continue;
        if (!b->ctr[i]) {
            char name[CP_CFILE_MAX_NAME];
            size_t n = cp_names_bucket(b, i, name, sizeof name, module_seen, NULL);
            int err = n ? cp_cfile_counter(&file, name, n, &b->ctr[i]) : CP_CFILE_ENAME;
            if (err == CP_CFILE_EBROKEN) {
                b->ctr[i] = NULL;
                check_file(); /* said there, once; nothing more goes to the file */
                return;
            }
            if (err) {
                b->ctr_failed = 1;
                static int once;
                cp_log_once(&once, "%s: cannot add a counter (%s); samples that need new counters "
                                   "are lost (ctrprof/health:lost:nbucket)",
                            file.path, cp_cfile_strerror(err));
                cp_prof_lost(CP_LOST_NBUCKET, 1);
                return;
            }
        }
        cp_cfile_add(b->ctr[i], val[i] - b->pub[i]);
        b->pub[i] = val[i];
    }
}

/* heaptime.c's way to the file (flush_lock held): a bucket's counter by names.h's which,
 * created as publish_bucket creates its own; a named one. */
static uint64_t *ht_bucket_ctr(struct cp_bucket *b, int which)
{
    char name[CP_CFILE_MAX_NAME];
    uint64_t *v;
    if (!have_file)
        return NULL;
    size_t n = cp_names_bucket(b, which, name, sizeof name, module_seen, NULL);
    int err = n ? cp_cfile_counter(&file, name, n, &v) : CP_CFILE_ENAME;
    if (err == CP_CFILE_EBROKEN)
        check_file();
    else if (err)
        cp_prof_lost(CP_LOST_NBUCKET, 1);
    return err ? NULL : v;
}

static uint64_t *ht_named_ctr(const char *name)
{
    uint64_t *v;
    return have_file && cp_cfile_counter(&file, name, strlen(name), &v) == 0 ? v : NULL;
}

static const struct cp_ht_sink ht_sink = {ht_bucket_ctr, ht_named_ctr};
static bool ht_force; /* guarded by flush_lock: cp_prof_flush_all's flushes */

/* An event after the final flush: into the bucket's published state at once, under the
 * flush lock, and out to the file; O(1), so a destructor freeing many objects late does
 * not pay a flush each. Every earlier event of the process is already published (the
 * final flush drained every ring), so the file never shows a free without its alloc. */
static void late_event(enum cp_rec_kind kind, const uint64_t *w, unsigned n, const uint64_t *x,
                       unsigned nx)
{
    cp_spin_lock(&flush_lock);
    /* the first thing this process records may come this late (a library destructor
     * running after ours): its file is created now */
    open_pending();
    check_file();
    struct cp_bucket *b = NULL;
    switch (kind) {
    case CP_REC_ALLOC: /* the whole stack is in x; w[3] is the ref */
        b = resolve_alloc((void *)(uintptr_t)w[0], w[1] >> 16, w[3], (const uintptr_t *)x, nx, 0,
                          true, w[2]);
        break;
    case CP_REC_FREE:
        if ((b = resolve_free(w[0], 0, true))) {
            b->u.mem.active.frees++;
            cp_ht_free(b, (const void *)(uintptr_t)w[1], w[2]);
        }
        break;
    case CP_REC_DELAY:
        b = (struct cp_bucket *)(uintptr_t)w[0];
        if (n >= 3) {
            b->u.blk.count_q16 += w[1];
            b->u.blk.delay += w[2];
        }
        break;
    default:
        break;
    }
    if (b) {
        publish_begin();
        publish_bucket(b);
        cp_ht_publish(&ht_sink, false);
        publish_end();
    }
    cp_spin_unlock(&flush_lock);
}

/* The unwinder's counts (core/stack.c) as last published. */
static uint64_t pub_unw[4];

static void publish_health(void)
{
    static const char *const sname[CP_NPTYPES] = {"ctrprof/health:samples:heap",
                                                  "ctrprof/health:samples:mutex",
                                                  "ctrprof/health:samples:block"};
    static const char *const lname[CP_NLOST] = {
        "ctrprof/health:lost:noring", "ctrprof/health:lost:overflow",
        "ctrprof/health:lost:reentry", "ctrprof/health:lost:nbucket",
        "ctrprof/health:profiler-waits"};
    for (int t = 0; t < CP_NPTYPES; t++) {
        add_health(sname[t], samples[t] - pub_samples[t]);
        pub_samples[t] = samples[t];
    }
    uint64_t l[CP_NLOST];
    for (int i = 0; i < CP_NLOST; i++)
        l[i] = __atomic_load_n(&lost[i], __ATOMIC_RELAXED);
    l[CP_LOST_OVERFLOW] += ring_lost_total;
    for (int i = 0; i < CP_NLOST; i++) {
        add_health(lname[i], l[i] - pub_lost[i]);
        pub_lost[i] = l[i];
    }
    add_health("ctrprof/health:ring-waits", ring_waits_total - pub_waits);
    pub_waits = ring_waits_total;
    uint64_t of = cp_bucket_overflowed();
    add_health("ctrprof/health:overflow-buckets", of - pub_overflowed);
    pub_overflowed = of;
    /* a high-water mark: the mapped bytes also fall (a table moved, a fork child drops
     * the parent's), and a counter only adds (a fall once wrapped it to 2^64-1) */
    uint64_t by = cp_arena_mapped();
    if (by > pub_bytes) {
        add_health("ctrprof/health:profiler-bytes", by - pub_bytes);
        pub_bytes = by;
    }
    add_health("ctrprof/health:truncated-stacks", trunc_events - pub_trunc);
    pub_trunc = trunc_events;
    static const char *const uname[4] = {
        "ctrprof/health:unwind-fallbacks", "ctrprof/health:unwind-checked",
        "ctrprof/health:unwind-differs", "ctrprof/health:unwind-fp-fallbacks"};
    uint64_t u[4];
    cp_stack_stats(&u[0], &u[1], &u[2]);
    u[3] = cp_stack_fp_fallbacks();
    for (int i = 0; i < 4; i++) {
        add_health(uname[i], u[i] - pub_unw[i]);
        pub_unw[i] = u[i];
    }
}

/* Drain one ring into the buckets (flush_lock held). */
static void drain_ring(struct cp_ring *r)
{
    cp_ring_drain(r, account, r);
    ring_lost_total += cp_ring_take_lost(r);
    ring_waits_total += cp_ring_take_waits(r);
}

/* One flush: advance the cycle, wait out events in progress, drain, publish. */
static void flush_locked(void)
{
    check_file();
    uint64_t c = __atomic_load_n(&cycle, __ATOMIC_RELAXED);
    __atomic_store_n(&cycle, c + 1, __ATOMIC_SEQ_CST);
    struct cp_ring *head = __atomic_load_n(&rings, __ATOMIC_ACQUIRE);
    for (struct cp_ring *r = head; r; r = r->next)
        for (unsigned spins = 0; cp_ring_busy(r); spins++)
            if (spins > 64)
                cp_yield();
    for (struct cp_ring *r = head; r; r = r->next) {
        uint32_t state = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
        drain_ring(r);
        /* a released ring read before the drain is empty now: it may be reused */
        if (state == CP_RING_RELEASED)
            __atomic_compare_exchange_n(&r->state, &state, CP_RING_FREE, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED);
    }
    um_expire(c);
    unsigned s = (unsigned)(c & 1);
    if (file_pending) {
        uint64_t any = ring_lost_total;
        for (int t = 0; t < CP_NPTYPES; t++)
            any |= samples[t];
        for (int i = 0; i < CP_NLOST; i++)
            any |= __atomic_load_n(&lost[i], __ATOMIC_RELAXED);
        if (any)
            open_pending();
    }
    publish_begin();
    struct cp_bucket *next;
    unsigned published = 0;
    for (struct cp_bucket *b = touched_head[s]; b; b = next) {
        /* Adding a bucket's first counters to the file walks a chain of its hash table
         * (hundreds of thousands of counters at rate 1 share 512 chains), and a burst of
         * new stacks kept the flusher away from the rings for milliseconds: threads
         * waited for room (cc1 at rate 1: 52 waits). So the rings are drained now and
         * then meanwhile. Everything drained now is of cycle c + 1 or later (cycle c
         * was complete before the first drain), so it goes to the other slot, whose list
         * this loop does not walk. */
        if (++published % 64 == 0)
            for (struct cp_ring *r = head; r; r = r->next)
                if (cp_ring_head_pos(r) !=
                    (__atomic_load_n(&r->rtail, __ATOMIC_RELAXED) & CP_RING_POS_MASK))
                    cp_ring_drain(r, account, r);
        next = b->touched[s];
        b->queued &= (uint16_t)~(1u << s);
        if (b->type == CP_HEAP) {
            struct cp_memrec *f = &b->u.mem.fut[s];
            b->u.mem.active.allocs += f->allocs;
            b->u.mem.active.frees += f->frees;
            f->allocs = f->frees = 0;
        } else {
            b->u.blk.count_q16 += b->u.blk.fut_count[s];
            b->u.blk.delay += b->u.blk.fut_delay[s];
            b->u.blk.fut_count[s] = b->u.blk.fut_delay[s] = 0;
        }
        publish_bucket(b);
    }
    touched_head[s] = NULL;
    flushes++;
    cp_ht_publish(&ht_sink, ht_force);
    publish_health();
    publish_end();
}

static void flush_twice(void *arg)
{
    (void)arg;
    /* twice: the first publishes the cycle that was running, the second whatever was
     * stamped with the next cycle while the first drained */
    flush_locked();
    flush_locked();
}

/* On whatever thread calls it (exit, solo mode's end on a new thread, tests): the flush
 * runs on the profiler's own stack (ownstack.h), which flush_lock guards. */
void cp_prof_flush_all(void)
{
    if (!cp_prof_enabled())
        return;
    cp_spin_lock(&flush_lock);
    ht_force = true; /* the peak's counters are rewritten now, not at the next interval */
    cp_own_stack_run(flush_twice, NULL);
    ht_force = false;
    cp_spin_unlock(&flush_lock);
}

/* ---- who flushes ------------------------------------------------------------------- *
 *
 * A thread of our own makes the process multi-threaded, and glibc then takes its
 * multi-threaded paths on every call for the rest of the run: atomic lock words in
 * malloc's arenas, in every pthread_mutex_unlock and stdio call, cancellation points
 * around system calls. For sqlite3 (single-threaded, 4.9 million mutex pairs) that was
 * 34.6 million more instructions inside libc (0.39% of the run, callgrind), more than
 * every sampled event of the run cost. So a single-threaded process has no flusher: the
 * thread that records an event publishes it at once ("inline"), which also loses
 * nothing at _exit or SIGKILL, where a flusher loses up to one interval. And a second
 * thread changes what the program may do (issue 29): fork() from a signal handler
 * deadlocks on malloc's arena locks (glibc keeps fork async-signal-safe only in a
 * single-threaded process), unshare(CLONE_NEWUSER) fails (the shim steps aside for that:
 * cp_prof_step_aside), and the thread counts against RLIMIT_NPROC. The thread starts
 * (start_thread, once):
 *   - at start-up if the process is multi-threaded already, or samples heap at a rate
 *     (CTRPROF_MEM_RATE < CP_DENSE_RATE) at which events are too many to flush one by
 *     one, unless RLIMIT_NPROC was lowered (cp_rlimit_nproc_tight: then a thread of ours
 *     could cost the program a process, and events are flushed inline, slowly);
 *   - in the program's first pthread_create (cp_prof_threads_coming, the shim's hook),
 *     before there is a second thread;
 *   - at a heap event, if a thread appeared that did not pass through pthread_create
 *     (__libc_single_threaded is false), if a stack walk wanted libunwind (stack.c: it
 *     is loaded only on this thread; rare, the CFI walker must have given up, as in a
 *     signal handler's allocation), or, at those dense rates (same limit), if
 *     inline flushes come faster than INLINE_MAX_PER_S (checked every INLINE_WINDOW
 *     flushes). At sparser rates a single-threaded process never gets the thread, however
 *     fast it allocates: inline flushing costs it more (BENCHMARKS.md, "Who flushes"),
 *     but it stays a single-threaded process.
 * A mutex or block event never starts it: those hooks may run under an allocator's own
 * lock, and pthread_create allocates (the deadlock shim.sh 12 tests). They flush
 * inline, under flush_lock, until a heap event or pthread_create starts the thread.
 */
#define INLINE_MAX_PER_S 2000
#define INLINE_WINDOW 256

static uint64_t coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *flusher_main(void *arg)
{
    if (cp_thread_enter_profiler)
        cp_thread_enter_profiler();
    long timeout = (long)opts.flush_ms * 1000000L;
    __atomic_store_n(&flusher_tid, gettid(), __ATOMIC_RELEASE);
    while (!__atomic_load_n(&stopping, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&flusher_stop, __ATOMIC_ACQUIRE)) {
        uint32_t k = __atomic_load_n(&cp_ring_kick, __ATOMIC_ACQUIRE);
        __atomic_store_n(&cp_ring_consumer_sleeping, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&cp_ring_kick, __ATOMIC_SEQ_CST) == k)
            cp_futex_wait(&cp_ring_kick, k, timeout);
        __atomic_store_n(&cp_ring_consumer_sleeping, 0, __ATOMIC_RELAXED);
        if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE) ||
            __atomic_load_n(&flusher_stop, __ATOMIC_ACQUIRE))
            break;
        /* a walk wanted libunwind (stack.c): this thread is where it may be loaded */
        if (cp_stack_libunwind_wanted() && !__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
            cp_stack_load_libunwind();
        cp_spin_lock(&flush_lock);
        flush_locked();
        cp_spin_unlock(&flush_lock);
    }
    return NULL;
}

static int start_thread(void)
{
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return 0; /* clone may be forbidden: events go on being flushed inline */
    int expect = 0;
    if (!__atomic_compare_exchange_n(&flusher_claimed, &expect, 1, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return 0; /* started, being started, or failed for good */
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256 * 1024);
    /* Every signal but the faults blocked from its first instruction, whatever this
     * thread's mask: a process-directed signal the program blocks in all its threads
     * (signalfd, sigwait) must never be delivered to, or consumed by, ours (issue 29). The
     * attribute, not blocking around the call, so the program's thread never runs with a
     * mask it did not set (glibc keeps its own internal signals, SIGCANCEL and SIGSETXID,
     * open). */
    sigset_t all;
    sigfillset(&all);
    /* but not the faults a store of ours can raise: a SIGBUS from a profile truncated under
     * us (sigbus.c) must reach the shim's handler, and a blocked fault signal is not held
     * back anyway: the kernel kills the process with it */
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    int err = pthread_attr_setsigmask_np(&a, &all);
    if (err == 0)
        err = pthread_create(&flusher, &a, flusher_main, NULL);
    pthread_attr_destroy(&a);
    if (err) {
        /* events go on being flushed inline: slower, nothing lost */
        static int once;
        cp_log_once(&once, "cannot start the flusher thread (%s); events are flushed as "
                           "they happen", strerror(err));
        return -err;
    }
    __atomic_store_n(&flusher_running, true, __ATOMIC_RELEASE);
    return 0;
}

/* The event just written by this thread (or a ring that is full) is published now. */
static void flush_inline_own(void *arg)
{
    /* (a walk that wanted libunwind also starts it, at every rate: the flusher is where
     * libunwind is loaded, and nowhere else is that safe) */
    bool may_start = *(const bool *)arg;
    if (may_start && !__atomic_load_n(&flusher_claimed, __ATOMIC_RELAXED) && !cp_newproc_unseen &&
        (!__libc_single_threaded || cp_stack_libunwind_wanted() ||
         (alone_may_start && __atomic_load_n(&flusher_wanted, __ATOMIC_RELAXED))))
        start_thread(); /* from now on it flushes; this event still goes out at once */
    flush_locked();
}

/* On the event's thread: the flush (and pthread_create) run on the profiler's own stack
 * (ownstack.h), which flush_lock guards; the flusher it may start waits for that lock. */
static __attribute__((noinline)) void flush_inline(bool may_start)
{
    cp_spin_lock(&flush_lock);
    cp_own_stack_run(flush_inline_own, &may_start);
    if (++inline_flushes % INLINE_WINDOW == 0) {
        uint64_t now = coarse_ns();
        if (now - inline_window_ns < (uint64_t)INLINE_WINDOW * 1000000000u / INLINE_MAX_PER_S)
            __atomic_store_n(&flusher_wanted, true, __ATOMIC_RELAXED);
        inline_window_ns = now;
    }
    cp_spin_unlock(&flush_lock);
}

int cp_prof_start(void)
{
    if (!cp_prof_enabled())
        return -EINVAL;
    __atomic_store_n(&stopping, 0, __ATOMIC_RELEASE);
    inline_flushes = 0;
    inline_window_ns = coarse_ns();
    if (cp_newproc_unseen) /* no thread until the program makes one (newproc.h) */
        return 0;
    /* once per process (here, and in a fork child): a single-threaded one gets the
     * thread only at dense rates, and not when it could cost the program a process */
    alone_may_start = dense() && !cp_rlimit_nproc_tight();
    if (!__libc_single_threaded || alone_may_start)
        return start_thread();
    return 0;
}

void cp_prof_threads_coming(void)
{
    cp_newproc_unseen = false; /* the program makes threads: so may we */
    if (cp_prof_enabled() && !__atomic_load_n(&flusher_claimed, __ATOMIC_ACQUIRE))
        start_thread();
}

/* The kernel refuses unshare(CLONE_NEWUSER), setns() into a mount or user namespace and
 * a few more to a process with a second thread, and ours must not be that thread: the
 * shim calls this before them (preload/alone.c). The flusher returns, and this waits until
 * it is gone from the kernel's thread group (tgkill says ESRCH; the thread stays
 * detached: a joinable one that exit never joins is a leak to thread checkers, and a
 * join returns a moment before the kernel lets the thread go). Events are flushed inline
 * meanwhile; the thread may start again later, by the usual rules ("who flushes"), and
 * then copies the credentials of the program thread that starts it. Not from a hook
 * that holds flush_lock; any application thread, guard held. */
void cp_prof_step_aside(void)
{
    bool running = true;
    if (!cp_prof_enabled() ||
        !__atomic_compare_exchange_n(&flusher_running, &running, false, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return; /* no thread of ours (or another caller is stopping it) */
    __atomic_store_n(&flusher_stop, 1, __ATOMIC_RELEASE);
    cp_ring_wake_consumer();
    /* a thread just created may not have said its id yet; bounded, in case it never runs */
    pid_t tid = 0;
    for (int i = 0; i < 100000 && !(tid = __atomic_load_n(&flusher_tid, __ATOMIC_ACQUIRE)); i++)
        sched_yield();
    pid_t pid = getpid();
    for (int i = 0; tid > 0 && i < 100000 && tgkill(pid, tid, 0) == 0; i++)
        sched_yield();
    __atomic_store_n(&flusher_tid, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&flusher_stop, 0, __ATOMIC_RELEASE);
    /* whatever the thread had not drained yet goes out now */
    cp_spin_lock(&flush_lock);
    flush_locked();
    cp_spin_unlock(&flush_lock);
    __atomic_store_n(&flusher_claimed, 0, __ATOMIC_RELEASE);
}

void cp_prof_shutdown(void)
{
    if (!cp_prof_enabled())
        return;
    cp_newproc_waiting(); /* a child no atfork handler saw publishes its own, not ours */
    __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
    cp_ring_wake_consumer();
    /* The flusher may be mid-flush: flush_all waits for it through flush_lock. It is not
     * joined (exit may run on any thread, even in a signal handler's aftermath); after
     * this it only wakes to see `stopping`. */
    cp_prof_flush_all();
}

/* ---- fork -------------------------------------------------------------------------- */

void cp_prof_atfork_prepare(void)
{
    if (!cp_prof_enabled())
        return;
    cp_spin_lock(&flush_lock);
    cp_spin_lock(&reg_lock);
    cp_bucket_lock();
}

void cp_prof_atfork_parent(void)
{
    if (!cp_prof_enabled())
        return;
    cp_bucket_unlock();
    cp_spin_unlock(&reg_lock);
    cp_spin_unlock(&flush_lock);
}

static void atfork_child_own(void *arg);

/* On the profiler's own stack (ownstack.h): the child's set-up closes the parent's file,
 * may start a flusher, and runs on the thread that forked, maybe a 16 KiB one. The stack
 * is free: this thread took flush_lock in cp_prof_atfork_prepare. */
void cp_prof_atfork_child(const char *newpath)
{
    if (!cp_prof_enabled())
        return;
    cp_newproc_mark();
    cp_own_stack_run(atfork_child_own, (void *)newpath);
}

static void atfork_child_own(void *arg)
{
    const char *newpath = arg;
    cp_bucket_reset_lock();
    cp_spin_reset(&reg_lock);
    cp_spin_reset(&flush_lock);
    /* the child has one thread, and no flusher until it wants one (cp_prof_start) */
    flusher_running = false;
    flusher_claimed = 0;
    flusher_stop = 0;
    flusher_tid = 0;
    flusher_wanted = false;
    /* The parent publishes its own unflushed events; the child starts from what was
     * published. Its rings' contents are the parent's: discard them. Rings of threads
     * that do not exist in the child are free again; this thread keeps its own. */
    for (struct cp_ring *r = rings; r; r = r->next) {
        cp_ring_forget(r);
        if (r != self_ring)
            r->state = CP_RING_FREE;
    }
    /* Objects the parent sampled are not the child's to account (it may free its copy,
     * and so may the parent): forget them. The child starts in solo mode again (one
     * thread, an empty table), whatever state the parent's was in. */
    cp_live_reset();
    solo = dense() ? SOLO_ON : SOLO_OFF;
    solo_ring = NULL;
    if (um) {
        cp_munmap_anon(um, (um_mask + 1) * sizeof *um);
        um = NULL;
        um_mask = um_n = um_pending[0] = um_pending[1] = 0;
    }
    /* the unwinder's counts so far are the parent's, to publish: the child's start here */
    cp_stack_stats(&pub_unw[0], &pub_unw[1], &pub_unw[2]);
    pub_unw[3] = cp_stack_fp_fallbacks();
    bool newfile = newpath != NULL;
    if (newfile && __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE)) {
        /* a sandboxed child inherits the filter: it could not create a file of its own */
        __atomic_store_n(&enabled, false, __ATOMIC_RELEASE);
        return;
    }
    if (newfile && (have_file || file_pending)) {
        /* Per-process files: the child writes its own, from zero, created when it first
         * has something to say (open_pending). The parent's mapping is dropped (the
         * buckets' pointers into it are reset below). */
        if (have_file)
            cp_cfile_close(&file);
        have_file = false;
        n_named_cache = 0;
        seq_begun = seq_ended = NULL;
        size_t pl = strlen(newpath);
        if (pl >= sizeof pending_path)
            pl = sizeof pending_path - 1;
        memcpy(pending_path, newpath, pl);
        pending_path[pl] = 0;
        file_pending = true;
        memset(pub_samples, 0, sizeof pub_samples);
        memset(samples, 0, sizeof samples);
        memset(pub_lost, 0, sizeof pub_lost);
        memset(lost, 0, sizeof lost);
        pub_waits = ring_waits_total = ring_lost_total = 0;
        pub_overflowed = cp_bucket_overflowed();
        pub_bytes = 0;
        pub_trunc = trunc_events = 0;
        nmod_published = 0;
    }
    for (struct cp_bucket *b = cp_bucket_all(); b; b = b->allnext) {
        if (b->type == CP_HEAP) {
            memset(b->u.mem.fut, 0, sizeof b->u.mem.fut);
            if (newfile)
                b->u.mem.active = (struct cp_memrec){0, 0};
            else
                b->u.mem.active = (struct cp_memrec){b->pub[0], b->pub[1]};
        } else {
            memset(b->u.blk.fut_count, 0, sizeof b->u.blk.fut_count);
            memset(b->u.blk.fut_delay, 0, sizeof b->u.blk.fut_delay);
            b->u.blk.count_q16 = newfile ? 0 : b->pub[0];
            b->u.blk.delay = newfile ? 0 : b->pub[1];
        }
        if (newfile) {
            b->pub[0] = b->pub[1] = 0;
            b->ctr[0] = b->ctr[1] = NULL;
            b->ctr_failed = 0;
        }
        b->queued = 0;
    }
    touched_head[0] = touched_head[1] = NULL;
    cp_ht_atfork_child(newfile);
    cp_prof_start();
}
