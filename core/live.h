/*
 * live.h — the live sampled heap objects: address -> bucket and size, so that free()
 * learns cheaply whether its pointer was sampled, to which bucket it belongs and what it
 * weighs (its size: resolve.c's hv_make). Until the flusher has found an allocation's
 * bucket, the value is the allocation's ref (prof_int.h), which the flusher then replaces
 * with the bucket and size (cp_live_resolve).
 *
 * The common case (an unsampled pointer) is decided by a filter: an array of 2^15 byte
 * counters indexed by a hash of the address, incremented when a sampled object is
 * inserted and decremented when it is removed (a counter that reaches 255 sticks there:
 * it only costs false positives). The filter is 32 KiB, read-mostly (written only on
 * sampled events), so every core keeps its lines shared and hot: free() of an unsampled
 * pointer costs one load and one branch. A positive goes to the table.
 *
 * The table: open addressing with linear probing over generations of doubling size.
 * Inserts go to the newest generation (a new one is made, under a spin lock, when it is
 * half full); lookups try the newest first. Slots are claimed by CAS; a removed slot
 * becomes a tombstone that a later insert may reuse, so churn at rate 1 does not grow
 * the table. Each sampled object is inserted once and removed at most once, by whoever
 * frees it (the application orders the free after the malloc), so there is no ABA on a
 * slot's key. In a process with one thread (glibc's __libc_single_threaded) the shadow
 * map's entries and the filter's counters are changed with plain loads and stores
 * (live.c, alone).
 */
#ifndef CP_LIVE_H
#define CP_LIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/single_threaded.h>

struct cp_bucket;

#define CP_LIVE_FILTER_BITS 15

/* Static storage (zero pages until something is sampled), so the check needs no pointer
 * load and no NULL test: all zero means nothing is live. */
extern uint8_t cp_live_filter[1u << CP_LIVE_FILTER_BITS];

/* dense: most heap objects will be sampled (a high rate): keep aligned addresses in the
 * shadow maps (shadow.h), which cost address space (a 64 KiB leaf for each 256 KiB of
 * addresses small objects are sampled in, or 2 MiB for objects of CP_LIVE_WIDE_MIN bytes
 * or more, mapped as they are reached; none at start) but one local access per insert and
 * remove; otherwise the hash table alone. */
int cp_live_init(bool dense);

static inline uint32_t cp_live_fhash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> (64 - CP_LIVE_FILTER_BITS));
}

/* Might p be a live sampled object? One load, no store. On x86-64 the load and the test
 * are one compare against memory (a byte load is single-copy atomic there); GCC does not
 * fold an __atomic load into a compare, which cost free() an instruction. */
static inline bool cp_live_maybe(const void *p)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
    bool nz;
    __asm__("cmpb $0, %1" : "=@ccne"(nz) : "m"(cp_live_filter[cp_live_fhash(p)]));
    return nz;
#else
    return __atomic_load_n(&cp_live_filter[cp_live_fhash(p)], __ATOMIC_RELAXED) != 0;
#endif
}

/* Who keeps the table. Normally each heap event keeps it on its own thread: an allocation
 * inserts its ref, a free takes its value out before the real free. Deferred (atomic,
 * nonzero): the flush does, from the records (ring.h's CP_REC_ALLOC_PLACE, which puts the
 * object in with its bucket, and CP_REC_FREE_PTR, which takes it out by its address), and
 * the program's thread never touches the table. That is only right while one thread
 * produces heap events: its records are drained in its own order, so a free always
 * follows its allocation and an address freed then reused is taken out before it is
 * put in again. So deferred is on at rate 1 in a process with one thread, whose events a
 * flusher drains on the other core (the flusher process, or CTRPROF_FLUSHER=thread's
 * thread; not under CTRPROF_FLUSHER=inline: events.c's cp_live_defer_begin, at start-up;
 * until one runs, the event's own flush keeps the table from the records) and off for
 * good once a second thread may produce (cp_live_defer_end: the program's pthread_create,
 * or a second ring taken). At rate 1 every object is sampled, so the table costs the
 * program's thread its misses (a ~100 MB map on perl's heap) and nothing is saved by
 * filtering: the filter is saturated, so every free reaches the shim's slow path and its
 * record. BENCHMARKS.md, "Session 34". */
extern int cp_live_deferred;

/* Deferred mode has ended (cp_live_defer_end) and its flush has not yet put in and taken
 * out what the records made under it say (atomic: set before deferred is cleared, cleared
 * after that flush). A thread not made by pthread_create ends it from its first event
 * while the program's first thread runs on; that thread, seeing deferred off, would take
 * the table itself: a free of an object whose allocation record waits in its ring would
 * find nothing (the free unrecorded, the object live in the profile for good), an insert
 * could be undone by a free record of the same address applied after it. So its writes
 * wait for that flush first (cp_live_producer_wait). */
