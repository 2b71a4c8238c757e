/* test_unwind.c — the CFI walker (core/unwind.c) against libunwind's unw_backtrace on the
 * same stacks: frames with and without a frame pointer, alloca (the CFA on rbp in a
 * function that otherwise has none), big frames, libc's own frames (qsort's callback),
 * a thread's stack (it ends at clone3), truncation, signal handlers (through the signal
 * frame, also from an alternate signal stack), a makecontext coroutine's stack, and a
 * frame without unwind information (the walker must give up and the capture fall back
 * to libunwind). Every comparison is exact: the same return addresses in the same order,
 * the same truncation. */
#include <alloca.h>
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <cmocka.h> /* after the headers it needs */

#include "options.h"
#include "stack.h"
#include "unwind.h"

#include "../programs/exprframe.h"

#if defined(__GNUC__) && !defined(__clang__)
#define NO_FP __attribute__((noinline, optimize("omit-frame-pointer")))
#else
#define NO_FP __attribute__((noinline))
#endif

/* What the leaves saw; checked by the test that set them off (cmocka's asserts are for
 * the main thread, not for signal handlers and other threads). */
static unsigned compared, differed, last_depth, max_depth = 128;
static int last_truncated;

/* Under TSan, libunwind cannot run on a thread that exits: its per-thread cache is freed by
 * a TSD destructor in which TSan's runtime crashes (with or without ctrprof). There the
 * thread's stack is walked by the CFI walker alone, and the test asks that it reached the
 * end of the stack by itself (no fallback, no truncation). */
static int cfi_only;

/* Capture this stack both ways, from the caller of check_stack on (skip 1), and compare. */
static __attribute__((noinline)) void check_stack(void)
{
    uintptr_t a[160], b[160];
    int ta = -1, tb = -1;
    unsigned na = cp_stack_capture(CP_UNWIND_CFI, a, max_depth, 1, &ta);
    compared++;
    last_depth = na;
    last_truncated = ta;
    if (cfi_only)
        return;
    unsigned nb = cp_stack_capture(CP_UNWIND_LIBUNWIND, b, max_depth, 1, &tb);
    if (na != nb || ta != tb || memcmp(a, b, na * sizeof a[0]) != 0)
        differed++;
}

static __attribute__((noinline)) int rec_fp(int n)
{
    if (n == 0) {
        check_stack();
        return 1;
    }
    volatile int pad[4] = {n};
    return rec_fp(n - 1) + pad[0];
}

static NO_FP int rec_nofp(int n, int big)
{
    volatile char frame[4096]; /* a large rsp-based frame when big */
    if (n == 0) {
        check_stack();
        return 1;
    }
    frame[n % 64] = (char)n;
    int r = big ? rec_nofp(n - 1, big) + frame[n % 64] : rec_nofp(n - 1, big) + 1;
    return r;
}

static NO_FP int rec_alloca(int n)
{
    /* a variable-sized frame: GCC keeps rbp and puts the CFA on it */
    volatile char *p = alloca(16 + (size_t)(n % 7) * 48);
    p[0] = (char)n;
    if (n == 0) {
        check_stack();
        return p[0];
    }
    return rec_alloca(n - 1) + p[0];
}

/* mixed: frame pointer, none, alloca, in turn */
static int rec_mixed(int n);
static NO_FP int mixed_nofp(int n)
{
    volatile int x = n;
    return rec_mixed(n - 1) + x;
}
static NO_FP int mixed_alloca(int n)
{
    volatile char *p = alloca(32 + (size_t)n);
    p[0] = 1;
    return rec_mixed(n - 1) + p[0];
}
static __attribute__((noinline)) int rec_mixed(int n)
{
    if (n <= 0) {
        check_stack();
        return 0;
    }
    volatile int y = n;
    switch (n % 3) {
    case 0:
        return mixed_nofp(n) + y;
    case 1:
        return mixed_alloca(n) + y;
    default:
        return rec_mixed(n - 1) + y;
    }
}

static int checked_in_cmp;
static int cmp_ints(const void *a, const void *b)
{
    if (!checked_in_cmp++)
        check_stack(); /* inside libc's qsort, which has no frame pointer */
    return *(const int *)a - *(const int *)b;
}

static void reset(void)
{
    compared = differed = 0;
    last_depth = 0;
    last_truncated = -1;
    max_depth = 128;
}

static void test_recursion_shapes(void **state)
{
    reset();
    uint64_t parsed, unusable, unusable0;
    cp_unwind_stats(&parsed, &unusable0); /* test_libunwind_on_demand met __restore_rt */
    for (int d = 0; d < 40; d++) {
        rec_fp(d);
        rec_nofp(d, 0);
        rec_nofp(d % 8, 1);
        rec_alloca(d);
        rec_mixed(d);
    }
    assert_int_equal(compared, 200);
    assert_int_equal(differed, 0);
    assert_true(last_depth > 40); /* rec_mixed(39): deeper than the recursion itself */
    assert_int_equal(last_truncated, 0);
    cp_unwind_stats(&parsed, &unusable);
    assert_true(parsed > 10);
    assert_int_equal(unusable, unusable0);
}

