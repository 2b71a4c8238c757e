/* test_stress.c — the engine under stress, without the shim, so that the same program runs
 * in the release build and under ASan+UBSan and TSan (`make test` builds every unit test in
 * all three; the shim itself cannot be hosted by those runtimes, see the README).
 *
 * 64 threads at once, each slot's thread joined and created anew for several generations
 * (rings of exited threads are drained and reused); every thread records heap allocations
 * and frees (half of its frees are of objects another, still running thread allocated),
 * mutex and block events, on 256+32+32 stacks that all threads insert concurrently. The
 * flusher runs every millisecond, a monitor reads the file throughout (free <= alloc in
 * every bucket, no value ever goes down), and in the middle of it all a thread forks: the
 * child (one thread) writes its own file with threads of its own and forks again. At the
 * end, every counter in every file equals the exact count the threads kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cfile.h"
#include "unit_util.h"
#include "live.h"
#include "prof.h"

#if defined(__SANITIZE_THREAD__)
/* the fork child starts threads of its own (the profiler's flusher, the test's workers) */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define GENS 2
#define EV 1500
/* Neither runtime survives a fork from many threads followed by threads in the child:
 * gcc 12's ASan allocator lock is not reset in the child (a hang in free) and the stacks
 * of the threads that vanished stay poisoned (false reports on any mmap that lands
 * there); TSan reports "dup thread with used id" when the child's new thread reuses a
 * vanished thread's pthread_t. So the fork half runs in the release build only (and under
 * valgrind memcheck in tests/e2e/stress.sh, through the shim). */
#define FORK_TOO 0
#else
#define GENS 6
#define EV 20000
#define FORK_TOO 1
#endif
#define NSLOT 64
#define NH 256 /* heap stacks (sites; the size is 1000 + id) */
#define NM 32  /* mutex stacks: depth 1 + id */
#define NB 32  /* block stacks: depth 1 + id */
#define CHILD_THREADS 4
#define CHILD_EV 3000

static const char META[] = "Program: test_stress\nCtrprof-Format: 4\nMemRate: 1\n\n";

struct books {
    uint64_t h_alloc[NH], h_free[NH];
    uint64_t m_cnt[NM], m_delay[NM], b_cnt[NB], b_delay[NB];
};

static char path[256];
static struct cp_bucket *hb[NH], *mb[NM], *bb[NB];
static struct books exact; /* added to atomically by the threads */

/* ---- the stacks, the same for every thread (so insertion races on the same keys) ----- */

static void stack_of(int kind, int id, uintptr_t *pcs, unsigned *n)
{
    unsigned depth = kind == 0 ? 1 + (unsigned)(id % 48) : 1 + (unsigned)id;
    for (unsigned k = 0; k < depth; k++)
        pcs[k] = 0x10000000u + (uintptr_t)kind * 0x1000000u + (uintptr_t)id * 0x1000u + k * 16;
    *n = depth;
}

static struct cp_bucket *bucket(int kind, int id)
{
    struct cp_bucket **tab = kind == 0 ? hb : kind == 1 ? mb : bb;
    struct cp_bucket *b = __atomic_load_n(&tab[id], __ATOMIC_ACQUIRE);
    if (b)
        return b;
    uintptr_t pcs[64];
    unsigned n;
    stack_of(kind, id, pcs, &n);
    b = cp_bucket_get(kind == 0 ? CP_HEAP : kind == 1 ? CP_MUTEX : CP_BLOCK, pcs, n);
    if (!b)
        abort();
    __atomic_store_n(&tab[id], b, __ATOMIC_RELEASE);
    return b;
}

static void add(uint64_t *p, uint64_t v)
{
    __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}

/* pthread_create as the program's own call reaches it under the shim, whose hook tells
 * the engine first (preload/pthread.c: cp_prof_threads_coming ends the live table kept by
 * the flush, live.h's cp_live_deferred, before the thread exists). Without it the test's
 * threads were the raw clones the engine cannot see coming: a thread freed an object
 * whose allocation record, written while deferred held, the flush had not drained yet
 * (1-3% of runs aborted in free_object). */
static int create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    cp_prof_threads_coming();
    return pthread_create(t, NULL, fn, arg);
}

/* ---- one thread's life: events, and objects handed between live threads ------------- */

/* A batch of sampled objects one thread leaves for another to free. */
struct batch {
    unsigned n;
    uintptr_t obj[EV];
};
static struct batch *mailbox[NSLOT];
static uint64_t serial; /* unique object addresses */

/* 2 KiB apart: the objects (up to 1,255 bytes) do not overlap, as a program's cannot; the
 * live table's wide map (core/shadow.h) relies on that */
