/*
 * prof.h — the engine's interface to the preload layer (and to unit tests).
 *
 * The engine (core/) owns: persistent buckets keyed by (type, stack), the table
 * of live sampled heap objects, one SPSC ring per thread, the three-cycle accounting
 * and the flusher thread that publishes into the counter file (cfile.h). It knows
 * nothing of dlsym or glibc symbol names: preload/ decides *when* to sample and
 * captures the stack (stack.h); the engine records *what* was sampled.
 *
 * The one engine header the shim includes (tests/e2e/layers.sh): with it come the
 * engine's interface headers, and nothing else of core/ (docs/ARCHITECTURE.md, "Layers"):
 * live.h and sample.h (bodies the hot path inlines), stack.h (capture), contention.h
 * (the waiter table's hooks), meta.h (the metadata text); options.h is base/'s.
 *
 * Contexts:
 *   hook      — an application thread inside an interposed function, with the
 *               re-entrancy guard held (so any malloc the engine causes goes to the real
 *               allocator unsampled). Never blocks on a lock on the unsampled path.
 *   flusher   — the engine's own thread.
 *   atfork    — the pthread_atfork handlers.
 *   exit      — an atexit/destructor path on whatever thread calls exit().
 */
#ifndef CP_PROF_H
#define CP_PROF_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "contention.h"
#include "live.h"
#include "meta.h"
#include "options.h"
#include "sample.h"
#include "stack.h"

enum cp_ptype { CP_HEAP = 0, CP_MUTEX = 1, CP_BLOCK = 2, CP_NPTYPES = 3 };

#define CP_MAX_DEPTH 128

/* Below this CTRPROF_MEM_RATE (bytes) heap samples are dense: the flusher thread runs from
 * the start and the live table keeps a direct map (live.c). */
#define CP_DENSE_RATE 65536

struct cp_bucket; /* opaque outside bucket.c */
struct cp_thread; /* per-thread engine state (its ring); opaque outside core */

/* ---- lifecycle (constructor / atfork / exit contexts) ------------------------------ */

/* Initialise the engine for this process: arena, bucket table, live table, rings, and
 * the counter file at path with the given metadata text. No thread is started. Returns 0
 * or a negative code; on failure the engine stays disabled and every cp_event_* call is a
 * no-op (the caller has already said why, once, via cp_log).
 * With `lazy` (a per-process file) the file is created only when the process first has
 * something to publish (a sample or a loss), at a flush or at exit: a process that records
 * nothing (most short-lived processes at the default rate) creates no file and pays no
 * file-creation cost. A file that cannot be created then is said once, and the process
 * runs on unprofiled. */
int cp_prof_init(const struct cp_options *opt, const char *path, const char *meta, size_t metalen,
                 bool lazy);
/* Arrange for publication: start the flusher thread (it flushes every opt->flush_ms) if
 * the process is multi-threaded; otherwise the thread that records an event publishes it
 * until the thread is wanted (flusher.c, "who flushes"). Called after init and again in
 * a fork child. */
int cp_prof_start(void);
/* Publish every event on the thread that records it, for good: no flusher thread ever
 * starts (flusher.c, "who flushes"), in this process or its fork children. For a program
 * that ends by the exit_group system call and runs no exit handler, where nothing after
 * the last flush would reach the file (Go's runtime: preload/company.c). Before
 * cp_prof_start. */
void cp_prof_inline_only(void);
/* The program is about to create a thread (the shim's pthread_create hook, before the
 * real call): start the flusher now, from a context where creating a thread is safe. */
void cp_prof_threads_coming(void);
/* Stop the flusher thread, if it runs (or is being started), and wait until it is gone
 * from the kernel, so that the process has only the program's threads: before unshare,
 * setns, capset (preload/alone.c), and when the kernel refused the program a process or
 * thread under RLIMIT_NPROC (preload/nproc.c). No thread of ours starts until the
 * matching cp_prof_aside_end (for_good: never again in this process or its children).
 * Events are flushed inline meanwhile. Returns whether a thread of ours was stopped. Not
 * from a hook that holds the flush lock (flusher.c). */
