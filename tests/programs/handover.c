/*
 * handover.c — the mutex profile's truth, measured by the program itself (issue 31).
 * Go's truth: each unlock that releases a lock is charged, at the moment it hands the
 * lock over (the holder reads the clock just before unlocking), the waiting of every
 * thread then waiting, since the previous release or since it began waiting. The program
 * logs every wait (lock call, return) and every release (time, site) and computes that at
 * the end; wake-up latency after a hand-over is no one's contention, as in Go.
 *
 *   handover SHORT_NS LONG_NS N   two threads, each N critical sections alternately held
 *                                 SHORT_NS (released at unlock_short) and LONG_NS
 *                                 (unlock_long), relocking after a 2 us gap
 *   recursive ROUNDS HOLD_NS      two threads, each locking a recursive mutex three deep
 *                                 (unlock_inner, unlock_middle release nothing; only
 *                                 unlock_outer does)
 *   distinct N HOLD_NS [EACH_NS]  one waiter contends on N distinct mutexes in turn, each
 *                                 held EACH_NS (default 0) once the waiter sleeps on it
 *                                 (unlock_distinct), then on one more held HOLD_NS
 *                                 (unlock_last)
 *   rwlock ROUNDS HOLD_NS         a writer holding while two readers wait (unlock_writer),
 *                                 then two readers holding while the writer waits: the
 *                                 first reader leaves (unlock_reader_first), the last one
 *                                 releases the writer (unlock_reader_last)
 *   cond ROUNDS HOLD_NS           three threads sleep on a condition variable; the main
 *                                 thread broadcasts holding the mutex, holds it HOLD_NS
 *                                 more and releases it at unlock_signaller: the three
 *                                 re-acquisitions, each from the broadcast to the
 *                                 hand-over, are charged there (Go: Cond.Wait re-locks
 *                                 with Mutex.Lock)
 *
 * Prints "site contentions delay_ns sum_of_squared_delays" lines, one per unlock site
 * (0 for rwlock, whose program does not keep each charge).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { S_SHORT, S_LONG, S_INNER, S_MIDDLE, S_OUTER, S_DISTINCT, S_LAST, S_WRITER, S_RFIRST,
       S_RLAST, S_SIGNALLER, NSITES };
static const char *names[NSITES] = {"unlock_short", "unlock_long", "unlock_inner",
                                    "unlock_middle", "unlock_outer", "unlock_distinct",
                                    "unlock_last", "unlock_writer", "unlock_reader_first",
                                    "unlock_reader_last", "unlock_signaller"};
static uint64_t truth[NSITES], count[NSITES];
static double sq[NSITES]; /* sum of the squared charges: the sampling variance */

static uint64_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void hold(uint64_t ns)
{
    uint64_t end = now() + ns;
    while (now() < end)
        ;
}

/* the log: releases (appended by the holder, before it releases: in release order) and
 * waits (appended by each waiter) */
#define MAXLOG 100000
static struct rel { uint64_t t; int site; } rels[MAXLOG];
static struct waitlog { uint64_t t0, t1; } waits[MAXLOG];
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

#define UNLOCK_AT(fn, site)                                                                \
    static __attribute__((noinline)) void fn(pthread_mutex_t *x, int releases)             \
    {                                                                                      \
        if (releases)                                                                      \
            log_release(site);                                                             \
        pthread_mutex_unlock(x);                                                           \
        __asm__ volatile("" ::: "memory");                                                 \
    }
UNLOCK_AT(unlock_short, S_SHORT)
UNLOCK_AT(unlock_long, S_LONG)
UNLOCK_AT(unlock_inner, S_INNER)
UNLOCK_AT(unlock_middle, S_MIDDLE)
UNLOCK_AT(unlock_outer, S_OUTER)
UNLOCK_AT(unlock_distinct, S_DISTINCT)
UNLOCK_AT(unlock_last, S_LAST)

/* ---- handover ---- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t short_ns, long_ns;
static int n_sections;

static int finished; /* threads done with their sections */
static int in_lock;  /* threads inside their lock call */

/* Whatever the scheduler does, every critical section has a waiter: the holder starts
 * its hold once the other thread has entered its lock call. */
