/*
 * arena.c — the engine's never-freed memory (see arena.h).
 *
 * Contexts: hook (a sampled event that creates a bucket or a ring), flusher, atfork.
 * Holds a spin lock while carving; mmap is called with it held, which is fine: nothing
 * else waits on the arena on a hot path. Locks: `lock`, then `spare_lock`; both taken by
 * the atfork prepare handler (the lock table: docs/ARCHITECTURE.md, "Locks").
 * Sandboxes: cp_arena_freeze maps, before a seccomp filter goes in, a fresh chunk and a
 * spare region; after it every request is carved from those and nothing is unmapped, so
 * the engine makes no mmap or munmap a filter may forbid. What does not fit fails (and
 * each caller counts its loss).
 * Fault injection (SQLite's countdown style): cp_arena_fail_after(n) makes the nth
 * following mmap fail, so the degrade paths of every caller actually run in tests.
 * Refusals (issue 29): every table grows in steps (each file's own comment), so an mmap
 * may be refused at any time by RLIMIT_AS, RLIMIT_MEMLOCK under mlockall(MCL_FUTURE)
 * (EAGAIN) or the overcommit policy; the caller degrades (the sample is lost and counted,
 * or the table stays as it is) and cp_mem_refused (events.c, handed over by cp_prof_init:
 * cp_arena_on_refusal) says so, once per process tree, with
 * start-up's key ("memory", base/log.h); errno stays the program's (a hook may grow a
 * table).
 */
#include "arena.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "line.h"
#include "rawsys.h"
#include "spin.h"

/* 256 KiB: small enough that a process with few buckets maps little (address space
 * counts against RLIMIT_AS and an unprivileged mlockall), large enough that a chunk
 * holds ~1,000 buckets */
#define CHUNK ((size_t)256 << 10)
/* Once HUGE_AFTER bytes of chunks are mapped (a program making buckets and frames by the
 * hundred thousand: rate 1 on a deep recursion), chunks are 2 MiB, aligned, and asked for
 * in huge pages: the flusher's lookup of a stack reads its bucket and its innermost frame
 * nodes, at random among tens of MB, and with 4 KiB pages each of those reads was a TLB
 * miss as well as a cache miss (bench/progs/namestacks: BENCHMARKS.md, "Session 22").
 * Not below it: a program with few stacks keeps its 256 KiB chunks, and huge pages would
 * make each chunk wholly resident. Not in a sandbox (no mmap then; a filter may forbid
 * madvise). */
#define HUGE_CHUNK ((size_t)2 << 20)
#define HUGE_AFTER ((size_t)16 << 20)

static cp_spin lock = CP_SPIN_INIT;
static uint8_t *cur;             /* guarded by lock */
static size_t left;              /* guarded by lock */
static size_t chunked;           /* guarded by lock: bytes of chunks mapped */
static uint64_t mapped;          /* atomic */
static uint64_t used;            /* atomic: bytes handed out by cp_arena_alloc */
static unsigned fail_at;         /* atomic: countdown, 0 = off */
CP_READ_MOSTLY int cp_sandboxed; /* atomic: spin.h */
/* After cp_arena_freeze: memory mapped beforehand, carved for every later request */
static cp_spin spare_lock = CP_SPIN_INIT; /* (cp_arena_alloc calls us with lock held) */
static uint8_t *spare;                    /* guarded by spare_lock */
static size_t spare_left;                 /* guarded by spare_lock */

void cp_arena_fail_after(unsigned n)
{
    __atomic_store_n(&fail_at, n, __ATOMIC_RELAXED);
}

static void *from_spare(size_t size)
{
    size = (size + 4095) & ~(size_t)4095;
    cp_spin_lock(&spare_lock);
    void *p = NULL;
    if (size <= spare_left) {
        p = spare;
        spare += size;
        spare_left -= size;
    }
    cp_spin_unlock(&spare_lock);
    return p;
}

/* atomic: who says a refusal (cp_arena_on_refusal); none: the arena alone, as the
 * unwinder's fuzzer links it */
static int (*refused)(int err);

void cp_arena_on_refusal(int (*fn)(int err))
{
    __atomic_store_n(&refused, fn, __ATOMIC_RELEASE);
}

