/*
 * cfile.c — the Go telemetry counter file v1 writer (see cfile.h, and FORMAT.md in
 * tests/fixtures/telemetry-v1/ for the byte format this keeps exactly).
 *
 * Contexts: cp_cfile_open/close at start-up and exit of the profiled process (or in a
 * test); cp_cfile_counter and cp_cfile_add from the flusher thread (any thread is
 * safe). Never malloc, never stdio.
 *
 * About 1,050 lines, one concept: the writer (its views of the file and their residency,
 * growth by path, fault recovery, and FORMAT.md's record protocol); the reader is
 * cfile_read.c.
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
 * Lock: a file's grow lock, taken by the engine under cp_flush_lock (docs/ARCHITECTURE.md,
 * "Locks").
 */
#include "cfile.h"
#include "nocancel.h"
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
/* valgrind's client request, where its header was there at build time (Debian's valgrind
 * package ships it): is this process running on valgrind's virtual CPU? */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef UNDER_VALGRIND
#define UNDER_VALGRIND() 0
#endif

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
        return "counter file is full (4 GiB, or no room to map it)";
    case CP_CFILE_ENOTREG:
        return "not a regular file (a symlink, directory or FIFO is never followed or used)";
    case CP_CFILE_EOWNER:
        return "the file belongs to another user (refusing to write into it)";
    case CP_CFILE_ELOST:
        return "the profile's path no longer leads to the file (deleted, replaced or out of "
               "reach); it can no longer grow";
    case CP_CFILE_EBROKEN:
        return "the profile was truncated under the program";
    case CP_CFILE_ESANDBOX:
        return "the program sandboxed itself: the profile cannot grow past the room made "
               "before";
    case CP_CFILE_EPACKED:
        return "not a packed profile that unpacks (a zstd frame that is truncated, corrupt, "
               "followed by other bytes, or unpacks to more than a counter file can hold)";
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

/* ---- mapping ----------------------------------------------------------------------- *
 *
 * Views. A view maps the file from offset 0 at the start of a PROT_NONE reservation about
 * twice the file's size; the file grows into it in place (MAP_FIXED over the reservation).
 * When the file outgrows it, a new view twice the new size maps the whole file elsewhere
 * and becomes current; the old one keeps its mapped part (pointers handed out point
 * there, and MAP_SHARED pages of one file are the same memory through any view) and gives
 * back its unused reservation. Address space is so about three times the file's size,
 * not the format's 4 GiB up front (which counted against ulimit -v and made
 * mlockall(MCL_CURRENT) fail under RLIMIT_MEMLOCK).
 *
 * No descriptor is kept (issue 26). A daemon closes every descriptor above 2 and opens
 * its own files, which get the numbers ours had: a kept descriptor would then grow,
 * write and map the program's file. Each growth opens the path again (O_NOFOLLOW, never
 * O_CREAT), checks with fstat that it is the same file (device and inode recorded at
 * creation), does its work and closes it at once. A path that leads nowhere or to another
 * file (deleted, replaced, a chroot) stops growth for good: CP_CFILE_ELOST. What remains
 * is the instant between our open and our close: a program thread that closes numbers it
 * does not own and opens a file of its own in that instant could be handed ours; the
 * identity check is repeated right before the mmap, the one call that could then touch
 * its file.
 *
 * Residency (issue 23). Every page of the file that a view maps counts in the process's
 * resident set, once per view that maps it: a page is one page of the page cache, but a
 * view made when the file outgrew the last one maps it again. Pointers handed out keep
 * the view they were made in, and lookups went through the current view, so a
 * many-stack program at rate 1 had its early counters' pages mapped in the old view
 * (stores through their pointers) and again in the new one (the reads of a hash-chain
 * walk, each of which maps up to 64 KiB around the record it reads: the kernel's
 * fault-around, which MADV_RANDOM does not turn off): bench/progs/namestacks 8 had 72 MB
 * of its 42 MB file resident. So every byte of the file is reached through one view, the
 * oldest that maps it (at()): its owner, fixed once the view is replaced (an old view
 * keeps its mapped part and never grows). Lookups, new records and the pointers handed
 * out all use it, so a page is mapped in one view (but for fault-around at the edge of
 * two views' parts); nothing is unmapped or dropped, and no page is faulted in twice.
 * The owner of an offset never changes, so a counter can be kept as its record's offset
 * (4 bytes, cp_cfile_value, as the engine's buckets do) as well as by a pointer.
 *
 * Faults. A store into a page the file no longer has (someone truncated it; or a file
 * system without fallocate had no block for a hole) is a SIGBUS. The shim's handler asks
 * cp_cfile_fault, which replaces our views by private memory and marks the file broken:
 * the store completes, nothing of the program's is touched, and the engine stops
 * publishing into the file at its next look (cp_cfile_stopped). */

