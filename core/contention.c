/*
 * contention.c — the mutex waiter table (see contention.h); Go's block/mutex sampling and
 * the clock are contention_sample.c.
 *
 * About 640 lines, past the project's ~600: the waiter table and the condition-variable
 * map below it are one mechanism (a sleeper's pair and its mutex's entry are read and
 * written together, under the same bucket locks, by the same hooks); the table's lazy
 * mapping (issue 29) took it past.
 *
 * Contexts: the constructor (cp_contention_init); hooks, on the contended slow paths (a
 * thread about to sleep on a mutex, rwlock or condition variable, the same thread after it
 * got it, an unlock whose mutex word says a waiter may exist), and, unlocked reads of
 * hints, an rwlock unlock and a condition-variable signal; the fork child's atfork
 * handler, or newproc.c in a child no handler saw (the table and the condition-variable
 * map start again empty). Never on the uncontended mutex path: there the shim does not
 * call in at all.
 *
 * The waiter table. An entry per address (mutex, rwlock; and condition variables, in
 * their mutex's bucket: "condition variables" below) that has waits in progress, and
 * only while it has them: the entry is made by the first waiter to register and freed by
 * the last one to leave, so the table's use is bounded by the waits in progress, never
 * by how many distinct addresses were ever contended (a server with a mutex per
 * connection contends on millions over its life). Entries live in buckets of WAYS, the
 * bucket chosen by the address's hash; all of an address's operations take its bucket's
 * spin lock. A bucket is full only when WAYS distinct addresses of the same hash have
 * waiters at the same instant; the wait that finds it full is counted lost. Each entry
 * holds, for the threads currently waiting on that address:
 *
 *     nwait    how many are waiting
 *     sum_eff  the sum of their "effective start" times: when each began waiting, or the
 *              time of the last charge of this mutex if that is later
 *     last     the time of the last charge
 *
 * An unlock at time `now` is charged the waiting accrued since the previous charge:
 *
 *     charge = nwait * now - sum_eff,   then sum_eff = nwait * now, last = now
 *
 * Worked example (one mutex, holder H, waiters A and B):
 *
 *     t=0   H locks
 *     t=10  A begins waiting          nwait 1, sum_eff 10
 *     t=30  B begins waiting          nwait 2, sum_eff 40
 *     t=50  H unlocks: charge 2*50-40 = 60  (A waited 40, B 20)   sum_eff 100, last 50
 *     t=52  A acquires: eff = max(10, 50) = 50; nwait 1, sum_eff 50
 *     t=90  A unlocks: charge 1*90-50 = 40  (B waited 40 more)    sum_eff 90, last 90
 *     t=91  B acquires: nwait 0, sum_eff 0
 *
 * H's unlock site is charged 60 ns, A's 40 ns: 100 ns, exactly the 40+60 the two waiters
 * spent before the unlocks that released them. The wake-up latency after the last charge
 * (2 ns and 1 ns above) is charged to nobody, as in Go, where the unlocker measures the
 * waiting at the moment it hands the mutex over.
 *
 * The charge is taken by the unlocker before its real unlock (preload/pthread.c): the
 * waiters cannot have acquired yet, so none has left with its time uncharged, and the
 * unlocker's own futex wake is not in it.
 *
 * Each bucket has a one-byte spin lock, held for a handful of instructions (a scan of
 * WAYS addresses; or, for an rwlock's leaving reader, that and glibc's decrement of the
 * reader count, see "unlocks that decide" below). It is only ever taken by threads that
 * are about to sleep on (or are releasing) a contended lock, never on an uncontended
 * path; no malloc, no syscall (but a reader's unlock made last by a reader that did not
 * take part, a race of a few instructions, wakes the writer holding it; and a thread
 * that finds a bucket lock held past ~128 spins yields its CPU to the holder, spin.h's
 * cp_yield, which a sandboxed process does not call), so the hooks
 * stay async-signal-safe as far as the real functions are. A bucket's
 * `used` count is read unlocked as a hint by unlocks: 0 means no waits there, and the
 * lock is not taken.
 * Sampled by the wait: only waits tracked for the mutex profile are in the table; `fresh`
 * counts each once, at its first charge (contention_sample.c: the scheme, why unbiased).
 *
 * Locks: a byte spin lock per waiter-table bucket and one per set of the
 * condition-variable map, leaves (docs/ARCHITECTURE.md, "Locks"): a sleeper writes its
 * map pair before it takes its bucket, never holding both.
 */
