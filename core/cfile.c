/*
 * cfile.c — the Go telemetry counter file v1 writer (see cfile.h, and FORMAT.md in
 * ../shared/fixtures/telemetry-v1/ for the byte format this keeps exactly).
 *
 * Contexts: cp_cfile_open/close at start-up and exit of the profiled process (or in a
 * test); cp_cfile_counter and cp_cfile_add from the flusher thread (any thread is
 * safe). Never malloc, never stdio.
 *
 * Sharing. Several processes map the same file MAP_SHARED and change it only with
 * atomic operations on aligned words (the limit, the bucket heads, a record's length,
 * next and value), in the order FORMAT.md 5.3-5.4 gives, so a reader or another writer
 * never sees a record that is linked before its name and length are in place:
 *
 *     reserve   CAS limit L -> end              (space is ours; still unreachable)
 *     fill      name bytes, then store length   (release)
 *     link      store next = head0, CAS head head0 -> start   (release: publishes all)
 *
 * Stable pointers. The file is mapped at the start of one large PROT_NONE reservation
 * (4 GiB: the format's offsets are 32-bit, so no file can be larger). Growing maps only
 * the new tail in place (MAP_FIXED), so the base never moves and a pointer returned by
 * cp_cfile_counter() stays valid until close, whoever grew the file. The Go writer
 * instead remaps the whole file and keeps the old mappings alive; the reservation gives
 * the same guarantee without leaking a mapping per growth.
 */
#include "cfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESERVE ((size_t)1 << 32)
#define TABLE_OFF 4u                              /* hash table after the limit word */
#define RECORDS_OFF (4u + 4u * CP_CFILE_NBUCKETS) /* first possible record, before rounding */
#define REMAP_TRIES 10

static size_t round_up(size_t x, size_t u)
{
    return (x + u - 1) / u * u;
}

const char *cp_cfile_strerror(int code)
{
    switch (code) {
    case CP_CFILE_ESHORT:
        return "file too short (less than 16384 bytes): not a counter file";
    case CP_CFILE_EHDR:
        return "wrong header: not a telemetry counter file v1";
    case CP_CFILE_EHDRLEN:
        return "corrupt counter file: header length out of range";
    case CP_CFILE_EMETA:
        return "corrupt counter file: a metadata line has no \": \"";
    case CP_CFILE_ECORRUPT:
        return "corrupt counter file";
    case CP_CFILE_ELOOP:
        return "corrupt counter file: a hash chain loops or repeats a name";
    case CP_CFILE_EMISMATCH:
        return "the file exists with a different header (other metadata or format)";
    case CP_CFILE_ENAME:
        return "counter name is empty or longer than 4096 bytes";
    case CP_CFILE_EMETALEN:
        return "metadata longer than 512 bytes";
    case CP_CFILE_EFULL:
        return "counter file is full (4 GiB)";
    case CP_CFILE_ENOTREG:
        return "not a regular file (a symlink, directory or FIFO is never followed or used)";
    case CP_CFILE_EOWNER:
        return "the file belongs to another user (refusing to write into it)";
    default:
        return code < 0 ? strerror(-code) : "no error";
    }
}

uint32_t cp_cfile_bucket(const void *name, size_t len)
{
    const uint8_t *p = name;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    return h % CP_CFILE_NBUCKETS;
}

int cp_cfile_header(uint8_t *buf, size_t buflen, const char *meta, size_t metalen)
{
    if (metalen > CP_CFILE_MAX_META)
        return CP_CFILE_EMETALEN;
    size_t h = round_up(32 + metalen, 32);
    if (buflen < h)
        return -ENOSPC;
    memset(buf, 0, h);
    memcpy(buf, CP_CFILE_MAGIC, CP_CFILE_MAGIC_LEN);
    uint32_t h32 = (uint32_t)h;
    memcpy(buf + CP_CFILE_MAGIC_LEN, &h32, 4);
    memcpy(buf + 32, meta, metalen);
    return (int)h;
}

