/* test_cfile_quick.c — the reader's quick walk (cfile/cfile_quick.c) against its exact walk
 * (cfile_read.c): the same answer, the same message and the same counters in the same
 * order on files built here record by record, valid and not; and the quick walk itself
 * taking the files it should (a quick walk that always deferred would agree too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cfile.h"
#include "cfile_quick.h"

/* ---- a file image built by hand ----------------------------------------------------- */

struct img {
    uint8_t *b;
    size_t len, used;
    uint32_t h;
};

static void img_init(struct img *m, size_t len)
{
    m->b = calloc(1, len);
    assert_non_null(m->b);
    m->len = len;
    static const char meta[] = "Program: quick\n";
    int h = cp_cfile_header(m->b, len, meta, sizeof meta - 1);
    assert_true(h >= 32);
    m->h = (uint32_t)h;
    m->used = (size_t)h + 4 + 4 * CP_CFILE_NBUCKETS;
}

/* A record named name (n bytes) at the end of the used part; its offset. */
static uint32_t img_record(struct img *m, const char *name, size_t n, uint64_t value)
{
    size_t off = (m->used + 7) & ~(size_t)7;
    assert_true(off + 16 + n <= m->len);
    memcpy(m->b + off, &value, 8);
    uint32_t nl = (uint32_t)n;
    memcpy(m->b + off + 8, &nl, 4);
    memcpy(m->b + off + 16, name, n);
    m->used = off + 16 + n;
    return (uint32_t)off;
}

/* Put the record at off at the head of chain b (as Go's writer links a new counter). */
static void img_link(struct img *m, uint32_t b, uint32_t off)
{
    uint32_t *head = (uint32_t *)(void *)(m->b + m->h + 4 + 4 * b);
    memcpy(m->b + off + 12, head, 4);
    *head = off;
}

static uint32_t img_add(struct img *m, uint32_t b, const char *name, uint64_t value)
{
    uint32_t off = img_record(m, name, strlen(name), value);
    img_link(m, b, off);
    return off;
}

/* ---- the two walks compared ---------------------------------------------------------- */

struct seen {
    size_t n;
    uint64_t h; /* every counter's name and value, in order */
};

static void on_counter(void *ctx, const uint8_t *name, size_t len, uint64_t value)
{
    struct seen *s = ctx;
    s->h = (s->h ^ cp_hash_bytes(name, len) ^ value) * 0x100000001B3ull;
    s->n++;
}

/* Both walks on the image: the same code, message and counters. The code, and the number
 * of counters. */
static int both(const struct img *m, size_t *counted, char *where, size_t wl)
{
    struct seen q = {0, 0}, x = {0, 0};
    char wq[256], wx[256];
    int rq = cp_cfile_parse(m->b, m->len, NULL, on_counter, &q, wq, sizeof wq);
    int rx = cp_cfile_parse_exact(m->b, m->len, NULL, on_counter, &x, wx, sizeof wx);
    assert_int_equal(rq, rx);
    assert_string_equal(wq, wx);
    assert_int_equal(q.n, x.n);
    assert_true(q.h == x.h);
    if (counted)
        *counted = q.n;
    if (where)
        snprintf(where, wl, "%s", wq);
    return rq;
}

static int quick(const struct img *m)
{
    struct cp_cfile_walk w;
    int rc = cp_cfile_walk_quick(m->b, m->len, m->h, &w);
    cp_cfile_walk_free(&w);
    return rc;
}

/* ---- tests -------------------------------------------------------------------------- */

/* 20,000 counters over every chain, in an order no chain is filled in (seed 23), a fifth
 * of them stacks with ditto marks: the quick walk takes the file, and hands the counters
 * over in the exact walk's order. */
static void test_many_counters_same_order(void **state)
{
    struct img m;
    img_init(&m, 4u << 20);
    uint64_t x = 23;
    char name[128];
    for (int i = 0; i < 20000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        if (i % 5 == 0)
            snprintf(name, sizeof name, "ctrprof/heap:alloc:%d\nmain.f%d\n\".g%d", i, i, i);
        else
            snprintf(name, sizeof name, "counter/%d", i);
        img_add(&m, (uint32_t)(x >> 40) % CP_CFILE_NBUCKETS, name, (uint64_t)i * 3 + 1);
    }
    assert_int_equal(quick(&m), 0);
    size_t n;
    assert_int_equal(both(&m, &n, NULL, 0), 0);
    assert_int_equal(n, 20000);
    free(m.b);
}

/* A name stored twice, in two chains far apart: the exact walk's error and message (the
 * second one met, in chain 400). */
static void test_repeat_across_chains(void **state)
{
    struct img m;
    img_init(&m, 1u << 16);
    img_add(&m, 3, "counter/a", 1);
    img_add(&m, 7, "counter/b", 2);
    uint32_t second = img_add(&m, 400, "counter/a", 3);
    assert_int_equal(quick(&m), 1);
    char where[256], want[128];
    assert_int_equal(both(&m, NULL, where, sizeof where), CP_CFILE_ELOOP);
    snprintf(want, sizeof want, "bucket 400: record at 0x%x repeats a name", second);
    assert_non_null(strstr(where, want));
    free(m.b);
}