extern int cp_live_handover;

void cp_live_handover_wait(void);
/* Before a program thread writes the table itself (not deferred): a handover in progress
 * waited out. A load of a read-mostly word. */
static inline void cp_live_producer_wait(void)
{
    if (__builtin_expect(__atomic_load_n(&cp_live_handover, __ATOMIC_ACQUIRE), 0))
        cp_live_handover_wait();
}

/* A process of ours shares this address space (the flusher process, core/flusher.c):
 * glibc's __libc_single_threaded stays true (it knows nothing of it), but the engine's
 * own one-thread shortcuts (plain stores where another thread would need locked ones) are
 * wrong then. Set before the process is made, cleared once it is gone. (atomic) */
extern int cp_vm_shared;
static inline bool cp_one_thread(void)
{
    return __libc_single_threaded && !__atomic_load_n(&cp_vm_shared, __ATOMIC_RELAXED);
}
/* The flusher process fences for the program's lone thread (flusher.c, "the flusher as a
 * process": membarrier): while set, that thread marks its ring busy with a plain store,
 * as a thread alone does (events.c's emit), and every handshake another task makes first
 * has it pass a full barrier. Set by the program thread that starts the process, before
 * it is made; cleared with a barrier of that kind when a second ring is taken or a
 * seccomp filter goes in (cp_fence_end), and plainly once the process is gone. (atomic) */
extern int cp_fence_asym;
static inline bool cp_ring_alone(void)
{
    return __libc_single_threaded && (!__atomic_load_n(&cp_vm_shared, __ATOMIC_RELAXED) ||
                                      __atomic_load_n(&cp_fence_asym, __ATOMIC_RELAXED));
}

/* Objects of this size or more go to the wide shadow map (shadow.h), where their entries
 * take 1/32 of the address range they fill rather than a quarter. */
#define CP_LIVE_WIDE_MIN 512

/* Start loading the slot where p, of size bytes, would be inserted (a sampled allocation
 * calls this before it unwinds, so the table's cache miss overlaps the unwinding). */
void cp_live_prefetch(const void *p, uint64_t size);
/* The same for the consumer of a deferred record (resolve.c's cp_account_ahead, some
 * records before it applies one: an allocation's insert, or with size 0 a free's remove of
 * a small object, the fine map's entry). */
void cp_live_prefetch_deferred(const void *p, uint64_t size);
/* A value: the object's heap bucket index and size (resolve.c's hv_make: bits 0-1 clear)
 * or, until the flusher has found the bucket, the allocation's ref (prof_int.h: bit 1 set,
 * bit 0 clear); never 0. */
/* Remember p -> v for an object of size bytes (the size chooses where: 0 is a small
 * object's), born at `birth` (its allocation's stamp, heaptime.h's cp_ht_stamp, which the
 * free's record carries for its lifetime: kept beside the value, in the entry the free
 * reads anyway). Returns false if the table cannot grow (counted as lost). */
bool cp_live_insert(const void *p, uintptr_t v, uint64_t size, uint64_t birth);
/* Count p in the filter only, not the table (preload/early.c: a block allocated before
 * the engine was up, whose free must reach free()'s slow path; early.c takes the count
 * back). The filter never counts fewer objects than the table holds, which is all free()
 * needs of it. */
void cp_live_mark(const void *p);
/* Forget p; returns its value (and its birth in *birth), or 0 if p is not a live sampled
 * object (*birth then undefined). */
uintptr_t cp_live_remove(const void *p, uint64_t *birth);
/* If p's value is still ref, make it v (the flusher, having found the bucket; size as its
 * insert was given). False if the ref was taken first (by a free or a realloc) or p is not
 * there. */
bool cp_live_resolve(const void *p, uintptr_t ref, uintptr_t v, uint64_t size);
/* Where p's entry in the fine or the wide shadow map would be, or NULL (for tests). */
const void *cp_live_entry_of(const void *p, bool wide);
/* Live sampled objects (for tests). */
uint64_t cp_live_count(void);
/* fork child: the parent's objects are not the child's to account; forget them all (and
 * free the grow lock, which a thread the child does not have may have held). */
void cp_live_reset(void);
/* For tests: take (hold true) or release the grow lock, as an insert that adds a
 * generation does (tests/unit/test_forklocks.c holds it across forks). */
void cp_live_grow_hold(bool hold);

#endif