/* ---- mapping ----------------------------------------------------------------------- */

static size_t mapped(struct cp_cfile *f)
{
    /* acquire: pairs with the release in grow_mapping(): the pages are mapped */
    return __atomic_load_n(&f->mapped, __ATOMIC_ACQUIRE);
}

/* Map whatever the file has grown to since our last look (another process, or us).
 * Returns the mapped size. Concurrent callers map the same file pages at the same
 * addresses, which is harmless. */
static size_t grow_mapping(struct cp_cfile *f)
{
    struct stat st;
    /* One thread maps at a time, and looks at `mapped` again under the lock, so no page
     * is ever mapped twice (which would be harmless for the data, as it is the same
     * file page, but would briefly unmap a page another thread may be reading). */
    while (__atomic_exchange_n(&f->grow_lock, 1, __ATOMIC_ACQUIRE))
        sched_yield();
    size_t cur = mapped(f);
    if (fstat(f->fd, &st) < 0 || (size_t)st.st_size <= cur) {
        __atomic_store_n(&f->grow_lock, 0, __ATOMIC_RELEASE);
        return cur;
    }
    size_t want = (size_t)st.st_size;
    if (want > f->reserve)
        want = f->reserve;
    /* cur is a multiple of 16 KiB (we only ever map up to a multiple of P, or the whole
     * file), hence of the OS page size, so the tail maps at its own file offset. */
    size_t from = cur & ~(size_t)(CP_CFILE_PAGE - 1);
    void *p = mmap(f->base + from, want - from, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                   f->fd, (off_t)from);
    if (p != MAP_FAILED)
        /* release: publishes the new mapping to the acquire in mapped() */
        __atomic_store_n(&f->mapped, want, __ATOMIC_RELEASE);
    __atomic_store_n(&f->grow_lock, 0, __ATOMIC_RELEASE);
    return mapped(f);
}

/* Make the file at least `to` bytes with real blocks for [from, to), never changing a
 * byte that is there. Only the last word of a page is written otherwise (FORMAT.md 5.5),
 * which leaves a hole before it; on a full file system (a small tmpfs, a quota) the first
 * store into a hole through the mapping would be a SIGBUS in the profiled program.
 * fallocate allocates first and never touches data, so it is safe while another process
 * writes records there; where the file system cannot do it, the last word is written as
 * before. Returns 0 or a negative errno. */
static int grow_file(int fd, size_t from, size_t to)
{
    /* Past RLIMIT_FSIZE the kernel would send SIGXFSZ, which kills the program: ask first */
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && to > rl.rlim_cur)
        return -EFBIG;
    int r;
    do
        r = fallocate(fd, 0, (off_t)from, (off_t)(to - from));
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        return -errno;
    static const uint8_t zero[4];
    ssize_t w;
    do
        w = pwrite(fd, zero, 4, (off_t)(to - 4));
    while (w < 0 && errno == EINTR);
    return w == 4 ? 0 : w < 0 ? -errno : -EIO;
}

/* FORMAT.md 5.5: make the file at least `end` bytes (rounded up to P) without ever
 * shrinking it: only the reserved last 4 bytes of a page are written, with zeros. */
static int extend(struct cp_cfile *f, size_t end)
{
    end = round_up(end, CP_CFILE_PAGE);
    if (end > f->reserve)
        return CP_CFILE_EFULL;
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return -errno;
    if ((size_t)st.st_size < end) {
        int r = grow_file(f->fd, (size_t)st.st_size, end);
        if (r)
            return r;
    }
    if (grow_mapping(f) < end)
        return -EIO;
    return 0;
}

static uint32_t load32(struct cp_cfile *f, size_t off)
{
    return __atomic_load_n((uint32_t *)(f->base + off), __ATOMIC_ACQUIRE);
}

static uint32_t *word32(struct cp_cfile *f, size_t off)
{
    return (uint32_t *)(f->base + off);
}

/* ---- open / close ------------------------------------------------------------------ */