/* A raw name equal to an EARLIER record's decoded name: Go rejects it. Equal to a LATER
 * one's: Go takes it (the quick walk cannot tell which came first and defers). Two raw
 * names with one decoded name: taken (the quick walk itself takes that). */
static void test_decoded_names(void **state)
{
    struct img m;
    img_init(&m, 1u << 16);
    img_add(&m, 1, "a.b\n\".c", 1); /* decodes to "a.b\na.c" */
    img_add(&m, 2, "a.b\na.c", 2);
    assert_int_equal(quick(&m), 1);
    assert_int_equal(both(&m, NULL, NULL, 0), CP_CFILE_ELOOP);
    free(m.b);

    img_init(&m, 1u << 16);
    img_add(&m, 1, "a.b\na.c", 1);
    img_add(&m, 2, "a.b\n\".c", 2);
    assert_int_equal(quick(&m), 1);
    size_t n;
    assert_int_equal(both(&m, &n, NULL, 0), 0);
    assert_int_equal(n, 2);
    free(m.b);

    img_init(&m, 1u << 16);
    img_add(&m, 5, "x\n\".p", 1);    /* "x\np" */
    img_add(&m, 6, "\".x\n\".p", 2); /* "x\np" too */
    assert_int_equal(quick(&m), 0);
    assert_int_equal(both(&m, &n, NULL, 0), 0);
    assert_int_equal(n, 2);
    free(m.b);
}

/* The same name in one chain twice, and a chain that loops back to itself: the quick walk
 * defers (a loop only once it has walked more records than the file can hold), the exact
 * walk says which. */
static void test_loops(void **state)
{
    struct img m;
    img_init(&m, 1u << 16);
    img_add(&m, 9, "counter/a", 1);
    img_add(&m, 9, "counter/a", 2);
    assert_int_equal(quick(&m), 1);
    assert_int_equal(both(&m, NULL, NULL, 0), CP_CFILE_ELOOP);
    free(m.b);

    img_init(&m, 1u << 16);
    uint32_t a = img_add(&m, 9, "counter/a", 1);
    img_add(&m, 9, "counter/b", 2);
    uint32_t head;
    memcpy(&head, m.b + m.h + 4 + 4 * 9, 4);
    memcpy(m.b + a + 12, &head, 4); /* a -> b -> a -> ... */
    assert_int_equal(quick(&m), 1);
    char where[256];
    assert_int_equal(both(&m, NULL, where, sizeof where), CP_CFILE_ELOOP);
    assert_non_null(strstr(where, "bucket 9:"));
    free(m.b);
}

/* Records out of bounds: an offset past the end, a name running past it, an empty name,
 * each after a repeat in an earlier chain (the exact walk names the repeat: Go's order). */
static void test_bounds_in_order(void **state)
{
    struct img m;
    size_t n;
    img_init(&m, 1u << 16);
    img_add(&m, 0, "counter/a", 1);
    uint32_t bad = img_add(&m, 300, "counter/b", 2);
    uint32_t big = 1u << 20;
    memcpy(m.b + bad + 12, &big, 4);
    assert_int_equal(quick(&m), 1);
    char where[256];
    assert_int_equal(both(&m, &n, where, sizeof where), CP_CFILE_ECORRUPT);
    assert_non_null(strstr(where, "bucket 300:"));
    free(m.b);

    img_init(&m, 1u << 16);
    img_add(&m, 0, "counter/a", 1);
    img_add(&m, 1, "counter/a", 1); /* the repeat, in an earlier chain than ... */
    uint32_t e = img_add(&m, 2, "counter/c", 2);
    memset(m.b + e + 8, 0, 3); /* ... an empty name */
    assert_int_equal(both(&m, NULL, where, sizeof where), CP_CFILE_ELOOP);
    assert_non_null(strstr(where, "bucket 1:"));
    free(m.b);

    img_init(&m, 1u << 16);
    uint32_t r = img_add(&m, 4, "counter/d", 1);
    uint32_t huge = 0x00FFFFFF;
    memcpy(m.b + r + 8, &huge, 4);
    assert_int_equal(quick(&m), 1);
    assert_int_equal(both(&m, NULL, where, sizeof where), CP_CFILE_ECORRUPT);
    assert_non_null(strstr(where, "runs past the end"));
    free(m.b);
}

/* An empty file (no record at all) and one record: taken by the quick walk. */
static void test_small(void **state)
{
    struct img m;
    size_t n;
    img_init(&m, CP_CFILE_PAGE);
    assert_int_equal(quick(&m), 0);
    assert_int_equal(both(&m, &n, NULL, 0), 0);
    assert_int_equal(n, 0);
    img_add(&m, 511, "z", 7);
    assert_int_equal(quick(&m), 0);
    assert_int_equal(both(&m, &n, NULL, 0), 0);
    assert_int_equal(n, 1);
    free(m.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_counters_same_order),
        cmocka_unit_test(test_repeat_across_chains),
        cmocka_unit_test(test_decoded_names),
        cmocka_unit_test(test_loops),
        cmocka_unit_test(test_bounds_in_order),
        cmocka_unit_test(test_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
