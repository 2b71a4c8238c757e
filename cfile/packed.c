/*
 * packed.c — a profile packed into zstd frames, and the load that takes either kind
 * (packed.h). Offline context only (tools, tests, fuzzers): it allocates with mmap and
 * calls libzstd, which allocates with malloc; neither is ever done inside a profiled
 * process (the Makefile keeps this file out of libcore.a, so out of the shim).
 *
 * Every buffer handed out is an anonymous mapping, as cp_cfile_load's are, so that one
 * cp_cfile_unload frees either.
 */
#include "packed.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "cfile.h"

#define OS_PAGE 4096u

static size_t page_up(size_t n)
{
    return (n + OS_PAGE - 1) & ~(size_t)(OS_PAGE - 1);
}

static uint8_t *map_anon(size_t n)
{
    void *p =
        mmap(NULL, page_up(n ? n : 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Give back the pages of a buffer of cap bytes past its first len (cp_cfile_unload frees
 * the pages len covers). */
static void trim(uint8_t *buf, size_t cap, size_t len)
{
    size_t keep = page_up(len ? len : 1), have = page_up(cap ? cap : 1);
    if (have > keep)
        munmap(buf + keep, have - keep);
}

bool cp_packed_is(const uint8_t *buf, size_t len)
{
    /* ZSTD_MAGICNUMBER, little-endian, as every zstd frame starts */
    return len >= 4 && buf[0] == 0x28 && buf[1] == 0xb5 && buf[2] == 0x2f && buf[3] == 0xfd;
}

static size_t limit = CP_PACKED_MAX; /* (cp_packed_limit: fuzzers) */

void cp_packed_limit(size_t max)
{
    limit = max;
}

int cp_packed_unpack(const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen)
{
    return cp_packed_unpack_max(in, inlen, limit, out, outlen);
}

int cp_packed_unpack_max(const uint8_t *in, size_t inlen, size_t max, uint8_t **out, size_t *outlen)
{
    if (max > CP_PACKED_MAX)
        max = CP_PACKED_MAX;
    if (max < OS_PAGE)
        max = OS_PAGE;
    *out = NULL;
    *outlen = 0;
    if (!cp_packed_is(in, inlen))
        return CP_CFILE_EPACKED;
    /* Room for what the first frame says it holds (a hint: a frame may say nothing, or
     * lie; the buffer grows, up to max, whatever the frames say). Untouched pages of an
     * anonymous mapping cost nothing, so a frame that claims 4 GiB costs address space
     * only until it has made that much. */
    unsigned long long said = ZSTD_getFrameContentSize(in, inlen);
    size_t cap = max < (1u << 20) ? max : 1u << 20;
    if (said != ZSTD_CONTENTSIZE_UNKNOWN && said != ZSTD_CONTENTSIZE_ERROR)
        cap = said > max ? max : (size_t)said;
    if (cap < OS_PAGE)
        cap = OS_PAGE;
    uint8_t *buf = map_anon(cap);
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!buf || !d) {
        if (buf)
            munmap(buf, page_up(cap));
        ZSTD_freeDCtx(d);
        return -ENOMEM;
    }
    ZSTD_inBuffer src = {in, inlen, 0};
    ZSTD_outBuffer dst = {buf, cap, 0};
    size_t ret = 1; /* nonzero: a frame is open (none yet: the input is not empty) */
    int err = 0;
    while (src.pos < src.size || ret != 0) {
        if (dst.pos == dst.size) {
            if (dst.size >= max) {
                err = CP_CFILE_EPACKED; /* more than any counter file holds */
                break;
            }
            size_t ncap = dst.size * 2 > max ? max : dst.size * 2;
            void *nb = mremap(buf, page_up(dst.size), page_up(ncap), MREMAP_MAYMOVE);
            if (nb == MAP_FAILED) {
                err = -ENOMEM;
                break;
            }
            buf = nb;
            dst.dst = buf;
            dst.size = ncap;
        }
        size_t before_in = src.pos, before_out = dst.pos;
        ret = ZSTD_decompressStream(d, &dst, &src);
        if (ZSTD_isError(ret)) {
            err = CP_CFILE_EPACKED; /* corrupt, a bad checksum, or bytes after a frame */
            break;
        }
        if (ret != 0 && src.pos == src.size && dst.pos < dst.size && before_in == src.pos &&
            before_out == dst.pos) {
            err = CP_CFILE_EPACKED; /* the input ends inside a frame */
            break;
        }
    }
    ZSTD_freeDCtx(d);
    if (err) {
        munmap(buf, page_up(dst.size));
        return err;
    }
    trim(buf, dst.size, dst.pos);
    *out = buf;
    *outlen = dst.pos;
    return 0;
}

int cp_packed_same(const uint8_t *in, size_t inlen, const uint8_t *img, size_t len)
{
    if (!cp_packed_is(in, inlen))
        return CP_CFILE_EPACKED;
    size_t cap = (size_t)1 << 20;
    uint8_t *buf = map_anon(cap);
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!buf || !d) {
        if (buf)
            munmap(buf, cap);
        ZSTD_freeDCtx(d);
        return -ENOMEM;
    }
    ZSTD_inBuffer src = {in, inlen, 0};
    size_t ret = 1, at = 0; /* (ret: as in cp_packed_unpack_max) */
    int err = 0;
    while (!err && (src.pos < src.size || ret != 0)) {
        ZSTD_outBuffer dst = {buf, cap, 0};
        size_t before_in = src.pos;
        ret = ZSTD_decompressStream(d, &dst, &src);
        if (ZSTD_isError(ret) || dst.pos > len - at || memcmp(buf, img + at, dst.pos) != 0)
            err = CP_CFILE_EPACKED; /* corrupt, or not these bytes */
        else if (ret != 0 && src.pos == src.size && before_in == src.pos && dst.pos == 0)
            err = CP_CFILE_EPACKED; /* the input ends inside a frame */
        at += dst.pos;
    }
    ZSTD_freeDCtx(d);
    munmap(buf, cap);
    return err ? err : at == len ? 0 : CP_CFILE_EPACKED;
}

int cp_packed_pack(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    size_t bound = ZSTD_compressBound(len);
    if (ZSTD_isError(bound))
        return CP_CFILE_EPACKED;
    uint8_t *buf = map_anon(bound);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (!buf || !c) {
        if (buf)
            munmap(buf, page_up(bound));
        ZSTD_freeCCtx(c);
        return -ENOMEM;
    }
    /* a checksum, as the zstd command writes one: a packed profile damaged at rest is
     * refused rather than read as other counts */
    size_t n = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(n))
        n = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(n))
        n = ZSTD_compress2(c, buf, bound, in, len);
    ZSTD_freeCCtx(c);
    if (ZSTD_isError(n)) {
        munmap(buf, page_up(bound));
        return CP_CFILE_EPACKED;
    }
    trim(buf, bound, n);
    *out = buf;
    *outlen = n;
    return 0;
}

