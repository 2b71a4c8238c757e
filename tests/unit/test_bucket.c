/* test_bucket.c — the bucket table and the frame trie its stacks live in (bucket.c,
 * frames.c; issue 23): exactly one bucket per distinct (type, stack), stacks read back
 * whole, with the hash real or forced to collide, the frames two stacks share, and the
 * cap's overflow bucket. Each test runs in a child of its own: the table is per process
 * and a test may set a cap or a colliding hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "bucket.h"
#include "frames.h"
#include "options.h"
#include "prof.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                                \
            _exit(10);                                                                             \
        }                                                                                          \
    } while (0)

static void in_child(void (*fn)(void))
{
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

#define DEPTH 32
/* Stack j of a family: 32 frames, the outer ones shared by all, differing from the base
 * stack in one frame only, at position j % DEPTH (innermost 0), by j / DEPTH + 1. */
static void family(unsigned j, uintptr_t *pcs)
{
    for (unsigned k = 0; k < DEPTH; k++)
        pcs[k] = 0x400000 + k * 0x40;
    pcs[j % DEPTH] += (j / DEPTH + 1) * 4;
}

/* Every stack of a family and the base, of each type, plus the base's prefixes (stacks
 * of its outer frames only) and the empty stack: all distinct buckets, each found again,
 * each read back as it was given. */
static void distinct(unsigned nfam)
{
    enum { MAXB = 8192 };
    static struct cp_bucket *seen[MAXB];
    static uintptr_t keys[MAXB][DEPTH];
    static unsigned keyn[MAXB];
    unsigned nb = 0;
    uintptr_t pcs[DEPTH], base[DEPTH], out[CP_MAX_DEPTH];
    family(0, base);
    base[0] -= 4; /* (family(0) changed frame 0) */
    for (int type = 0; type < 2; type++) {
        enum cp_ptype t = type ? CP_MUTEX : CP_HEAP;
        for (unsigned j = 0; j <= nfam + DEPTH; j++) {
            unsigned n = DEPTH;
            if (j < nfam) {
                family(j, pcs);
            } else if (j == nfam) {
                memcpy(pcs, base, sizeof pcs);
            } else { /* the base's outer n frames, n = 0 .. DEPTH - 1 */
                n = j - nfam - 1;
                memcpy(pcs, base + (DEPTH - n), n * sizeof *pcs);
            }
            struct cp_bucket *b = cp_bucket_get(t, pcs, n);
            CHECK(b != NULL && !b->overflow && b->type == t && b->nstk == n);
            for (unsigned i = 0; i < nb; i++)
                CHECK(seen[i] != b);
            CHECK(nb < MAXB);
            seen[nb] = b;
            memcpy(keys[nb], pcs, n * sizeof *pcs);
            keyn[nb++] = n;
        }
    }
    CHECK(cp_bucket_count() == nb);
    for (unsigned i = 0; i < nb; i++) {
        CHECK(cp_bucket_get(seen[i]->type, keys[i], keyn[i]) == seen[i]);
        CHECK(cp_bucket_stack(seen[i], out) == keyn[i]);
        CHECK(memcmp(out, keys[i], keyn[i] * sizeof *out) == 0);
    }
    CHECK(cp_bucket_count() == nb);
    /* nodes are shared: the base's 32, and for a stack that differs at frame p (0
     * innermost) its p + 1 innermost frames; none for the prefixes or the second type */
    uint64_t nodes = DEPTH;
    for (unsigned j = 0; j < nfam; j++)
        nodes += j % DEPTH + 1;
    CHECK(cp_frames_count() == nodes);
}

static void distinct_real_hash(void)
{
    CHECK(cp_bucket_init(64 << 20, 16) == 0);
    distinct(4000);
}

static void distinct_colliding(void)
{
    /* every stack on one chain, with one tag: only the compare of type, depth, overflow
     * and frames keeps them apart */
    CHECK(cp_bucket_init(64 << 20, 16) == 0);
    cp_bucket_hash_keep_for_tests(0);
    distinct(600);
}

static void test_distinct_real_hash(void **state)
{
    in_child(distinct_real_hash);
}

static void test_distinct_colliding(void **state)
{
    in_child(distinct_colliding);
}

/* The chain heads grow in steps (issue 29: 16 KiB at the first bucket, not 4 MiB): each
 * growth relinks every bucket into the larger table, hashed again from its stack. Heap
 * and mutex stacks and both types' overflow buckets (made between growths, with the cap
 * lowered for a moment) are each found again after every growth, never made twice. */
