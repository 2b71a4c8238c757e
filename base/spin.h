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

/* The n-th look (from 0) at a lock or flag that another thread will clear in a few
 * instructions: a pause, then after 100 sched_yield, then after 1,100 a 50 us sleep. A
 * yield lets only threads of the caller's priority or above run: a real-time waiter
 * (SCHED_FIFO or SCHED_RR) whose holder is a normal thread preempted on the same CPU
 * yielded to nobody and spun until the kernel's real-time throttling let the holder run
 * (~0.95 s of every second by default; for ever where it is off, sched_rt_runtime_us
 * -1, as real-time set-ups often have it); a sleep lets it run. Sandboxed: as cp_yield
 * (a pause; no new kind of system call). */
static inline void cp_backoff(unsigned n)
{
    if (n < 100) {
        __builtin_ia32_pause();
    } else if (n < 1100 || __atomic_load_n(&cp_sandboxed, __ATOMIC_RELAXED)) {
        cp_yield();
    } else {
        long ts[2] = {0, 50000}; /* struct timespec: 50 us */
        cp_raw_syscall(SYS_nanosleep, (long)ts, 0, 0, 0, 0, 0);
    }
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
        while (__atomic_load_n(&l->v, __ATOMIC_RELAXED))
            cp_backoff(n++);
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
