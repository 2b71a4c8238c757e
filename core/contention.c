/*
 * contention.c — Go's block/mutex sampling and the mutex waiter table (see contention.h).
 *
 * Contexts: the constructor (cp_contention_init); hooks, on the contended slow paths (a
 * thread about to sleep on a mutex or rwlock, the same thread after it got it, an unlock
 * whose mutex word says a waiter may exist), and, one unlocked read of a bucket hint
 * each, an rwlock unlock and a condition-variable signal; the fork child's atfork
 * handler, or newproc.c in a child no handler saw (both tables start again empty). Never
 * on the uncontended mutex path: there the shim does not call in at all.
 *
 * The waiter table. An entry per address (mutex, rwlock) that has waits in progress, and
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
 * take part, a race of a few instructions, wakes the writer holding it), so the hooks
 * stay async-signal-safe as far as the real functions are. A bucket's
 * `used` count is read unlocked as a hint by unlocks: 0 means no waits there, and the
 * lock is not taken.
 * Locks: a byte spin lock per waiter-table bucket, leaves (docs/ARCHITECTURE.md, "Locks").
 */
#include "contention.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#include "arena.h"
#include "log.h"

/* ---- sampling ---------------------------------------------------------------------- */

bool cp_block_sample(uint64_t d, uint64_t rate, uint64_t rnd, uint64_t *count_q16, uint64_t *delay)
{
    if (rate == 0)
        return false;
    if (d == 0)
        d = 1; /* a zero-length wait still happened; Go's cycles are never 0 either */
    if (d < rate) {
        /* kept with probability d/rate: Go's `cheaprand64() % rate > cycles` rejects */
        if (rnd % rate > d)
            return false;
        /* counts rate/d events of rate ns each: E[count] = 1, E[delay] = d */
        *count_q16 = (uint64_t)(((unsigned __int128)rate * CP_Q16) / d);
        *delay = rate;
        return true;
    }
    *count_q16 = CP_Q16;
    *delay = d;
    return true;
}

bool cp_mutex_sample(uint64_t d, uint64_t fraction, uint64_t rnd, uint64_t *count_q16,
                     uint64_t *delay)
{
    if (fraction == 0 || rnd % fraction != 0)
        return false;
    unsigned __int128 c = (unsigned __int128)fraction * CP_Q16;
    unsigned __int128 t = (unsigned __int128)fraction * d;
    *count_q16 = c > UINT64_MAX ? UINT64_MAX : (uint64_t)c;
    *delay = t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
    return true;
}

uint64_t cp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the waiter table -------------------------------------------------------------- */

#define BUCKETS (1u << 12) /* 4096 x 400 B = 1.6 MiB of address space, touched where used */
#define WAYS 8

struct entry {
    uintptr_t addr;            /* 0 = free */
    uint32_t nwait;            /* > 0 whenever addr != 0 outside the bucket lock */
    uint64_t last;             /* time of the last charge */
    unsigned __int128 sum_eff; /* sum of the waiters' effective start times */
};

struct bucket {
    unsigned char lock; /* spin lock over everything below */
    uint32_t used;      /* entries with addr != 0; written under lock, read unlocked as a hint */
    struct entry e[WAYS];
};

static struct bucket *table; /* immutable after cp_contention_init */

static struct cbucket *ctable; /* condition variables (below): mapped at first use */