static uintptr_t new_object(void)
{
    return (uintptr_t)__atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED) << 11;
}

/* object addresses carry their heap stack id in the low 8 bits */
static void free_object(struct cp_thread *t, uintptr_t o, struct books *bk)
{
    (void)t; /* this thread's: the engine's one free path asks for it itself */
    if (!cp_event_free(cp_thread_get, (void *)(o & ~(uintptr_t)0xff)))
        abort(); /* every object the test frees was sampled (rate 1) */
    add(&bk->h_free[o & 0xff], 1);
}

struct worker {
    int slot, nslot;
    unsigned gen;
    struct books *bk;
    unsigned nev;
};

static void run_events(struct worker *w, struct cp_thread *t, struct batch *mine,
                       struct batch *theirs)
{
    unsigned taken = 0;
    uintptr_t own[4];
    unsigned nown = 0;
    for (unsigned k = 0; k < w->nev; k++) {
        unsigned r = (unsigned)(k * 2654435761u) ^ (unsigned)(w->slot * 40503 + (int)w->gen * 977);
        int h = (int)(r % NH);
        uintptr_t o = 0;
        if (k % 4 < 2) {
            o = new_object() | (uintptr_t)h;
            uintptr_t pcs[64];
            unsigned n;
            stack_of(0, h, pcs, &n);
            cp_event_alloc(t, (void *)(o & ~(uintptr_t)0xff), 1000 + (uint64_t)h, pcs, n);
            add(&w->bk->h_alloc[h], 1);
        }
        switch (k % 4) {
        case 0: /* freed soon by this thread */
            own[nown++] = o;
            if (nown == 4) {
                for (unsigned i = 0; i < nown; i++)
                    free_object(t, own[i], w->bk);
                nown = 0;
            }
            break;
        case 1: /* left for another thread */
            mine->obj[mine->n++] = o;
            break;
        case 2: { /* a contention event */
            int m = (int)((r >> 8) % NM);
            uint64_t d = 1000 + (uint64_t)m * 7 + (k & 63);
            cp_event_delay(t, bucket(1, m), 65536, d);
            add(&w->bk->m_cnt[m], 65536);
            add(&w->bk->m_delay[m], d);
            break;
        }
        default: { /* a blocking event with a fractional (unbiased) count */
            int b = (int)((r >> 8) % NB);
            uint64_t q = 1 + (r & 0xffff), d = 500 + (uint64_t)b;
            cp_event_delay(t, bucket(2, b), q, d);
            add(&w->bk->b_cnt[b], q);
            add(&w->bk->b_delay[b], d);
            break;
        }
        }
        /* another thread's objects, freed interleaved with our own work */
        if (theirs && taken < theirs->n && (k & 1))
            free_object(t, theirs->obj[taken++], w->bk);
    }
    for (unsigned i = 0; i < nown; i++)
        free_object(t, own[i], w->bk);
    while (theirs && taken < theirs->n)
        free_object(t, theirs->obj[taken++], w->bk);
}

static struct batch *take_mail(int slot)
{
    return __atomic_exchange_n(&mailbox[slot], NULL, __ATOMIC_ACQ_REL);
}

static void free_batch(struct cp_thread *t, struct batch *b, struct books *bk)
{
    if (!b)
        return;
    for (unsigned i = 0; i < b->n; i++)
        free_object(t, b->obj[i], bk);
    munmap(b, sizeof *b);
}