/* The whole of a regular file (fd at offset 0, st its fstat) into a new buffer. */
static int read_all(int fd, const struct stat *st, uint8_t **bufp, size_t *lenp)
{
    size_t len = (size_t)st->st_size, got = 0;
    uint8_t *buf = map_anon(len);
    if (!buf)
        return -ENOMEM;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            munmap(buf, page_up(len));
            return e;
        }
        if (r == 0)
            break; /* shorter now: what there is (the unpack says if it is whole) */
        got += (size_t)r;
    }
    *bufp = buf;
    *lenp = got;
    trim(buf, len, got);
    return 0;
}

int cp_cfile_load_any(const char *path, uint8_t **bufp, size_t *lenp, bool *settled)
{
    *bufp = NULL;
    *lenp = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    char alt[4096];
    size_t pl = strlen(path);
    if (fd < 0 && errno == ENOENT && pl >= 6 && !strcmp(path + pl - 6, ".count") &&
        pl + sizeof CP_PACKED_SUFFIX <= sizeof alt) {
        /* packed since it was named or listed (a directory read while `ctrprof run` or
         * `ctrprof pack` packs it): its packed copy */
        memcpy(alt, path, pl);
        memcpy(alt + pl, CP_PACKED_SUFFIX, sizeof CP_PACKED_SUFFIX);
        fd = open(alt, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            errno = ENOENT; /* (the file named is what is missing) */
    }
    if (fd < 0)
        return -errno;
    uint8_t head[4];
    ssize_t h;
    do
        h = pread(fd, head, sizeof head, 0);
    while (h < 0 && errno == EINTR);
    /* a counter file, or not a profile at all (a FIFO, a directory): the counter file's
     * loader says which, and closes fd */
    if (h < 0 || !cp_packed_is(head, (size_t)h))
        return cp_cfile_load_fd(fd, bufp, lenp, settled);
    struct stat st;
    uint8_t *in = NULL;
    size_t inlen = 0;
    int err;
    if (fstat(fd, &st) != 0)
        err = -errno;
    else if (!S_ISREG(st.st_mode))
        err = CP_CFILE_ENOTREG;
    else if ((size_t)st.st_size > CP_PACKED_MAX)
        err = CP_CFILE_EPACKED; /* (zstd never makes a frame larger than what it packs) */
    else
        err = read_all(fd, &st, &in, &inlen);
    close(fd);
    if (err)
        return err;
    err = cp_packed_unpack(in, inlen, bufp, lenp);
    cp_cfile_unload(in, inlen);
    if (!err && settled)
        *settled = true; /* a packed profile does not change: it is what was packed */
    return err;
}