static void until_waiter(void)
{
    while (!__atomic_load_n(&in_lock, __ATOMIC_ACQUIRE) && !__atomic_load_n(&finished, __ATOMIC_ACQUIRE))
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

static void *alternate(void *arg)
{
    for (int i = 0; i < n_sections; i++) {
        lock_logged(&mu);
        until_waiter();
        if (i % 2) {
            hold(short_ns);
            unlock_short(&mu, 1);
        } else {
            hold(long_ns);
            unlock_long(&mu, 1);
        }
        hold(2000);
    }
    __atomic_add_fetch(&finished, 1, __ATOMIC_RELEASE);
    return arg;
}

/* ---- recursive ---- */
static pthread_mutex_t rmu;
static int rounds;
static uint64_t rhold;

static void *recursive(void *arg)
{
    for (int i = 0; i < rounds; i++) {
        lock_logged(&rmu);
        pthread_mutex_lock(&rmu);
        pthread_mutex_lock(&rmu);
        until_waiter();
        hold(rhold);
        unlock_inner(&rmu, 0); /* lowers the count: releases nothing */
        unlock_middle(&rmu, 0);
        unlock_outer(&rmu, 1);
        hold(2000);
    }
    __atomic_add_fetch(&finished, 1, __ATOMIC_RELEASE);
    return arg;
}

/* ---- distinct ---- */
/* The holder locks mutex i+1 before it releases mutex i, so the waiter, done with i,
 * sleeps on i+1 at once; the holder releases i+1 as soon as its lock word says the
 * waiter sleeps on it (2). Only the holder spins. */
static pthread_mutex_t *many;
static long n_many;
static uint64_t *t0s, *hands;

static void *distinct_waiter(void *arg)
{
    for (long i = 0; i <= n_many; i++) {
        t0s[i] = now();
        pthread_mutex_lock(&many[i]);
        pthread_mutex_unlock(&many[i]);
    }
    return arg;
}

static void run_distinct(uint64_t hold_each, uint64_t hold_last)
{
    many = calloc((size_t)n_many + 2, sizeof *many);
    t0s = calloc((size_t)n_many + 1, sizeof *t0s);
    hands = calloc((size_t)n_many + 1, sizeof *hands);
    pthread_t t;
    pthread_mutex_lock(&many[0]);
    pthread_create(&t, NULL, distinct_waiter, NULL);
    for (long i = 0; i <= n_many; i++) {
        pthread_mutex_lock(&many[i + 1]);
        while (__atomic_load_n(&many[i].__data.__lock, __ATOMIC_ACQUIRE) != 2)
            __builtin_ia32_pause(); /* until the waiter sleeps on it */
        hold(i < n_many ? hold_each : hold_last);
        hands[i] = now();
        if (i < n_many)
            unlock_distinct(&many[i], 0);
        else
            unlock_last(&many[i], 0);
    }
    pthread_join(t, NULL);
    pthread_mutex_unlock(&many[n_many + 1]);
    for (long i = 0; i <= n_many; i++) { /* each released one sleeping waiter */
        int site = i < n_many ? S_DISTINCT : S_LAST;
        uint64_t d = hands[i] - t0s[i];
        count[site]++;
        truth[site] += d;
        sq[site] += (double)d * d;
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
            usleep(200);
        }
        sleeping = 0;
        round_no++;
        uint64_t ts = now();
        pthread_cond_broadcast(&cv);
        hold(hold_ns);
        uint64_t h = now();
        unlock_signaller();
        truth[S_SIGNALLER] += 3 * (h - ts);
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
        short_ns = strtoull(argv[2], NULL, 0);
        long_ns = strtoull(argv[3], NULL, 0);
        n_sections = atoi(argv[4]);
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, alternate, NULL);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        tally();
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
        n_many = atol(argv[2]);
        run_distinct(argc == 5 ? strtoull(argv[4], NULL, 0) : 0, strtoull(argv[3], NULL, 0));
    } else if (!strcmp(argv[1], "cond")) {
        rounds = atoi(argv[2]);
        run_cond(strtoull(argv[3], NULL, 0));
    } else if (!strcmp(argv[1], "rwlock")) {
        rounds = atoi(argv[2]);
        rw_hold = strtoull(argv[3], NULL, 0);
        run_rwlock();
    } else {
        return 2;
    }
    for (int s = 0; s < NSITES; s++)
        printf("%s %llu %llu %.0f\n", names[s], (unsigned long long)count[s],
               (unsigned long long)truth[s], sq[s]);
    return 0;
}