bool cp_prof_aside_begin(bool for_good);
void cp_prof_aside_end(void);
/* Publish everything now: advance the cycle, drain every ring, publish, add deltas to
 * the file (memProfileInternal's "clear" path). Safe from exit paths; idempotent. */
void cp_prof_flush_all(void);
/* The same, as the image's last (exec): samples still waiting for a counter the file
 * could not make for now are counted lost (a failed exec leaves that so: later ones are
 * lost at once). */
void cp_prof_flush_last(void);
/* The process is ending (an exit hook: _exit, abort, exit, quick_exit, exit_group): its
 * flusher process, if it has one (core/flushproc.c), is stopped and reaped now, rather
 * than left to end after it and be reaped by init. Any program thread, guard held. */
void cp_prof_ending(void);
/* The program waits for any child with __WALL or __WCLONE (preload/wait.c), which would
 * see the flusher process: it is stopped and reaped, and none is made again in this
 * process. Any program thread, guard held. */
void cp_prof_no_flusher_process(void);
/* Stop the flusher and flush everything (process exit). */
void cp_prof_shutdown(void);
/* fork: prepare takes every engine lock, parent releases, child releases and resets
 * per-process state so the parent's unflushed events are never counted twice (the
 * child's copy of unpublished deltas is discarded; the parent publishes them), then
 * restarts the flusher. */
void cp_prof_atfork_prepare(void);
void cp_prof_atfork_parent(void);
/* newpath: the child's own profile file (per-process files), or NULL to keep adding to
 * the same (shared) file, where the child's counts add to the parent's. */
void cp_prof_atfork_child(const char *newpath);
bool cp_prof_enabled(void);
/* The process counter (ctrprof/process:<program>): added now, and again to a fork
 * child's own file when that is created. */
void cp_prof_set_process(const char *name);
/* Add n to a named counter in the file now (start-up context: e.g. the process counter). */
int cp_prof_add_named(const char *name, uint64_t n);

/* What the host (the preload layer) hands the engine, which calls up through nothing
 * else (core never calls preload: tests/e2e/layers.sh). Set once, before cp_prof_init;
 * without it (unit tests, the tools) the defaults are libc's pthread_create and no
 * marking. The engine allocates nothing from the program's allocator (its memory is
 * arena.h's), so the table has no allocator. */