static int runs_done; /* thread lifetimes ended (the forker's handshake) */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct cp_thread *t = cp_thread_get();
    /* mmap, not malloc: after a fork from many threads, only the profiler is promised a
     * working allocator (ASan's is not fork-safe), and the fork child runs this too */
    struct batch *mine =
        mmap(NULL, sizeof *mine, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!t || mine == MAP_FAILED)
        abort();
    /* objects a thread of another slot allocated (that thread may still be running) */
    struct batch *theirs = take_mail((w->slot + 7) % w->nslot);
    run_events(w, t, mine, theirs);
    if (theirs)
        munmap(theirs, sizeof *theirs);
    /* leave ours for someone else; if the previous one was never taken, free it here */
    free_batch(t, __atomic_exchange_n(&mailbox[w->slot], mine, __ATOMIC_ACQ_REL), w->bk);
    cp_thread_release(t);
    __atomic_fetch_add(&runs_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* ---- reading a file ------------------------------------------------------------------ */

static int lines_after_header(const uint8_t *name, size_t len)
{
    int n = 0;
    for (size_t i = 0; i < len; i++)
        n += name[i] == '\n';
    return n;
}

static void books_cb(void *ctx, const uint8_t *name, size_t len, uint64_t v)
{
    struct books *s = ctx;
    int depth = lines_after_header(name, len);
    int alloc;
    long i = tu_heap_slot(name, len, 0x10000000u, 0x1000u, NH, &alloc);
    if (i >= 0)
        (alloc ? s->h_alloc : s->h_free)[i] = v;
    else if (len > 26 && !memcmp(name, "ctrprof/mutex:contentions\n", 26) && depth <= NM)
        s->m_cnt[depth - 1] = v;
    else if (len > 20 && !memcmp(name, "ctrprof/mutex:delay\n", 20) && depth <= NM)
        s->m_delay[depth - 1] = v;
    else if (len > 26 && !memcmp(name, "ctrprof/block:contentions\n", 26) && depth <= NB)
        s->b_cnt[depth - 1] = v;
    else if (len > 20 && !memcmp(name, "ctrprof/block:delay\n", 20) && depth <= NB)
        s->b_delay[depth - 1] = v;
}

static int read_books(const char *p, struct books *s, bool *settled)
{
    memset(s, 0, sizeof *s);
    bool ignored;
    return tu_read_counters_settled(p, books_cb, s, settled ? settled : &ignored);
}

/* the first difference, as text, or NULL */
static const char *compare(const struct books *want, const struct books *got, char *msg, size_t sz)
{
    static const char *what[] = {"heap alloc",  "heap free",         "mutex contentions",
                                 "mutex delay", "block contentions", "block delay"};
    const uint64_t *w[] = {want->h_alloc, want->h_free, want->m_cnt,
                           want->m_delay, want->b_cnt,  want->b_delay};
    const uint64_t *g[] = {got->h_alloc, got->h_free, got->m_cnt,
                           got->m_delay, got->b_cnt,  got->b_delay};
    const int n[] = {NH, NH, NM, NM, NB, NB};
    for (int a = 0; a < 6; a++)
        for (int i = 0; i < n[a]; i++)
            if (w[a][i] != g[a][i]) {
                snprintf(msg, sz, "%s of stack %d: expected %llu, the file has %llu", what[a], i,
                         (unsigned long long)w[a][i], (unsigned long long)g[a][i]);
                return msg;
            }
    return NULL;
}

/* ---- the monitor: what readers see while everything runs ----------------------------- */

static volatile int done;
static uint64_t snapshots, unsettled, violations;

static void *monitor(void *arg)
{
    struct books prev;
    memset(&prev, 0, sizeof prev);
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        struct books s;
        bool settled;
        if (read_books(path, &s, &settled) == 0) {
            /* A copy the reader took as it is (a publish ran on through its patience:
             * cp_cfile_load_settled) may hold a bucket's allocations from one publish and
             * its frees from the next: frees above allocations there are no violation.
             * Every counter it read was read after the last snapshot's, so none went
             * down. */
            snapshots++;
            unsettled += !settled;
            for (int i = 0; i < NH; i++)
                violations += (settled && s.h_free[i] > s.h_alloc[i]) ||
                              s.h_alloc[i] < prev.h_alloc[i] || s.h_free[i] < prev.h_free[i];
            for (int i = 0; i < NM; i++)
                violations += s.m_cnt[i] < prev.m_cnt[i] || s.m_delay[i] < prev.m_delay[i];
            for (int i = 0; i < NB; i++)
                violations += s.b_cnt[i] < prev.b_cnt[i] || s.b_delay[i] < prev.b_delay[i];
            prev = s;
        }
        usleep(3000); /* the monitor's pace: the workload */
    }
    return NULL;
}

/* ---- fork: the child writes its own file, and forks again ------------------------------ */

static char child_path[256];

static void child_file(pid_t pid, char *buf, size_t sz)
{
    snprintf(buf, sz, "/tmp/ctrprof-test-stress.%d.count", (int)pid);
}

static void atfork_child(void)
{
    child_file(getpid(), child_path, sizeof child_path);
    unlink(child_path);
    cp_prof_atfork_child(child_path);
}

/* In a fork child (one thread): threads of its own, then its file must hold exactly
 * their events and nothing of the parent's. Returns an exit status. */
