/* slots.h — the live-table tests' common part (test_defer.c, test_fence.c): the engine at
 * rate 1 with a given flusher, NB sites of SLOTS_DEPTH frames, objects at SLOTS addresses
 * (a slot's object freed, then another allocated there), and the test's own books, which
 * the profile must match exactly. The includer defines NB, SLOTS, SLOTS_NAME (the test's
 * name) and SLOTS_BASE (the first address), then includes this after cmocka.h. */
#ifndef SLOTS_H
#define SLOTS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/single_threaded.h>
#include <unistd.h>

#include "bucket.h"
#include "engine1.h"
#include "live.h"
#include "options.h"
#include "prof.h"
#include "prof_int.h"

#define SLOTS_DEPTH 4

static char slots_path[256];
static uintptr_t pcs[NB][SLOTS_DEPTH];
static struct cp_bucket *bk[NB];
static uint64_t allocs[NB], frees[NB]; /* the test's own books */
static int live_in[SLOTS];             /* which site each slot's live object is of, or -1 */

static uintptr_t addr(unsigned slot)
{
    return (uintptr_t)SLOTS_BASE + (uintptr_t)slot * 16;
}

/* The engine at rate 1, flushing every millisecond with this flusher, in a process that
 * has one thread (the premise of the live table kept by the flush), and the sites'
 * buckets; 0, or -1 (cmocka's group set-up then fails) */
static int slots_setup(enum cp_flusher flusher)
{
    if (engine1_start(SLOTS_NAME, flusher, slots_path, sizeof slots_path))
        return -1;
    for (int b = 0; b < NB; b++) {
        for (int k = 0; k < SLOTS_DEPTH; k++)
            pcs[b][k] = 0x400000 + (uintptr_t)(b * 1000 + k * 16);
        bk[b] = cp_bucket_get(CP_HEAP, pcs[b], SLOTS_DEPTH);
        if (!bk[b])
            return -1;
    }
    for (unsigned s = 0; s < SLOTS; s++)
        live_in[s] = -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cp_prof_shutdown();
    unlink(slots_path);
    return 0;
}

static void alloc_at(struct cp_thread *t, unsigned slot, int b)
{
    cp_event_alloc(t, (void *)addr(slot), 16 + (uint64_t)b, pcs[b], SLOTS_DEPTH);
    live_in[slot] = b;
    allocs[b]++;
}

static void free_at(unsigned slot)
{
    cp_event_free(cp_thread_get, (void *)addr(slot));
    frees[live_in[slot]]++;
    live_in[slot] = -1;
}

static uint64_t slots_live(void)
{
    uint64_t live = 0;
    for (unsigned s = 0; s < SLOTS; s++)
        live += live_in[s] >= 0;
    return live;
}

/* Free every live object (on the calling thread); how many */
static uint64_t free_all_live(void)
{
    uint64_t n = 0;
    for (unsigned s = 0; s < SLOTS; s++)
        if (live_in[s] >= 0) {
            free_at(s);
            n++;
        }
    return n;
}

/* Everything flushed: each site's counts are the books' (whole objects: at rate 1 each
 * counts one) */
static void check_books(void)
{
    cp_prof_flush_all();
    for (int b = 0; b < NB; b++) {
        assert_int_equal(bk[b]->u.mem.active.aobj / 65536, allocs[b]);
        assert_int_equal(bk[b]->u.mem.active.fobj / 65536, frees[b]);
        assert_int_equal(bk[b]->u.mem.active.aobj % 65536, 0);
        assert_int_equal(bk[b]->u.mem.active.fobj % 65536, 0);
    }
}

#endif