int cp_cfile_open(struct cp_cfile *f, const char *path, const char *meta, size_t metalen)
{
    uint8_t hdr[32 + CP_CFILE_MAX_META + 32];
    int h = cp_cfile_header(hdr, sizeof hdr, meta, metalen);
    if (h < 0)
        return h;
    memset(f, 0, sizeof *f);
    f->fd = -1;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
    if (fd < 0)
        /* ELOOP: a symlink (O_NOFOLLOW); EISDIR: a directory; ENXIO: a FIFO nobody reads */
        return errno == ELOOP || errno == EISDIR || errno == ENXIO ? CP_CFILE_ENOTREG : -errno;
    int err = 0;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        err = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        err = CP_CFILE_ENOTREG;
        goto fail;
    }
    /* In a shared directory (/tmp) somebody else may have planted the file to read our
     * profile or to feed us counters: write only into our own files. */
    if (st.st_uid != geteuid()) {
        err = CP_CFILE_EOWNER;
        goto fail;
    }
    if ((size_t)st.st_size < CP_CFILE_PAGE) {
        /* A new file, or one another process is creating right now (it writes the same
         * header bytes, so the race is harmless, FORMAT.md 5.1). Anything else in a
         * short file is somebody's data: never overwrite it. */
        uint8_t cur[sizeof hdr];
        ssize_t n = pread(fd, cur, (size_t)h, 0);
        if (n < 0) {
            err = -errno;
            goto fail;
        }
        for (ssize_t i = 0; i < n; i++)
            if (cur[i] != hdr[i] && cur[i] != 0) {
                err = CP_CFILE_EMISMATCH;
                goto fail;
            }
        if (pwrite(fd, hdr, (size_t)h, 0) != h) {
            err = errno ? -errno : -EIO;
            goto fail;
        }
        if ((err = grow_file(fd, 0, CP_CFILE_PAGE)) != 0)
            goto fail;
    }
    void *base = mmap(NULL, RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        err = -errno;
        goto fail;
    }
    f->fd = fd;
    f->base = base;
    f->reserve = RESERVE;
    f->hdr_len = (uint32_t)h;
    f->mapped = 0;
    if (grow_mapping(f) < CP_CFILE_PAGE) {
        err = -EIO;
        goto fail_unmap;
    }
    if (memcmp(f->base, hdr, (size_t)h) != 0) {
        err = CP_CFILE_EMISMATCH;
        goto fail_unmap;
    }
    return 0;

fail_unmap:
    munmap(base, RESERVE);
    f->base = NULL;
fail:
    close(fd);
    f->fd = -1;
    return err;
}

