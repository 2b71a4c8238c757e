/*
 * handover.c — the mutex profile's truth, measured by the program itself (issue 31).
 * Go's truth: each unlock that releases a lock is charged, at the moment it hands the
 * lock over (the holder reads the clock just before unlocking), the waiting of every
 * thread then waiting, since the previous release or since it began waiting. The program
 * logs every wait (lock call, return) and every release (time, site) and computes that at
 * the end; wake-up latency after a hand-over is no one's contention, as in Go.
 *
 *   handover SHORT_NS LONG_NS N   N critical sections on fresh mutexes, each waited on
 *                                 by one sleeping waiter, alternately held LONG_NS
 *                                 (released at unlock_long) and SHORT_NS (unlock_short);
 *                                 a wait the machine's load distorted is released at
 *                                 unlock_odd instead ("chains" below)
 *   recursive ROUNDS HOLD_NS      two threads, each locking a recursive mutex three deep
 *                                 (unlock_inner, unlock_middle release nothing; only
 *                                 unlock_outer does)
 *   distinct N HOLD_NS [EACH_NS]  one waiter contends on N distinct mutexes in turn, each
 *                                 held EACH_NS (default 0) once the waiter sleeps on it
 *                                 (unlock_distinct, or unlock_odd as above), then on one
 *                                 more held HOLD_NS (unlock_last)
 *   rwlock ROUNDS HOLD_NS         a writer holding while two readers wait (unlock_writer),
 *                                 then two readers holding while the writer waits: the
 *                                 first reader leaves (unlock_reader_first), the last one
 *                                 releases the writer (unlock_reader_last)
 *   rwpair ROUNDS HOLD_NS         two readers holding while the writer waits release at
 *                                 the same instant (unlock_reader_pair: the last of the
 *                                 two hands the lock over)
 *   cond ROUNDS HOLD_NS           three threads sleep on a condition variable; the main
 *                                 thread broadcasts holding the mutex, holds it HOLD_NS
 *                                 more and releases it at unlock_signaller: the three
 *                                 re-acquisitions, each from the broadcast to the
 *                                 hand-over, are charged there (Go: Cond.Wait re-locks
 *                                 with Mutex.Lock)
 *
 * Prints "site contentions delay_ns sum_of_squared_delays lower_ns unsure_ns
 * sum_of_squared_unsure" lines, one per unlock site (and, for the chains, a "waiter" line:
 * the waiter's own waits, the block profile's truth) (sums of squares 0 for rwlock, whose
 * program does not keep each charge). delay_ns
 * is the truth by the waiters' own clocks, read just before their lock calls; lower_ns,
 * where it differs, a bound from below: the chains' holder sees the waiter's mark, so the
 * waiter was registered (and waiting, in Go's sense: visible to the unlocker) by then. The
 * profile's charge lies between them, + the few instructions from the holder's clock read
 * to the unlock hook's; unsure_ns is what those may have been stretched by (chains:
 * "the hand-over"), with the sum of its squares.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    S_SHORT,
    S_LONG,
    S_INNER,
    S_MIDDLE,
    S_OUTER,
    S_DISTINCT,
    S_LAST,
    S_WRITER,
    S_RFIRST,
    S_RLAST,
    S_SIGNALLER,
    S_ODD,
    S_RPAIR,
    NSITES
};
static const char *names[NSITES] = {"unlock_short",       "unlock_long",      "unlock_inner",
                                    "unlock_middle",      "unlock_outer",     "unlock_distinct",
                                    "unlock_last",        "unlock_writer",    "unlock_reader_first",
                                    "unlock_reader_last", "unlock_signaller", "unlock_odd",
                                    "unlock_reader_pair"};
static uint64_t truth[NSITES], count[NSITES], lower[NSITES], unsure[NSITES];
static double unsure_sq[NSITES];
static double sq[NSITES]; /* sum of the squared charges: the sampling variance */
/* The chains' waiter's own waits, its clock before and after each lock call (the block
 * profile's truth at chain_waiter): how many, their sum and the sum of their squares,
 * printed as the line "waiter N SUM SQ SUM 0 0". */