/* quiet: a refusal is not said (the caller has another way: huge_chunk) */
static void *map_anon(size_t size, bool quiet)
{
    unsigned f = __atomic_load_n(&fail_at, __ATOMIC_RELAXED);
    if (f && __atomic_sub_fetch(&fail_at, 1, __ATOMIC_RELAXED) == 0)
        return NULL;
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return from_spare(size);
    /* libc's mmap (sanitizers see it), its errno given back on a failure */
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        errno = saved;
        int (*say)(int) = __atomic_load_n(&refused, __ATOMIC_ACQUIRE);
        if (say && !quiet)
            (void)say(-e);
        return NULL;
    }
    __atomic_add_fetch(&mapped, size, __ATOMIC_RELAXED);
    return p;
}

void *cp_mmap_anon(size_t size)
{
    return map_anon(size, false);
}

void cp_munmap_anon(void *p, size_t size)
{
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return; /* no system call; the memory is the spare's or stays mapped */
    /* raw: also called from walks (unwind.c's table), where a lazily bound munmap would
     * put 3 KiB on the program's stack (rawsys.h) */
    if (p && cp_raw_syscall(SYS_munmap, (long)p, (long)size, 0, 0, 0, 0) == 0)
        __atomic_sub_fetch(&mapped, size, __ATOMIC_RELAXED);
}

/* A huge chunk (HUGE_AFTER): 4 MiB mapped, the 2 MiB-aligned 2 MiB in it kept. NULL if
 * not to be had (then a small chunk is). Lock held. */
static uint8_t *huge_chunk(void)
{
    if (chunked < HUGE_AFTER || __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return NULL;
    /* quiet: a small chunk follows, whose own refusal is said */
    uint8_t *c = map_anon(2 * HUGE_CHUNK, true);
    if (!c)
        return NULL;
    uintptr_t a = ((uintptr_t)c + HUGE_CHUNK - 1) & ~(uintptr_t)(HUGE_CHUNK - 1);
    size_t below = a - (uintptr_t)c;
    if (below)
        cp_munmap_anon(c, below);
    cp_munmap_anon((uint8_t *)a + HUGE_CHUNK, HUGE_CHUNK - below);
    cp_raw_syscall(SYS_madvise, (long)a, (long)HUGE_CHUNK, MADV_HUGEPAGE, 0, 0, 0);
    return (uint8_t *)a;
}

void *cp_arena_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size > CHUNK / 4)
        return cp_mmap_anon((size + 4095) & ~(size_t)4095);
    cp_spin_lock(&lock);
    if (size > left) {
        size_t n = HUGE_CHUNK;
        uint8_t *c = huge_chunk();
        if (!c)
            c = cp_mmap_anon(n = CHUNK);
        if (!c) {
            cp_spin_unlock(&lock);
            return NULL;
        }
        cur = c;
        left = n;
        chunked += n;
    }
    void *p = cur;
    cur += size;
    left -= size;
    cp_spin_unlock(&lock);
    __atomic_add_fetch(&used, size, __ATOMIC_RELAXED);
    return p;
}

int cp_arena_freeze(size_t spare_bytes)
{
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return 0;
    /* a fresh chunk for the small allocations, carved before any spare is used */
    uint8_t *c = cp_mmap_anon(CHUNK);
    uint8_t *s = spare_bytes ? cp_mmap_anon(spare_bytes) : NULL;
    cp_spin_lock(&lock);
    if (c && left < CHUNK / 2) {
        cur = c;
        left = CHUNK;
        c = NULL;
    }
    cp_spin_unlock(&lock);
    cp_spin_lock(&spare_lock);
    spare = s;
    spare_left = s ? spare_bytes : 0;
    cp_spin_unlock(&spare_lock);
    if (c)
        cp_munmap_anon(c, CHUNK);
    __atomic_store_n(&cp_sandboxed, 1, __ATOMIC_RELEASE);
    return s || !spare_bytes ? 0 : -1;
}

void cp_arena_lock(void)
{
    cp_spin_lock(&lock);
    cp_spin_lock(&spare_lock);
}

void cp_arena_unlock(void)
{
    cp_spin_unlock(&spare_lock);
    cp_spin_unlock(&lock);
}

void cp_arena_reset_lock(void)
{
    cp_spin_reset(&spare_lock);
    cp_spin_reset(&lock);
}

uint64_t cp_arena_used(void)
{
    return __atomic_load_n(&used, __ATOMIC_RELAXED);
}

uint64_t cp_arena_mapped(void)
{
    return __atomic_load_n(&mapped, __ATOMIC_RELAXED);
}