static int child_run(int level)
{
    static struct books cb;
    memset(&cb, 0, sizeof cb);
    /* The parent's books and the objects in its mailboxes are not ours (its live table was
     * forgotten at fork); the stacks are the same (buckets are inherited). */
    for (int s = 0; s < NSLOT; s++)
        mailbox[s] = NULL;
    pthread_t t[CHILD_THREADS];
    struct worker w[CHILD_THREADS];
    for (int i = 0; i < CHILD_THREADS; i++) {
        w[i] = (struct worker){.slot = i,
                               .nslot = CHILD_THREADS,
                               .gen = 100 + (unsigned)level,
                               .bk = &cb,
                               .nev = CHILD_EV};
        if (create(&t[i], worker_main, &w[i]))
            return 10;
    }
    for (int i = 0; i < CHILD_THREADS; i++)
        pthread_join(t[i], NULL);
    /* what the workers left in the mailboxes (the parent's leftovers were forgotten with
     * its live table: not ours to free) */
    struct cp_thread *self = cp_thread_get();
    for (int s = 0; s < CHILD_THREADS; s++)
        free_batch(self, take_mail(s), &cb);
    if (level < 2) { /* fork again, from this process with a flusher running */
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_run(level + 1));
        int st;
        char p[256];
        child_file(pid, p, sizeof p);
        waitpid(pid, &st, 0);
        unlink(p);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 20 + (WIFEXITED(st) ? WEXITSTATUS(st) : 9);
    }
    cp_prof_flush_all();
    struct books got;
    if (read_books(child_path, &got, NULL))
        return 11;
    char msg[256];
    const char *diff = compare(&cb, &got, msg, sizeof msg);
    if (diff) {
        dprintf(2, "fork child at level %d: %s\n", level, diff);
        return 12;
    }
    return 0;
}

/* Mid-run (its own mailbox slots untouched): fork while 64 threads record events, once
 * the first thread lifetime has ended (a handshake, not a sleep: every slot has started,
 * the next generation is being started, and GENS - 1 more are to come). */
static int fork_status = -1;
static void *forker(void *arg)
{
    while (!__atomic_load_n(&runs_done, __ATOMIC_ACQUIRE))
        usleep(100); /* a poll */
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_run(1));
    int st;
    char p[256];
    child_file(pid, p, sizeof p);
    waitpid(pid, &st, 0);
    unlink(p);
    fork_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return NULL;
}

/* ---- the test ------------------------------------------------------------------------ */

static void test_stress(void **state)
{
    snprintf(path, sizeof path, "/tmp/ctrprof-test-stress.%d.count", (int)getpid());
    unlink(path);
    struct cp_options o;
    cp_options_load(&o, NULL);
    o.flush_ms = 1;
    o.mem_rate = 1;
    assert_int_equal(cp_prof_init(&o, path, META, sizeof META - 1, false), 0);
    assert_int_equal(cp_prof_start(), 0);
    assert_int_equal(pthread_atfork(cp_prof_atfork_prepare, cp_prof_atfork_parent, atfork_child),
                     0);

    pthread_t mon, fk, t[NSLOT];
    struct worker w[NSLOT];
    create(&mon, monitor, NULL);
    for (int s = 0; s < NSLOT; s++) {
        w[s] = (struct worker){.slot = s, .nslot = NSLOT, .gen = 0, .bk = &exact, .nev = EV};
        assert_int_equal(create(&t[s], worker_main, &w[s]), 0);
    }
    if (FORK_TOO)
        create(&fk, forker, NULL);
    /* continuously: join the oldest thread of each slot in turn and start its next one */
    for (unsigned g = 1; g < GENS; g++)
        for (int s = 0; s < NSLOT; s++) {
            pthread_join(t[s], NULL);
            w[s].gen = g;
            assert_int_equal(create(&t[s], worker_main, &w[s]), 0);
        }
    for (int s = 0; s < NSLOT; s++)
        pthread_join(t[s], NULL);
    if (FORK_TOO)
        pthread_join(fk, NULL);
    /* the objects still in mailboxes are freed by this thread */
    struct cp_thread *self = cp_thread_get();
    for (int s = 0; s < NSLOT; s++)
        free_batch(self, take_mail(s), &exact);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    pthread_join(mon, NULL);
    cp_prof_flush_all();

    struct books got;
    assert_int_equal(read_books(path, &got, NULL), 0);
    char msg[256];
    const char *diff = compare(&exact, &got, msg, sizeof msg);
    printf("%d threads at once, %d thread lifetimes x %d events; %llu snapshots read while "
           "running (%llu taken as they were mid-publish); %s %d\n",
           NSLOT, NSLOT * GENS, EV, (unsigned long long)snapshots, (unsigned long long)unsettled,
           FORK_TOO ? "fork child (and grandchild) status" : "no fork under a sanitizer:",
           fork_status);
    if (diff)
        fail_msg("%s", diff);
    assert_int_equal(violations, 0);
    assert_true(snapshots > 0);
    if (FORK_TOO)
        assert_int_equal(fork_status, 0);
    assert_int_equal(cp_live_count(), 0);
    uint64_t total = 0;
    for (int i = 0; i < NH; i++)
        total += exact.h_alloc[i];
    assert_int_equal(total, (uint64_t)NSLOT * GENS * EV / 2);
}

static int teardown(void **state)
{
    unlink(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
