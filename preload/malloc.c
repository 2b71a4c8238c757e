/*
 * malloc.c — the malloc family, interposed. Hooks only (and their bootstrap).
 * About 630 lines: every allocation entry point glibc exports; the bootstrap pool could
 * move to a file of its own.
 *
 * Context: any application thread, any time — including before our constructor ran, from
 * inside dlsym while we look up the real functions, and from the profiler itself (the
 * guard in shim.c parks the countdown so such calls take the unsampled path).
 *
 * Every hook returns exactly what the real function returned and leaves errno exactly as
 * it left it: the real call comes first, and the rare sampled path saves and restores
 * errno. The unsampled path of malloc is the real call, one thread-local subtraction and
 * one branch; free's is one load and one branch on the live filter (core/live.h).
 *
 * Accounting rules (issue 4): calloc(n, s) is one object of n*s bytes; realloc(p, n) is a
 * free of p and an allocation of n attributed to the realloc call site, even when the
 * block grows in place; realloc(p, 0) is a free; a failed call records nothing.
 *
 * Each call is accounted by exactly one hook (issue 30). Of the hooked functions, glibc
 * 2.36 implements one by calling another through the PLT: reallocarray ends in a jump to
 * realloc@plt, which lands in our realloc hook. So our reallocarray does what glibc's
 * does (the overflow check, then realloc) and records nothing itself. (memalign, valloc,
 * pvalloc, aligned_alloc and posix_memalign call glibc's malloc internally, calloc calls
 * nothing hooked, cfree is free: checked with objdump -d libc.so.6.)
 *
 * The countdown (shim.h) is compared unsigned: an allocation of n bytes uses it up when
 * n >= countdown, for any n up to SIZE_MAX, with the same one subtraction and branch as
 * before. Whenever it is used up the slow path sets it again: a new draw after a sample,
 * or the n bytes given back when the call failed (or is not recorded), so that no size,
 * however large or failed, can wrap it (issue 30).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "early.h"
#include "line.h"
#include "prof.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

static void *early_malloc(size_t n);
static void early_free(void *p);
static void *early_calloc(size_t a, size_t s);
/* Until dlsym has answered, the hot three point at the early_* functions below, which
 * resolve and serve from the static pool meanwhile: the hooks never test for NULL. */
CP_READ_MOSTLY static void *(*real_malloc)(size_t) = early_malloc;
CP_READ_MOSTLY static void (*real_free)(void *) = early_free;
CP_READ_MOSTLY static void *(*real_calloc)(size_t, size_t) = early_calloc;
static void *early_realloc(void *p, size_t n);
CP_READ_MOSTLY static int resolved; /* atomic: every real_* pointer is the real function */
CP_READ_MOSTLY static void *(*real_realloc)(void *, size_t) = early_realloc;
CP_READ_MOSTLY static int (*real_posix_memalign)(void **, size_t, size_t);
CP_READ_MOSTLY static void *(*real_aligned_alloc)(size_t, size_t);
CP_READ_MOSTLY static void *(*real_memalign)(size_t, size_t);
CP_READ_MOSTLY static void *(*real_valloc)(size_t);
CP_READ_MOSTLY static void *(*real_pvalloc)(size_t);
CP_READ_MOSTLY static size_t (*real_malloc_usable_size)(void *);

/* ---- bootstrap: dlsym's own allocations -------------------------------------------- */

/* dlsym may call calloc/malloc before we know the real ones: serve those from here.
 * Each block has a 16-byte header with its size; the pool is never reused (it is only
 * needed for a handful of small blocks). free() recognises the range and ignores it. */
#define POOL_SIZE (256 * 1024)
static _Alignas(64) uint8_t pool[POOL_SIZE];
static size_t pool_used; /* atomic */