static uint64_t waiter_n, waiter_ns;
static double waiter_sq;

static uint64_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Holds of 0.5 ms or more sleep most of it: on a loaded machine a thread spinning 5 ms
 * is preempted, often for longer than the hold, and a sleeper only waits for its CPU
 * once, at the end (this machine's two cores are shared with other builds). */
static void hold(uint64_t ns)
{
    uint64_t end = now() + ns;
    if (ns >= 500000) {
        uint64_t wake = end - 100000;
        struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
            ;
    }
    while (now() < end)
        ;
}

/* the log: releases (appended by the holder, before it releases: in release order) and
 * waits (appended by each waiter) */
#define MAXLOG 100000
static struct rel {
    uint64_t t;
    int site;
} rels[MAXLOG];
static struct waitlog {
    uint64_t t0, t1;
} waits[MAXLOG];
static int nrels, nwaits;

static void log_release(int site)
{
    int k = __atomic_fetch_add(&nrels, 1, __ATOMIC_RELAXED);
    if (k < MAXLOG)
        rels[k] = (struct rel){now(), site};
}

static void log_wait(uint64_t t0, uint64_t t1)
{
    int k = __atomic_fetch_add(&nwaits, 1, __ATOMIC_RELAXED);
    if (k < MAXLOG)
        waits[k] = (struct waitlog){t0, t1};
}

/* Go's charge at each release: the waiters then waiting, each since max(its start, the
 * previous release). */
static void tally(void)
{
    int nw = nwaits < MAXLOG ? nwaits : MAXLOG, nr = nrels < MAXLOG ? nrels : MAXLOG;
    for (int u = 0; u < nr; u++) {
        uint64_t h = rels[u].t, prev = u ? rels[u - 1].t : 0;
        for (int w = 0; w < nw; w++)
            if (waits[w].t0 < h && waits[w].t1 > h) {
                uint64_t d = h - (waits[w].t0 > prev ? waits[w].t0 : prev);
                truth[rels[u].site] += d;
                sq[rels[u].site] += (double)d * d;
                count[rels[u].site]++;
            }
    }
}

#define UNLOCK_AT(fn, site)                                                                        \
    static __attribute__((noinline)) void fn(pthread_mutex_t *x, int releases)                     \
    {                                                                                              \
        if (releases)                                                                              \
            log_release(site);                                                                     \
        pthread_mutex_unlock(x);                                                                   \
        __asm__ volatile("" ::: "memory");                                                         \
    }
UNLOCK_AT(unlock_short, S_SHORT)
UNLOCK_AT(unlock_long, S_LONG)
UNLOCK_AT(unlock_inner, S_INNER)
UNLOCK_AT(unlock_middle, S_MIDDLE)
UNLOCK_AT(unlock_outer, S_OUTER)
UNLOCK_AT(unlock_distinct, S_DISTINCT)
UNLOCK_AT(unlock_last, S_LAST)
UNLOCK_AT(unlock_odd, S_ODD)

/* ---- handover ---- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static int finished; /* threads done with their sections */
static int in_lock;  /* threads inside their lock call */

/* Whatever the scheduler does, every critical section has a waiter: the holder starts
 * its hold once the other thread has entered its lock call. */
static void until_waiter(void)
{
    while (!__atomic_load_n(&in_lock, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&finished, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
}

static void lock_logged(pthread_mutex_t *m)
{
    __atomic_add_fetch(&in_lock, 1, __ATOMIC_ACQ_REL);
    uint64_t t0 = now();
    pthread_mutex_lock(m);
    log_wait(t0, now());
    __atomic_sub_fetch(&in_lock, 1, __ATOMIC_ACQ_REL);
}

/* ---- recursive ---- */
static pthread_mutex_t rmu;
static int rounds;
static uint64_t rhold;

/* The second thread to arrive makes its first lock call only once the first holds the
 * mutex. Both start together (after the flusher thread's start, often on one CPU each),
 * and a lock call that finds the word free has its wait unmeasured if the other thread
 * takes the mutex before glibc's own attempt (pthread.c's peek; docs/SCHEMA.md "A lock
 * call that finds the mutex free"): the waiter then stays asleep inside glibc through
 * the other's 50 rounds, none of them charged (4 runs in 60 here, the CI failure of
 * 2026-12-06). That window is the hooks' documented limit, not what this case checks. */
static int arrived;

static void *recursive(void *arg)
{
    if (__atomic_fetch_add(&arrived, 1, __ATOMIC_ACQ_REL) == 1)
        while (!__atomic_load_n(&rmu.__data.__lock, __ATOMIC_ACQUIRE) &&
               !__atomic_load_n(&finished, __ATOMIC_ACQUIRE))
            __builtin_ia32_pause();
    for (int i = 0; i < rounds; i++) {
        lock_logged(&rmu);
        pthread_mutex_lock(&rmu);
        pthread_mutex_lock(&rmu);
        until_waiter();
        /* the waiter visible (it marked the lock word: 2) from here at the latest: the
         * hold from then to the release bounds its wait from below (lower_ns), whatever
         * the load did between its own clock read and its lock call */
        int seen = 0;
        while (!(seen = __atomic_load_n(&rmu.__data.__lock, __ATOMIC_ACQUIRE) == 2) &&
               !__atomic_load_n(&finished, __ATOMIC_ACQUIRE))
            __builtin_ia32_pause();
        uint64_t ts = now();
        hold(rhold);
        unlock_inner(&rmu, 0); /* lowers the count: releases nothing */
        unlock_middle(&rmu, 0);
        if (seen)
            lower[S_OUTER] += now() - ts;
        unlock_outer(&rmu, 1);
        hold(2000);
    }
    __atomic_add_fetch(&finished, 1, __ATOMIC_RELEASE);
    return arg;
}

/* ---- chains of fresh mutexes: handover and distinct ----
 * One waiter sleeps on mutex i while the holder holds it. The holder locks mutex i+1
 * before it releases mutex i, so the waiter, done with i, goes on to i+1; the holder
 * starts the hold of i+1 only once its lock word says the waiter sleeps on it (2: a
 * fresh mutex is never 2 otherwise). Each release hands the mutex to exactly one waiter,
 * and the lock word is 2 at every release, whatever the scheduler does: the releasing
 * thread never takes the mutex back before the woken waiter has run, which would hide
 * that waiter from the unlock (from glibc's word as from Go's; docs/SCHEMA.md).
 *
 * When a wait begins. Go's starts when the waiter is visible to the unlocker (counted in
 * the mutex's state; semacquire reads its clock after that), here when it is registered
 * and has marked the word. The waiter's own clock, read before its lock call, is earlier
 * by the hook's way there, which is ~0.1 us but a page fault (~3 us, in a VM) the first
 * time a waiter-table page is touched: 15% of a 20 us wait. So, for timed waits (watch),
 * the holder watches the word from before the waiter starts (the waiter waits for that)
 * until the mark, on another CPU: a wait starts at the later of the waiter's clock and
 * the holder's last look that did not see the mark, and at most at the look that did
 * (hs): the truth, to within one look (~0.1 us; lower_ns is the bound from hs).
 *
 * The hand-over. The holder reads its clock just before its unlock call, whose hook reads
 * its own ~0.1 us later: a holder preempted in between hands over later than it says,
 * and the profile is right to charge that. The holder cannot see it before it releases,
 * but it can after: the hook charged before the mutex was free, so before both the end of
 * the unlock call and the waiter's return from its lock. If the earlier of the two is more
 * than UNSURE_NS after the holder's clock read (a normal unlock call, sample taken
 * included, is ~10-20 us), the holder may have been preempted before its charge, and that
 * length is reported as unsure_ns, the truth's uncertainty, for the checks to allow.
 *
 * What a loaded machine does to it. A holder preempted before it saw the mark cannot
 * say when the waiter registered; a holder preempted in its hold makes one wait many
 * times the others, and one such wait dominates the sampling variance at fraction 10.
 * The holder sees both before it releases (hs - start, hands[i] - hs) and releases such a
 * mutex at unlock_odd instead: the checked sites keep only waits the load did not
 * distort, each charged at its own site by the profile and counted there by the truth. */
static pthread_mutex_t *many;
static long n_many;
static uint64_t *t0s, *t1s, *hss, *hands, *marks, *afters;
static int *sites;
static long watching; /* the mutex whose lock word the holder watches */
static int timed;     /* the waits are timed: the holder watches each waiter register */

/* The holder can watch the waiter register only if the waiter does not run on its CPU:
 * woken by the holder's unlock, it would preempt the holder (the scheduler favours the
 * woken), register, and leave the holder to find the mark already set. With two CPUs or
 * more, the two threads are kept on two of them. */
static cpu_set_t all_cpus; /* the process's, read before the holder is pinned */
static int n_cpus;

/* k = -1: all of them again */
static void on_cpu(int k)
{
    cpu_set_t one;
    if (n_cpus < 2)
        return;
    if (k < 0) {
        pthread_setaffinity_np(pthread_self(), sizeof all_cpus, &all_cpus);
        return;
    }
    CPU_ZERO(&one);
    for (int c = 0, seen = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &all_cpus) && seen++ == k) {
            CPU_SET(c, &one);
            break;
        }
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

static void *chain_waiter(void *arg)
{
    if (timed)
        on_cpu(1);
    for (long i = 0; i < n_many; i++) {
        for (unsigned k = 1; timed && __atomic_load_n(&watching, __ATOMIC_ACQUIRE) < i; k++)
            if (k % 64 == 0) /* the holder is not watching mutex i yet */
                sched_yield();
            else
                __builtin_ia32_pause();
        __atomic_store_n(&t0s[i], now(), __ATOMIC_RELEASE);
        pthread_mutex_lock(&many[i]);
        t1s[i] = now();
        pthread_mutex_unlock(&many[i]);
    }
    return arg;
}

#define SKEW_NS 1000     /* the holder watched the waiter register: a look is ~0.1 us */
#define STRETCH_NS 50000 /* a hold this much (or its length) over its length: preempted */
#define UNSURE_NS 50000  /* an unlock call this long may have been preempted before its charge */

/* n mutexes, the i-th held hold_of[i % 2] ns (after the waiter sleeps on it) and released
 * at site_of[i % 2]; if watch, the holder watches each waiter register (and the waiter
 * waits for that before it starts), and a wait the load distorted is released at
 * unlock_odd (above). Without, the waits' times are the waiters' own clocks only. */
static void run_chain(long n, const uint64_t hold_of[2], const int site_of[2], int watch)
{
    timed = watch;
    n_many = n;
    if (!n_cpus)
        n_cpus = sched_getaffinity(0, sizeof all_cpus, &all_cpus) == 0 ? CPU_COUNT(&all_cpus) : 1;
    many = calloc((size_t)n + 1, sizeof *many);
    t0s = calloc((size_t)n, sizeof *t0s);
    hands = calloc((size_t)n, sizeof *hands);
    hss = calloc((size_t)n, sizeof *hss);
    marks = calloc((size_t)n, sizeof *marks);
    afters = calloc((size_t)n, sizeof *afters);
    t1s = calloc((size_t)n, sizeof *t1s);
    sites = calloc((size_t)n, sizeof *sites);
    /* touched now: a page fault in the holder's timed window can wait for the mmap lock */
    memset(t0s, 0, (size_t)n * sizeof *t0s);
    memset(hands, 0, (size_t)n * sizeof *hands);
    memset(hss, 0, (size_t)n * sizeof *hss);
    memset(marks, 0, (size_t)n * sizeof *marks);
    memset(afters, 0, (size_t)n * sizeof *afters);
    memset(t1s, 0, (size_t)n * sizeof *t1s);
    memset(sites, 0, (size_t)n * sizeof *sites);
    pthread_t t;
    watching = -1;
    pthread_mutex_lock(&many[0]);
    pthread_create(&t, NULL, chain_waiter, NULL);
    if (watch)
        on_cpu(0); /* after: the profiler's flusher thread, made with the first thread, is not
                      pinned */
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&many[i + 1]);
        __atomic_store_n(&watching, i, __ATOMIC_RELEASE);
        uint64_t seen_free = 0; /* last clock read before a look that did not see the mark */
        for (;;) {              /* until the waiter sleeps on it */
            uint64_t t = now();
            if (__atomic_load_n(&many[i].__data.__lock, __ATOMIC_ACQUIRE) == 2)
                break;
            seen_free = t;
            __builtin_ia32_pause();
        }
        uint64_t hs = now(), h = hold_of[i % 2];
        hss[i] = hs;
        marks[i] = seen_free;
        hold(h);
        hands[i] = now();
        uint64_t t0 = __atomic_load_n(&t0s[i], __ATOMIC_ACQUIRE);
        if (seen_free > t0)
            t0 = seen_free;
        /* odd: the start is known to less than 1% of the hold (or 1 us), or the hold took
         * more than twice its length (or 50 us more) */
        int odd = hs - t0 > (h / 100 > SKEW_NS ? h / 100 : SKEW_NS) ||
                  hands[i] - hs > h + (h > STRETCH_NS ? h : STRETCH_NS);
        odd &= watch;
        sites[i] = odd ? S_ODD : site_of[i % 2];
        if (odd)
            unlock_odd(&many[i], 0);
        else if (site_of[i % 2] == S_SHORT)
            unlock_short(&many[i], 0);
        else if (site_of[i % 2] == S_LONG)
            unlock_long(&many[i], 0);
        else if (site_of[i % 2] == S_LAST)
            unlock_last(&many[i], 0);
        else
            unlock_distinct(&many[i], 0);
        afters[i] = now();
    }
    pthread_join(t, NULL);
    if (watch)
        on_cpu(-1);
    pthread_mutex_unlock(&many[n]);
    for (long i = 0; i < n; i++) { /* each released one sleeping waiter */
        waiter_n++;
        waiter_ns += t1s[i] - t0s[i];
        waiter_sq += (double)(t1s[i] - t0s[i]) * (t1s[i] - t0s[i]);
        uint64_t d = hands[i] - (marks[i] > t0s[i] ? marks[i] : t0s[i]);
        count[sites[i]]++;
        truth[sites[i]] += d;
        lower[sites[i]] += hands[i] - hss[i];
        sq[sites[i]] += (double)d * d;
        uint64_t u = (afters[i] < t1s[i] ? afters[i] : t1s[i]) - hands[i];
        if (watch && u > UNSURE_NS) { /* see "the hand-over" above */
            unsure[sites[i]] += u;
            unsure_sq[sites[i]] += (double)u * u;
        }
    }
}

/* ---- rwlock ---- */
/* Barriers order the phases; whether a wait happened is decided by the times (a waiter
 * slow to start after a barrier may find the lock free: no wait, no truth). */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t bar, readers; /* all three; the two readers */
static uint64_t rw_hold, writer_handed, reader_handed;

static __attribute__((noinline)) void unlock_writer(void)
{
    writer_handed = now();
    pthread_rwlock_unlock(&rw);
}
static __attribute__((noinline)) void unlock_reader_first(void)
{
    pthread_rwlock_unlock(&rw);
}
static __attribute__((noinline)) void unlock_reader_last(void)
{
    reader_handed = now();
    pthread_rwlock_unlock(&rw);
}

static void charge(int site, uint64_t handed, uint64_t t0)
{
    if (handed > t0) {
        __atomic_add_fetch(&truth[site], handed - t0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&count[site], 1, __ATOMIC_RELAXED);
    }
}

static void *rw_reader(void *arg)
{
    int first = arg != NULL;
    for (int i = 0; i < rounds; i++) {
        pthread_barrier_wait(&bar); /* A: the writer holds */
        uint64_t t0 = now();
        pthread_rwlock_rdlock(&rw);
        charge(S_WRITER, writer_handed, t0);
        pthread_rwlock_unlock(&rw); /* no writer waits: nothing to charge */
        pthread_barrier_wait(&bar); /* B: phase 1 over */
        pthread_rwlock_rdlock(&rw);
        pthread_barrier_wait(&bar); /* C: both readers hold; the writer goes to wait */
        hold(rw_hold);
        if (first) {
            unlock_reader_first();
            pthread_barrier_wait(&readers); /* D */
        } else {
            pthread_barrier_wait(&readers); /* D: the first reader has left */
            hold(rw_hold);
            unlock_reader_last();
        }
        pthread_barrier_wait(&bar); /* E: round over */
    }
    return NULL;
}

static void run_rwlock(void)
{
    pthread_t r[2];
    pthread_barrier_init(&bar, NULL, 3);
    pthread_barrier_init(&readers, NULL, 2);
    pthread_create(&r[0], NULL, rw_reader, (void *)1);
    pthread_create(&r[1], NULL, rw_reader, NULL);
    for (int i = 0; i < rounds; i++) {
        pthread_rwlock_wrlock(&rw);
        pthread_barrier_wait(&bar); /* A */
        hold(rw_hold);
        unlock_writer();
        pthread_barrier_wait(&bar); /* B */
        pthread_barrier_wait(&bar); /* C */
        uint64_t t0 = now();
        pthread_rwlock_wrlock(&rw); /* released by the last reader */
        charge(S_RLAST, reader_handed, t0);
        pthread_rwlock_unlock(&rw);
        pthread_barrier_wait(&bar); /* E */
    }
    pthread_join(r[0], NULL);
    pthread_join(r[1], NULL);
}

/* ---- rwpair ----
 * Two readers hold the rwlock while the writer waits, and release it at the same instant
 * (a spin rendezvous, each on its own CPU): whichever of the two unlocks is the last is
 * the one that hands the lock to the writer, and is charged the writer's wait. Both
 * unlock at unlock_reader_pair; the hand-over is the later of their two clock reads. */
static int rendezvous, pair_round;
static uint64_t pair_handed[2];

static __attribute__((noinline)) void unlock_reader_pair(int k)
{
    pair_handed[k] = now();
    pthread_rwlock_unlock(&rw);
    __asm__ volatile("" ::: "memory");
}

static void *rw_pair_reader(void *arg)
{
    int k = arg != NULL;
    on_cpu(k);
    for (int i = 0; i < rounds; i++) {
        pthread_rwlock_rdlock(&rw);
        pthread_barrier_wait(&bar); /* A: both readers hold; the writer goes to wait */
        /* until the writer waits (glibc's __readers bit 1, set after its registration);
         * yielding: two readers spinning on a machine of two CPUs left the writer no CPU
         * until a scheduler tick, which now and then fell between its clock read (t0)
         * and its wait, charged to no one: locks.sh's charge 10.2% short once in CI */
        while (!(__atomic_load_n(&rw.__data.__readers, __ATOMIC_ACQUIRE) & 2))
            sched_yield();
        hold(rw_hold);
        __atomic_add_fetch(&rendezvous, 1, __ATOMIC_ACQ_REL);
        while (__atomic_load_n(&rendezvous, __ATOMIC_ACQUIRE) < 2 * (i + 1))
            __builtin_ia32_pause();
        unlock_reader_pair(k);
        pthread_barrier_wait(&bar); /* B: round over */
    }
    return NULL;
}

static void run_rw_pair(void)
{
    pthread_t r[2];
    if (!n_cpus)
        n_cpus = sched_getaffinity(0, sizeof all_cpus, &all_cpus) == 0 ? CPU_COUNT(&all_cpus) : 1;
    pthread_barrier_init(&bar, NULL, 3);
    pthread_create(&r[0], NULL, rw_pair_reader, (void *)1);
    pthread_create(&r[1], NULL, rw_pair_reader, NULL);
    for (int i = 0; i < rounds; i++) {
        pthread_barrier_wait(&bar); /* A */
        uint64_t t0 = now();
        pthread_rwlock_wrlock(&rw);
        uint64_t h = pair_handed[0] > pair_handed[1] ? pair_handed[0] : pair_handed[1];
        charge(S_RPAIR, h, t0);
        pthread_rwlock_unlock(&rw);
        pthread_barrier_wait(&bar); /* B */
    }
    pthread_join(r[0], NULL);
    pthread_join(r[1], NULL);
}

/* ---- cond ---- */
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int sleeping, round_no;

static void *cond_waiter(void *arg)
{
    for (int i = 0; i < rounds; i++) {
        pthread_mutex_lock(&mu);
        sleeping++;
        while (round_no <= i)
            pthread_cond_wait(&cv, &mu);
        hold(200000);
        pthread_mutex_unlock(&mu);
    }
    return arg;
}

static __attribute__((noinline)) void unlock_signaller(void)
{
    pthread_mutex_unlock(&mu);
}

static void run_cond(uint64_t hold_ns)
{
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, cond_waiter, NULL);
    for (int i = 0; i < rounds; i++) {
        for (;;) { /* all three asleep (they count themselves under the mutex) */
            pthread_mutex_lock(&mu);
            if (sleeping == 3)
                break;
            pthread_mutex_unlock(&mu);
            usleep(200); /* a poll of sleeping */
        }
        sleeping = 0;
        round_no++;
        uint64_t ts = now();
        pthread_cond_broadcast(&cv);
        hold(hold_ns);
        uint64_t h = now();
        unlock_signaller();
        truth[S_SIGNALLER] += 3 * (h - ts);
        sq[S_SIGNALLER] += 3 * (double)(h - ts) * (double)(h - ts);
        count[S_SIGNALLER] += 3;
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5)
        return 2;
    if (!strcmp(argv[1], "handover") && argc == 5) {
        uint64_t holds[2] = {strtoull(argv[3], NULL, 0), strtoull(argv[2], NULL, 0)};
        int at[2] = {S_LONG, S_SHORT};
        run_chain(atol(argv[4]), holds, at, 1);
    } else if (!strcmp(argv[1], "recursive")) {
        rounds = atoi(argv[2]);
        rhold = strtoull(argv[3], NULL, 0);
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&rmu, &a);
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, recursive, NULL);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        tally();
    } else if (!strcmp(argv[1], "distinct")) {
        /* N mutexes held EACH_NS, at unlock_distinct, then one held HOLD_NS, at unlock_last */
        long n = atol(argv[2]);
        uint64_t each[2] = {argc == 5 ? strtoull(argv[4], NULL, 0) : 0, 0};
        each[1] = each[0];
        int at[2] = {S_DISTINCT, S_DISTINCT};
        if (n > 0)
            run_chain(n, each, at, each[0] > 0);
        uint64_t last[2] = {strtoull(argv[3], NULL, 0), 0};
        int at_last[2] = {S_LAST, S_LAST};
        run_chain(1, last, at_last, 0);
    } else if (!strcmp(argv[1], "cond")) {
        rounds = atoi(argv[2]);
        run_cond(strtoull(argv[3], NULL, 0));
    } else if (!strcmp(argv[1], "rwpair")) {
        rounds = atoi(argv[2]);
        rw_hold = strtoull(argv[3], NULL, 0);
        run_rw_pair();
    } else if (!strcmp(argv[1], "rwlock")) {
        rounds = atoi(argv[2]);
        rw_hold = strtoull(argv[3], NULL, 0);
        run_rwlock();
    } else {
        return 2;
    }
    for (int s = 0; s < NSITES; s++)
        printf("%s %llu %llu %.0f %llu %llu %.0f\n", names[s], (unsigned long long)count[s],
               (unsigned long long)truth[s], sq[s],
               (unsigned long long)(lower[s] ? lower[s] : truth[s]), (unsigned long long)unsure[s],
               unsure_sq[s]);
    if (waiter_n)
        printf("waiter %llu %llu %.0f %llu 0 0\n", (unsigned long long)waiter_n,
               (unsigned long long)waiter_ns, waiter_sq, (unsigned long long)waiter_ns);
    return 0;
}