#define VIEW_MIN ((size_t)256 << 10)

static size_t page_size(void)
{
    static size_t ps;
    if (!ps) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096;
    }
    return ps;
}

static struct cp_cfile_view *view(const struct cp_cfile *f)
{
    /* acquire: pairs with the release in map_locked(): the view is complete */
    return __atomic_load_n(&f->cur, __ATOMIC_ACQUIRE);
}

static size_t vmapped(const struct cp_cfile_view *v)
{
    /* acquire: pairs with the release in map_locked(): the pages are mapped */
    return v ? __atomic_load_n(&v->mapped, __ATOMIC_ACQUIRE) : 0;
}

static size_t mapped(struct cp_cfile *f)
{
    return vmapped(view(f));
}

static void stop(struct cp_cfile *f, int why)
{
    int zero = 0;
    __atomic_compare_exchange_n(&f->stopped, &zero, why, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

int cp_cfile_stopped(const struct cp_cfile *f)
{
    if (__atomic_load_n(&f->broken, __ATOMIC_ACQUIRE))
        return CP_CFILE_EBROKEN;
    return __atomic_load_n(&f->stopped, __ATOMIC_ACQUIRE);
}

void cp_cfile_freeze(struct cp_cfile *f)
{
    __atomic_store_n(&f->frozen, 1, __ATOMIC_RELEASE);
}

static int same_file(const struct cp_cfile *f, int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_dev == f->dev &&
           (uint64_t)st.st_ino == f->ino;
}

/* A descriptor of ours, moved away from the low numbers a program's open() is given: a
 * thread that closes every descriptor and opens its own files right then would otherwise
 * be handed our number. fd is our file (checked); returns the moved descriptor or fd. */
static int move_high(const struct cp_cfile *f, int fd)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 64)
        return fd;
    long high = rl.rlim_cur > 2048 ? 1024 : (long)rl.rlim_cur / 2;
    if (fd >= high)
        return fd;
    int h = fcntl(fd, F_DUPFD_CLOEXEC, high);
    if (h < 0)
        return fd;
    if (same_file(f, fd))
        close(fd); /* (if it is not ours any more, it was closed and given to the program) */
    return h;
}

/* Close fd only if it is still ours. */
static void close_ours(const struct cp_cfile *f, int fd)
{
    if (same_file(f, fd))
        close(fd);
}

/* Our file, opened again by its path (and moved high); or a negative code, and growth
 * stopped for good if the path no longer leads to it. */
static int reopen(struct cp_cfile *f)
{
    if (__atomic_load_n(&f->frozen, __ATOMIC_ACQUIRE))
        return CP_CFILE_ESANDBOX;
    int s = cp_cfile_stopped(f);
    if (s)
        return s;
    int fd = open(f->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        /* out of descriptors or memory: maybe later; refused to another uid the process
         * took (a daemon's seteuid, core/publish.c's cp_prof_identity_changing): maybe
         * later too, back under its own; anything else is for good */
        if (e == EMFILE || e == ENFILE || e == ENOMEM || e == EINTR || e == EACCES)
            return -e;
        stop(f, CP_CFILE_ELOST);
        return CP_CFILE_ELOST;
    }
    if (!same_file(f, fd)) {
        /* (closed under us at once and the number given to the program: leave it) */
        struct stat st;
        if (stat(f->path, &st) == 0 && (uint64_t)st.st_dev == f->dev &&
            (uint64_t)st.st_ino == f->ino)
            return -EAGAIN;
        close_ours(f, fd);
        stop(f, CP_CFILE_ELOST);
        return CP_CFILE_ELOST;
    }
    return move_high(f, fd);
}

static void register_file(struct cp_cfile *f);
static void unregister_file(struct cp_cfile *f);
static void break_file(struct cp_cfile *f);

/* The file is shorter than what we mapped: someone truncated it. Growing it again would
 * fill it with zeros and records under no header: it is broken instead (see "Faults"). */
static int shrunk(struct cp_cfile *f, const struct stat *st)
{
    if ((size_t)st->st_size >= vmapped(f->cur))
        return 0;
    break_file(f);
    return CP_CFILE_EBROKEN;
}