/* The per-thread cache of the last walk (unwind.c): a walk that meets a state of the last
 * one and finds the stack words above it unchanged copies the rest. Consecutive captures
 * whose leaf parts differ (in functions, frame sizes and number of frames) under a shared
 * outer part, at a cap small enough for the cache (the shim's is 88), including caps that
 * cut the walk (the joined walk may then be shorter below the join and go on walking from
 * where the last one stopped): each capture is compared with the same walk without the
 * cache and with libunwind. */
static unsigned cache_differs;
static __attribute__((noinline)) void check_cached(void)
{
    uintptr_t a[160], b[160], c[160];
    int ta = -1, tb = -1, tc = -1;
    cp_unwind_cache_enable(0);
    unsigned nb = cp_stack_capture(CP_UNWIND_CFI, b, max_depth, 1, &tb);
    cp_unwind_cache_enable(1);
    unsigned na = cp_stack_capture(CP_UNWIND_CFI, a, max_depth, 1, &ta);
    unsigned nc = cp_stack_capture(CP_UNWIND_LIBUNWIND, c, max_depth, 1, &tc);
    compared++;
    last_depth = na;
    cache_differs += na != nb || ta != tb || memcmp(a, b, na * sizeof a[0]) != 0;
    differed += na != nc || ta != tc || memcmp(a, c, na * sizeof a[0]) != 0;
}

static int leaf_path(unsigned path, int n);
static NO_FP int leaf_nofp(unsigned path, int n)
{
    volatile char big[(1 + 5) * 40];
    big[n % 40] = (char)n;
    return leaf_path(path >> 1, n - 1) + big[n % 40];
}
static __attribute__((noinline)) int leaf_fp(unsigned path, int n)
{
    volatile int y = n;
    return leaf_path(path >> 1, n - 1) + y;
}
static NO_FP int leaf_alloca(unsigned path, int n)
{
    volatile char *p = alloca(16 + (size_t)(path & 3) * 32);
    p[0] = 1;
    return leaf_path(path >> 1, n - 1) + p[0];
}
/* n more frames, chosen by the bits of path, then the capture */
static __attribute__((noinline)) int leaf_path(unsigned path, int n)
{
    if (n <= 0) {
        check_cached();
        return 0;
    }
    switch (path % 3) {
    case 0:
        return leaf_nofp(path, n);
    case 1:
        return leaf_fp(path, n);
    default:
        return leaf_alloca(path, n);
    }
}
/* a shared outer part of `outer` frames, then a leaf part */
static NO_FP int outer_part(int outer, unsigned path, int leaf)
{
    volatile int x = outer;
    if (outer > 0)
        return outer_part(outer - 1, path, leaf) + x;
    return leaf_path(path, leaf);
}

static void test_cached_walks(void **state)
{
    reset();
    cache_differs = 0;
    uint64_t joins0 = cp_unwind_cache_joins();
    for (unsigned cap = 6; cap <= 90; cap += 14) {
        max_depth = cap;
        for (unsigned path = 0; path < 60; path++)
            outer_part(20 + (int)(path % 4), path * 7, (int)(path % 9));
    }
    assert_int_equal(compared, 7 * 60);
    assert_int_equal(cache_differs, 0);
    assert_int_equal(differed, 0);
    uint64_t joins = cp_unwind_cache_joins() - joins0;
    print_message("%llu of %u walks joined the last one\n", (unsigned long long)joins, compared);
    assert_true(joins > compared / 2);
}

/* The cache must re-read every word the last walk read, not only trust the state it
 * joins at: a synthetic stack of frame-pointer frames (return addresses inside two
 * functions whose CFA is rbp + 16 and which save rbp at CFA - 16), walked once, then
 * walked again from the same registers after one saved rbp, then one return address,
 * above the first frames was changed. Each second walk must follow the new words. */
