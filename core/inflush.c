/*
 * inflush.c — the pace of inline flushing at dense rates (inflush.h).
 *
 * State: the time of the last inline flush and a count of events since the clock was
 * last read, both relaxed atomics (any application thread of a process without a
 * flusher). Reads CLOCK_MONOTONIC_COARSE (vDSO, no system call) once every
 * CLOCK_EVERY events; no allocation, no lock.
 */
#include "inflush.h"

#include <time.h>

#define CLOCK_EVERY 64

static uint64_t last_ns;
static uint32_t since;

static uint64_t coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool cp_inflush_due(uint64_t used, uint64_t cap, uint64_t flush_ms)
{
    if (used >= cap / 8)
        return true;
    if (__atomic_add_fetch(&since, 1, __ATOMIC_RELAXED) % CLOCK_EVERY != 0)
        return false;
    uint64_t last = __atomic_load_n(&last_ns, __ATOMIC_RELAXED);
    return coarse_ns() - last >= flush_ms * 1000000u;
}

void cp_inflush_done(void)
{
    __atomic_store_n(&last_ns, coarse_ns(), __ATOMIC_RELAXED);
}
