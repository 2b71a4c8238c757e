/* test_packed.c — packed profiles (cfile/packed.c): a pack unpacks to the same bytes,
 * whatever frames zstd made (one, several, with or without their size); every damaged
 * input is refused with CP_CFILE_EPACKED, never read as other bytes; and the one load of
 * every reader takes a packed file and a live one alike. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h> /* (after setjmp.h, stdarg.h and stddef.h, which it needs) */

#include <zstd.h>

#include "cfile.h"
#include "packed.h"

#define FIX CP_SRCDIR "/tests/fixtures/telemetry-v1/"

static char tmpdir[256];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ctrprof-test-packed.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd);
}

/* n bytes that compress as a profile does: runs of zeros among varied words */
static uint8_t *sample(size_t n, unsigned seed)
{
    uint8_t *b = malloc(n ? n : 1);
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b[i] = (i / 64) % 3 ? 0 : (uint8_t)x;
    }
    return b;
}

static void roundtrip(size_t n, int level)
{
    uint8_t *in = sample(n, (unsigned)n), *z, *out;
    size_t zl, ol;
    assert_int_equal(cp_packed_pack(in, n, level, &z, &zl), 0);
    assert_true(cp_packed_is(z, zl));
    assert_int_equal(cp_packed_unpack(z, zl, &out, &ol), 0);
    assert_int_equal(ol, n);
    assert_memory_equal(out, in, n);
    cp_cfile_unload(out, ol);
    cp_cfile_unload(z, zl);
    free(in);
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 4095, 4096, 4097, 16384, (1u << 20) + 3, (3u << 20) + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        roundtrip(sizes[i], i % 2 ? 1 : 3);
    roundtrip(100000, 19);
}

/* A frame the zstd command streams (no content size): the buffer grows past its first MiB;
 * several frames back to back unpack to their bytes one after the other. */
static void test_frames_without_size_and_several(void **state)
{
    (void)state;
    size_t n = (5u << 20) + 7;
    uint8_t *in = sample(n, 7);
    size_t cap = ZSTD_compressBound(n) * 2 + 64;
    uint8_t *z = malloc(cap);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
    ZSTD_outBuffer o = {z, cap, 0};
    ZSTD_inBuffer s = {in, n, 0};
    size_t left;
    do
        left = ZSTD_compressStream2(c, &o, &s, ZSTD_e_end);
    while (left && !ZSTD_isError(left));
    assert_false(ZSTD_isError(left));
    assert_int_equal(ZSTD_getFrameContentSize(z, o.pos), ZSTD_CONTENTSIZE_UNKNOWN);
    size_t one = o.pos;
    /* a second frame, of the first 1000 bytes, with its size */
    size_t two = ZSTD_compress(z + one, cap - one, in, 1000, 3);
    assert_false(ZSTD_isError(two));
    ZSTD_freeCCtx(c);
    uint8_t *out;
    size_t ol;
    assert_int_equal(cp_packed_unpack(z, one, &out, &ol), 0);
    assert_int_equal(ol, n);
    assert_memory_equal(out, in, n);
    cp_cfile_unload(out, ol);
    assert_int_equal(cp_packed_unpack_max(z, one, 2u << 20, &out, &ol), CP_CFILE_EPACKED);
    assert_null(out);
    assert_int_equal(cp_packed_unpack(z, one + two, &out, &ol), 0);
    assert_int_equal(ol, n + 1000);
    assert_memory_equal(out, in, n);
    assert_memory_equal(out + n, in, 1000);
    cp_cfile_unload(out, ol);
    free(z);
    free(in);
}

/* Every cut of a packed buffer, bytes after it, a flipped byte (its checksum), a frame
 * that says it holds more than a counter file can, and input that is not zstd: refused. */
static void test_damaged(void **state)
{
    (void)state;
    size_t n = 200000;
    uint8_t *in = sample(n, 3), *z, *out;
    size_t zl, ol;
    assert_int_equal(cp_packed_pack(in, n, 3, &z, &zl), 0);
    for (size_t cut = 0; cut < zl; cut += cut < 64 ? 1 : 97) {
        out = (uint8_t *)1;
        assert_int_equal(cp_packed_unpack(z, cut, &out, &ol), CP_CFILE_EPACKED);
        assert_null(out);
    }
    uint8_t *more = malloc(zl + 5);
    memcpy(more, z, zl);
    memcpy(more + zl, "junk!", 5);
    assert_int_equal(cp_packed_unpack(more, zl + 5, &out, &ol), CP_CFILE_EPACKED);
    memcpy(more, z, zl);
    more[zl / 2] ^= 0x40;
    assert_int_equal(cp_packed_unpack(more, zl, &out, &ol), CP_CFILE_EPACKED);
    free(more);
    /* a frame header that says 2^40 bytes, then nothing: refused without making them */
    /* magic; descriptor 0xc0: an 8-byte content size, not single-segment; window 2^10;
     * the size, little-endian (RFC 8878, 3.1.1.1) */
    uint8_t big[14] = {0x28, 0xb5, 0x2f, 0xfd, 0xc0, 0x00};
    uint64_t said = 1ull << 40;
    memcpy(big + 6, &said, 8);
    assert_int_equal(ZSTD_getFrameContentSize(big, sizeof big), said);
    assert_int_equal(cp_packed_unpack(big, sizeof big, &out, &ol), CP_CFILE_EPACKED);
    assert_int_equal(cp_packed_unpack((const uint8_t *)"# telemetry", 11, &out, &ol),
                     CP_CFILE_EPACKED);
    /* more than the limit: refused, whether the frame says its size or not */
    assert_int_equal(cp_packed_unpack_max(z, zl, n - 1, &out, &ol), CP_CFILE_EPACKED);
    assert_null(out);
    assert_int_equal(cp_packed_unpack_max(z, zl, n, &out, &ol), 0);
    assert_int_equal(ol, n);
    cp_cfile_unload(out, ol);
    assert_string_not_equal(cp_cfile_strerror(CP_CFILE_EPACKED), "no error");
    cp_cfile_unload(z, zl);
    free(in);
}

