/* test_cfile.c — the counter file (cfile/cfile.c, cfile/cfile_read.c) against Go's fixtures,
 * Go's writer behaviour, bad paths and many concurrent processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cfile.h"

#define FIX CP_SRCDIR "/tests/fixtures/telemetry-v1/"

static char tmpdir[256];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ctrprof-test-cfile.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd);
}

static char *tpath(const char *name)
{
    static char p[4][512];
    static int i;
    char *r = p[i++ & 3];
    snprintf(r, 512, "%s/%s", tmpdir, name);
    return r;
}

/* ---- reading the fixtures ---------------------------------------------------------- */

struct rec {
    size_t off;
    const uint8_t *name;
    size_t len;
    uint64_t value;
};

struct collect {
    const uint8_t *base;
    struct rec r[4000];
    size_t n;
};

static void collect_cb(void *ctx, const uint8_t *name, size_t len, uint64_t value)
{
    struct collect *c = ctx;
    assert_true(c->n < 4000);
    c->r[c->n++] = (struct rec){(size_t)(name - c->base) - 16, name, len, value};
}

static int by_off(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int parse_fixture(const char *name, struct collect *c, uint8_t **buf, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, FIX "%s", name);
    int err = cp_cfile_load(path, buf, len);
    assert_int_equal(err, 0);
    c->base = *buf;
    c->n = 0;
    char where[256];
    return cp_cfile_parse(*buf, *len, NULL, collect_cb, c, where, sizeof where);
}

static void expect_fixture(const char *name, int code, size_t ncounters)
{
    struct collect *c = calloc(1, sizeof *c);
    uint8_t *buf;
    size_t len;
    int err = parse_fixture(name, c, &buf, &len);
    if (err != code)
        fail_msg("%s: expected code %d (%s), got %d (%s)", name, code, cp_cfile_strerror(code), err,
                 cp_cfile_strerror(err));
    size_t n = c->n;
    cp_cfile_unload(buf, len);
    free(c);
    if (code == 0 && n != ncounters)
        fail_msg("%s: expected %zu counters, got %zu", name, ncounters, n);
    if (code != 0 && n != 0)
        fail_msg("%s: %zu counter callbacks before the error", name, n); /* validated first */
}

static void test_fixtures(void **state)
{
    expect_fixture("small.count", 0, 9);
    expect_fixture("many.count", 0, 3000);
    expect_fixture("stack.count", 0, 8);
    expect_fixture("lenient.count", 0, 6);
    expect_fixture("limit-past-eof.count", 0, 9);
    expect_fixture("corrupt-short.count", CP_CFILE_ESHORT, 0);
    expect_fixture("corrupt-badheader.count", CP_CFILE_EHDR, 0);
    expect_fixture("corrupt-hdrlen.count", CP_CFILE_EHDRLEN, 0);
    expect_fixture("corrupt-meta.count", CP_CFILE_EMETA, 0);
    expect_fixture("corrupt-truncated.count", CP_CFILE_ECORRUPT, 0);
    expect_fixture("corrupt-loop.count", CP_CFILE_ELOOP, 0);
    expect_fixture("corrupt-stackloop.count", CP_CFILE_ELOOP, 0);
    expect_fixture("writer-empty-name.count", CP_CFILE_ECORRUPT, 0);
}

static void test_multiproc_fixture_counts(void **state)
{
    /* multiproc.count holds dead records; following chains never counts them */
    struct collect *c = calloc(1, sizeof *c);
    uint8_t *buf;
    size_t len;
    assert_int_equal(parse_fixture("multiproc.count", c, &buf, &len), 0);
    assert_int_equal(c->n, 404);
    cp_cfile_unload(buf, len);
    free(c);
}

/* FORMAT.md 11, replay: same metadata, same names in allocation order (the reachable
 * records in file-offset order), same values -> a byte-identical file. */