#include "contention.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#include "arena.h"
#include "line.h"
#include "log.h"
#include "spin.h"

/* ---- the waiter table -------------------------------------------------------------- */

#define BUCKETS                                                                                    \
    (1u << 12) /* 4096 x 400 B = 1.6 MiB of address space, touched where used;                     \
                * mapped at the first wait (a program that never contends                          \
                * never has it: issue 29, an mlockall'd program's 8 MiB) */
#define WAYS 8

/* A mutex's entry, or (addr's low bit set, see "condition variables" below) the entry of
 * a condition variable whose sleepers hold this bucket's mutex m. */
struct entry {
    uintptr_t addr;   /* 0 = free; a mutex's address; a condition variable's | 1 (locks
                       * and condition variables are 4-aligned: no mutex's address is odd) */
    uint32_t nwait;   /* mutex: its waiters; cond: its sleepers no signal has woken */
    uint32_t pending; /* cond: woken by a signal, registered on m, not yet back */
    uint64_t last;    /* mutex: time of the last charge; cond: the last signal's */
    uint32_t fresh;   /* mutex: waits no charge has counted yet (the next one counts them) */
    union {
        unsigned __int128 sum_eff; /* mutex: sum of the waiters' effective start times */
        const void *m;             /* cond: the mutex its sleepers hold */
    };
};

struct bucket {
    unsigned char lock; /* spin lock over everything below */
    uint32_t used;      /* mutex entries; written under lock, read unlocked as a hint */
    uint32_t cused;     /* condition-variable entries, the same */
    struct entry e[WAYS];
};

/* atomic: mapped at the first wait (table_get), then kept */
CP_READ_MOSTLY static struct bucket *table;
static int table_wanted; /* cp_contention_init ran */
static int table_failed; /* the mapping was refused: the mutex profile is off */

/* the condition-variable map (below): mapped at first use */
CP_READ_MOSTLY static struct cset *ctable;