void cp_cfile_close(struct cp_cfile *f)
{
    if (f->base)
        munmap(f->base, f->reserve);
    if (f->fd >= 0)
        close(f->fd);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

/* ---- counters ---------------------------------------------------------------------- */

/* Is there a whole record header and name at off inside the mapping (remapping once if
 * the file grew)? Records are never below the first record slot. */
static int record_ok(struct cp_cfile *f, size_t off, size_t *lenp)
{
    size_t first = f->hdr_len + RECORDS_OFF;
    if (off < first || off > UINT32_MAX)
        return CP_CFILE_ECORRUPT;
    for (int tries = 0;; tries++) {
        size_t m = mapped(f);
        if (off + 16 <= m) {
            size_t len = load32(f, off + 8) & 0x00FFFFFFu;
            if (len > 0 && off + 16 + len <= m) {
                *lenp = len;
                return 0;
            }
            if (len == 0)
                return CP_CFILE_ECORRUPT;
        }
        /* Past our mapping: another process probably grew the file (FORMAT.md 5.2). */
        if (tries >= REMAP_TRIES || grow_mapping(f) == m)
            return CP_CFILE_ECORRUPT;
    }
}

/* Walk the chain from `off` until `stop` looking for name. *found gets the record
 * offset (0 if absent). Bounded: a chain can hold at most one record per 32 bytes. */
static int walk(struct cp_cfile *f, uint32_t off, uint32_t stop, const void *name, size_t len,
                uint32_t *found)
{
    *found = 0;
    size_t steps = 0;
    while (off != 0 && off != stop) {
        size_t rlen;
        int err = record_ok(f, off, &rlen);
        if (err)
            return err;
        if (rlen == len && memcmp(f->base + off + 16, name, len) == 0) {
            *found = off;
            return 0;
        }
        if (++steps > mapped(f) / 32)
            return CP_CFILE_ELOOP;
        off = load32(f, off + 12);
    }
    return 0;
}

/* FORMAT.md 5.3: reserve n bytes for a record; returns its offset or a negative code. */
static int64_t reserve(struct cp_cfile *f, size_t n)
{
    uint32_t *limit = word32(f, f->hdr_len);
    for (;;) {
        uint32_t l0 = __atomic_load_n(limit, __ATOMIC_ACQUIRE);
        size_t l = l0 ? l0 : f->hdr_len + RECORDS_OFF;
        size_t start = round_up(l, 32);
        if (start / CP_CFILE_PAGE != (start + n) / CP_CFILE_PAGE)
            start = round_up(l, CP_CFILE_PAGE);
        size_t end = start + n;
        if (end > UINT32_MAX - CP_CFILE_PAGE)
            return CP_CFILE_EFULL;
        if (end > mapped(f)) {
            int err = extend(f, end);
            if (err)
                return err;
            continue; /* the limit may have moved meanwhile */
        }
        if (__atomic_compare_exchange_n(limit, &l0, (uint32_t)end, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return (int64_t)start;
    }
}

int cp_cfile_counter(struct cp_cfile *f, const void *name, size_t len, uint64_t **valp)
{
    if (len == 0 || len > CP_CFILE_MAX_NAME)
        return CP_CFILE_ENAME;
    size_t head_off = f->hdr_len + TABLE_OFF + 4 * cp_cfile_bucket(name, len);
    uint32_t *head = word32(f, head_off);
    uint32_t head0 = __atomic_load_n(head, __ATOMIC_ACQUIRE), found;
    int err = walk(f, head0, 0, name, len, &found);
    if (err)
        return err;
    if (found) {
        *valp = (uint64_t *)(f->base + found);
        return 0;
    }
    int64_t start = reserve(f, round_up(16 + len, 32));
    if (start < 0)
        return (int)start;
    uint8_t *rec = f->base + start;
    memcpy(rec + 16, name, len);
    /* release: the name is in place before anyone can read the length */
    __atomic_store_n((uint32_t *)(rec + 8), (uint32_t)len | 0xFF000000u, __ATOMIC_RELEASE);
    uint32_t *next = (uint32_t *)(rec + 12);
    for (;;) {
        __atomic_store_n(next, head0, __ATOMIC_RELEASE);
        /* release: publishes the record (name, length, next) to readers that load the
         * head with acquire (walk(), other processes' lookups, the reader) */
        uint32_t expect = head0;
        if (__atomic_compare_exchange_n(head, &expect, (uint32_t)start, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            break;
        /* Someone inserted into this bucket since we looked: did they insert our name?
         * (FORMAT.md 5.4 step 3; unlike Go we remap if their record lies past our
         * mapping instead of failing and orphaning ours.) */
        uint32_t head1 = expect;
        err = walk(f, head1, head0, name, len, &found);
        if (err)
            return err;
        if (found) {
            __atomic_store_n(next, CP_CFILE_DEAD, __ATOMIC_RELEASE);
            *valp = (uint64_t *)(f->base + found);
            return 0;
        }
        head0 = head1;
    }
    *valp = (uint64_t *)rec;
    return 0;
}

void cp_cfile_add(uint64_t *v, uint64_t n)
{
    uint64_t old = __atomic_load_n(v, __ATOMIC_RELAXED), nv;
    do {
        nv = old + n;
        if (nv < old)
            nv = UINT64_MAX; /* saturate, as Go does */
        if (nv == old)
            return;
    } while (!__atomic_compare_exchange_n(v, &old, nv, 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
}