static void replay(const char *fixture)
{
    struct collect *c = calloc(1, sizeof *c);
    uint8_t *buf;
    size_t len;
    assert_int_equal(parse_fixture(fixture, c, &buf, &len), 0);
    qsort(c->r, c->n, sizeof c->r[0], by_off);
    uint32_t h;
    memcpy(&h, buf + 28, 4);
    const char *meta = (const char *)buf + 32;
    size_t ml = strnlen(meta, h - 32);
    char *out = tpath(fixture);
    unlink(out);
    struct cp_cfile f;
    assert_int_equal(cp_cfile_open(&f, out, meta, ml), 0);
    for (size_t i = 0; i < c->n; i++) {
        uint64_t *v;
        assert_int_equal(cp_cfile_counter(&f, c->r[i].name, c->r[i].len, &v), 0);
        assert_int_equal(cp_cfile_offset(&f, v), c->r[i].off);
        cp_cfile_add(v, c->r[i].value);
    }
    cp_cfile_close(&f);
    uint8_t *mine;
    size_t mlen;
    assert_int_equal(cp_cfile_load(out, &mine, &mlen), 0);
    assert_int_equal(mlen, len);
    for (size_t i = 0; i < len; i++)
        if (mine[i] != buf[i])
            fail_msg("%s: first difference at byte %zu: expected 0x%02x, got 0x%02x", fixture, i,
                     buf[i], mine[i]);
    cp_cfile_unload(mine, mlen);
    cp_cfile_unload(buf, len);
    free(c);
}

static void test_replay_small(void **state)
{
    replay("small.count");
}
static void test_replay_many(void **state)
{
    replay("many.count");
}
static void test_replay_stack(void **state)
{
    replay("stack.count");
}

static void test_bucket_values(void **state)
{
    assert_int_equal(cp_cfile_bucket("foo", 3), 292);
    assert_int_equal(cp_cfile_bucket("a", 1), 288);
    assert_int_equal(cp_cfile_bucket("", 0), 217);
}

static const char META[] = "Program: test\nVersion: 1\n\n";

static void test_name_rules_and_saturation(void **state)
{
    struct cp_cfile f;
    assert_int_equal(cp_cfile_open(&f, tpath("names.count"), META, sizeof META - 1), 0);
    uint64_t *v;
    static char big[4097];
    memset(big, 'n', sizeof big);
    assert_int_equal(cp_cfile_counter(&f, "", 0, &v), CP_CFILE_ENAME);
    assert_int_equal(cp_cfile_counter(&f, big, 4097, &v), CP_CFILE_ENAME);
    assert_int_equal(cp_cfile_counter(&f, big, 4096, &v), 0);
    uint64_t *v2;
    assert_int_equal(cp_cfile_counter(&f, big, 4096, &v2), 0);
    assert_ptr_equal(v, v2); /* found, not created again */
    cp_cfile_add(v, UINT64_MAX - 5);
    cp_cfile_add(v, 3);
    assert_true(*v == UINT64_MAX - 2);
    cp_cfile_add(v, 100);
    assert_true(*v == UINT64_MAX);
    cp_cfile_add(v, 1);
    assert_true(*v == UINT64_MAX);
    cp_cfile_close(&f);
    static char longmeta[600];
    memset(longmeta, 'm', sizeof longmeta);
    assert_int_equal(cp_cfile_open(&f, tpath("names2.count"), longmeta, sizeof longmeta),
                     CP_CFILE_EMETALEN);
}

/* create_only (cp_cfile_open_as): a name that exists is never opened, with either way of
 * creating (O_TMPFILE + linkat, or plain O_CREAT); a new file is made, marked created, and
 * takes the sole writer's adds; cp_cfile_open of an existing file is not created. */
static void test_create_only(void **state)
{
    struct cp_cfile f, g;
    for (int plain = 0; plain < 2; plain++) {
        cp_cfile_plain_create(plain);
        char *p = tpath(plain ? "excl-plain.count" : "excl.count");
        assert_int_equal(cp_cfile_open_as(&f, p, META, sizeof META - 1, true), 0);
        assert_true(f.created);
        uint64_t *v;
        assert_int_equal(cp_cfile_counter(&f, "x", 1, &v), 0);
        cp_cfile_add_sole(v, 5);
        cp_cfile_add_sole(v, UINT64_MAX); /* saturates, as cp_cfile_add */
        assert_true(*v == UINT64_MAX);
        assert_int_equal(cp_cfile_open_as(&g, p, META, sizeof META - 1, true), -EEXIST);
        assert_int_equal(cp_cfile_open(&g, p, META, sizeof META - 1), 0);
        assert_false(g.created);
        cp_cfile_close(&g);
        cp_cfile_close(&f);
    }
    cp_cfile_plain_create(false);
}