static void heads_grow(void)
{
    enum { N = 40000 };
    static struct cp_bucket *b[N];
    uintptr_t pcs[3];
    CHECK(cp_bucket_init(256 << 20, 20) == 0);
    unsigned over_at = 1000;
    struct cp_bucket *over[2] = {NULL, NULL};
    uint64_t masks[4], nm = 0;
    for (unsigned i = 0; i < N; i++) {
        if (i == over_at) {
            CHECK(cp_bucket_init(1, 20) == 0); /* every new stack overflows */
            for (int t = 0; t < 2; t++) {
                uintptr_t o[1] = {0x7000 + t};
                over[t] = cp_bucket_get(t ? CP_MUTEX : CP_HEAP, o, 1);
                CHECK(over[t] && over[t]->overflow);
            }
            CHECK(cp_bucket_init(256 << 20, 20) == 0);
        }
        pcs[0] = 0x500000 + i * 16;
        pcs[1] = 0x600000 + (i % 7) * 16;
        pcs[2] = 0x400000;
        b[i] = cp_bucket_get(i & 1 ? CP_MUTEX : CP_HEAP, pcs, 1 + i % 3);
        CHECK(b[i] != NULL && !b[i]->overflow);
        uint64_t m = cp_bucket_heads_mask.v;
        if (nm == 0 || masks[nm - 1] != m) {
            CHECK(nm < 4);
            masks[nm++] = m;
        }
    }
    /* 2^12 heads, then 2^16 past 2^11 buckets, 2^20 past 2^15 */
    CHECK(nm == 3 && masks[0] == (1u << 12) - 1 && masks[1] == (1u << 16) - 1 &&
          masks[2] == (1u << 20) - 1);
    uint64_t count = cp_bucket_count();
    CHECK(count == N + 2);
    for (unsigned i = 0; i < N; i++) {
        pcs[0] = 0x500000 + i * 16;
        pcs[1] = 0x600000 + (i % 7) * 16;
        pcs[2] = 0x400000;
        CHECK(cp_bucket_get(i & 1 ? CP_MUTEX : CP_HEAP, pcs, 1 + i % 3) == b[i]);
    }
    CHECK(cp_bucket_init(1, 20) == 0);
    for (int t = 0; t < 2; t++) {
        uintptr_t o[1] = {0x9000 + t};
        CHECK(cp_bucket_get(t ? CP_MUTEX : CP_HEAP, o, 1) == over[t]);
    }
    CHECK(cp_bucket_count() == count);
}

static void test_heads_grow(void **state)
{
    in_child(heads_grow);
}

/* cp_frames_shared_outer against the stacks themselves, on stacks of a few frames drawn
 * from a small alphabet (so that they share outer frames and repeat pcs below a
 * difference) and of random depths. */
static void shared_outer(void)
{
    CHECK(cp_bucket_init(64 << 20, 16) == 0);
    enum { N = 400 };
    static uintptr_t st[N][12];
    static unsigned len[N];
    static struct cp_bucket *b[N];
    uint64_t r = 88172645463325252ull;
    for (unsigned i = 0; i < N; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        len[i] = (unsigned)(r % 13);
        for (unsigned k = 0; k < len[i]; k++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            /* outer frames mostly the same, inner ones from three values */
            st[i][len[i] - 1 - k] = 0x1000 + (k < 3 ? 0 : (r % 3) * 16);
        }
        b[i] = cp_bucket_get(CP_HEAP, st[i], len[i]);
        CHECK(b[i] != NULL);
    }
    for (unsigned i = 0; i < N; i++)
        for (unsigned j = 0; j < N; j++) {
            unsigned k = 0;
            while (k < len[i] && k < len[j] && st[i][len[i] - 1 - k] == st[j][len[j] - 1 - k])
                k++;
            CHECK(cp_frames_shared_outer(b[i]->leaf, b[i]->nstk, b[j]->leaf, b[j]->nstk) == k);
        }
}

static void test_shared_outer(void **state)
{
    in_child(shared_outer);
}

/* Past the cap every new stack folds into its type's overflow bucket, which is counted,
 * is not the empty stack's bucket (with every hash the same, so they meet on one chain),
 * and a stack that had a bucket before the cap keeps it. */