/* mmap's error, except that EAGAIN (RLIMIT_MEMLOCK under mlockall(MCL_FUTURE)) is
 * -ENOMEM: -EAGAIN here means a descriptor taken from us, and is tried again */
static int map_errno(void)
{
    return errno == EAGAIN ? -ENOMEM : -errno;
}

/* With grow_lock held: map the file's first `size` bytes (fd is our file). */
static int map_locked(struct cp_cfile *f, int fd, size_t size)
{
    struct cp_cfile_view *v = f->cur;
    size_t cur = v ? v->mapped : 0;
    if (size <= cur)
        return 0;
    if (!same_file(f, fd)) /* see "No descriptor is kept": taken from us; try again */
        return -EAGAIN;
    if (v && size <= v->reserve) {
        /* cur is a multiple of the OS page (we map up to a multiple of P, or the whole
         * file, rounded up to a page), so the tail maps at its own file offset */
        size_t from = cur & ~(page_size() - 1);
        /* On valgrind (3.19) a piece of the file mapped beside a piece of the same file
         * ended the program at the file's second growth, callgrind and cachegrind at
         * least ("aspacem assertion failed: !is_freeslot(ix)", exit 1: a rate-1 run of
         * any program with a few thousand sites). There the whole mapped part is mapped
         * again, from offset 0, which it takes (the same file pages: nothing moves).
         * Natively the tail alone, so that the pages in use keep their page tables. */
        if (cur && UNDER_VALGRIND())
            from = 0;
        if (mmap(v->base + from, size - from, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                 (off_t)from) == MAP_FAILED)
            return map_errno();
        if (!same_file(f, fd)) {
            /* the number changed hands during the mmap: back to reserved, nothing stored;
             * or, where the part in use was mapped again (valgrind), from that other
             * file: every view becomes private zero pages, as for a truncated file */
            if (from < cur)
                break_file(f);
            else
                mmap(v->base + from, size - from, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
            return -EAGAIN;
        }
        /* release: publishes the new pages to vmapped()'s acquire */
        __atomic_store_n(&v->mapped, size, __ATOMIC_RELEASE);
        return 0;
    }
    if (f->nviews == CP_CFILE_VIEWS || size > RESERVE)
        return CP_CFILE_EFULL;
    size_t res = 2 * size < VIEW_MIN ? VIEW_MIN : round_up(2 * size, VIEW_MIN);
    if (res > RESERVE)
        res = RESERVE;
    uint8_t *base = mmap(NULL, res, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return map_errno();
    if (mmap(base, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        int e = map_errno();
        munmap(base, res);
        return e;
    }
    if (!same_file(f, fd)) { /* as above */
        munmap(base, res);
        return -EAGAIN;
    }
    struct cp_cfile_view *nv = &f->views[f->nviews];
    nv->base = base;
    nv->reserve = res;
    nv->mapped = size;
    /* release: the entry is complete before cp_cfile_fault (any thread) counts it */
    __atomic_store_n(&f->nviews, f->nviews + 1, __ATOMIC_RELEASE);
    if (v) {
        /* the old view's unused reservation: no pointer was ever handed out there */
        size_t keep = round_up(v->mapped, page_size());
        if (keep < v->reserve && munmap(v->base + keep, v->reserve - keep) == 0)
            __atomic_store_n(&v->reserve, keep, __ATOMIC_RELEASE);
    }
    /* release: publishes the view to view()'s acquire */
    __atomic_store_n(&f->cur, nv, __ATOMIC_RELEASE);
    return 0;
}

static void grow_lock(struct cp_cfile *f)
{
    while (__atomic_exchange_n(&f->grow_lock, 1, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void grow_unlock(struct cp_cfile *f)
{
    __atomic_store_n(&f->grow_lock, 0, __ATOMIC_RELEASE);
}

/* Map whatever the file has grown to since our last look (another process, or us).
 * Returns the mapped size. One thread maps at a time, and looks at `mapped` again under
 * the lock, so no page is ever mapped twice. */
static size_t grow_mapping(struct cp_cfile *f)
{
    if (__atomic_load_n(&f->frozen, __ATOMIC_ACQUIRE) || cp_cfile_stopped(f))
        return mapped(f);
    grow_lock(f);
    for (int tries = 0; tries < 3; tries++) {
        int fd = reopen(f), err = fd;
        if (fd >= 0) {
            struct stat st;
            err = 0;
            if (fstat(fd, &st) == 0 && !shrunk(f, &st) && (size_t)st.st_size > mapped(f))
                err =
                    map_locked(f, fd, (size_t)st.st_size < RESERVE ? (size_t)st.st_size : RESERVE);
            close_ours(f, fd);
        }
        if (err != -EAGAIN)
            break;
    }
    grow_unlock(f);
    return mapped(f);
}

/* Make the file at least `to` bytes with real blocks for [from, to), never changing a
 * byte that is there. Only the last word of a page is written otherwise (FORMAT.md 5.5),
 * which leaves a hole before it; on a full file system (a small tmpfs, a quota) the first
 * store into a hole through the mapping would be a SIGBUS (caught: see "Faults").
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

/* extend(), with grow_lock held: one try (-EAGAIN: our descriptor was taken from us) */
static int extend_locked(struct cp_cfile *f, size_t end, size_t slack)
{
    int err = 0, fd = reopen(f);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        err = -errno;
    } else if ((err = shrunk(f, &st)) != 0) {
        /* nothing more */
    } else {
        size_t size = (size_t)st.st_size, want = end;
        if (size < end) {
            size_t more = round_up(size / 8, CP_CFILE_PAGE);
            if (more > slack)
                more = slack;
            if (end - size < more && size + more <= RESERVE)
                want = size + more;
            err = same_file(f, fd) ? grow_file(fd, size, want) : -EAGAIN;
            if (err && err != -EAGAIN && want > end) /* the slack was too much: the least */
                err = grow_file(fd, size, want = end);
        } else {
            want = size < RESERVE ? size : RESERVE;
        }
        if (!err)
            err = map_locked(f, fd, want);
    }
    close_ours(f, fd);
    return err;
}

/* FORMAT.md 5.5: make the file at least `end` bytes (rounded up to P) without ever
 * shrinking it, and map it. The file grows by an eighth of its size at least (each
 * growth is five system calls now that it reopens the file), capped by `end` + slack. */
static int extend(struct cp_cfile *f, size_t end, size_t slack)
{
    end = round_up(end, CP_CFILE_PAGE);
    if (end > RESERVE)
        return CP_CFILE_EFULL;
    if (end <= mapped(f))
        return 0;
    if (__atomic_load_n(&f->frozen, __ATOMIC_ACQUIRE))
        return CP_CFILE_ESANDBOX;
    grow_lock(f);
    int cs = cp_cancel_off(); /* (open, fallocate, close: base/nocancel.h) */
    int err = -EAGAIN;
    for (int tries = 0; tries < 3 && err == -EAGAIN; tries++)
        err = extend_locked(f, end, slack);
    cp_cancel_restore(cs);
    grow_unlock(f);
    if (err == CP_CFILE_EFULL || err == -EFBIG || err == -ENOSPC || err == -EDQUOT)
        stop(f, err); /* nothing will change that: no more system calls for it */
    return err ? err : mapped(f) >= end ? 0 : -EIO;
}

/* See "Residency": bytes [off, off + n) of the file through the oldest view that maps
 * them (the current view if none does yet: the caller checked the current mapping). */
static uint8_t *at(const struct cp_cfile *f, size_t off, size_t n)
{
    /* acquire: an entry is complete before nviews counts it (map_locked) */
    unsigned nv = __atomic_load_n(&f->nviews, __ATOMIC_ACQUIRE);
    if (!nv || vmapped(&f->views[nv - 1]) < off + n)
        return view(f)->base + off;
    /* views map more the newer they are: from the newest down to the oldest that maps
     * the bytes (half the file is the newest view's alone: one test, most often) */
    unsigned k = nv - 1;
    while (k > 0 && vmapped(&f->views[k - 1]) >= off + n)
        k--;
    return f->views[k].base + off;
}

uint64_t *cp_cfile_value_slow(const struct cp_cfile *f, uint32_t off)
{
    return (uint64_t *)at(f, off, 16);
}

static uint32_t load32(struct cp_cfile *f, size_t off)
{
    return __atomic_load_n((uint32_t *)at(f, off, 4), __ATOMIC_ACQUIRE);
}

static uint32_t *word32(struct cp_cfile *f, size_t off)
{
    return (uint32_t *)at(f, off, 4);
}

size_t cp_cfile_room(struct cp_cfile *f)
{
    uint32_t l = load32(f, f->hdr_len);
    size_t used = l ? l : f->hdr_len + RECORDS_OFF, m = mapped(f);
    return m > used ? m - used : 0;
}

int cp_cfile_presize(struct cp_cfile *f, size_t margin)
{
    uint32_t l = load32(f, f->hdr_len);
    size_t used = l ? l : f->hdr_len + RECORDS_OFF;
    int err = extend(f, used + margin, 0);
    grow_mapping(f); /* all of it, had another process grown it further */
    return err;
}

/* ---- faults ------------------------------------------------------------------------ */

/* The open files, for the SIGBUS handler (any thread, any time). */
#define MAX_OPEN 8
static struct cp_cfile *open_files[MAX_OPEN];

static void register_file(struct cp_cfile *f)
{
    for (int i = 0; i < MAX_OPEN; i++) {
        struct cp_cfile *e = NULL;
        if (__atomic_compare_exchange_n(&open_files[i], &e, f, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
            return;
    }
}

static void unregister_file(struct cp_cfile *f)
{
    for (int i = 0; i < MAX_OPEN; i++) {
        struct cp_cfile *e = f;
        __atomic_compare_exchange_n(&open_files[i], &e, NULL, 0, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED);
    }
}

/* Private zero pages over every view, at the same addresses: every pointer into the
 * file stays writable and reaches nothing of anyone's. Stores made meanwhile through pages
 * the file still has land in the file, as they would have before; from here on nothing
 * does. Async-signal-safe (mmap is a plain system call). */
static void break_file(struct cp_cfile *f)
{
    __atomic_store_n(&f->broken, 1, __ATOMIC_RELEASE);
    unsigned n = __atomic_load_n(&f->nviews, __ATOMIC_ACQUIRE);
    for (unsigned k = 0; k < n; k++)
        mmap(f->views[k].base, __atomic_load_n(&f->views[k].reserve, __ATOMIC_ACQUIRE),
             PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
             0);
}

int cp_cfile_fault(const void *addr)
{
    const uint8_t *a = addr;
    for (int i = 0; i < MAX_OPEN; i++) {
        struct cp_cfile *f = __atomic_load_n(&open_files[i], __ATOMIC_ACQUIRE);
        if (!f)
            continue;
        unsigned n = __atomic_load_n(&f->nviews, __ATOMIC_ACQUIRE);
        int hit = 0;
        for (unsigned k = 0; k < n && !hit; k++)
            hit = a >= f->views[k].base &&
                  a < f->views[k].base + __atomic_load_n(&f->views[k].reserve, __ATOMIC_ACQUIRE);
        if (!hit)
            continue;
        break_file(f);
        return 1;
    }
    return 0;
}

size_t cp_cfile_offset(const struct cp_cfile *f, const void *p)
{
    const uint8_t *a = p;
    for (unsigned k = 0; k < f->nviews; k++)
        if (a >= f->views[k].base && a < f->views[k].base + f->views[k].reserve)
            return (size_t)(a - f->views[k].base);
    return SIZE_MAX;
}

size_t cp_cfile_reserved(const struct cp_cfile *f)
{
    size_t t = 0;
    for (unsigned k = 0; k < f->nviews; k++)
        t += f->views[k].reserve;
    return t;
}

/* ---- open / close ------------------------------------------------------------------ */

static int plain_create; /* atomic: a sandbox may refuse O_TMPFILE, linkat and fchmod */

void cp_cfile_plain_create(bool on)
{
    __atomic_store_n(&plain_create, on, __ATOMIC_RELEASE);
}

/* A file we made whose mode the umask took the owner's read or write from (a daemon's
 * umask(0277), or 0777 around its own bind): made 0600 & ~umask, it was 0400 or 0000, and
 * neither its owner's reader (`ctrprof report`: "Permission denied") nor our own reopen
 * by path could open it, so the profile was lost. Given its owner's bits back; the other
 * bits are left as they are. Only such a mode costs the system call, and not under a
 * seccomp filter (plain_create), which may forbid it: there the file keeps its mode. */
static unsigned owner_rw(int fd, const struct stat *st)
{
    if ((st->st_mode & 0600) == 0600)
        return 0;
    if (__atomic_load_n(&plain_create, __ATOMIC_ACQUIRE))
        return (unsigned)(st->st_mode & 07777) | 0x8000u; /* (mode 0 is one too) */
    (void)fchmod(fd, (st->st_mode & 07777) | 0600);
    return 0;
}

/* Never unmapped while named. `ctrprof pack` (tools/pack.c) packs a profile only when no
 * process maps it or has it open, and removes the original: a writer must be seen by
 * one or the other from the instant the file has its name. A descriptor alone did not do:
 * between the name and the mapping, ours moves to a high number (move_high: a dup, then
 * the close of the low one), and a scan of /proc/PID/fd in that instant saw neither; a
 * run whose child was creating its profile as the run ended packed it from under the
 * child, whose counters then went into a file with no name (pack.sh's
 * run:running-child-kept, CI once in ~50 runs). So a page of the new file is mapped
 * before it is linked (or, made by open, before the descriptor moves) and kept until
 * its views map it. Not under a seccomp filter (plain_create), which may forbid munmap;
 * there the descriptor, which does not move before the mapping, is what a scan sees. */
static void *hold_page(int fd)
{
    void *p = mmap(NULL, CP_CFILE_PAGE, PROT_READ, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void release_hold(void **hold)
{
    if (*hold)
        munmap(*hold, CP_CFILE_PAGE);
    *hold = NULL;
}

/* A new file appears whole or not at all. Made by open(O_CREAT) and then written, it was
 * an empty file for a moment, and a process killed in that moment (a multi-threaded sort
 * whose main thread met SIGPIPE while the flusher created its profile) left a 0-byte
 * .count file that every reader rejects. So the header page is written into an unnamed
 * file (O_TMPFILE) in the same directory, which is then linked under the name
 * (/proc/self/fd, as linkat's AT_EMPTY_PATH needs a capability). Returns the descriptor,
 * -EEXIST (the name exists: open it), -EOPNOTSUPP (no O_TMPFILE, /proc or linkat here:
 * create it the old way) or another negative errno. *hold: a page of it mapped before it
 * has its name (see "Never unmapped while named"), or NULL. */
static int create_whole(const char *path, const uint8_t *hdr, size_t h, void **hold)
{
    *hold = NULL;
    if (__atomic_load_n(&plain_create, __ATOMIC_ACQUIRE))
        return -EOPNOTSUPP;
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0)
        return close(fd), -EEXIST;
    if (errno != ENOENT) /* the old path says why (a descriptor limit as its own errno) */
        return -EOPNOTSUPP;
    char dir[sizeof((struct cp_cfile *)0)->path];
    size_t pl = strlen(path);
    if (pl >= sizeof dir)
        return -EOPNOTSUPP;
    memcpy(dir, path, pl + 1);
    if (!cp_path_up(dir))
        return -EOPNOTSUPP;
    int t = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (t < 0)
        return -EOPNOTSUPP;
    int err = -EOPNOTSUPP;
    struct stat st;
    if (fstat(t, &st) == 0)     /* (before it has a name: nobody else ever sees it unreadable) */
        (void)owner_rw(t, &st); /* (never under a filter: plain_create above) */
    if (pwrite(t, hdr, h, 0) == (ssize_t)h && grow_file(t, 0, CP_CFILE_PAGE) == 0) {
        char proc[32] = "/proc/self/fd/";
        char digits[12];
        int nd = 0;
        for (unsigned v = (unsigned)t; nd == 0 || v; v /= 10)
            digits[nd++] = (char)('0' + v % 10);
        size_t o = strlen(proc);
        while (nd)
            proc[o++] = digits[--nd];
        proc[o] = 0;
        *hold = hold_page(t);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
            return t;
        if (errno == EEXIST)
            err = -EEXIST; /* another process created it first: open theirs */
        release_hold(hold);
    }
    close(t);
    return err;
}

int cp_cfile_open(struct cp_cfile *f, const char *path, const char *meta, size_t metalen)
{
    return cp_cfile_open_as(f, path, meta, metalen, false);
}

static int open_as(struct cp_cfile *f, const char *path, const char *meta, size_t metalen,
                   bool create_only);

int cp_cfile_open_as(struct cp_cfile *f, const char *path, const char *meta, size_t metalen,
                     bool create_only)
{
    int cs = cp_cancel_off(); /* (open, pread, pwrite, close: base/nocancel.h) */
    int r = open_as(f, path, meta, metalen, create_only);
    cp_cancel_restore(cs);
    return r;
}

static int open_as(struct cp_cfile *f, const char *path, const char *meta, size_t metalen,
                   bool create_only)
{
    uint8_t hdr[32 + CP_CFILE_MAX_META + 32];
    int h = cp_cfile_header(hdr, sizeof hdr, meta, metalen);
    if (h < 0)
        return h;
    memset(f, 0, sizeof *f);
    size_t pl = strlen(path);
    if (pl >= sizeof f->path)
        return -ENAMETOOLONG;
    void *hold = NULL;
    int fd = create_whole(path, hdr, (size_t)h, &hold);
    if (create_only && fd == -EEXIST)
        return -EEXIST; /* somebody else's file (or ours of an earlier image): not opened */
    if (fd == -EEXIST || fd == -EOPNOTSUPP)
        fd = open(path,
                  O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
                      (create_only ? O_EXCL : 0),
                  0600);
    if (fd < 0 && create_only && errno == EEXIST)
        return -EEXIST;
    if (fd < 0)
        /* ELOOP: a symlink (O_NOFOLLOW); EISDIR: a directory; ENXIO: a FIFO nobody reads */
        return errno == ELOOP || errno == EISDIR || errno == ENXIO ? CP_CFILE_ENOTREG : -errno;
    int err = 0;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        err = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        err = CP_CFILE_ENOTREG;
        goto out;
    }
    /* In a shared directory (/tmp) somebody else may have planted the file to read our
     * profile or to feed us counters: write only into our own files. */
    if (st.st_uid != geteuid()) {
        err = CP_CFILE_EOWNER;
        goto out;
    }
    memcpy(f->path, path, pl + 1);
    f->dev = (uint64_t)st.st_dev;
    f->ino = (uint64_t)st.st_ino;
    f->uid = (uint32_t)st.st_uid;
    f->hdr_len = (uint32_t)h;
    if (!hold && !__atomic_load_n(&plain_create, __ATOMIC_ACQUIRE))
        hold = hold_page(fd);
    fd = move_high(f, fd);
    if ((size_t)st.st_size < CP_CFILE_PAGE) {
        f->mode_kept = (unsigned short)owner_rw(fd, &st); /* (open(O_CREAT) under the
                                                           * umask: ours or a sibling's) */
        /* A new file, or one another process is creating right now (it writes the same
         * header bytes, so the race is harmless, FORMAT.md 5.1). Anything else in a
         * short file is somebody's data: never overwrite it. */
        uint8_t cur[sizeof hdr];
        ssize_t n = pread(fd, cur, (size_t)h, 0);
        if (n < 0) {
            err = -errno;
            goto out;
        }
        for (ssize_t i = 0; i < n; i++)
            if (cur[i] != hdr[i] && cur[i] != 0) {
                err = CP_CFILE_EMISMATCH;
                goto out;
            }
        if (!same_file(f, fd)) { /* see "No descriptor is kept" */
            err = CP_CFILE_ELOST;
            goto out;
        }
        if (pwrite(fd, hdr, (size_t)h, 0) != h) {
            err = errno ? -errno : -EIO;
            goto out;
        }
        if ((err = grow_file(fd, 0, CP_CFILE_PAGE)) != 0)
            goto out;
        if (fstat(fd, &st) < 0) {
            err = -errno;
            goto out;
        }
    }
    for (int tries = 0;; tries++) {
        size_t size = (size_t)st.st_size < RESERVE ? (size_t)st.st_size : RESERVE;
        err = map_locked(f, fd, size);
        if (err != -EAGAIN || tries == 3)
            break;
        /* our descriptor was taken (see "No descriptor is kept"): by the path again */
        close_ours(f, fd);
        if ((fd = reopen(f)) < 0) {
            err = fd;
            fd = -1;
            break;
        }
        if (fstat(fd, &st) < 0) {
            err = -errno;
            break;
        }
    }
    if (!err && memcmp(view(f)->base, hdr, (size_t)h) != 0)
        err = CP_CFILE_EMISMATCH;
out:
    if (fd >= 0) {
        if (f->path[0])
            close_ours(f, fd);
        else
            close(fd);
    }
    release_hold(&hold);
    if (err) {
        for (unsigned k = 0; k < f->nviews; k++)
            munmap(f->views[k].base, f->views[k].reserve);
        memset(f, 0, sizeof *f);
        return err;
    }
    f->created = create_only;
    register_file(f);
    return 0;
}

void cp_cfile_close(struct cp_cfile *f)
{
    unregister_file(f);
    for (unsigned k = 0; k < f->nviews; k++)
        munmap(f->views[k].base, f->views[k].reserve);
    memset(f, 0, sizeof *f);
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
static int walk_chain(struct cp_cfile *f, uint32_t off, uint32_t stop, const void *name, size_t len,
                      uint32_t *found, size_t *steps)
{
    *found = 0;
    while (off != 0 && off != stop) {
        size_t rlen;
        int err = record_ok(f, off, &rlen);
        if (err)
            return err;
        if (rlen == len && memcmp(at(f, off + 16, len), name, len) == 0) {
            *found = off;
            return 0;
        }
        if (++*steps > mapped(f) / 32)
            return CP_CFILE_ELOOP;
        off = load32(f, off + 12);
    }
    return 0;
}

static int walk(struct cp_cfile *f, uint32_t off, uint32_t stop, const void *name, size_t len,
                uint32_t *found)
{
    size_t steps = 0;
    return walk_chain(f, off, stop, name, len, found, &steps);
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
            int err = extend(f, end, (size_t)1 << 20);
            if (err)
                return err;
            continue; /* the limit may have moved meanwhile */
        }
        if (__atomic_compare_exchange_n(limit, &l0, (uint32_t)end, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return (int64_t)start;
    }
}

/* Reserve, fill and link a record for name (FORMAT.md 5.3-5.4) after a lookup that did
 * not find it in the chain from head0. fresh: nobody else can have made this name (it
 * carries an id taken from the file, docs/SCHEMA.md), so a lost race for the head only
 * retries the link, without walking what the winner inserted. */
static int insert(struct cp_cfile *f, uint32_t *head, uint32_t head0, const void *name, size_t len,
                  int fresh, uint64_t **valp)
{
    int64_t start = reserve(f, round_up(16 + len, 32));
    if (start < 0)
        return (int)start;
    uint8_t *rec = at(f, (size_t)start, round_up(16 + len, 32));
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
        uint32_t head1 = expect, found = 0;
        if (!fresh) {
            /* Someone inserted into this bucket since we looked: did they insert our name?
             * (FORMAT.md 5.4 step 3; unlike Go we remap if their record lies past our
             * mapping instead of failing and orphaning ours.) */
            int err = walk(f, head1, head0, name, len, &found);
            if (err)
                return err;
        }
        if (found) {
            __atomic_store_n(next, CP_CFILE_DEAD, __ATOMIC_RELEASE);
            *valp = (uint64_t *)at(f, found, 16);
            return 0;
        }
        head0 = head1;
    }
    *valp = (uint64_t *)at(f, (size_t)start, 16); /* (rec's view, but for a record that
                                                   * ends past the view of its start) */
    return 0;
}

/* A file found truncated (cp_cfile_fault replaced our views with zeros) takes no more
 * records: in the zeros the limit reads 0, and a new record would be written over the
 * first ones, whose pointers the engine still holds (stacktab.c's ids counter read back
 * a name's bytes). Found during a lookup or an insert, any error of the walk or the
 * reservation is the truncation, said once by its own message, not a full file. */
static int why(const struct cp_cfile *f, int err)
{
    return err && __atomic_load_n(&f->broken, __ATOMIC_ACQUIRE) ? CP_CFILE_EBROKEN : err;
}

int cp_cfile_counter_fresh(struct cp_cfile *f, const void *name, size_t len, uint64_t **valp)
{
    if (__atomic_load_n(&f->broken, __ATOMIC_ACQUIRE))
        return CP_CFILE_EBROKEN;
    if (len == 0 || len > CP_CFILE_MAX_NAME)
        return CP_CFILE_ENAME;
    uint32_t *head = word32(f, f->hdr_len + TABLE_OFF + 4 * cp_cfile_bucket(name, len));
    return why(f, insert(f, head, __atomic_load_n(head, __ATOMIC_ACQUIRE), name, len, 1, valp));
}

int cp_cfile_counter(struct cp_cfile *f, const void *name, size_t len, uint64_t **valp)
{
    if (__atomic_load_n(&f->broken, __ATOMIC_ACQUIRE))
        return CP_CFILE_EBROKEN;
    if (len == 0 || len > CP_CFILE_MAX_NAME)
        return CP_CFILE_ENAME;
    size_t head_off = f->hdr_len + TABLE_OFF + 4 * cp_cfile_bucket(name, len);
    uint32_t *head = word32(f, head_off);
    uint32_t head0 = __atomic_load_n(head, __ATOMIC_ACQUIRE), found;
    int err = walk(f, head0, 0, name, len, &found);
    if (err)
        return why(f, err);
    if (found) {
        *valp = (uint64_t *)at(f, found, 16);
        return 0;
    }
    return why(f, insert(f, head, head0, name, len, 0, valp));
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