static uintptr_t ra_of_site;
static __attribute__((noinline)) void note_ra(void)
{
    ra_of_site = (uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
}
static volatile int site_calls;
static __attribute__((noinline, optimize("no-omit-frame-pointer"))) void fp_site1(void)
{
    note_ra();
    site_calls += 1;
}
static __attribute__((noinline, optimize("no-omit-frame-pointer"))) void fp_site2(void)
{
    note_ra();
    site_calls += 2; /* not the same code: GCC would fold the two into one */
}

static uintptr_t fake[128];
/* frame i's saved rbp and return address at fake[at], fake[at + 1] (the CFA is
 * &fake[at + 2]); chain: frames at 8, 16, 24, ... ending with a return address of 0 */
static void fake_chain(unsigned first, unsigned nframes, uintptr_t ra)
{
    for (unsigned i = 0; i < nframes; i++) {
        unsigned at = first + 8 * i;
        fake[at] = (uintptr_t)&fake[at + 8];
        fake[at + 1] = i + 1 < nframes ? ra : 0;
    }
}

static int walk_fake(uintptr_t ra0, uintptr_t *pcs)
{
    struct cp_unwind_regs r = {ra0, (uintptr_t)&fake[2], (uintptr_t)&fake[8]};
    int full;
    return cp_unwind_cfi(r, pcs, 40, (uintptr_t)&fake[0], (uintptr_t)&fake[127], &full);
}

static void test_cached_walk_rereads(void **state)
{
    fp_site1();
    uintptr_t ra1 = ra_of_site;
    fp_site2();
    uintptr_t ra2 = ra_of_site;
    assert_true(ra1 != ra2);
    uintptr_t pcs[40];
    cp_unwind_cache_enable(1);
    memset(fake, 0, sizeof fake);
    fake_chain(8, 10, ra1);
    int n = walk_fake(ra1, pcs);
    assert_int_equal(n, 10);                   /* ra1 ten times, then the 0 */
    assert_int_equal(walk_fake(ra1, pcs), 10); /* joined at once */
    /* a saved rbp changed: frame 3 on goes elsewhere (a chain of ra2 frames at 88, where
     * the first chain never was: its words all still hold what the first walk read) */
    fake_chain(88, 5, ra2);
    fake[16] = (uintptr_t)&fake[88];
    uint64_t j0 = cp_unwind_cache_joins();
    n = walk_fake(ra1, pcs);
    assert_int_equal(n, 3 + 4);
    assert_true(pcs[2] == ra1 && pcs[3] == ra2 && pcs[6] == ra2);
    /* a return address changed, the rbp chain not */
    fake[97] = ra1;
    n = walk_fake(ra1, pcs);
    assert_int_equal(n, 7);
    assert_true(pcs[3] == ra2 && pcs[4] == ra1 && pcs[5] == ra2);
    assert_true(cp_unwind_cache_joins() > j0); /* the cache was tried, not bypassed */
    cp_unwind_cache_enable(1);
}

/* The cache's checks against changed words, at random: chains of frame-pointer frames on
 * the synthetic stack (as above: return addresses in fp_site1 or fp_site2, rbp saved at
 * CFA - 16), walked, then one to three of their words changed (a saved rbp pointed at
 * another frame, a return address swapped or zeroed) and walked again with the cache
 * and without it: the same result every time. The walks meet the last one at several
 * of their states, above and below the changed words (unwind.c's wc_join_ok reads the
 * words above once a walk and remembers the highest changed one). */
static uint64_t rnd_state = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (unsigned)(rnd_state % n);
}

static uintptr_t big_fake[512];
static int walk_big(uintptr_t ra0, uintptr_t *pcs, int *full)
{
    struct cp_unwind_regs r = {ra0, (uintptr_t)&big_fake[2], (uintptr_t)&big_fake[8]};
    return cp_unwind_cfi(r, pcs, 40, (uintptr_t)&big_fake[0], (uintptr_t)&big_fake[511], full);
}

static void test_cached_walks_mutated(void **state)
{
    fp_site1();
    uintptr_t ra[3] = {ra_of_site, 0, 0};
    fp_site2();
    ra[1] = ra_of_site;
    unsigned walks = 0, differ = 0, nonempty = 0;
    cp_unwind_cache_enable(1);
    uint64_t j0 = cp_unwind_cache_joins();
    for (unsigned round = 0; round < 400; round++) {
        /* frames at word 8, then every 8 or 16 words, up to 30 of them */
        memset(big_fake, 0, sizeof big_fake);
        unsigned at[32], nf = 3 + rnd(28);
        at[0] = 8;
        for (unsigned i = 1; i < nf; i++)
            at[i] = at[i - 1] + 8 * (1 + rnd(2));
        for (unsigned i = 0; i < nf; i++) {
            big_fake[at[i]] = i + 1 < nf ? (uintptr_t)&big_fake[at[i + 1]] : 0;
            big_fake[at[i] + 1] = i + 1 < nf ? ra[rnd(2)] : 0;
        }
        uintptr_t a[40], b[40];
        int fa, fb;
        (void)walk_big(ra[0], a, &fa);
        for (unsigned step = 0; step < 6; step++) {
            for (unsigned m = 1 + rnd(3); m-- > 0;) {
                unsigned i = rnd(nf);
                if (rnd(2))
                    big_fake[at[i] + 1] = ra[rnd(3)];
                else /* another frame above, or one of the words between frames */
                    big_fake[at[i]] = (uintptr_t)&big_fake[at[i] + 8 * (1 + rnd(3))];
            }
            cp_unwind_cache_enable(0);
            int nb = walk_big(ra[0], b, &fb);
            cp_unwind_cache_enable(1);
            int na = walk_big(ra[0], a, &fa);
            walks++;
            nonempty += nb > 3;
            differ += na != nb || (nb > 0 && (fa != fb || memcmp(a, b, (size_t)nb * sizeof a[0])));
        }
    }
    uint64_t joins = cp_unwind_cache_joins() - j0;
    print_message("%u walks (%u of more than 3 frames), %llu joined the last one\n", walks,
                  nonempty, (unsigned long long)joins);
    cp_unwind_cache_enable(1);
    assert_int_equal(differ, 0);
    assert_true(nonempty > walks / 2);
    assert_true(joins > walks / 4);
}

/* A chain of nf frame-pointer frames whose second return address alternates between two
 * sites at each walk, walked 320 times: the joins of the last walk's states it made, and
 * (differ) the walks that gave other than a walk without the cache gives. */