static void cap(void)
{
    CHECK(cp_bucket_init(256 * 1024, 16) == 0);
    cp_bucket_hash_keep_for_tests(0);
    struct cp_bucket *empty = cp_bucket_get(CP_HEAP, NULL, 0);
    CHECK(empty && !empty->overflow);
    uintptr_t pcs[DEPTH], first[DEPTH];
    struct cp_bucket *over = NULL, *firstb = NULL;
    unsigned made = 0;
    for (unsigned i = 0; i < 4000; i++) {
        for (unsigned k = 0; k < DEPTH; k++) /* no frame shared: the most nodes a stack */
            pcs[k] = 0x10000 + (uintptr_t)i * 0x1000 + k * 8;
        struct cp_bucket *b = cp_bucket_get(CP_HEAP, pcs, DEPTH);
        CHECK(b != NULL);
        if (i == 0) {
            firstb = b;
            memcpy(first, pcs, sizeof first);
        }
        if (b->overflow) {
            CHECK(!over || b == over);
            over = b;
            CHECK(b != empty && b->nstk == 0);
        } else {
            CHECK(!over); /* once past the cap, never a new bucket */
            made++;
        }
    }
    CHECK(over != NULL);
    CHECK(cp_bucket_overflowed() == 4000 - made);
    /* what the cap counts stayed under it (buckets and their frames), but for the
     * overflow bucket itself, made past it */
    CHECK(cp_bucket_bytes() <= 256 * 1024 + sizeof(struct cp_bucket));
    CHECK(made > 100 && made < 400);
    CHECK(cp_bucket_get(CP_HEAP, first, DEPTH) == firstb);
    CHECK(cp_bucket_get(CP_HEAP, NULL, 0) == empty);
    /* a mutex stack past the cap: its own type's overflow bucket */
    struct cp_bucket *m = cp_bucket_get(CP_MUTEX, pcs, DEPTH);
    CHECK(m && m->overflow && m != over && m->type == CP_MUTEX);
}

static void test_cap(void **state)
{
    in_child(cap);
}

/* The flusher's side (resolve.c's cp_account) with every hash equal: a ring's records
 * carry the frames that differ from its last stack, the flusher rebuilds the stack, and
 * the lookup's compare stops at the last stack's node of the depth they share (the
 * hint). With one chain and one tag for all, a hint one frame too deep, or a compare that
 * trusts it wrongly, merges stacks: each stack's bucket must get exactly its events.
 * Stacks of 1..60 frames that share outer parts of every length, recorded in a
 * pseudo-random order with runs of one stack. */
#define AC_N 40
#define AC_EVENTS 20000
static void account_colliding(void)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/ctrprof-test-bucket.%d.count", (int)getpid());
    unlink(path);
    static const char meta[] = "Program: test_bucket\nCtrprof-Format: 3\nMemRate: 1\n\n";
    struct cp_options o;
    cp_options_load(&o, NULL);
    o.flush_ms = 1;
    o.mem_rate = 1;
    cp_bucket_hash_keep_for_tests(0);
    CHECK(cp_prof_init(&o, path, meta, sizeof meta - 1, false) == 0 && cp_prof_start() == 0);
    static uintptr_t st[AC_N][64];
    unsigned len[AC_N];
    uint64_t want[AC_N] = {0};
    for (unsigned i = 0; i < AC_N; i++) {
        len[i] = 1 + (i * 37) % 60;
        unsigned shared = (i * 11) % (len[i] + 1);
        /* j from the outer end: the shared frames, then frames of a few kinds, so that
         * stacks also share frames below where they first differ */
        for (unsigned j = 0; j < len[i]; j++)
            st[i][len[i] - 1 - j] =
                j < shared ? 0x7100000 + j * 16 : 0x7200000 + (uintptr_t)(i % 5) * 0x10000 + j * 16;
    }
    /* two stacks the same but for their innermost frame, or their outermost */
    memcpy(st[2], st[3], sizeof st[2]);
    len[2] = len[3];
    st[2][0] ^= 0x100;
    memcpy(st[4], st[5], sizeof st[4]);
    len[4] = len[5];
    st[4][len[4] - 1] ^= 0x100;
    struct cp_thread *t = cp_thread_get();
    CHECK(t != NULL);
    uintptr_t base = (uintptr_t)0x6c0000000000ull;
    uint64_t x = 4321;
    for (unsigned k = 0; k < AC_EVENTS;) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        unsigned i = (unsigned)(x >> 33) % AC_N, run = (x >> 20) % 3 == 0 ? 3 : 1;
        for (unsigned r = 0; r < run; r++, k++) {
            cp_event_alloc(t, (void *)(base + ((uintptr_t)k << 4)), 64, st[i], len[i]);
            want[i]++;
        }
    }
    cp_prof_flush_all();
    cp_prof_flush_all();
    for (unsigned i = 0; i < AC_N; i++) {
        struct cp_bucket *b = cp_bucket_get(CP_HEAP, st[i], len[i]);
        CHECK(b != NULL);
        if (b->u.mem.active.aobj / 65536 != want[i])
            fprintf(stderr, "stack %u: %llu events, want %llu\n", i,
                    (unsigned long long)(b->u.mem.active.aobj / 65536),
                    (unsigned long long)want[i]);
        CHECK(b->u.mem.active.aobj / 65536 == want[i]);
    }
    CHECK(cp_bucket_count() == AC_N);
    unlink(path);
}

static void test_account_colliding(void **state)
{
    in_child(account_colliding);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distinct_real_hash),
        cmocka_unit_test(test_distinct_colliding),
        cmocka_unit_test(test_heads_grow),
        cmocka_unit_test(test_shared_outer),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_account_colliding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