/* cp_packed_same, pack's check of what it made (a MiB unpacked at a time): the bytes it was
 * made from, over several MiB and two frames back to back; not a copy with one byte
 * changed (in the last MiB), one byte shorter or longer, a frame cut short, trailing bytes,
 * or what is not zstd. */
static void test_same(void **state)
{
    (void)state;
    size_t n = (3u << 20) + 11;
    uint8_t *in = sample(n, 5), *z;
    size_t zl;
    assert_int_equal(cp_packed_pack(in, n, 3, &z, &zl), 0);
    assert_int_equal(cp_packed_same(z, zl, in, n), 0);
    in[n - 2] ^= 1;
    assert_int_equal(cp_packed_same(z, zl, in, n), CP_CFILE_EPACKED);
    in[n - 2] ^= 1;
    assert_int_equal(cp_packed_same(z, zl, in, n - 1), CP_CFILE_EPACKED);
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, in, n);
    longer[n] = 0;
    assert_int_equal(cp_packed_same(z, zl, longer, n + 1), CP_CFILE_EPACKED);
    for (size_t cut = 0; cut < zl; cut += cut < 32 ? 1 : zl / 7)
        assert_int_equal(cp_packed_same(z, cut, in, n), CP_CFILE_EPACKED);
    uint8_t *two = malloc(2 * zl + 5);
    memcpy(two, z, zl);
    memcpy(two + zl, z, zl);
    uint8_t *twice = malloc(2 * n);
    memcpy(twice, in, n);
    memcpy(twice + n, in, n);
    assert_int_equal(cp_packed_same(two, 2 * zl, twice, 2 * n), 0);
    memcpy(two + 2 * zl, "junk!", 5);
    assert_int_equal(cp_packed_same(two, 2 * zl + 5, twice, 2 * n), CP_CFILE_EPACKED);
    assert_int_equal(cp_packed_same((const uint8_t *)"# telemetry", 11, in, 11), CP_CFILE_EPACKED);
    free(twice);
    free(two);
    free(longer);
    cp_cfile_unload(z, zl);
    free(in);
}

static void put(const char *path, const uint8_t *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, n), (ssize_t)n);
    close(fd);
}

/* cp_cfile_load_any: a Go-written fixture as it is and packed give the same bytes; a
 * damaged packed file is an error; a FIFO is refused without blocking. */
static void test_load_any(void **state)
{
    (void)state;
    uint8_t *raw, *got, *z;
    size_t rl, gl, zl;
    bool settled = false;
    assert_int_equal(cp_cfile_load_any(FIX "small.count", &raw, &rl, &settled), 0);
    assert_true(settled);
    assert_int_equal(cp_cfile_parse(raw, rl, NULL, NULL, NULL, NULL, 0), 0);
    assert_int_equal(cp_packed_pack(raw, rl, 3, &z, &zl), 0);
    char p[512];
    snprintf(p, sizeof p, "%s/small.count.zst", tmpdir);
    put(p, z, zl);
    settled = false;
    assert_int_equal(cp_cfile_load_any(p, &got, &gl, &settled), 0);
    assert_true(settled);
    assert_int_equal(gl, rl);
    assert_memory_equal(got, raw, rl);
    cp_cfile_unload(got, gl);
    /* a NAME.count packed since it was listed: read from NAME.count.zst */
    char gone[512];
    snprintf(gone, sizeof gone, "%s/small.count", tmpdir);
    assert_int_equal(cp_cfile_load_any(gone, &got, &gl, NULL), 0);
    assert_int_equal(gl, rl);
    assert_memory_equal(got, raw, rl);
    cp_cfile_unload(got, gl);
    snprintf(gone, sizeof gone, "%s/other.count", tmpdir);
    assert_int_equal(cp_cfile_load_any(gone, &got, &gl, NULL), -ENOENT);
    put(p, z, zl - 3);
    assert_int_equal(cp_cfile_load_any(p, &got, &gl, NULL), CP_CFILE_EPACKED);
    assert_null(got);
    snprintf(p, sizeof p, "%s/fifo", tmpdir);
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(cp_cfile_load_any(p, &got, &gl, NULL), CP_CFILE_ENOTREG);
    snprintf(p, sizeof p, "%s/none", tmpdir);
    assert_int_equal(cp_cfile_load_any(p, &got, &gl, NULL), -ENOENT);
    cp_cfile_unload(z, zl);
    cp_cfile_unload(raw, rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_frames_without_size_and_several),
        cmocka_unit_test(test_damaged),   cmocka_unit_test(test_same),
        cmocka_unit_test(test_load_any),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