static unsigned alternating_walks(unsigned nf, uintptr_t ra0, uintptr_t ra1, unsigned *differ)
{
    memset(big_fake, 0, sizeof big_fake);
    for (unsigned i = 0; i < nf; i++) {
        big_fake[8 + 8 * i] = i + 1 < nf ? (uintptr_t)&big_fake[16 + 8 * i] : 0;
        big_fake[9 + 8 * i] = i + 1 < nf ? ra0 : 0;
    }
    uint64_t j0 = cp_unwind_cache_joins();
    for (unsigned w = 0; w < 320; w++) {
        big_fake[17] = w & 1 ? ra1 : ra0;
        uintptr_t a[40], b[40];
        int fa, fb;
        cp_unwind_cache_enable(0);
        int nb = walk_big(ra0, b, &fb);
        cp_unwind_cache_enable(1);
        int na = walk_big(ra0, a, &fa);
        *differ += na != nb || nb != (int)nf || fa != fb || memcmp(a, b, (size_t)nb * sizeof a[0]);
    }
    return (unsigned)(cp_unwind_cache_joins() - j0);
}

/* Every walk tries a join, shallow or deep (since session 36: the joined walk is the faster
 * beside the flusher process), and a joined walk is the plain one's. */
static void test_shallow_walks_join(void **state)
{
    fp_site1();
    uintptr_t ra0 = ra_of_site;
    fp_site2();
    uintptr_t ra1 = ra_of_site;
    unsigned differ = 0;
    unsigned shallow = alternating_walks(6, ra0, ra1, &differ);
    unsigned deep = alternating_walks(30, ra0, ra1, &differ);
    unsigned again = alternating_walks(6, ra0, ra1, &differ);
    print_message("joins of 320 walks: 6 frames %u, 30 frames %u, 6 again %u\n", shallow, deep,
                  again);
    assert_int_equal(differ, 0);
    assert_true(shallow >= 320 - 4);
    assert_true(deep >= 320 - 4);
    assert_true(again >= 320 - 4);
}

static void test_libc_frames(void **state)
{
    reset();
    int v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (i * 37) % 64;
    checked_in_cmp = 0;
    qsort(v, 64, sizeof v[0], cmp_ints);
    assert_int_equal(compared, 1);
    assert_int_equal(differed, 0);
    assert_true(last_depth >= 4); /* cmp, qsort's frames, this test, cmocka, main... */
}

static void *thread_main(void *arg)
{
    rec_mixed(20);
    rec_nofp(10, 0);
    return arg;
}

static void test_thread_stack_ends(void **state)
{
    reset();
#if defined(__SANITIZE_THREAD__)
    cfi_only = 1;
#endif
    uint64_t fb0, fb1, c, d;
    cp_stack_stats(&fb0, &c, &d);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_main, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    cp_stack_stats(&fb1, &c, &d);
    cfi_only = 0;
    assert_int_equal(compared, 2);
    assert_int_equal(differed, 0);
    assert_int_equal(fb1, fb0); /* the walker ended the stack itself, at clone3 */
    assert_int_equal(last_truncated, 0);
    assert_true(last_depth >= 3); /* rec_nofp, thread_main, start_thread, clone3 */
}

static void test_truncation(void **state)
{
    reset();
    max_depth = 5;
    rec_fp(30);
    rec_nofp(30, 0);
    assert_int_equal(compared, 2);
    assert_int_equal(differed, 0);
    assert_int_equal(last_depth, 5);
    assert_int_equal(last_truncated, 1);
    reset();
    rec_mixed(200); /* deeper than CP_MAX_DEPTH: truncated at 128 either way */
    assert_int_equal(differed, 0);
    assert_int_equal(last_depth, 128);
    assert_int_equal(last_truncated, 1);
}

/* fn(sig) from a frame whose CFA the CFI gives as a DWARF expression (exprframe.h): the
 * walker cannot go through it; frame pointers and libunwind can. */
static __attribute__((noinline)) void nocfi_call(void (*fn)(int), int sig)
{
    (void)expr_call((uintptr_t(*)(uintptr_t))(uintptr_t)fn, (uintptr_t)sig);
    __asm__ volatile("" ::: "memory"); /* (not a tail call: this frame stays) */
}

/* Run handler on this thread's stack, from a signal frame. */
static void raise_to(int sig, void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    assert_int_equal(sigaction(sig, &sa, NULL), 0);
    raise(sig);
}

static void on_signal(int sig)
{
    (void)sig;
    rec_nofp(3, 0);
}

static void test_nocfi_falls_back(void **state)
{
    reset();
    uint64_t fb0, c, d;
    cp_stack_stats(&fb0, &c, &d);
    nocfi_call(on_signal, 0);
    uint64_t fb1;
    cp_stack_stats(&fb1, &c, &d);
    assert_int_equal(compared, 1);
    assert_int_equal(differed, 0); /* the fallback is libunwind itself */
    assert_true(fb1 > fb0);        /* a frame without CFI: the walker gave up */
    assert_true(last_depth > 6);   /* and libunwind went on past it */
}

/* A frame no CFI covers is walked by its frame pointer: nothing falls back, the walk
 * equals libunwind's and goes on past it. */