static void *map_table(void)
{
    void *p = mmap(NULL, sizeof(struct bucket) * BUCKETS, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The fork child has one thread and no wait in progress; a bucket lock held by another
 * thread at the fork would be held for ever. Both tables start again empty. */
void cp_contention_fork_child(void)
{
    if (!__atomic_load_n(&table, __ATOMIC_ACQUIRE))
        return; /* never set up (newproc.c calls this whatever the shim did) */
    /* The old mappings stay: a fork from a signal handler may have interrupted this very
     * thread inside a bucket, which it will unlock after the handler returns. Only the
     * pages touched cost anything. */
    __atomic_store_n(&table, map_table(), __ATOMIC_RELEASE); /* NULL: mutex profile off */
    __atomic_store_n(&ctable, NULL, __ATOMIC_RELEASE);
}

int cp_contention_init(void)
{
    if (__atomic_load_n(&table, __ATOMIC_ACQUIRE))
        return 0;
    void *p = map_table();
    if (!p)
        return -errno;
    void *expect = NULL;
    /* release: publishes the zeroed mapping to the acquire load in bucket_of() */
    if (!__atomic_compare_exchange_n(&table, &expect, p, false, __ATOMIC_RELEASE,
                                     __ATOMIC_ACQUIRE))
        munmap(p, sizeof(struct bucket) * BUCKETS);
    else
        pthread_atfork(NULL, NULL, cp_contention_fork_child);
    return 0;
}

static struct bucket *bucket_of(const void *m)
{
    struct bucket *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (!t)
        return NULL;
    uint64_t x = (uint64_t)(uintptr_t)m * 0x9E3779B97F4A7C15ull;
    return &t[(x >> 40) & (BUCKETS - 1)];
}

static void spin_byte_lock(unsigned char *l)
{
    while (__atomic_test_and_set(l, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
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

/* t0 is read under the bucket lock: an unlock that found the bucket empty (the hint)
 * read it before this registration, so it released before t0 and no time of this wait
 * is owed by it (no time moved to a later unlock); one that found it non-empty charges
 * under the same lock, before or after, never in between. */
static bool begin(const void *m, uint64_t *t0, bool clock, int *mark, uint32_t n)
{
    struct bucket *b = bucket_of(m);
    if (!b) {
        if (clock)
            *t0 = cp_now_ns();
        return false;
    }
    /* (no table: no mark either; nothing would be charged) */
    uintptr_t a = (uintptr_t)m;
    bucket_lock(b);
    if (clock)
        *t0 = cp_now_ns();
    struct entry *e = lookup(b, a);
    if (!e && (e = lookup(b, 0)) != NULL) {
        *e = (struct entry){.addr = a};
        __atomic_store_n(&b->used, b->used + 1, __ATOMIC_RELAXED);
    }
    if (e) {
        e->nwait += n;
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

void cp_contention_end(const void *m, uint64_t t0, uint64_t t1)
{
    (void)t1;
    struct bucket *b = bucket_of(m);
    if (!b)
        return;
    bucket_lock(b);
    struct entry *e = lookup(b, (uintptr_t)m);
    if (e) {
        uint64_t eff = e->last > t0 ? e->last : t0;
        if (--e->nwait == 0) { /* the last waiter leaves: the entry is free again */
            e->addr = 0;
            __atomic_store_n(&b->used, b->used - 1, __ATOMIC_RELAXED);
        } else {
            e->sum_eff -= eff;
        }
    }
    bucket_unlock(b);
}

/* m's charge, its bucket locked; now == 0: read the clock only if somebody waits. */
static uint64_t charge_locked(struct bucket *b, const void *m, uint64_t now, uint64_t *now_out)
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
    }
    return c;
}

static uint64_t charge(const void *m, uint64_t now, uint64_t *now_out)
{
    *now_out = 0;
    struct bucket *b = bucket_of(m);
    /* The unlocked read of used is a hint: a waiter that registers just after it is
     * charged at the next unlock, since its effective start is its own start time. The
     * caller saw the waiter's mark in the lock word first (acquire: ordered before). */
    if (!b || __atomic_load_n(&b->used, __ATOMIC_ACQUIRE) == 0)
        return 0;
    bucket_lock(b);
    uint64_t c = charge_locked(b, m, now, now_out);
    bucket_unlock(b);
    return c;
}

uint64_t cp_contention_charge(const void *m, uint64_t *now_out)
{
    return charge(m, 0, now_out);
}

uint64_t cp_contention_charge_at(const void *m, uint64_t now)
{
    uint64_t used;
    return charge(m, now, &used);
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

uint64_t cp_contention_charge_held(void *held, const void *m, uint64_t *now_out)
{
    *now_out = 0;
    return charge_locked(held, m, 0, now_out);
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
        n += __atomic_load_n(&t[i].used, __ATOMIC_RELAXED);
    return n;
}

/* ---- condition variables: the mutex re-acquisition of the woken ------------------------
 *
 * glibc re-locks the mutex inside pthread_cond_wait, out of our sight; Go charges that
 * re-lock to the unlock that releases it. So: a waiter going to sleep on c with mutex m
 * is counted in c's entry (a second table, its own buckets: a signal takes c's bucket and
 * then m's, and nothing takes them the other way round, so no deadlock). A signal
 * (broadcast: all) moves sleepers to "pending" and registers each on m as a mutex waiter
 * from the signal's time: the unlock of m that hands it over (the signaller's, usually)
 * is charged the re-acquisition as any contention. A waiter returning from the wait ends
 * one pending registration (or, if none is pending, a timeout: it leaves the sleepers).
 * Every registration is ended exactly once, by whichever waiter returns first: which
 * waiter it was is not known (a timed-out waiter may end a signalled one's), so the
 * charge is exact in total when signals wake waiters, approximate per waiter. The re-lock
 * is taken to start at the signal (the woken thread's own start is not seen): an unlock
 * by a third thread that hands m to a waiter woken after the signaller released m is
 * charged from the signal. */

#define CBUCKETS (1u << 10)

struct centry {
    uintptr_t addr;  /* the condition variable; 0 = free */
    const void *m;   /* its mutex, as the last sleeper said */
    uint32_t sleepers, pending;
    uint64_t tsig;   /* the last signal's time */
};

struct cbucket {
    unsigned char lock;
    uint32_t used; /* hint, as bucket.used */
    struct centry e[WAYS];
};


static struct cbucket *cbucket_of(const void *c, bool create)
{
    struct cbucket *t = __atomic_load_n(&ctable, __ATOMIC_ACQUIRE);
    if (!t) {
        if (!create)
            return NULL;
        /* (the arena's: in a sandbox it comes from memory mapped before the filter) */
        void *p = cp_mmap_anon(sizeof(struct cbucket) * CBUCKETS);
        if (!p)
            return NULL;
        void *expect = NULL;
        if (!__atomic_compare_exchange_n(&ctable, &expect, p, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            cp_munmap_anon(p, sizeof(struct cbucket) * CBUCKETS);
        t = __atomic_load_n(&ctable, __ATOMIC_ACQUIRE);
    }
    uint64_t x = (uint64_t)(uintptr_t)c * 0x9E3779B97F4A7C15ull;
    return &t[(x >> 40) & (CBUCKETS - 1)];
}

static struct centry *clookup(struct cbucket *b, uintptr_t a)
{
    for (unsigned i = 0; i < WAYS; i++)
        if (b->e[i].addr == a)
            return &b->e[i];
    return NULL;
}

bool cp_cond_sleep(const void *c, const void *m)
{
    struct cbucket *b = cbucket_of(c, true);
    if (!b)
        return false;
    bucket_lock(b);
    struct centry *e = clookup(b, (uintptr_t)c);
    if (!e && (e = clookup(b, 0)) != NULL) {
        *e = (struct centry){.addr = (uintptr_t)c};
        __atomic_store_n(&b->used, b->used + 1, __ATOMIC_RELAXED);
    }
    if (e) {
        e->m = m;
        e->sleepers++;
    }
    bucket_unlock(b);
    return e != NULL;
}

void cp_cond_signal(const void *c, bool all)
{
    uint64_t now;
    struct cbucket *b = cbucket_of(c, false);
    if (!b || __atomic_load_n(&b->used, __ATOMIC_ACQUIRE) == 0)
        return;
    bucket_lock(b);
    struct centry *e = clookup(b, (uintptr_t)c);
    uint32_t k = !e ? 0 : all ? e->sleepers : e->sleepers ? 1 : 0;
    /* registered on m under c's lock: pending counts exactly the registrations made */
    if (k && begin(e->m, &now, true, NULL, k)) {
        e->sleepers -= k;
        e->pending += k;
        e->tsig = now;
    }
    bucket_unlock(b);
}

void cp_cond_woke(const void *c, uint64_t now)
{
    struct cbucket *b = cbucket_of(c, false);
    if (!b)
        return;
    const void *m = NULL;
    uint64_t tsig = 0;
    bucket_lock(b);
    struct centry *e = clookup(b, (uintptr_t)c);
    if (e) {
        if (e->pending) {
            e->pending--;
            m = e->m;
            tsig = e->tsig;
        } else if (e->sleepers) {
            e->sleepers--;
        }
        if (!e->pending && !e->sleepers) {
            e->addr = 0;
            __atomic_store_n(&b->used, b->used - 1, __ATOMIC_RELAXED);
        }
    }
    bucket_unlock(b);
    if (m)
        cp_contention_end(m, tsig, now);
}
