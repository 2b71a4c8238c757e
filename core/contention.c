/*
 * contention.c — Go's block/mutex sampling and the mutex waiter table (see contention.h).
 *
 * Contexts: hook, on the contended slow path only (a thread about to sleep on a mutex,
 * the same thread after it got the mutex, and an unlock whose mutex word says a waiter
 * may exist). Never on the uncontended path: there the shim does not call in at all.
 *
 * The waiter table. One slot per contended mutex address, open addressing, in an mmap'd
 * array that is never freed (a slot keeps its address after the waiters leave, so a slot
 * is never deleted and probing needs no tombstones; a destroyed mutex's slot is harmless
 * with no waiters). Each slot holds, for the threads currently waiting on that mutex:
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
 * Each slot has a one-byte spin lock, held for a handful of instructions. It is only ever
 * taken by threads that are about to sleep on (or have just released) a contended mutex,
 * so it never lengthens an uncontended path.
 */
#include "contention.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>

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

#define SLOTS (1u << 16) /* 2 MiB of address space, touched only where used */
#define PROBE 64

struct slot {
    uintptr_t addr;          /* atomic: 0 = free; set once by CAS, never cleared */
    unsigned char lock;      /* spin lock over the fields below */
    uint32_t nwait;          /* guarded by lock; read unlocked as a hint */
    unsigned __int128 sum_eff; /* guarded by lock */
    uint64_t last;           /* guarded by lock */
};

static struct slot *table; /* immutable after cp_contention_init */

int cp_contention_init(void)
{
    if (__atomic_load_n(&table, __ATOMIC_ACQUIRE))
        return 0;
    void *p = mmap(NULL, sizeof(struct slot) * SLOTS, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    void *expect = NULL;
    /* release: publishes the zeroed mapping to the acquire load in find() */
    if (!__atomic_compare_exchange_n(&table, &expect, p, false, __ATOMIC_RELEASE,
                                     __ATOMIC_ACQUIRE))
        munmap(p, sizeof(struct slot) * SLOTS);
    return 0;
}

static uint32_t hash_addr(uintptr_t a)
{
    uint64_t x = (uint64_t)a * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 40) & (SLOTS - 1);
}

/* The slot of m, inserting it if create; NULL if absent (or the probe window is full). */
static struct slot *find(const void *m, bool create)
{
    struct slot *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (!t)
        return NULL;
    uintptr_t a = (uintptr_t)m;
    uint32_t h = hash_addr(a);
    for (unsigned i = 0; i < PROBE; i++) {
        struct slot *s = &t[(h + i) & (SLOTS - 1)];
        uintptr_t cur = __atomic_load_n(&s->addr, __ATOMIC_ACQUIRE);
        if (cur == a)
            return s;
        if (cur == 0) {
            if (!create)
                return NULL;
            if (__atomic_compare_exchange_n(&s->addr, &cur, a, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE) ||
                cur == a)
                return s;
        }
    }
    return NULL;
}

static void slot_lock(struct slot *s)
{
    while (__atomic_test_and_set(&s->lock, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&s->lock, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
}

static void slot_unlock(struct slot *s)
{
    __atomic_clear(&s->lock, __ATOMIC_RELEASE);
}

bool cp_contention_begin(const void *m, uint64_t t0)
{
    struct slot *s = find(m, true);
    if (!s)
        return false;
    slot_lock(s);
    __atomic_store_n(&s->nwait, s->nwait + 1, __ATOMIC_RELAXED);
    s->sum_eff += t0;
    slot_unlock(s);
    return true;
}

void cp_contention_end(const void *m, uint64_t t0, uint64_t t1)
{
    (void)t1;
    struct slot *s = find(m, false);
    if (!s)
        return;
    slot_lock(s);
    if (s->nwait > 0) {
        uint64_t eff = s->last > t0 ? s->last : t0;
        __atomic_store_n(&s->nwait, s->nwait - 1, __ATOMIC_RELAXED);
        s->sum_eff = s->nwait ? s->sum_eff - eff : 0;
    }
    slot_unlock(s);
}

/* now == 0: read the clock only if somebody waits. */
static uint64_t charge(const void *m, uint64_t now, uint64_t *now_out)
{
    *now_out = 0;
    struct slot *s = find(m, false);
    /* The unlocked read of nwait is a hint: a waiter that registers just after it is
     * charged at the next unlock, since its effective start is its own start time. */
    if (!s || __atomic_load_n(&s->nwait, __ATOMIC_RELAXED) == 0)
        return 0;
    slot_lock(s);
    uint64_t charge = 0;
    if (s->nwait) {
        if (!now)
            now = cp_now_ns();
        unsigned __int128 total = (unsigned __int128)s->nwait * now;
        charge = total > s->sum_eff ? (uint64_t)(total - s->sum_eff) : 0;
        s->sum_eff = total;
        s->last = now;
        *now_out = now;
    }
    slot_unlock(s);
    return charge;
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