static void test_uncovered_frame_walked(void **state)
{
    reset();
    uint64_t fb0, fb1, c, d;
    cp_stack_stats(&fb0, &c, &d);
    (void)plain_call((uintptr_t(*)(uintptr_t))(uintptr_t)on_signal, 0); /* (exprframe.h) */
    cp_stack_stats(&fb1, &c, &d);
    assert_int_equal(compared, 1);
    assert_int_equal(differed, 0);
    assert_int_equal(fb1, fb0);
    assert_true(last_depth > 6);
}

/* A handler on the thread's stack: the walker goes through the signal frame (the
 * interrupted registers, from the ucontext) to raise, this test and cmocka, as libunwind
 * does; nothing falls back. */
static void test_signal_frame_walked(void **state)
{
    reset();
    uint64_t fb0, fb1, c, d;
    cp_stack_stats(&fb0, &c, &d);
    raise_to(SIGUSR1, on_signal);
    cp_stack_stats(&fb1, &c, &d);
    assert_int_equal(compared, 1);
    assert_int_equal(differed, 0);
    assert_int_equal(fb1, fb0);
    assert_true(last_depth > 8); /* rec_nofp x4, on_signal, __restore_rt, raise, test.. */
}

/* The same on an alternate signal stack (mmap'd, with a guard page below): the walk
 * starts on a stack that is not the thread's (its bounds from sigaltstack) and goes on,
 * past the signal frame, on the thread's. */
