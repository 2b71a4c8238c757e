/*
 * inflush.h — when a thread that has no flusher to hand its events to publishes them
 * itself ("inline", core/prof.c "who flushes"), at the dense rates.
 *
 * A process that never made a thread gets no flusher thread at any rate (issue 29: a
 * second thread makes glibc's fork take malloc's locks, which a fork from a signal
 * handler deadlocks on, and changes what unshare, setns and RLIMIT_NPROC allow). At the
 * default rate its thread publishes each sampled event at once. At the dense rates
 * (below CP_DENSE_RATE) nearly every allocation is an event, and a flush each would
 * double the cost of an event (BENCHMARKS.md, "Who flushes"): there the thread publishes
 * in batches, when its ring is an eighth full, or at its first event a flush interval
 * after the last flush, as a flusher would. Until then (and at _exit or SIGKILL) up to
 * that much is not in the file yet, as with a flusher thread.
 *
 * Context: hooks (emit, in any application thread of a process without a flusher, which
 * may be several: a sandboxed or stepped-aside process). Lock-free: relaxed atomics; a
 * race only moves a flush by an event.
 */
#ifndef CP_INFLUSH_H
#define CP_INFLUSH_H

#include <stdbool.h>
#include <stdint.h>

/* Is a flush due, now that a ring holds `used` of its `cap` words? */
bool cp_inflush_due(uint64_t used, uint64_t cap, uint64_t flush_ms);
/* A flush has just published everything (flush_lock held). */
void cp_inflush_done(void);

#endif