static void *map_table(void)
{
    void *p = mmap(NULL, sizeof(struct bucket) * BUCKETS, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The fork child has one thread and no wait in progress; a bucket lock held by another
 * thread at the fork would be held for ever. The table and the map start again empty. */
void cp_contention_fork_child(void)
{
    /* (the map first: it can exist without the table, whose mapping may have been refused) */
    __atomic_store_n(&ctable, NULL, __ATOMIC_RELEASE);
    if (!__atomic_load_n(&table, __ATOMIC_ACQUIRE))
        return; /* none yet, mapped at the child's first wait (newproc.c calls this too) */
    /* The old mappings stay: a fork from a signal handler may have interrupted this very
     * thread inside a bucket, which it will unlock after the handler returns. Only the
     * pages touched cost anything. A child whose parent had one gets its own now (a
     * sandboxed child could not map it later); refused, its mutex profile is off. */
    void *p = map_table();
    if (!p)
        __atomic_store_n(&table_failed, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&table, p, __ATOMIC_RELEASE);
}

int cp_contention_init(void)
{
    if (__atomic_exchange_n(&table_wanted, 1, __ATOMIC_ACQ_REL))
        return 0;
    pthread_atfork(NULL, NULL, cp_contention_fork_child);
    return 0;
}

/* The table; create: map it if it is not yet (the first wait: a hook on a contended slow
 * path, where mmap is a plain system call; not in a sandbox, which cp_contention_prepare
 * mapped it before). NULL: none (nothing is registered, or the profile is off). */
static struct bucket *table_get(bool create)
{
    struct bucket *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (t || !create || !__atomic_load_n(&table_wanted, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&table_failed, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return t;
    void *p = map_table();
    if (!p) {
        if (!__atomic_exchange_n(&table_failed, 1, __ATOMIC_ACQ_REL) &&
            cp_log_tree_first(CP_LOG_TREE_WAITERS)) /* once a tree */
            cp_log("cannot map the mutex waiter table; mutex profile off");
        return NULL;
    }
    void *expect = NULL;
    /* release: publishes the zeroed mapping to the acquire loads here */
    if (!__atomic_compare_exchange_n(&table, &expect, p, false, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
        munmap(p, sizeof(struct bucket) * BUCKETS);
    return __atomic_load_n(&table, __ATOMIC_ACQUIRE);
}

void cp_contention_prepare(void)
{
    (void)table_get(true);
}

bool cp_contention_mapped(void)
{
    return table_get(false) != NULL;
}

static struct bucket *bucket_at(struct bucket *t, const void *m)
{
    uint64_t x = (uint64_t)(uintptr_t)m * 0x9E3779B97F4A7C15ull;
    return &t[(x >> 40) & (BUCKETS - 1)];
}

static struct bucket *bucket_of(const void *m)
{
    struct bucket *t = table_get(false);
    return t ? bucket_at(t, m) : NULL;
}

/* Held for a handful of instructions; a holder preempted meanwhile (a loaded machine) would
 * have the others spin out their time slices: after ~100 pauses a waiter yields, and after
 * ~1,100 looks it sleeps (spin.h's cp_backoff: a real-time waiter and a normal holder on
 * one CPU). */
static void spin_byte_lock(unsigned char *l)
{
    while (__atomic_test_and_set(l, __ATOMIC_ACQUIRE)) {
        for (unsigned n = 0; __atomic_load_n(l, __ATOMIC_RELAXED); n++)
            cp_backoff(n);
    }
}

static void spin_byte_unlock(unsigned char *l)
{
    __atomic_clear(l, __ATOMIC_RELEASE);
}
#define bucket_lock(b) spin_byte_lock(&(b)->lock)
#define bucket_unlock(b) spin_byte_unlock(&(b)->lock)

/* m's entry in b (bucket lock held), NULL if m has no waits in progress. */
static struct entry *lookup(struct bucket *b, uintptr_t a)
{
    for (unsigned i = 0; i < WAYS; i++)
        if (b->e[i].addr == a)
            return &b->e[i];
    return NULL;
}

/* Entries' addr and nwait are written with atomic stores, under the bucket lock: a
 * signal reads them unlocked, as a hint (cond_hint, below). */
static void set_nwait(struct entry *e, uint32_t n)
{
    __atomic_store_n(&e->nwait, n, __ATOMIC_RELAXED);
}

/* A free entry of b made m's (address a), or NULL if b is full. Bucket lock held. */
static struct entry *new_entry(struct bucket *b, uintptr_t a)
{
    struct entry *e = lookup(b, 0);
    if (e) {
        e->pending = 0;
        e->last = 0;
        e->fresh = 0;
        e->sum_eff = 0;
        set_nwait(e, 0);
        __atomic_store_n(&e->addr, a, __ATOMIC_RELEASE);
        __atomic_store_n(&b->used, b->used + 1, __ATOMIC_RELAXED);
    }
    return e;
}

/* t0 is read under the bucket lock: an unlock that found the bucket empty (the hint)
 * read it before this registration, so it released before t0 and no time of this wait
 * is owed by it (no time moved to a later unlock); one that found it non-empty charges
 * under the same lock, before or after, never in between. */
static bool begin(const void *m, uint64_t *t0, bool clock, int *mark, uint32_t n)
{
    struct bucket *t = table_get(true);
    if (!t) {
        if (clock)
            *t0 = cp_now_ns();
        return false;
    }
    /* (no table: no mark either; nothing would be charged) */
    struct bucket *b = bucket_at(t, m);
    uintptr_t a = (uintptr_t)m;
    bucket_lock(b);
    if (clock)
        *t0 = cp_now_ns();
    struct entry *e = lookup(b, a);
    if (!e)
        e = new_entry(b, a);
    if (e) {
        set_nwait(e, e->nwait + n);
        e->fresh += n;
        e->sum_eff += (unsigned __int128)*t0 * n;
    }
    if (mark) { /* after the registration, before the bucket is unlocked: see contention.h */
        int one = 1;
        __atomic_compare_exchange_n(mark, &one, 2, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    }
    bucket_unlock(b);
    return e != NULL;
}

bool cp_contention_begin(const void *m, uint64_t *t0, int *mark)
{
    return begin(m, t0, true, mark, 1);
}

bool cp_contention_begin_at(const void *m, uint64_t t0)
{
    return begin(m, &t0, false, NULL, 1);
}

/* A registration on m that started at t0 ends (its bucket locked). One no charge came after
 * (last < t0: a charge's clock is read after the registrations it counts) is counted by none. */
static void end_locked(struct bucket *b, const void *m, uint64_t t0)
{
    struct entry *e = lookup(b, (uintptr_t)m);
    if (e) {
        uint64_t eff = e->last > t0 ? e->last : t0;
        if (e->last < t0 && e->fresh)
            e->fresh--;
        set_nwait(e, e->nwait - 1);
        if (e->nwait == 0) { /* the last waiter leaves: the entry is free again */
            __atomic_store_n(&e->addr, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&b->used, b->used - 1, __ATOMIC_RELAXED);
        } else {
            e->sum_eff -= eff;
        }
    }
}

void cp_contention_end(const void *m, uint64_t t0, uint64_t t1)
{
    (void)t1;
    struct bucket *b = bucket_of(m);
    if (!b)
        return;
    bucket_lock(b);
    end_locked(b, m, t0);
    bucket_unlock(b);
}

/* m's charge, its bucket locked; now == 0: read the clock only if somebody waits.
 * *waits: the waits it counts (those no earlier charge counted). */
static uint64_t charge_locked(struct bucket *b, const void *m, uint64_t now, uint64_t *now_out,
                              uint32_t *waits)
{
    uint64_t c = 0;
    struct entry *e = lookup(b, (uintptr_t)m);
    if (e) {
        if (!now)
            now = cp_now_ns();
        unsigned __int128 total = (unsigned __int128)e->nwait * now;
        c = total > e->sum_eff ? (uint64_t)(total - e->sum_eff) : 0;
        e->sum_eff = total;
        e->last = now;
        *now_out = now;
        *waits = e->fresh;
        e->fresh = 0;
    }
    return c;
}

static uint64_t charge(const void *m, uint64_t now, uint64_t *now_out, uint32_t *waits)
{
    *now_out = 0;
    *waits = 0;
    struct bucket *b = bucket_of(m);
    /* The unlocked read of used is a hint: a waiter that registers just after it is
     * charged at the next unlock, since its effective start is its own start time. The
     * caller saw the waiter's mark in the lock word first (acquire: ordered before). */
    if (!b || __atomic_load_n(&b->used, __ATOMIC_ACQUIRE) == 0)
        return 0;
    bucket_lock(b);
    uint64_t c = charge_locked(b, m, now, now_out, waits);
    bucket_unlock(b);
    return c;
}

uint64_t cp_contention_charge(const void *m, uint64_t *now_out, uint32_t *waits)
{
    return charge(m, 0, now_out, waits);
}

uint64_t cp_contention_charge_at(const void *m, uint64_t now)
{
    uint64_t used;
    uint32_t waits;
    return charge(m, now, &used, &waits);
}

uint64_t cp_contention_charge_counted_at(const void *m, uint64_t now, uint32_t *waits)
{
    uint64_t used;
    return charge(m, now, &used, waits);
}

/* ---- unlocks that decide under the table's lock: an rwlock's leaving readers ---------
 * A reader's unlock releases the rwlock (hands it to a waiting writer) only if it is the
 * last reader, which it can tell only from the reader count read before its own
 * decrement, glibc's: two readers leaving at once would each see the other, and neither
 * be charged. So while an rwlock has waits in progress its leaving readers take turns on
 * its bucket lock: each reads the count and, if it is not the last, decrements it (one
 * compare-and-swap in glibc) before the next one reads; the last one is charged, under
 * the lock, and releases it before its real unlock (which may wake the writer). A reader
 * that found no waits (the hint) does not take part: a writer registering meanwhile is
 * one whose wait began after that reader's look, so at most that reader's few
 * instructions of it go uncharged. */
void *cp_contention_hold(const void *m)
{
    struct bucket *b = bucket_of(m);
    if (!b || __atomic_load_n(&b->used, __ATOMIC_ACQUIRE) == 0)
        return NULL;
    bucket_lock(b);
    if (!lookup(b, (uintptr_t)m)) {
        bucket_unlock(b);
        return NULL;
    }
    return b;
}

uint64_t cp_contention_charge_held(void *held, const void *m, uint64_t *now_out, uint32_t *waits)
{
    *now_out = 0;
    *waits = 0;
    return charge_locked(held, m, 0, now_out, waits);
}

void cp_contention_unhold(void *held)
{
    bucket_unlock((struct bucket *)held);
}

uint32_t cp_contention_entries(void)
{
    struct bucket *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    uint32_t n = 0;
    for (unsigned i = 0; t && i < BUCKETS; i++)
        n += __atomic_load_n(&t[i].used, __ATOMIC_RELAXED) +
             __atomic_load_n(&t[i].cused, __ATOMIC_RELAXED);
    return n;
}

/* ---- condition variables: the mutex re-acquisition of the woken ------------------------
 *
 * glibc re-locks the mutex inside pthread_cond_wait, out of our sight; Go charges that
 * re-lock to the unlock that releases it. So: a waiter going to sleep on c with mutex m
 * is counted in c's entry, which lives in m's bucket (its address tagged with the low
 * bit, keyed by (c, m)). A signal (broadcast: all) moves sleepers to "pending" and
 * registers each on m as a mutex waiter from the signal's time, under that same bucket
 * lock: the unlock of m that hands it over (the signaller's, usually) is charged the
 * re-acquisition as any contention. A waiter returning from the wait ends one pending
 * registration (or, if none is pending, a timeout: it leaves the sleepers). Every
 * registration is ended exactly once, by whichever waiter returns first: which waiter it
 * was is not known (a timed-out waiter may end a signalled one's), so the charge is exact
 * in total when signals wake waiters, approximate per waiter. The re-lock is taken to
 * start at the signal (the woken thread's own start is not seen): an unlock by a third
 * thread that hands m to a waiter woken after the signaller released m is charged from
 * the signal.
 *
 * Why in m's bucket: all of a wait's bookkeeping runs inside the program's critical
 * section (the sleeper, the signaller and the woken hold m), so each cache line it
 * writes there lengthens the section by a transfer from the core that wrote it last.
 * With c's entry beside m's, the sleeper (its release's charge and its count), the
 * signal (the move and the registration) and the woken (its end) each take one lock on
 * one line, the line m's own contention uses: two fewer locked lines a wake-up than
 * with a table of their own (bench/progs/workqueue, BENCHMARKS.md). A signal knows only
 * c: it finds m in the condition-variable map below, which the sleepers write only
 * when c's mutex is new to it, so in steady state the signal only reads it.
 *
 * The map: c -> m, a set of WAYS per c's hash, each pair written under its set's spin
 * lock (a leaf) and read unlocked (c, then m, then c again: a pair replaced meanwhile is
 * not taken). A full set replaces a pair in turn; a signal that does not find c (its
 * pair replaced, or the map could not be mapped) registers nothing, and its woken waiter
 * ends no registration (it is taken for a timeout): that re-acquisition is charged to
 * nobody, as one whose bucket was full. */

#define CBUCKETS (1u << 10)

struct cpair {
    uintptr_t c; /* 0 = free */
    const void *m;
};

struct cset {
    unsigned char lock;
    unsigned char next; /* the way a full set replaces next */
    struct cpair e[WAYS];
};

static struct cset *cset_of(const void *c, bool create)
{
    struct cset *t = __atomic_load_n(&ctable, __ATOMIC_ACQUIRE);
    if (!t) {
        if (!create)
            return NULL;
        /* (the arena's: in a sandbox it comes from memory mapped before the filter) */
        void *p = cp_mmap_anon(sizeof(struct cset) * CBUCKETS);
        if (!p)
            return NULL;
        void *expect = NULL;
        if (!__atomic_compare_exchange_n(&ctable, &expect, p, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            cp_munmap_anon(p, sizeof(struct cset) * CBUCKETS);
        t = __atomic_load_n(&ctable, __ATOMIC_ACQUIRE);
    }
    uint64_t x = (uint64_t)(uintptr_t)c * 0x9E3779B97F4A7C15ull;
    return &t[(x >> 40) & (CBUCKETS - 1)];
}

/* c's mutex as the map has it, NULL if it has none. */
static const void *map_get(const void *c)
{
    struct cset *s = cset_of(c, false);
    if (!s)
        return NULL;
    for (unsigned i = 0; i < WAYS; i++) {
        if (__atomic_load_n(&s->e[i].c, __ATOMIC_ACQUIRE) != (uintptr_t)c)
            continue;
        const void *m = __atomic_load_n(&s->e[i].m, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->e[i].c, __ATOMIC_ACQUIRE) == (uintptr_t)c)
            return m;
    }
    return NULL;
}

/* The map says c -> m (a sleeper's, before it sleeps). Unlocked when it already does. */
static void map_put(const void *c, const void *m)
{
    if (map_get(c) == m)
        return;
    struct cset *s = cset_of(c, true);
    if (!s)
        return;
    spin_byte_lock(&s->lock);
    struct cpair *p = NULL;
    for (unsigned i = 0; i < WAYS && !p; i++)
        if (s->e[i].c == (uintptr_t)c)
            p = &s->e[i];
    for (unsigned i = 0; i < WAYS && !p; i++)
        if (s->e[i].c == 0)
            p = &s->e[i];
    if (!p) {
        p = &s->e[s->next++ % WAYS];
        __atomic_store_n(&p->c, 0, __ATOMIC_RELEASE); /* readers of the old pair let go */
    }
    __atomic_store_n(&p->m, m, __ATOMIC_RELEASE);
    __atomic_store_n(&p->c, (uintptr_t)c, __ATOMIC_RELEASE);
    spin_byte_unlock(&s->lock);
}

/* (c, m)'s entry in b, bucket lock held. */
static struct entry *clookup(struct bucket *b, const void *c, const void *m)
{
    uintptr_t a = (uintptr_t)c | 1;
    for (unsigned i = 0; i < WAYS; i++)
        if (b->e[i].addr == a && b->e[i].m == m)
            return &b->e[i];
    return NULL;
}

/* Has c an entry in b with sleepers no signal has woken yet? Read unlocked (addr and
 * nwait only, written with atomic stores), as the `used` hint is. */
static bool cond_hint(const struct bucket *b, const void *c)
{
    uintptr_t a = (uintptr_t)c | 1;
    for (unsigned i = 0; i < WAYS; i++)
        if (__atomic_load_n(&b->e[i].addr, __ATOMIC_ACQUIRE) == a &&
            __atomic_load_n(&b->e[i].nwait, __ATOMIC_RELAXED) != 0)
            return true;
    return false;
}

static void cfree_entry(struct bucket *b, struct entry *e)
{
    __atomic_store_n(&e->addr, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&b->cused, b->cused - 1, __ATOMIC_RELAXED);
}

bool cp_cond_sleep(const void *c, const void *m, bool release, uint64_t *charged, uint64_t *now,
                   uint32_t *waits)
{
    *charged = 0;
    *now = 0;
    *waits = 0;
    map_put(c, m);
    /* (a sleeper registers: the table is made here too if no mutex wait made it yet; a
     * program whose first contention is a condition wait lost its first rounds' sleeps) */
    struct bucket *t = table_get(true);
    if (!t)
        return false;
    struct bucket *b = bucket_at(t, m);
    bucket_lock(b);
    if (release)
        *charged = charge_locked(b, m, 0, now, waits);
    struct entry *e = clookup(b, c, m);
    if (!e && (e = lookup(b, 0)) != NULL) {
        e->pending = 0;
        e->last = 0;
        e->m = m;
        set_nwait(e, 0);
        __atomic_store_n(&e->addr, (uintptr_t)c | 1, __ATOMIC_RELEASE);
        __atomic_store_n(&b->cused, b->cused + 1, __ATOMIC_RELAXED);
    }
    if (e)
        set_nwait(e, e->nwait + 1);
    bucket_unlock(b);
    return e != NULL;
}

void cp_cond_signal(const void *c, bool all)
{
    const void *m = map_get(c);
    struct bucket *b = m ? bucket_of(m) : NULL;
    if (!b || __atomic_load_n(&b->cused, __ATOMIC_ACQUIRE) == 0)
        return;
    /* Unlocked, as the hint is: no sleeper no signal has woken yet, nothing to register,
     * and m's bucket line is only read. A signaller holding m (the usual way) reads after
     * every sleeper that went to sleep under it; one that does not races with glibc's
     * own enqueueing just as much. */
    if (!cond_hint(b, c))
        return;
    bucket_lock(b);
    struct entry *e = clookup(b, c, m);
    uint32_t k = !e ? 0 : all ? e->nwait : e->nwait ? 1 : 0;
    if (k) {
        /* registered on m under the same lock: pending counts exactly the registrations */
        struct entry *me = lookup(b, (uintptr_t)m);
        if (!me)
            me = new_entry(b, (uintptr_t)m);
        if (me) {
            uint64_t now = cp_now_ns();
            set_nwait(me, me->nwait + k);
            me->fresh += k;
            me->sum_eff += (unsigned __int128)now * k;
            set_nwait(e, e->nwait - k);
            e->pending += k;
            e->last = now;
        }
    }
    bucket_unlock(b);
}

void cp_cond_woke(const void *c, const void *m, uint64_t now)
{
    (void)now;
    struct bucket *b = bucket_of(m);
    if (!b)
        return;
    bucket_lock(b);
    struct entry *e = clookup(b, c, m);
    if (e) {
        if (e->pending) {
            e->pending--;
            end_locked(b, m, e->last);
        } else if (e->nwait) {
            set_nwait(e, e->nwait - 1);
        }
        if (!e->pending && !e->nwait)
            cfree_entry(b, e);
    }
    bucket_unlock(b);
}