static void *pool_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    if (n > POOL_SIZE || align > 4096) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = n + 16 + align;
    size_t off = __atomic_fetch_add(&pool_used, (need + 15) & ~(size_t)15, __ATOMIC_RELAXED);
    if (off + need > POOL_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t p = ((uintptr_t)(pool + off + 16) + align - 1) & ~(uintptr_t)(align - 1);
    memcpy((void *)(p - 16), &n, sizeof n);
    /* free() learns of pool blocks through the live filter (a sticky entry: there are
     * only a handful of these blocks), so its fast path needs no range test */
    __atomic_store_n(&cp_live_filter[cp_live_fhash((void *)p)], 255, __ATOMIC_RELAXED);
    return (void *)p; /* static storage: already zero */
}

static size_t pool_size(const void *p)
{
    size_t n;
    memcpy(&n, (const uint8_t *)p - 16, sizeof n);
    return n;
}

static int resolving;

void cp_shim_resolve(void)
{
    if (__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
        return;
    if (__atomic_exchange_n(&resolving, 1, __ATOMIC_ACQ_REL))
        return; /* dlsym is calling us back (or another thread is resolving): use the pool */
    void *m = dlsym(RTLD_NEXT, "malloc"), *c = dlsym(RTLD_NEXT, "calloc");
    void *f = dlsym(RTLD_NEXT, "free"), *r = dlsym(RTLD_NEXT, "realloc");
    if (!m || !c || !f || !r) {
        static const char msg[] =
            "ctrprof: the real malloc, calloc, free or realloc cannot be found\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        abort();
    }
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    real_valloc = dlsym(RTLD_NEXT, "valloc");
    real_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    real_malloc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
    __atomic_store_n(&real_malloc, (void *(*)(size_t))m, __ATOMIC_RELEASE);
    __atomic_store_n(&real_calloc, (void *(*)(size_t, size_t))c, __ATOMIC_RELEASE);
    __atomic_store_n(&real_free, (void (*)(void *))f, __ATOMIC_RELEASE);
    __atomic_store_n(&real_realloc, (void *(*)(void *, size_t))r, __ATOMIC_RELEASE);
    /* release: every pointer above is visible to a thread that sees resolved */
    __atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
}

static int ready(void)
{
    if (UNLIKELY(!__atomic_load_n(&resolved, __ATOMIC_ACQUIRE)))
        cp_shim_resolve();
    return __atomic_load_n(&resolved, __ATOMIC_ACQUIRE);
}

/* ---- the sampled path -------------------------------------------------------------- */

/* Inlined into sampled(), the one caller on a hot path (each layer between a hook and
 * the walker cost a prologue, an epilogue and its arguments: ~50 instructions a sample
 * on perl at rate 1); pthread.c calls cp_shim_stack. */
static inline __attribute__((always_inline)) const uintptr_t *
shim_stack(uintptr_t raw[CP_SHIM_RAW], unsigned *kp, const uintptr_t *entry, int unwind)
{
    int trunc = 0;
    unsigned depth = (unsigned)cp_opts.depth;
    /* The walk starts at the program's frame when the hook's outermost frame is known and
     * returns into the program (its slow path was tail-called): the shim's own five or
     * so frames are not walked, only to be dropped below (on perl at rate 1 they were
     * most of the frames walked anew on each sample). */
    if (entry && entry[1] >= cp_shim_lo && entry[1] < cp_shim_hi)
        entry = NULL; /* called from the shim itself, or the hot hook did not tail-call */
    unsigned n = cp_stack_capture_from(unwind, entry, raw, depth + 24, &trunc);
    unsigned i = 0;
    while (i < n && raw[i] >= cp_shim_lo && raw[i] < cp_shim_hi)
        i++;
    unsigned k = n - i;
    if (k > depth) {
        k = depth;
        trunc = 1;
    }
    /* in place: n <= depth + 24, so the marker fits in raw's last word at worst */
    if (trunc)
        raw[i + k++] = CP_PC_TRUNCATED;
    *kp = k;
    return raw + i;
}

/* For the lock hooks, which must not allocate (stack.h, CP_UNWIND_NOALLOC). */
const uintptr_t *cp_shim_stack(uintptr_t raw[CP_SHIM_RAW], unsigned *kp, const uintptr_t *entry)
{
    return shim_stack(raw, kp, entry, cp_opts.unwind | CP_UNWIND_NOALLOC);
}

/* The countdown ran out on a call that records nothing (it failed, the allocator is not
 * ready, or profiler code made it): give its n bytes back, which restores the old value
 * exactly (modulo 2^64). */
static inline void countdown_refund(size_t n)
{
    cp_tls.countdown = (int64_t)((uint64_t)cp_tls.countdown + n);
}

/* Called when the countdown ran out on a successful allocation of n bytes at p. */
static __attribute__((noinline, cold)) void sampled(void *p, size_t n, const uintptr_t *entry)
{
    if (cp_tls.guard) {
        /* profiler code (parked), or a section that holds the guard without parking it
         * (the atfork handlers): stay out, and leave the countdown where it was */
        countdown_refund(n);
        return;
    }
    int saved = errno;
    if (cp_shim_state != CP_SHIM_ON || cp_opts.mem_rate == 0) {
        /* before the constructor: kept for it (early.c), keep looking; off: park for good */
        if (cp_shim_state == CP_SHIM_UNINIT)
            cp_early_alloc(p, n, entry);
        cp_tls.countdown = cp_shim_state == CP_SHIM_UNINIT ? 0 : INT64_MAX;
        errno = saved;
        return;
    }
    cp_tls.guard++;
    cp_tls.countdown = INT64_MAX;
    if (UNLIKELY(!cp_tls.seeded)) {
        /* A new thread: its first countdown is drawn now, not assumed to be zero (that
         * would sample every thread's first allocation). This one counts against it. */
        cp_shim_seed_thread();
        uint64_t next = (uint64_t)cp_sample_next(&cp_tls.rng, cp_opts.mem_rate);
        cp_tls.drawn += next;
        if (n < next) {
            cp_tls.countdown = (int64_t)(next - n);
            cp_tls.guard--;
            errno = saved;
            return;
        }
    }
    cp_live_prefetch(p, n);
    uintptr_t raw[CP_SHIM_RAW];
    unsigned k;
    const uintptr_t *pcs = shim_stack(raw, &k, entry, cp_opts.unwind);
    cp_event_alloc(cp_shim_thread(), p, n, pcs, k);
    cp_tls.countdown = cp_sample_next(&cp_tls.rng, cp_opts.mem_rate);
    cp_tls.drawn += (uint64_t)cp_tls.countdown;
    cp_tls.guard--;
    errno = saved;
}

/* Subtract n from the thread's countdown; true when it ran out: n >= the old value,
 * compared unsigned, so exact for every n up to SIZE_MAX (the countdown is in
 * [0, INT64_MAX] between allocations). On x86-64 the subtraction is done in memory and
 * the branch taken on its own flags: "below or equal" is the borrow or a zero result.
 * (A signed "old - n <= 0" is wrong for n >= 2^63, and wrapped the countdown positive
 * after a failed malloc(SIZE_MAX / 2): sampling off for the thread, issue 30.) GCC keeps
 * load, subtract, store and test apart for the C form below, which costs three
 * instructions on every malloc (callgrind, bench/progs/hotpath). Once it returns true
 * the stored value is meaningless until the caller's slow path sets it (sampled(), or
 * countdown_refund()). */
static inline bool countdown_expired(size_t n)
{
#if defined(__x86_64__)
    bool be;
    __asm__("subq %2, %1" : "=@ccbe"(be), "+m"(cp_tls.countdown) : "er"(n));
    return be;
#else
    uint64_t old = (uint64_t)cp_tls.countdown;
    cp_tls.countdown = (int64_t)(old - n);
    return n >= old;
#endif
}

/* A block the dynamic linker allocated through a slow path (entry: its frame, whose
 * return address is the linker's call) is reachable for LeakSanitizer, if it is there
 * (sanitizers.c: the interceptor's caller was ours, so its rule for the linker missed it) */
static inline void linker_block(const void *p, const uintptr_t *entry)
{
    void (*ignore)(const void *) = __atomic_load_n(&cp_shim_lsan_ignore, __ATOMIC_ACQUIRE);
    if (UNLIKELY(ignore != NULL) && p && entry && entry[1] - cp_shim_ldso_lo < cp_shim_ldso_len)
        ignore(p);
}

/* The end of a slow path that handled a block: where LeakSanitizer is, no copy of its
 * pointer stays where it looks for references (sanitizers.c, cp_shim_scrub) */
static inline void leave_no_copy(void)
{
    if (UNLIKELY(__atomic_load_n(&cp_shim_lsan_ignore, __ATOMIC_ACQUIRE) != NULL))
        cp_shim_scrub();
}

/* For the slow paths, which subtracted n already and found the countdown used up. */
static void account_done(void *p, size_t n, const uintptr_t *entry)
{
    /* (the linker's check first and the wipe last, two loads of the same pointer: with
     * one check after sampled(), p was kept across it and LeakSanitizer alone missed the
     * block again, 16 runs in 20) */
    linker_block(p, entry);
    if (p)
        sampled(p, n, entry);
    else
        countdown_refund(n);
    leave_no_copy();
}

/* entry: the frame (frame pointer) of the hook function the program called, or of the
 * slow path a hot hook tail-called: where the stack walk may start (cp_shim_stack). */
static inline void account(void *p, size_t n, const uintptr_t *entry)
{
    if (UNLIKELY(countdown_expired(n)))
        account_done(p, n, entry);
}

static __attribute__((noinline, cold)) void record_free(uintptr_t v, uint64_t birth)
{
    if (cp_tls.guard) {
        /* A signal handler freeing a sampled object while this thread was in profiler
         * code (an event half written, the flush lock held): writing now would nest in
         * the ring, or wait for a lock this thread holds. Counted, not recorded. */
        cp_prof_lost(CP_LOST_REENTRY, 1);
        return;
    }
    int saved = errno;
    int64_t cd = cp_shim_enter();
    cp_event_free_commit(cp_shim_thread(), v, birth);
    cp_shim_leave(cd);
    errno = saved;
}

/* realloc's free of p, recorded by its address after the real call while the consumer
 * keeps the live table (live.h's cp_live_deferred). Should deferred have ended between
 * the look before the call and now (a thread not made by pthread_create took its first
 * ring meanwhile), p is gone to the allocator and may be another thread's object already,
 * so the table is not touched: the free is counted as lost (its object stays live in the
 * profile). */
static __attribute__((noinline, cold)) void record_free_ptr(void *p)
{
    if (cp_tls.guard) {
        cp_prof_lost(CP_LOST_REENTRY, 1); /* (as record_free) */
        return;
    }
    int saved = errno;
    int64_t cd = cp_shim_enter();
    if (!cp_event_free_ptr(cp_shim_thread(), p))
        cp_prof_lost(CP_LOST_NBUCKET, 1);
    cp_shim_leave(cd);
    errno = saved;
}

/* The free of p, which the filter did not rule out: the engine's one free path
 * (cp_event_free), with errno kept and the guard held. */
static __attribute__((noinline)) void free_record(void *p)
{
    if (cp_tls.guard) {
        /* A signal handler freeing a sampled object while this thread was in profiler
         * code (an event half written, the flush lock held), or profiler code's own
         * blocks, which the saturated filter lets through at rate 1: writing now would
         * nest in the ring, or wait for a lock this thread holds. Taken out of the
         * table, counted, not recorded. */
        uint64_t birth;
        if (cp_live_remove(p, &birth))
            cp_prof_lost(CP_LOST_REENTRY, 1);
        return;
    }
    int saved = errno;
    int64_t cd = cp_shim_enter();
    cp_event_free(cp_shim_thread, p);
    cp_shim_leave(cd);
    errno = saved;
}

/* ---- the hooks --------------------------------------------------------------------- */

/* The three hottest hooks are written so that their common path is a load, a
 * thread-local subtraction (or a filter test) and a tail call into the real function:
 * no frame of their own (so a frame-pointer walk from the slow path still finds the
 * caller of malloc: the slow path's return address is the program's call site). */
#define HOT __attribute__((visibility("default"), optimize("omit-frame-pointer")))

static int pool_owns(const void *p)
{
    return (uintptr_t)p - (uintptr_t)pool < POOL_SIZE;
}

static void *early_malloc(size_t n)
{
    if (ready())
        return real_malloc(n);
    return pool_alloc(n, 16);
}

static void early_free(void *p)
{
    if (pool_owns(p) || !p)
        return;
    if (ready())
        real_free(p);
}

static void *early_calloc(size_t a, size_t s)
{
    if (ready())
        return real_calloc(a, s);
    size_t n;
    if (__builtin_mul_overflow(a, s, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return pool_alloc(n, 16);
}

static __attribute__((noinline, cold)) void *malloc_slow(size_t n)
{
    /* only reached with the countdown used up (malloc) */
    if (!ready()) {
        countdown_refund(n);
        return pool_alloc(n, 16);
    }
    void *p = real_malloc(n);
    account_done(p, n, __builtin_frame_address(0));
    return p;
}

HOT void *malloc(size_t n)
{
    if (UNLIKELY(countdown_expired(n)))
        return malloc_slow(n);
    return __atomic_load_n(&real_malloc, __ATOMIC_RELAXED)(n);
}

static __attribute__((noinline, cold)) void free_slow(void *p)
{
    if (pool_owns(p))
        return; /* dlsym's early blocks are never reused */
    if (UNLIKELY(__atomic_load_n(&cp_early_open, __ATOMIC_ACQUIRE)))
        cp_early_free(p); /* made before the constructor (early.c) */
    if (p)
        free_record(p);
    /* real_free is early_free until dlsym has answered */
    __atomic_load_n(&real_free, __ATOMIC_RELAXED)(p);
}

/* free_slow's bookkeeping without the real call: early.c's replay of an allocation that
 * was freed before the constructor ended. */
void cp_shim_free_record(void *p)
{
    free_record(p);
}

HOT void free(void *p)
{
    if (UNLIKELY(cp_live_maybe(p)))
        return free_slow(p);
    __atomic_load_n(&real_free, __ATOMIC_RELAXED)(p);
}

void cfree(void *p);
EXPORT void cfree(void *p)
{
    free(p);
}

static __attribute__((noinline, cold)) void *calloc_slow(size_t a, size_t s)
{
    /* either a * s overflows (the countdown was not touched) or the countdown is used up */
    size_t n;
    int over = __builtin_mul_overflow(a, s, &n);
    if (!ready()) {
        if (over) {
            errno = ENOMEM;
            return NULL;
        }
        countdown_refund(n);
        return pool_alloc(n, 16);
    }
    void *p = real_calloc(a, s);
    if (!over)
        account_done(p, n, __builtin_frame_address(0));
    return p;
}

HOT void *calloc(size_t a, size_t s)
{
    size_t n;
    if (UNLIKELY(__builtin_mul_overflow(a, s, &n)) || UNLIKELY(countdown_expired(n)))
        return calloc_slow(a, s);
    return __atomic_load_n(&real_calloc, __ATOMIC_RELAXED)(a, s);
}

/* realloc and reallocarray: the old block's free is taken out of the live table before
 * the real call and recorded only if the call succeeded. */
static void *realloc_common(void *p, size_t n, void *q, uintptr_t old, uint64_t birth,
                            bool deferred, const uintptr_t *entry)
{
    if (p && n == 0) { /* a free (glibc returns NULL here) */
        if (old)
            record_free(old, birth);
        else if (deferred)
            record_free_ptr(p);
        if (q)
            account(q, 0, entry);
        return q;
    }
    if (!q) { /* failed: p is untouched and still the program's */
        if (old) {
            int saved = errno;
            cp_event_free_undo(p, old, birth);
            errno = saved;
        }
        return NULL;
    }
    if (old)
        record_free(old, birth);
    else if (deferred)
        record_free_ptr(p);
    account(q, n, entry);
    return q;
}

static void *pool_realloc(void *p, size_t n)
{
    void *q = malloc(n);
    if (q) {
        size_t old = pool_size(p);
        memcpy(q, p, old < n ? old : n);
    }
    return q;
}

/* Before dlsym has answered (and for dlsym's own pool blocks at any time). */
static void *early_realloc(void *p, size_t n)
{
    if (pool_owns(p))
        return pool_realloc(p, n);
    if (ready())
        return real_realloc(p, n);
    return p ? NULL : pool_alloc(n, 16);
}

/* Everything but the common case; the hot path subtracted n from the countdown already. */
static __attribute__((noinline, cold)) void *realloc_slow(void *p, size_t n)
{
    /* give the bytes back: realloc_common (or early_realloc's malloc) subtracts them */
    countdown_refund(n);
    if (UNLIKELY(!ready()) || UNLIKELY(pool_owns(p)))
        return early_realloc(p, n);
    bool maybe = p && cp_live_maybe(p);
    uint64_t birth = 0;
    /* (deferred: the consumer takes p out, from the free's record after the call) */
    bool deferred = maybe && __atomic_load_n(&cp_live_deferred, __ATOMIC_RELAXED);
    if (maybe && !deferred)
        cp_live_producer_wait();
    uintptr_t old = maybe && !deferred ? cp_live_remove(p, &birth) : 0; /* errno kept */
    void *q = real_realloc(p, n);
    linker_block(q, __builtin_frame_address(0));
    if (UNLIKELY(maybe && (q || n == 0) && __atomic_load_n(&cp_early_open, __ATOMIC_ACQUIRE)))
        cp_early_free(p); /* made before the constructor (early.c) */
    void *r = realloc_common(p, n, q, old, birth, deferred, __builtin_frame_address(0));
    leave_no_copy();
    return r;
}

/* Like malloc: a countdown subtraction and a filter test in front of a tail call (the
 * old pointer unsampled, the new block not). sqlite3 reallocs 800,000 times in
 * bench/workloads/sqlite.sql; the general path cost ~60 instructions each (callgrind).
 * Pool blocks are in the filter (pool_alloc), so they take the slow path. */
HOT void *realloc(void *p, size_t n)
{
    if (UNLIKELY(countdown_expired(n)) || UNLIKELY(cp_live_maybe(p)))
        return realloc_slow(p, n);
    return __atomic_load_n(&real_realloc, __ATOMIC_RELAXED)(p, n);
}

/* glibc's reallocarray is the overflow check and a jump to realloc@plt, which is our
 * realloc hook: calling the real one would account the block twice (issue 30). This is
 * the same, with realloc's accounting only; the tail call leaves the program's call site
 * as realloc's return address, so the stack is the same too. */
EXPORT void *reallocarray(void *p, size_t a, size_t s)
{
    size_t n;
    if (__builtin_mul_overflow(a, s, &n)) {
        errno = ENOMEM; /* p untouched */
        return NULL;
    }
    return realloc(p, n);
}

EXPORT int posix_memalign(void **pp, size_t align, size_t n)
{
    if (UNLIKELY(!ready())) {
        if (align < sizeof(void *) || (align & (align - 1)))
            return EINVAL;
        void *p = pool_alloc(n, align);
        if (!p)
            return ENOMEM;
        *pp = p;
        return 0;
    }
    int r = real_posix_memalign(pp, align, n);
    if (r == 0)
        account(*pp, n, __builtin_frame_address(0));
    return r;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (UNLIKELY(!ready()))
        return pool_alloc(n, align);
    void *p = real_aligned_alloc(align, n);
    account(p, n, __builtin_frame_address(0));
    return p;
}

EXPORT void *memalign(size_t align, size_t n)
{
    if (UNLIKELY(!ready()))
        return pool_alloc(n, align);
    void *p = real_memalign(align, n);
    account(p, n, __builtin_frame_address(0));
    return p;
}

EXPORT void *valloc(size_t n)
{
    if (UNLIKELY(!ready()))
        return pool_alloc(n, 4096);
    void *p = real_valloc(n);
    account(p, n, __builtin_frame_address(0));
    return p;
}

EXPORT void *pvalloc(size_t n)
{
    if (UNLIKELY(!ready()))
        return pool_alloc((n + 4095) & ~(size_t)4095, 4096);
    void *p = real_pvalloc(n);
    account(p, n, __builtin_frame_address(0));
    return p;
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (UNLIKELY(pool_owns(p)))
        return pool_size(p);
    if (UNLIKELY(!ready()))
        return 0;
    return real_malloc_usable_size(p);
}
