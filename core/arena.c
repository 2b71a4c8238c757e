/*
 * arena.c — the engine's never-freed memory (see arena.h).
 *
 * Contexts: hook (a sampled event that creates a bucket or a ring), flusher. Holds a spin
 * lock while carving; mmap is called with it held, which is fine: nothing else waits on
 * the arena on a hot path.
 * Fault injection (SQLite's countdown style): cp_arena_fail_after(n) makes the nth
 * following mmap fail, so the degrade paths of every caller actually run in tests.
 */
#include "arena.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include "rawsys.h"
#include "spin.h"

#define CHUNK ((size_t)1 << 20)

static cp_spin lock = CP_SPIN_INIT;
static uint8_t *cur;       /* guarded by lock */
static size_t left;        /* guarded by lock */
static uint64_t mapped;    /* atomic */
static uint64_t used;      /* atomic: bytes handed out by cp_arena_alloc */
static unsigned fail_at;   /* atomic: countdown, 0 = off */

void cp_arena_fail_after(unsigned n)
{
    __atomic_store_n(&fail_at, n, __ATOMIC_RELAXED);
}

void *cp_mmap_anon(size_t size)
{
    unsigned f = __atomic_load_n(&fail_at, __ATOMIC_RELAXED);
    if (f && __atomic_sub_fetch(&fail_at, 1, __ATOMIC_RELAXED) == 0)
        return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    __atomic_add_fetch(&mapped, size, __ATOMIC_RELAXED);
    return p;
}

void cp_munmap_anon(void *p, size_t size)
{
    /* raw: also called from walks (unwind.c's table), where a lazily bound munmap would
     * put 3 KiB on the program's stack (rawsys.h) */
    if (p && cp_raw_syscall(SYS_munmap, (long)p, (long)size, 0, 0, 0, 0) == 0)
        __atomic_sub_fetch(&mapped, size, __ATOMIC_RELAXED);
}

void *cp_arena_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size > CHUNK / 4)
        return cp_mmap_anon((size + 4095) & ~(size_t)4095);
    cp_spin_lock(&lock);
    if (size > left) {
        uint8_t *c = cp_mmap_anon(CHUNK);
        if (!c) {
            cp_spin_unlock(&lock);
            return NULL;
        }
        cur = c;
        left = CHUNK;
    }
    void *p = cur;
    cur += size;
    left -= size;
    cp_spin_unlock(&lock);
    __atomic_add_fetch(&used, size, __ATOMIC_RELAXED);
    return p;
}

uint64_t cp_arena_used(void)
{
    return __atomic_load_n(&used, __ATOMIC_RELAXED);
}

uint64_t cp_arena_mapped(void)
{
    return __atomic_load_n(&mapped, __ATOMIC_RELAXED);
}