static void test_meta_mismatch_leaves_file(void **state)
{
    struct cp_cfile f;
    char *p = tpath("mismatch.count");
    assert_int_equal(cp_cfile_open(&f, p, META, sizeof META - 1), 0);
    uint64_t *v;
    assert_int_equal(cp_cfile_counter(&f, "x", 1, &v), 0);
    cp_cfile_add(v, 7);
    cp_cfile_close(&f);
    uint8_t *before, *after;
    size_t bl, al;
    assert_int_equal(cp_cfile_load(p, &before, &bl), 0);
    static const char other[] = "Program: other\nVersion: 1\n\n";
    assert_int_equal(cp_cfile_open(&f, p, other, sizeof other - 1), CP_CFILE_EMISMATCH);
    assert_int_equal(cp_cfile_load(p, &after, &al), 0);
    assert_int_equal(al, bl);
    assert_memory_equal(before, after, bl);
    cp_cfile_unload(before, bl);
    cp_cfile_unload(after, al);
    /* a short file that is somebody else's data is never overwritten */
    char *q = tpath("notours.count");
    int fd = open(q, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(write(fd, "hello, not a counter file\n", 26) == 26);
    close(fd);
    assert_int_equal(cp_cfile_open(&f, q, META, sizeof META - 1), CP_CFILE_EMISMATCH);
    struct stat st;
    assert_int_equal(stat(q, &st), 0);
    assert_int_equal(st.st_size, 26);
}

static void test_bad_paths(void **state)
{
    struct cp_cfile f;
    char *target = tpath("target.count"), *link = tpath("link.count");
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(cp_cfile_open(&f, link, META, sizeof META - 1), CP_CFILE_ENOTREG);
    assert_int_equal(access(target, F_OK), -1); /* the symlink was not followed */
    char *fifo = tpath("fifo.count");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(cp_cfile_open(&f, fifo, META, sizeof META - 1), CP_CFILE_ENOTREG);
    char *dir = tpath("dir.count");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(cp_cfile_open(&f, dir, META, sizeof META - 1), CP_CFILE_ENOTREG);
    char *file = tpath("plain");
    close(open(file, O_CREAT | O_WRONLY, 0600));
    char under[600];
    snprintf(under, sizeof under, "%s/x.count", file);
    assert_int_equal(cp_cfile_open(&f, under, META, sizeof META - 1), -ENOTDIR);
    /* an unwritable directory: sysfs refuses new files even to root */
    assert_int_equal(cp_cfile_open(&f, "/sys/ctrprof-test.count", META, sizeof META - 1), -EACCES);
    if (geteuid() != 0) {
        char *ro = tpath("ro");
        assert_int_equal(mkdir(ro, 0500), 0);
        char in[600];
        snprintf(in, sizeof in, "%s/x.count", ro);
        assert_int_equal(cp_cfile_open(&f, in, META, sizeof META - 1), -EACCES);
    }
    /* another user's file, planted where ours goes (in /tmp, say): refused, untouched */
    char *planted = tpath("planted.count");
    assert_int_equal(cp_cfile_open(&f, planted, META, sizeof META - 1), 0);
    cp_cfile_close(&f);
    if (geteuid() == 0) {
        assert_int_equal(chown(planted, 65534, 65534), 0);
        assert_int_equal(cp_cfile_open(&f, planted, META, sizeof META - 1), CP_CFILE_EOWNER);
    } /* (a user cannot give a file away; tests/e2e/faults.sh covers it as root too) */
    /* new files are created 0600 */
    char *fresh = tpath("fresh.count");
    assert_int_equal(cp_cfile_open(&f, fresh, META, sizeof META - 1), 0);
    cp_cfile_close(&f);
    struct stat st;
    assert_int_equal(stat(fresh, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, CP_CFILE_PAGE);
}

/* ---- 8 processes x 4 threads ------------------------------------------------------- */

#define NPROC 8
#define NTHR 4
#define NNAMES 1500
#define ROUNDS 3

static const char *shared_path;

static void name_of(int i, char *buf, size_t *len)
{
    /* lengths from 1 to ~700 bytes so records cross pages and the file grows many times */
    int l = snprintf(buf, 64, "ctr/%d/", i);
    int extra = (i * 37) % 700;
    memset(buf + l, 'a' + i % 26, (size_t)extra);
    *len = (size_t)(l + extra);
}

struct worker {
    struct cp_cfile *f;
    int id;
};

static void *thr(void *arg)
{
    struct worker *w = arg;
    char name[800];
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < NNAMES; k++) {
            int i = (k * 7 + w->id * 131) % NNAMES; /* every worker touches every name */
            size_t len;
            name_of(i, name, &len);
            uint64_t *v;
            if (cp_cfile_counter(w->f, name, len, &v) != 0)
                return (void *)1;
            cp_cfile_add(v, (uint64_t)i + 1);
        }
    return NULL;
}

static int child(int p)
{
    struct cp_cfile f;
    if (cp_cfile_open(&f, shared_path, META, sizeof META - 1) != 0)
        return 3;
    pthread_t t[NTHR];
    struct worker w[NTHR];
    for (int i = 0; i < NTHR; i++) {
        w[i] = (struct worker){&f, p * NTHR + i};
        pthread_create(&t[i], NULL, thr, &w[i]);
    }
    int bad = 0;
    for (int i = 0; i < NTHR; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    cp_cfile_close(&f);
    return bad;
}

struct sums {
    uint64_t v[NNAMES];
    int seen[NNAMES];
    int dup;
};

static void sums_cb(void *ctx, const uint8_t *name, size_t len, uint64_t value)
{
    struct sums *s = ctx;
    int i = atoi((const char *)name + 4);
    char exp[800];
    size_t el;
    name_of(i, exp, &el);
    assert_int_equal(len, el);
    assert_memory_equal(name, exp, len);
    s->dup += s->seen[i]++;
    s->v[i] = value;
}

static void test_many_processes(void **state)
{
    shared_path = tpath("shared.count");
    pid_t pid[NPROC];
    for (int p = 0; p < NPROC; p++) {
        pid[p] = fork();
        if (pid[p] == 0)
            _exit(child(p));
    }
    for (int p = 0; p < NPROC; p++) {
        int st;
        assert_int_equal(waitpid(pid[p], &st, 0), pid[p]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    uint8_t *buf;
    size_t len;
    assert_int_equal(cp_cfile_load(shared_path, &buf, &len), 0);
    struct sums *s = calloc(1, sizeof *s);
    char where[256] = "";
    int err = cp_cfile_parse(buf, len, NULL, sums_cb, s, where, sizeof where);
    if (err)
        fail_msg("shared file does not parse: %s: %s", cp_cfile_strerror(err), where);
    assert_int_equal(s->dup, 0);
    for (int i = 0; i < NNAMES; i++) {
        assert_int_equal(s->seen[i], 1);
        uint64_t want = (uint64_t)(i + 1) * NPROC * NTHR * ROUNDS;
        if (s->v[i] != want)
            fail_msg("counter %d: expected %llu, got %llu", i, (unsigned long long)want,
                     (unsigned long long)s->v[i]);
    }
    assert_true(len > 20 * CP_CFILE_PAGE); /* it grew many times meanwhile */
    assert_int_equal(len % CP_CFILE_PAGE, 0);
    cp_cfile_unload(buf, len);
    free(s);
}

/* Pointers stay valid while another process grows the file. */
static void test_pointer_survives_growth(void **state)
{
    char *p = tpath("grow.count");
    struct cp_cfile a, b;
    assert_int_equal(cp_cfile_open(&a, p, META, sizeof META - 1), 0);
    uint64_t *va;
    assert_int_equal(cp_cfile_counter(&a, "first", 5, &va), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (cp_cfile_open(&b, p, META, sizeof META - 1))
            _exit(1);
        char name[300];
        for (int i = 0; i < 5000; i++) {
            uint64_t *v;
            int n = snprintf(name, sizeof name, "grow-%d-%0200d", i, i);
            if (cp_cfile_counter(&b, name, (size_t)n, &v))
                _exit(2);
            cp_cfile_add(v, 1);
        }
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_int_equal(WEXITSTATUS(st), 0);
    cp_cfile_add(va, 42);
    uint64_t *v;
    char name[300];
    int n = snprintf(name, sizeof name, "grow-%d-%0200d", 4999, 4999);
    assert_int_equal(cp_cfile_counter(&a, name, (size_t)n, &v), 0); /* found past our old map */
    assert_int_equal(*v, 1);
    assert_int_equal(*va, 42);
    cp_cfile_close(&a);
}

/* Residency (cfile.c, "Residency"): the file's pages are resident once, whatever view a
 * pointer was handed out in and whatever a hash-chain walk read. 60,000 counters (8 MB,
 * five views), added to twice (the stores of rate-1 flushes): through the pointers handed
 * out, then through their records' offsets (cp_cfile_value, the engine's way); then a
 * lookup that walks a chain of ~117 records (a name other processes may make). The file's
 * resident pages, summed over every mapping of it in /proc/self/smaps, stay within its size
 * (through the current view: 10.3 MB for the 8.2 MB file, the old views' pages and the
 * walk's 64 KiB fault-around); an offset leads to the pointer's word; every value reads
 * back whole. */
static size_t file_rss_kb(const char *path)
{
    FILE *m = fopen("/proc/self/smaps", "r");
    assert_non_null(m);
    char line[1024];
    size_t kb = 0;
    int ours = 0;
    while (fgets(line, sizeof line, m)) {
        unsigned long kv;
        char *sp = strchr(line, ' ');
        if (sp && strchr(line, '-') && strchr(line, '-') < sp) { /* a mapping's first line */
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = 0;
            size_t pl = strlen(path), ll = strlen(line);
            ours = ll >= pl && strcmp(line + ll - pl, path) == 0;
        } else if (ours && sscanf(line, "Rss: %lu kB", &kv) == 1) {
            kb += kv;
        }
    }
    fclose(m);
    return kb;
}

struct sumctx {
    uint64_t sum;
    size_t n;
};

static void sum_cb(void *ctx, const uint8_t *name, size_t len, uint64_t value)
{
    struct sumctx *c = ctx;
    if (len > 4 && !memcmp(name, "res-", 4)) {
        c->sum += value;
        c->n++;
    }
}

static void test_resident_once(void **state)
{
    enum { N = 60000 };
    char *p = tpath("resident.count");
    struct cp_cfile f;
    assert_int_equal(cp_cfile_open(&f, p, META, sizeof META - 1), 0);
    uint64_t **v = calloc(N, sizeof *v);
    char name[128];
    for (int i = 0; i < N; i++) {
        int n = snprintf(name, sizeof name, "res-%d-%090d", i, i);
        assert_int_equal(cp_cfile_counter_fresh(&f, name, (size_t)n, &v[i]), 0);
    }
    for (int round = 1; round <= 2; round++)
        for (int i = 0; i < N; i++) /* (the second round through the counter's offset) */
            cp_cfile_add(round == 1 ? v[i]
                                    : cp_cfile_value(&f, (uint32_t)cp_cfile_offset(&f, v[i])),
                         (uint64_t)i + 1);
    for (int i = 0; i < N; i += 997) /* the same word, through the view that owns it */
        assert_ptr_equal(cp_cfile_value(&f, (uint32_t)cp_cfile_offset(&f, v[i])), v[i]);
    uint64_t *w;
    assert_int_equal(cp_cfile_counter(&f, "res-walked", 10, &w), 0); /* new: a whole chain */
    cp_cfile_add(w, 1);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    size_t rss = file_rss_kb(p), size_kb = (size_t)st.st_size / 1024;
    if (rss > size_kb + 256)
        fail_msg("the file's pages resident: %zu kB, for a file of %zu kB (views: %u)", rss,
                 size_kb, f.nviews);
    assert_true(f.nviews > 2); /* (the test's point: pointers in several views) */
    struct sumctx c = {0, 0};
    uint8_t *buf;
    size_t len;
    assert_int_equal(cp_cfile_load(p, &buf, &len), 0);
    assert_int_equal(cp_cfile_parse(buf, len, NULL, sum_cb, &c, NULL, 0), 0);
    cp_cfile_unload(buf, len);
    assert_int_equal(c.n, N + 1);
    assert_int_equal(c.sum, (uint64_t)N * (N + 1) + 1); /* 2 x (1 + ... + N), + 1 */
    free(v);
    cp_cfile_close(&f);
}

/* The publish seqlock: a reader's copy is one published snapshot, even while a writer is
 * between two adds of one publish; a writer that died mid-publish does not stop reading. */
struct xy {
    uint64_t x, y;
};

static void xy_cb(void *ctx, const uint8_t *name, size_t len, uint64_t v)
{
    struct xy *r = ctx;
    if (len == 1 && name[0] == 'x')
        r->x = v;
    if (len == 1 && name[0] == 'y')
        r->y = v;
}

static struct xy load_xy(const char *p)
{
    struct xy r = {0, 0};
    uint8_t *buf;
    size_t len;
    assert_int_equal(cp_cfile_load(p, &buf, &len), 0);
    assert_int_equal(cp_cfile_parse(buf, len, NULL, xy_cb, &r, NULL, 0), 0);
    cp_cfile_unload(buf, len);
    return r;
}

static uint64_t *sq_b, *sq_e, *sq_x, *sq_y;
static volatile int sq_stop;

static void *publisher(void *arg)
{
    while (!__atomic_load_n(&sq_stop, __ATOMIC_ACQUIRE)) {
        cp_cfile_add(sq_b, 1);
        cp_cfile_add(sq_x, 1);
        usleep(200); /* a reader without the seqlock copies x new and y old here */
        cp_cfile_add(sq_y, 1);
        cp_cfile_add(sq_e, 1);
        usleep(50); /* the publisher's pace: the workload */
    }
    return NULL;
}

static void test_seqlock_reader(void **state)
{
    char *p = tpath("seq.count");
    struct cp_cfile f;
    assert_int_equal(cp_cfile_open(&f, p, META, sizeof META - 1), 0);
    assert_int_equal(cp_cfile_counter(&f, CP_CFILE_SEQ_ENDED, strlen(CP_CFILE_SEQ_ENDED), &sq_e),
                     0);
    assert_int_equal(cp_cfile_counter(&f, CP_CFILE_SEQ_BEGUN, strlen(CP_CFILE_SEQ_BEGUN), &sq_b),
                     0);
    assert_int_equal(cp_cfile_counter(&f, "x", 1, &sq_x), 0);
    assert_int_equal(cp_cfile_counter(&f, "y", 1, &sq_y), 0);
    pthread_t t;
    pthread_create(&t, NULL, publisher, NULL);
    int reads = 0;
    uint64_t last = 0;
    while (reads < 300 || last < 50) {
        struct xy r = load_xy(p);
        if (r.x != r.y)
            fail_msg("read %d: x = %llu, y = %llu: not a published snapshot", reads,
                     (unsigned long long)r.x, (unsigned long long)r.y);
        last = r.x;
        reads++;
    }
    __atomic_store_n(&sq_stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    /* a writer that died between begun and ended: the file still reads, as it is */
    cp_cfile_add(sq_b, 1);
    cp_cfile_add(sq_x, 1);
    struct xy r = load_xy(p);
    assert_int_equal(r.x, *sq_x);
    assert_int_equal(r.y, *sq_y);
    assert_int_equal(r.x, r.y + 1);
    /* and says it was taken as it is; settled again once the publish ends */
    uint8_t *buf;
    size_t len;
    bool settled = true;
    assert_int_equal(cp_cfile_load_settled(p, &buf, &len, &settled), 0);
    cp_cfile_unload(buf, len);
    assert_false(settled);
    cp_cfile_add(sq_e, 1);
    assert_int_equal(cp_cfile_load_settled(p, &buf, &len, &settled), 0);
    cp_cfile_unload(buf, len);
    assert_true(settled);
    cp_cfile_close(&f);
}

static void test_decode_name(void **state)
{
    const char raw[] = "c\ngolang.org/x/a.f:+1\n\".g:+2\nmain.h:=3\n\".k";
    char out[200];
    size_t n = cp_cfile_decode_name((const uint8_t *)raw, sizeof raw - 1, out, sizeof out);
    const char want[] = "c\ngolang.org/x/a.f:+1\ngolang.org/x/a.g:+2\nmain.h:=3\nmain.k";
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(out, want, n);
    /* no newline: unchanged even with a ditto-looking line */
    n = cp_cfile_decode_name((const uint8_t *)"\".x", 3, out, sizeof out);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\".x", 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_multiproc_fixture_counts),
        cmocka_unit_test(test_replay_small),
        cmocka_unit_test(test_replay_many),
        cmocka_unit_test(test_replay_stack),
        cmocka_unit_test(test_bucket_values),
        cmocka_unit_test(test_name_rules_and_saturation),
        cmocka_unit_test(test_meta_mismatch_leaves_file),
        cmocka_unit_test(test_create_only),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_many_processes),
        cmocka_unit_test(test_pointer_survives_growth),
        cmocka_unit_test(test_resident_once),
        cmocka_unit_test(test_decode_name),
        cmocka_unit_test(test_seqlock_reader),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