struct cp_host {
    /* create a thread: the real pthread_create, not the shim's hook (NULL: libc's) */
    int (*thread_create)(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
    /* first thing on a thread of the engine's own (the flusher): mark it the profiler's,
     * so that whatever it allocates goes to the real allocator unsampled (the shim's
     * guard, held for good); NULL: nothing to mark */
    void (*thread_enter_profiler)(void);
    /* the fork child's reset: what the host's atfork child handler runs, and what the
     * engine runs itself when it notices a child no handler saw (_Fork, a raw clone:
     * core/newproc.h), on that child's only thread, before it takes any lock of its own;
     * NULL: cp_prof_atfork_child(NULL) */
    void (*child_reset)(void);
    /* the per-process file's name was found taken when the engine came to create the
     * file (another process made it since the name was chosen: the same pid in another
     * pid namespace): write another free name into path (size bytes), return 0 or a
     * negative errno. Called under the engine's flush lock, on any thread: no malloc, no
     * lock. NULL: such a process does not profile */
    int (*file_taken)(char *path, size_t size);
    /* the host's own work for the flusher thread, after each flush, outside cp_flush_lock
     * (it may take the loader's locks: preload/deepbind.c's rewrite of a library loaded
     * with RTLD_DEEPBIND that the program has not called dlsym or dlopen since); NULL:
     * none */
    void (*flusher_idle)(void);
    /* the flusher process (core/flushproc.c) may not be made here: a sanitizer's runtime
     * (which knows nothing of a task that shares the memory and is not a thread) or
     * valgrind (which ends a program that makes one) is in the process */
    bool no_flusher_process;
};
void cp_prof_set_host(const struct cp_host *host);

/* The counter file's layer, as the shim needs it (the shim includes no cfile/ header):
 * the text of an error code this engine returned (a negative errno or a counter-file code,
 * cfile.h's CP_CFILE_E*), and whether addr is inside a counter file this process has
 * mapped (the SIGBUS handler, preload/sigbus.c: async-signal-safe). */
const char *cp_prof_strerror(int code);
int cp_prof_fault(const void *addr);

/* Loaded code, as the shim needs it (it sees no module table, core/modules.h): before
 * the real dlclose, the table learns every object still loaded (a plugin that allocated
 * and is about to go keeps its name; the dlclose hook, preload/dl.c, with the guard held:
 * dl_iterate_phdr may allocate); and the executable range [*lo, *hi) of the object that
 * holds addr (the constructor: the shim's own, whose frames captured stacks drop).
 * cp_prof_code_range returns 0, or -ENOENT if no loaded object holds addr. */
void cp_prof_code_unloading(void);
int cp_prof_code_range(const void *addr, uintptr_t *lo, uintptr_t *hi);

/* A return address the shim appends to a stack cut at CTRPROF_DEPTH (never a real PC). */
#define CP_PC_TRUNCATED ((uintptr_t)1)

/* ---- threads (hook context) -------------------------------------------------------- */

/* This thread's engine state, registering a ring on first use (from a pool; never
 * malloc). Returns NULL if no ring can be had (the caller counts the event as lost via
 * cp_prof_lost()). The preload layer caches the pointer in its initial-exec TLS. */
struct cp_thread *cp_thread_get(void);
/* Thread exit: the ring is drained by the flusher, then reused. */
void cp_thread_release(struct cp_thread *t);

/* ---- buckets (hook context) -------------------------------------------------------- */

/* Find or insert the bucket for (type, stack) (a heap bucket holds every size its site
 * allocates: bucket.h). pcs are absolute return addresses, innermost first (pcs[0] is the
 * caller of the interposed function). Lookup is lock-free; insertion takes a lock and
 * re-checks. Past the memory cap the stack is folded into the type's overflow bucket
 * (counted). NULL only when the engine is disabled. */
struct cp_bucket *cp_bucket_get(enum cp_ptype type, const uintptr_t *pcs, unsigned npcs);

/* ---- events (hook context) --------------------------------------------------------- */

/* A sampled allocation of size bytes at p, made at the stack pcs[0..n) (absolute return
 * addresses, innermost first): remembered in the live table (so free can find it) and
 * recorded in this thread's ring, stamped with the current cycle. Its bucket is found
 * when the record is drained; until then the live table holds the allocation's ref. */
void cp_event_alloc(struct cp_thread *t, void *p, uint64_t size, const uintptr_t *pcs, unsigned n);

/* The free of p (free(), or early.c's replay of one), BEFORE the real call (so a reused
 * address is never confused): the one free path, which the shim and the tests both take.
 * Only for a p the filter did not rule out (cp_live_maybe, live.h: a load and a branch
 * on a small, read-mostly filter, which the caller makes). If p was sampled it is taken out of
 * the live table and its free recorded in the calling thread's ring. `thread` gives the
 * calling thread's engine state (cp_thread_get, or the shim's cached copy) and is asked
 * only when there is something to record. The caller holds its re-entrancy guard.
 * Returns true if p was a sampled object. */
static inline bool cp_event_free(struct cp_thread *(*thread)(void), void *p);

/* realloc's free, in steps around the real call: cp_live_remove(p) (live.h) before it,
 * then, with the value and the birth it returned, commit the free (its record carries
 * the birth, for heaptime.c's lifetimes) if the call freed p, or undo (put p back) if it
 * failed and p is still the program's. */
void cp_event_free_commit(struct cp_thread *t, uintptr_t v, uint64_t birth);
void cp_event_free_undo(void *p, uintptr_t v, uint64_t birth);
/* While the consumer keeps the live table (live.h's cp_live_deferred): p's free, recorded
 * by its address, the table untouched; realloc's after the real call, once it has freed p.
 * false: not deferred (any more), nothing done: the caller takes p out of the table
 * itself (cp_live_remove, then commit). */
bool cp_event_free_ptr(struct cp_thread *t, void *p);

/* Inline, so that the shim's call costs no more than the calls it replaced (thread, a
 * static inline there, is inlined too): callgrind at rate 1, +27 instructions a
 * malloc+free pair as an out-of-line function taking a function pointer, +9 inline with
 * a second filter test. */
static inline bool cp_event_free(struct cp_thread *(*thread)(void), void *p)
{
    if (__atomic_load_n(&cp_live_deferred, __ATOMIC_RELAXED) && cp_event_free_ptr(thread(), p))
        return true; /* (whether p was sampled, the consumer finds out) */
    uint64_t birth;
    cp_live_producer_wait();                 /* (live.h: deferred's end still being drained) */
    uintptr_t v = cp_live_remove(p, &birth); /* 0: not sampled */
    if (v)
        cp_event_free_commit(thread(), v, birth);
    return v != 0;
}

/* For tests: allocations whose ref a free took before the flusher found the bucket
 * (orphans), frees drained before their allocation (pending), and frees whose allocation
 * record never came (dropped, or no bucket): totals so far. */
void cp_prof_ref_stats(uint64_t *orphans, uint64_t *pending, uint64_t *unmatched);

/* A sampled mutex or block event: count and delay already scaled as Go does (mutex:
 * x fraction; block: events shorter than the rate count rate/duration times). count is
 * in 1/65536 units of an event (fixed point, so block's fractional counts add up
 * exactly); delay in nanoseconds. */
void cp_event_delay(struct cp_thread *t, struct cp_bucket *b, uint64_t count_q16,
                    uint64_t delay_ns);

/* An event that could not be recorded (no ring, re-entrancy in a signal handler, ...):
 * counted and published as ctrprof/health:lost:<why>. */
/* CP_PROFILER_WAITS is not a loss: a pthread wait inside the profiler's own code (two
 * threads unwinding at once wait on libunwind's lock), which is nobody's contention in the
 * program; it is published as ctrprof/health:profiler-waits. */
enum cp_lost {
    CP_LOST_NORING = 0,
    CP_LOST_OVERFLOW,
    CP_LOST_REENTRY,
    CP_LOST_NBUCKET,
    CP_PROFILER_WAITS,
    CP_NLOST
};
void cp_prof_lost(enum cp_lost why, uint64_t n);

/* Sandboxes (publish.c, "sandboxes"): called by the shim just before the program installs
 * a seccomp filter. Creates the file now, makes CP_SANDBOX_FILE_MARGIN bytes of room in it
 * and CP_SANDBOX_SPARE bytes of engine memory, then makes no new kind of system call.
 * Returns 1 if it did so now; cp_prof_sandbox_failed undoes it if the filter was refused. */
#define CP_SANDBOX_FILE_MARGIN ((size_t)1 << 20)
#define CP_SANDBOX_SPARE ((size_t)8 << 20) /* a quarter at sparse rates (smaller rings) */
int cp_prof_sandbox(void);
void cp_prof_sandbox_failed(void);
/* The program is about to change its root directory (chroot, pivot_root), mount over the
 * profile's directory or enter another mount namespace: the per-process file's
 * path will not lead to it from then on (it grows and is created by path), so it is
 * created now, everything so far published, and CP_SANDBOX_FILE_MARGIN bytes of room
 * made in it; beyond that, new counters are counted lost (said). The program's thread. */
void cp_prof_root_changing(void);
/* The program is about to set its effective or file-system uid to u (a daemon dropping
 * root: setuid, setresuid...; a server's per-request seteuid), or to drop capabilities
 * (capset: u its own uid), after which it has CAP_DAC_OVERRIDE (override) or may not.
 * The file, 0600 and its owner's, may not open for u, and growth opens it by path: so
 * CP_SANDBOX_FILE_MARGIN bytes of room are kept in it (made again when under half is
 * left) unless u owns it or overrides, and a file that waited for something to say is
 * made now, unless its directory is one u may write in (then u makes it, its own). The
 * program's thread; nothing if nothing is needed. */
void cp_prof_identity_changing(uid_t u, bool override);
/* The process started under a seccomp filter it cannot read (inherited across exec): its
 * files are made with open(O_CREAT) alone from now on, as under a filter of its own (no
 * O_TMPFILE, linkat or fchmod, which the filter may forbid; cfile.h). Before cp_prof_init. */
void cp_prof_started_filtered(void);
/* Has a seccomp filter been announced (cp_prof_sandbox, not undone)? */
bool cp_prof_in_sandbox(void);
/* After cp_prof_sandbox_failed, for a filter before which the flusher was stopped
 * (cp_prof_aside_begin; preload/sandbox.c): start it again if it is wanted. */
void cp_prof_flusher_resume(void);
/* The program's main thread is leaving by pthread_exit or a cancellation (the shim's TSD
 * destructor, on that thread, before glibc counts it gone): from then on the flusher
 * thread returns as soon as it is the process's last thread, so that the process ends
 * as it would bare (core/flusher.c, "the program's last thread"). nthreads: glibc's own
 * count of the process's threads (__nptl_nthreads), or NULL if it was not found. */
void cp_prof_main_gone(const int *nthreads);
/* The program is about to forbid a thread the TSC (prctl PR_SET_TSC, PR_TSC_SIGSEGV:
 * preload/sandbox.c): from now on no clock of the profiler's reads it, in any thread
 * (core/stampclock.c; contention.h's cp_now_ns). For good, even if the call fails.
 * Any context; async-signal-safe; errno untouched. */
void cp_prof_tsc_denied(void);
/* The program's SIGBUS mask on this thread, as its sigprocmask and pthread_sigmask calls
 * leave it (preload/sigbus.c; the constructor reads the mask it started with). An inline
 * flush on a thread whose program blocked SIGBUS opens it for the flush's length
 * (core/flusher.c, cp_flush_inline); cp_prof_bus_window says whether this thread is in
 * such a flush now, for the handler, which queues a sent SIGBUS taken there back to the
 * process as the flusher does. */
void cp_prof_note_bus_blocked(bool blocked);
bool cp_prof_bus_window(void);
/* preload/sandbox.c, before a filter goes in (and back if it is refused): the filter
 * forbids what a SIGBUS window needs (rt_sigprocmask to open and close it, rt_sigqueueinfo
 * to give back a signal sent in it), so no program thread may open one for its stores
 * into the file from now on (core/filebus.c); CP_BUS_MAY_ASK: it allows reading the mask,
 * CP_BUS_MAY_NOT_ASK: not even that. CP_BUS_WINDOW_OK: back to no filter's limits. */
enum { CP_BUS_WINDOW_OK = 0, CP_BUS_MAY_ASK = 1, CP_BUS_MAY_NOT_ASK = 2 };
void cp_prof_bus_mask_forbidden(int level);

/* At exit of the process `ctrprof run` started (the shim): the bytes it allocated
 * through malloc (when known), its CPU time and the children it forked, as ctrprof/note:*
 * counters, so that an
 * empty heap profile can say why. Creates the file if nothing else did. */
void cp_prof_notes(uint64_t malloc_bytes, bool bytes_known, uint64_t cpu_ms, uint64_t forks);
/* The same process is about to exec a program with LD_PRELOAD cleared from its
 * environment: ctrprof/note:exec-without-shim. */
void cp_prof_note_exec_unprofiled(void);

#endif