static void test_altstack_walked(void **state)
{
    reset();
    size_t sz = 64 * 1024;
    char *m = mmap(NULL, 4096 + sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(mprotect(m, 4096, PROT_NONE), 0);
    stack_t ss = {.ss_sp = m + 4096, .ss_size = sz}, old;
    assert_int_equal(sigaltstack(&ss, &old), 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK;
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
    uint64_t fb0, fb1, c, d;
    cp_stack_stats(&fb0, &c, &d);
    raise(SIGUSR1);
    cp_stack_stats(&fb1, &c, &d);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    munmap(m, 4096 + sz);
    assert_int_equal(compared, 1);
    assert_int_equal(differed, 0);
    assert_int_equal(fb1, fb0);
    assert_true(last_depth > 8);
}

/* The bounds of a stack nobody keeps (a coroutine's, not the thread's nor the alternate
 * signal stack) are the memory readable above the walk's start, found by probing: they
 * stop at a PROT_NONE page (another stack's guard) and at an unmapped one, and growing
 * them (cp_stack_more) never passes either. */
static void test_probed_bounds(void **state)
{
    char *m = mmap(NULL, 6 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    /* [0, 3 pages) readable, page 3 PROT_NONE, page 4 readable, page 5 unmapped */
    assert_int_equal(mprotect(m + 3 * 4096, 4096, PROT_NONE), 0);
    assert_int_equal(munmap(m + 5 * 4096, 4096), 0);
    uintptr_t lo, hi, sp = (uintptr_t)m + 100;
    assert_int_equal(cp_stack_bounds(sp, &lo, &hi), 1);
    assert_true(lo == sp);
    assert_true(hi == (uintptr_t)m + 2 * 4096); /* two pages probed first */
    assert_int_equal(cp_stack_more((uintptr_t)m + 3 * 4096, &hi), 1);
    assert_true(hi == (uintptr_t)m + 3 * 4096);
    assert_int_equal(cp_stack_more((uintptr_t)m + 3 * 4096 + 8, &hi), 0); /* the guard */
    assert_true(hi == (uintptr_t)m + 3 * 4096);
    /* from page 4: its own page, then the unmapped one stops it */
    sp = (uintptr_t)m + 4 * 4096 + 64;
    assert_int_equal(cp_stack_bounds(sp, &lo, &hi), 1);
    assert_true(hi == (uintptr_t)m + 5 * 4096);
    assert_int_equal(cp_stack_more((uintptr_t)m + 5 * 4096 + 8, &hi), 0);
    assert_true(hi == (uintptr_t)m + 5 * 4096);
    munmap(m, 5 * 4096);
}

/* A makecontext coroutine on a 64 KiB heap stack: the walk's bounds are the readable
 * memory above it (stack.c, foreign_bounds); it ends where the coroutine's stack does
 * (__start_context), as libunwind's. */
static ucontext_t co_main, co_ctx;
static void co_body(void)
{
    for (int d = 0; d < 20; d++) {
        rec_nofp(d % 5, 0);
        rec_mixed(d);
    }
}

static void test_coroutine_walked(void **state)
{
    reset();
    size_t sz = 64 * 1024;
    char *stk = malloc(sz);
    assert_non_null(stk);
    assert_int_equal(getcontext(&co_ctx), 0);
    co_ctx.uc_stack.ss_sp = stk;
    co_ctx.uc_stack.ss_size = sz;
    co_ctx.uc_link = &co_main;
    makecontext(&co_ctx, co_body, 0);
    uint64_t fb0, fb1, c, d;
    cp_stack_stats(&fb0, &c, &d);
    assert_int_equal(swapcontext(&co_main, &co_ctx), 0);
    cp_stack_stats(&fb1, &c, &d);
    free(stk);
    assert_int_equal(compared, 40);
    assert_int_equal(differed, 0);
    assert_int_equal(fb1, fb0);
    assert_true(last_depth >= 20); /* rec_mixed(19) */
}

/* libunwind is loaded on first need, where dlopen is safe (stack.c): until then a stack
 * the CFI walker gives up on is walked by frame pointers, counted, and libunwind is asked
 * for; once loaded it takes those stacks, and its symbols stay out of the program's
 * lookup scope. Runs first: every later test compares against a loaded libunwind. */
static unsigned lazy_depth;

static void on_signal_capture(int sig)
{
    (void)sig;
    uintptr_t pcs[64];
    int tr;
    lazy_depth = cp_stack_capture(CP_UNWIND_CFI, pcs, 64, 0, &tr);
}

static int libunwind_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, "libunwind") != NULL;
    if (f)
        fclose(f);
    return found;
}

static void test_libunwind_on_demand(void **state)
{
    /* a first walk outside the handler: the walker's thread-local cache is then set up
     * (under TSan its first touch allocates, which is not for a signal handler) */
    uintptr_t warm[8];
    int wt;
    cp_stack_capture(CP_UNWIND_CFI, warm, 8, 0, &wt);
    assert_false(libunwind_mapped());
    assert_false(cp_stack_libunwind_wanted());
    uint64_t fb0, fb1, c, d, fp0 = cp_stack_fp_fallbacks();
    cp_stack_stats(&fb0, &c, &d);
    nocfi_call(on_signal_capture, 0); /* a frame without CFI: the walker gives up */
    cp_stack_stats(&fb1, &c, &d);
    assert_true(fb1 > fb0);
    assert_int_equal(cp_stack_fp_fallbacks(), fp0 + 1);
    assert_true(lazy_depth >= 1); /* the handler's caller, by its frame pointer */
    assert_true(cp_stack_libunwind_wanted());
    assert_false(libunwind_mapped()); /* wanted, not loaded from the walk */

    assert_int_equal(cp_stack_load_libunwind(), 0);
    assert_true(libunwind_mapped());
    assert_false(cp_stack_libunwind_wanted());
    assert_null(dlsym(RTLD_DEFAULT, "unw_backtrace")); /* RTLD_LOCAL */
    nocfi_call(on_signal_capture, 0);
    assert_int_equal(cp_stack_fp_fallbacks(), fp0 + 1); /* libunwind took this one */
    assert_true(lazy_depth > 6); /* past the frame without CFI: this test, cmocka... */
    assert_int_equal(cp_stack_load_libunwind(), 0); /* once */
}

/* The same from a given frame (the shim's start for heap samples): a walk that cannot be
 * done with CFI is handed to libunwind once, and counted once. */
static unsigned from_depth;
static void on_signal_from(int sig)
{
    (void)sig;
    uintptr_t pcs[64];
    int trunc;
    from_depth = cp_stack_capture_from(CP_UNWIND_CFI, __builtin_frame_address(0), pcs, 64, &trunc);
}

static void test_capture_from_falls_back_once(void **state)
{
    uint64_t fb0, fb1, c, d;
    cp_stack_stats(&fb0, &c, &d);
    nocfi_call(on_signal_from, 0);
    cp_stack_stats(&fb1, &c, &d);
    assert_int_equal(fb1 - fb0, 1);
    assert_true(from_depth > 4); /* libunwind went past the frame without CFI */
}

static void test_invalidate_reparses(void **state)
{
    reset();
    uint64_t p[4], u;
    for (volatile int i = 0; i < 4; i++) { /* one call site (volatile: no peeling), so
                                              the same return addresses each time */
        if (i == 2)
            cp_unwind_invalidate();
        rec_mixed(12);
        cp_unwind_stats(&p[i], &u);
    }
    assert_int_equal(p[1], p[0]); /* all cached by the first walk */
    assert_true(p[2] > p[1]);     /* parsed again after the invalidation */
    assert_int_equal(p[3], p[2]);
    assert_int_equal(compared, 4);
    assert_int_equal(differed, 0);
}

/* Many threads walking at once through a table being filled and invalidated (the slots
 * are claimed by compare-and-swap, shapes rewritten whole): every walk of one fixed call
 * path must give the same stack. Under TSan this is the table's race test. */
static __attribute__((noinline)) unsigned capture_here(uintptr_t *pcs)
{
    int t;
    return cp_stack_capture(CP_UNWIND_CFI, pcs, 64, 0, &t);
}

static NO_FP unsigned walk_deep(int n, uintptr_t *pcs)
{
    volatile int keep = n;
    unsigned r = n ? walk_deep(n - 1, pcs) : capture_here(pcs);
    return r + (unsigned)keep * 0;
}

static void *walker(void *arg)
{
    uintptr_t first[64], again[64];
    unsigned n0 = 0, bad = 0;
    /* one call site, so the same return addresses (volatile: GCC would otherwise peel
     * the first iteration into a call of its own) */
    for (volatile int i = 0; i < 3000; i++) {
        uintptr_t *volatile dst = i ? again : first;
        unsigned n = walk_deep(12, dst);
        if (!i)
            n0 = n;
        else
            bad += n != n0 || memcmp(first, again, n * sizeof again[0]) != 0;
    }
    return (void *)(uintptr_t)(bad + (n0 < 14 ? 1000000u : 0)); /* 13 frames and more */
}

/* The cache of the last walk is a thread's from its first walk until it goes (a key's
 * destructor, or cp_unwind_thread_gone before), then the next thread's: threads made one after
 * another share one cache, and a new owner starts with nothing joined (its first walk joins nothing
 * of the last owner's). Four alive at once take four. */
/* the CFI walker alone (no libunwind: under TSan its TSD destructor crashes a thread
 * that exits, see cfi_only; no cp_unwind_cache_enable, a switch for every thread) */
static __attribute__((noinline)) void walk_cfi_only(void)
{
    uintptr_t a[64];
    int t;
    cp_stack_capture(CP_UNWIND_CFI, a, 40, 1, &t);
    __asm__ volatile("" ::: "memory");
}
static NO_FP int nest(int n)
{
    volatile int x = n;
    if (n > 0)
        return nest(n - 1) + x;
    walk_cfi_only();
    return 0;
}
static void *cached_walker(void *arg)
{
    int *joined_first = arg;
    uint64_t j[9];
    j[0] = cp_unwind_cache_joins();
    /* the same stack again and again (one call site): later walks join earlier ones */
    for (int k = 1; k <= 8; k++) {
        nest(20);
        j[k] = cp_unwind_cache_joins();
    }
    *joined_first = (j[0] != 0 ? 100 : 0) + (j[1] != 0 ? 10 : 0) + (j[8] > j[1] ? 0 : 1000);
    return NULL;
}
/* gives its cache back before it goes (the others' go back by the key's destructor) */
static void *cached_walker_gone(void *arg)
{
    cached_walker(arg);
    cp_unwind_thread_gone();
    return NULL;
}
static pthread_barrier_t four;
static void *cached_walker_four(void *arg)
{
    cached_walker(arg);
    pthread_barrier_wait(&four);
    return NULL;
}
static void test_cache_per_live_thread(void **state)
{
    reset();
    pthread_t t;
    int got = 0;
    assert_int_equal(pthread_create(&t, NULL, cached_walker_gone, &got), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    unsigned pool = cp_unwind_caches();
    for (int i = 0; i < 20; i++) {
        got = -1;
        assert_int_equal(pthread_create(&t, NULL, i % 2 ? cached_walker : cached_walker_gone, &got),
                         0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(got, 0);
    }
    assert_int_equal(cp_unwind_caches(), pool);
    /* four at once (this thread may hold one more): the pool grows to that, then stays */
    for (int round = 0; round < 3; round++) {
        pthread_t f[4];
        int g[4];
        pthread_barrier_init(&four, NULL, 4);
        for (int i = 0; i < 4; i++)
            assert_int_equal(pthread_create(&f[i], NULL, cached_walker_four, &g[i]), 0);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(pthread_join(f[i], NULL), 0);
            assert_int_equal(g[i], 0);
        }
        pthread_barrier_destroy(&four);
        assert_true(cp_unwind_caches() <= (pool > 5 ? pool : 5));
        assert_true(cp_unwind_caches() >= 4);
    }
}

static void test_concurrent_walks(void **state)
{
    pthread_t t[8];
    uint64_t fb0, fb1, c, d;
    cp_stack_stats(&fb0, &c, &d);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, walker, NULL), 0);
    for (int i = 0; i < 200; i++) {
        cp_unwind_invalidate();
        sched_yield();
    }
    uintptr_t bad = 0;
    for (int i = 0; i < 8; i++) {
        void *r;
        assert_int_equal(pthread_join(t[i], &r), 0);
        bad += (uintptr_t)r;
    }
    cp_stack_stats(&fb1, &c, &d);
    assert_int_equal(bad, 0);
    assert_int_equal(fb1, fb0); /* no walk gave up */
}

