/*
 * spin.h — the engine's own lock: a test-and-test-and-set spin lock that yields to the
 * scheduler after a short spin. The engine never uses pthread mutexes: those are
 * interposed by the shim (profiling our own locks would recurse), and a lock taken in
 * the fork child must be resettable. Held only for short, bounded sections off the hot
 * path (bucket insertion, ring registration, module refresh).
 */
#ifndef CP_SPIN_H
#define CP_SPIN_H

#include <sched.h>
#include <sys/syscall.h>

#include "rawsys.h"

/* Set once the program sandboxes itself (seccomp, arena.c's cp_arena_freeze): from then
 * on the engine makes no system call it did not make before, and sched_yield is one an
 * allow-list may forbid; a waiter spins instead (the holder runs on another core or is
 * rescheduled by the next tick). */
extern int cp_sandboxed;

static inline void cp_yield(void)
{
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_RELAXED))
        __builtin_ia32_pause();
    else
        cp_raw_syscall(SYS_sched_yield, 0, 0, 0, 0, 0, 0); /* rawsys.h: no lazy binding */
}

typedef struct {
    int v;
} cp_spin;

#define CP_SPIN_INIT                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

static inline void cp_spin_lock(cp_spin *l)
{
    for (unsigned n = 0;; n++) {
        if (!__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
            return;
        while (__atomic_load_n(&l->v, __ATOMIC_RELAXED)) {
            if (n++ < 100)
                __builtin_ia32_pause();
            else
                cp_yield();
        }
    }
}

static inline int cp_spin_trylock(cp_spin *l)
{
    return !__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE);
}

static inline void cp_spin_unlock(cp_spin *l)
{
    __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

/* fork child: the lock was held by the thread that forked (prepare handler) */
static inline void cp_spin_reset(cp_spin *l)
{
    __atomic_store_n(&l->v, 0, __ATOMIC_RELAXED);
}

#endif
