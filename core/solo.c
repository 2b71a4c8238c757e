/*
 * solo.c — solo mode: the dense-rate seam. At the default rate (CTRPROF_MEM_RATE >=
 * CP_DENSE_RATE) cp_prof_solo is SOLO_OFF from init on and nothing here runs; a reader
 * of the default path can skip this file. The other dense-rate pieces are the live
 * table's shadow map (live.c) and the larger rings (events.c, CP_RING_WORDS_DENSE).
 *
 * Contexts: hook (cp_solo_for from events.c: claim the mode, or end it from a second
 * ring's first heap event); the flusher keeps the live table for solo records
 * (resolve.c). flusher.c resets the mode in a fork child. Lock: cp_solo_end takes
 * cp_flush_lock (through cp_prof_flush_all), on the ending thread.
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
 * everything the old thread wrote before the ring could be reused.
 */
#include "prof_int.h"

#include "rawsys.h"
#include "ring.h"
#include "spin.h"

uint32_t cp_prof_solo; /* atomic; prof.h's cp_event_solo reads it */
struct cp_ring *cp_solo_ring;

void cp_solo_wait(void)
{
    while (__atomic_load_n(&cp_prof_solo, __ATOMIC_ACQUIRE) == SOLO_ENDING)
        cp_futex_wait(&cp_prof_solo, SOLO_ENDING, 1000 * 1000);
}

void cp_solo_end(void)
{
    uint32_t s = SOLO_ON;
    if (!__atomic_compare_exchange_n(&cp_prof_solo, &s, SOLO_ENDING, 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        cp_solo_wait(); /* ended, or another thread is ending it */
        return;
    }
    struct cp_ring *o = __atomic_load_n(&cp_solo_ring, __ATOMIC_ACQUIRE);
    /* Neither waits for anything this thread holds: in_op covers the real realloc (no
     * lock of ours; this thread holds none of the allocator's, being in a hook) and the
     * record, which may wait for the flusher, which waits for no one here. */
    for (unsigned spins = 0; o && (__atomic_load_n(&o->in_op, __ATOMIC_SEQ_CST) || cp_ring_busy(o));
         spins++)
        if (spins > 64)
            cp_yield(); /* raw: on the program's stack */
    cp_prof_flush_all();
    __atomic_store_n(&cp_prof_solo, SOLO_OFF, __ATOMIC_RELEASE);
    cp_futex_wake(&cp_prof_solo, INT32_MAX);
}

/* May r record its heap events solo? r claims solo mode if no ring has yet; a heap event
 * on another ring ends it, as does one of a thread without a ring (r NULL: its events
 * cannot be ordered after the solo ring's, so the table must be complete first). */
__attribute__((noinline)) bool cp_solo_claim(struct cp_ring *r, uint32_t s)
{
    if (!r) {
        cp_solo_end();
        return false;
    }
    struct cp_ring *o = __atomic_load_n(&cp_solo_ring, __ATOMIC_ACQUIRE);
    if (!o && __atomic_compare_exchange_n(&cp_solo_ring, &o, r, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        o = r;
    if (o != r) {
        cp_solo_end();
        return false;
    }
    if (s == SOLO_ENDING) {
        cp_solo_wait();
        return false;
    }
    return true; /* the event confirms it once busy */
}