/* Direct calls with registers that do not describe a stack: never a fault, never a frame
 * read outside [lo, hi). */
static void test_bad_registers(void **state)
{
    uintptr_t pcs[16];
    int full;
    uintptr_t local[64] = {0};
    uintptr_t lo = (uintptr_t)local, hi = (uintptr_t)(local + 64);
    /* an address no CFI covers (data): walked by its frame pointer (core/unwind.c,
     * S_NOCFI), which leads to a zero return address here (local[17]): one frame; a frame
     * pointer below the stack pointer, or 0, ends the walk at that frame, nothing read */
    struct cp_unwind_regs r = {(uintptr_t)&compared + 1, lo + 64, lo + 128};
    assert_int_equal(cp_unwind_cfi(r, pcs, 16, lo, hi, &full), 1);
    assert_int_equal(pcs[0], (uintptr_t)&compared + 1);
    r.bp = lo - 4096;
    assert_int_equal(cp_unwind_cfi(r, pcs, 16, lo, hi, &full), 1);
    r.bp = 0;
    assert_int_equal(cp_unwind_cfi(r, pcs, 16, lo, hi, &full), 1);
    r.bp = lo + 128;
    /* a code address whose frame would lie outside the bounds */
    r.ip = (uintptr_t)rec_nofp + 1; /* at its first instruction: the CFA is rsp + 8 */
    r.sp = hi;
    assert_int_equal(cp_unwind_cfi(r, pcs, 16, lo, hi, &full), -1);
    r.sp = hi - 8; /* the return address slot is the last word in bounds: zero, the end */
    assert_int_equal(cp_unwind_cfi(r, pcs, 16, lo, hi, &full), 1);
    /* ip 0: an empty stack */
    r.ip = 0;
    assert_int_equal(cp_unwind_cfi(r, pcs, 16, lo, hi, &full), 0);
    assert_int_equal(full, 0);
    /* a return address and a stack of zeros: one frame, then ip 0 ends it */
    /* a hand-made stack: rec_nofp's entry returns to itself once, then to 0 */
    local[0] = (uintptr_t)rec_nofp + 1;
    r.ip = (uintptr_t)rec_nofp + 1;
    r.sp = lo;
    assert_int_equal(cp_unwind_cfi(r, pcs, 16, lo, hi, &full), 2);
    assert_int_equal(pcs[0], r.ip);
}

/* An address in a writable (not executable) segment of libc's: found from its program
 * headers (dl_iterate_phdr), not by taking a variable's address (the program's copy
 * relocations would give one of its own). */
static int libc_data_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "/libc.so"))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && !(ph->p_flags & PF_X) && (ph->p_flags & PF_W)) {
            *(uintptr_t *)data = info->dlpi_addr + ph->p_vaddr + 16;
            return 1;
        }
    }
    return 0;
}

/* A frame no CFI covers is walked by its frame pointer, a guess: the word it reads as the
 * caller's return address may be no return address at all (the code did not keep a frame
 * pointer, and rbp points at some word of the stack). Such a word that cannot be code
 * ends the walk and is not named as a frame (core/unwind.c, not_code): an address on the
 * stack being walked, one in the first 64 KiB, one that is no user address, and one in
 * an object's data, the program's or a library's. One that may be code (a JIT's, in no
 * object) is walked on from. Before session 33 each was a frame of its own (2 here). */
static void test_guess_not_code(void **state)
{
    (void)state;
    uintptr_t pcs[16];
    int full;
    uintptr_t local[64];
    uintptr_t lo = (uintptr_t)local, hi = (uintptr_t)(local + 64);
    /* code in no object: a JIT's page */
    uint8_t *jit = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(jit != MAP_FAILED);
    uintptr_t libc_data = 0;
    dl_iterate_phdr(libc_data_cb, &libc_data);
    assert_true(libc_data != 0);
    uintptr_t bad[] = {(uintptr_t)&local[30], 0x1234, (uintptr_t)0xdead000000000000ull,
                       (uintptr_t)&compared + 1, libc_data};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(local, 0, sizeof local);
        /* the JIT frame's rbp is local + 8: its "caller" returns to local[9] */
        local[9] = bad[i];
        struct cp_unwind_regs r = {(uintptr_t)jit + 16, lo, (uintptr_t)&local[8]};
        assert_int_equal(cp_unwind_cfi(r, pcs, 16, lo, hi, &full), 1);
        assert_int_equal(pcs[0], (uintptr_t)jit + 16);
        assert_int_equal(full, 0);
    }
    /* a return address into the JIT's code is walked on from: its frame's rbp leads to a
     * zero return address, the end (2 frames) */
    memset(local, 0, sizeof local);
    local[8] = (uintptr_t)&local[16];
    local[9] = (uintptr_t)jit + 32;
    struct cp_unwind_regs r = {(uintptr_t)jit + 16, lo, (uintptr_t)&local[8]};
    assert_int_equal(cp_unwind_cfi(r, pcs, 16, lo, hi, &full), 2);
    assert_int_equal(pcs[1], (uintptr_t)jit + 32);
    /* the first frame is the caller's own return address, never judged: data there is
     * walked by its frame pointer as before (test_bad_registers) */
    r.ip = (uintptr_t)&compared + 1;
    assert_int_equal(cp_unwind_cfi(r, pcs, 16, lo, hi, &full), 2);
    munmap(jit, 4096);
}

int main(void)
{
    if (!cp_unwind_cfi_available())
        return 0; /* not x86-64/glibc >= 2.35: the shim uses libunwind alone */
    cp_stack_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libunwind_on_demand),
        cmocka_unit_test(test_recursion_shapes),
        cmocka_unit_test(test_libc_frames),
        cmocka_unit_test(test_thread_stack_ends),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_nocfi_falls_back),
        cmocka_unit_test(test_uncovered_frame_walked),
        cmocka_unit_test(test_signal_frame_walked),
        cmocka_unit_test(test_altstack_walked),
        cmocka_unit_test(test_coroutine_walked),
        cmocka_unit_test(test_probed_bounds),
        cmocka_unit_test(test_capture_from_falls_back_once),
        cmocka_unit_test(test_invalidate_reparses),
        cmocka_unit_test(test_concurrent_walks),
        cmocka_unit_test(test_bad_registers),
        cmocka_unit_test(test_guess_not_code),
        cmocka_unit_test(test_cached_walks),
        cmocka_unit_test(test_cached_walk_rereads),
        cmocka_unit_test(test_cached_walks_mutated),
        cmocka_unit_test(test_shallow_walks_join),
        cmocka_unit_test(test_cache_per_live_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
