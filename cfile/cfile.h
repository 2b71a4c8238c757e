/*
 * cfile.h — the Go telemetry counter file, version 1, in C: the layer below the engine
 * (cfile/: this header, the writer cfile.c, the reader cfile_read.c). The engine (core/)
 * and the tools use it; it uses nothing of theirs but base/log.h's formatter.
 *
 * The byte format is specified in tests/fixtures/telemetry-v1/FORMAT.md (a copy of
 * its rules is summarised at the top of cfile.c). Two halves:
 *
 *  - the writer (cp_cfile_open / cp_cfile_counter / cp_cfile_add), used inside the
 *    profiled process by the flusher thread. It never calls malloc or stdio: the caller
 *    owns the struct cp_cfile; views of the file are never unmapped before close, so
 *    pointers returned by cp_cfile_counter() stay valid for the life of the process
 *    even when this or another process grows the file. It keeps no descriptor;
 *
 *  - the reader (cp_cfile_parse and friends), used offline by `ctrprof dump|report`
 *    and by the fuzzer. It is a pure function of a byte buffer, rejects everything the
 *    Go parser rejects, and also rejects the inputs on which Go hangs or panics.
 *
 * Errors: functions return 0 or a negative code: -errno for system errors, or one of
 * the CP_CFILE_E* codes below; cp_cfile_strerror() names both.
 */
#ifndef CP_CFILE_H
#define CP_CFILE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define CP_CFILE_MAGIC "# telemetry/counter file v1\n"
#define CP_CFILE_MAGIC_LEN 28
#define CP_CFILE_PAGE 16384u /* format page P, unrelated to the OS page */
#define CP_CFILE_NBUCKETS 512u
#define CP_CFILE_MAX_META 512u /* the Go writer's limit on metadata bytes */
#define CP_CFILE_MAX_NAME 4096u
#define CP_CFILE_DEAD 0xFFFFFFFFu

/* Format-level errors (negative, below every errno value). */
enum {
    CP_CFILE_ESHORT = -4200,    /* file shorter than 16384 bytes */
    CP_CFILE_EHDR = -4201,      /* wrong magic */
    CP_CFILE_EHDRLEN = -4202,   /* header length H outside 32..16384 */
    CP_CFILE_EMETA = -4203,     /* a metadata line without ": " */
    CP_CFILE_ECORRUPT = -4204,  /* a record or pointer out of bounds, empty name */
    CP_CFILE_ELOOP = -4205,     /* a hash chain loops (a duplicate raw name, or a cycle) */
    CP_CFILE_EMISMATCH = -4206, /* writer: existing file has a different header/meta */
    CP_CFILE_ENAME = -4207,     /* writer: name of length 0 or > 4096 */
    CP_CFILE_EMETALEN = -4208,  /* writer: metadata longer than 512 bytes */
    CP_CFILE_EFULL = -4209,     /* writer: file would exceed the reservation / 4 GiB */
    CP_CFILE_ENOTREG = -4210,   /* path is not a regular file (directory, FIFO, ...) */
    CP_CFILE_EOWNER = -4211,    /* writer: the file belongs to another user */
    CP_CFILE_ELOST = -4212,     /* writer: the path no longer leads to the file we made */
    CP_CFILE_EBROKEN = -4213,   /* writer: the mapping faulted (file truncated under us) */
    CP_CFILE_ESANDBOX = -4214,  /* writer: growing needs a system call a sandbox forbids */
    CP_CFILE_EPACKED = -4215,   /* reader: a packed profile that does not unpack (packed.h) */
};

/* Human text for a code returned by any cp_cfile_* function (static string). */
const char *cp_cfile_strerror(int code);

/* ------------------------------------------------------------------------------------
 * Writer. One struct per open file per process; the caller provides the storage.
 * Thread-safety: cp_cfile_counter() and cp_cfile_add() may be called from any thread
 * concurrently with each other and with other processes sharing the file. open/close
 * are not concurrent with anything.
 */
#define CP_CFILE_PATH_MAX 4096
#define CP_CFILE_VIEWS 32

/* One mapping of the file: file offset 0 at base, inside a PROT_NONE reservation of
 * `reserve` bytes that the file grows into in place. */
struct cp_cfile_view {
    uint8_t *base;
    size_t reserve;
    size_t mapped; /* atomic: bytes of the file mapped at base (only grows) */
};

struct cp_cfile {
    /* immutable after open */
    char path[CP_CFILE_PATH_MAX]; /* reopened by this path to grow; never kept open */
    uint64_t dev, ino;            /* the file we created: a reopen must find it */
    uint32_t uid;                 /* its owner (ours when opened: see cp_cfile_open) */
    uint32_t hdr_len;             /* H */
    /* atomic */
    struct cp_cfile_view *cur; /* the newest view: growth maps into it (a byte is reached
                                * through the oldest view that maps it: cfile.c) */
    int stopped;               /* 0, or why the file can no longer grow (a CP_CFILE_E* code) */
    int frozen;                /* no new system calls (a sandbox): use what is mapped */
    int broken;                /* a store into the mapping faulted (truncated file) */
    int grow_lock;             /* a spin lock: one thread of this process grows at a time */
    bool created;              /* immutable: cp_cfile_open_as made it, nobody else has it */
    unsigned short mode_kept;  /* immutable: 0, or 0x8000 | the mode of a new file the
                                * umask left without its owner's read or write, kept so
                                * under a filter (cp_cfile_plain_create) */
    /* guarded by grow_lock; an entry is complete before nviews counts it (release) */
    unsigned nviews;
    struct cp_cfile_view views[CP_CFILE_VIEWS];
};

/* Open or create the file at path (O_NOFOLLOW, O_CLOEXEC; created 0600; anything but a
 * regular file is refused with CP_CFILE_ENOTREG). meta is the metadata text (key: value
 * lines, each ending in \n, then an empty line, as Go writes it). A new or short file gets
 * the header; an existing file must start with exactly that header, else
 * CP_CFILE_EMISMATCH and nothing is written. No descriptor is kept: the program may close
 * or reuse any number (a daemon's close-everything loop), so every later growth reopens
 * the path and checks it is still the same file (device and inode). */
int cp_cfile_open(struct cp_cfile *f, const char *path, const char *meta, size_t metalen);
/* The same; create_only: the file is made by this call or not opened at all (-EEXIST
 * when the name exists, whoever made it: the caller picks another name). Then f->created,
 * and no other process has the file unless it opens it by name on purpose, so a writer
 * whose own threads write under one lock may add with cp_cfile_add_sole. */
int cp_cfile_open_as(struct cp_cfile *f, const char *path, const char *meta, size_t metalen,
                     bool create_only);

/* Unmap. Pointers from cp_cfile_counter() become invalid. */
void cp_cfile_close(struct cp_cfile *f);

/* Before a sandbox goes in (seccomp): make the file `margin` bytes longer than what its
 * records use now and map all of it, so that the counters of the next margin bytes need
 * no system call. Returns 0 or a negative code. */
int cp_cfile_presize(struct cp_cfile *f, size_t margin);
/* The bytes mapped past what its records use now: new records that need no growth. */
size_t cp_cfile_room(struct cp_cfile *f);

/* From now on no system call: what does not fit in the mapping fails (CP_CFILE_ESANDBOX). */
void cp_cfile_freeze(struct cp_cfile *f);
/* Create new files with open(O_CREAT) alone (a sandbox may refuse O_TMPFILE, linkat and
 * fchmod); otherwise a new file appears with its header page or not at all, and with its
 * owner's read and write whatever the umask (cfile.c). */
void cp_cfile_plain_create(bool on);

/* 0 while the file can grow; else why it stopped for good (CP_CFILE_ELOST: the path no
 * longer leads to our file; CP_CFILE_EBROKEN: a store faulted; CP_CFILE_EFULL, ...). */
int cp_cfile_stopped(const struct cp_cfile *f);
/* cp_cfile_stopped(f) == CP_CFILE_EBROKEN (stopped is never that): inline, the engine asks
 * at every flush. */
static inline bool cp_cfile_broken(const struct cp_cfile *f)
{
    return __atomic_load_n(&f->broken, __ATOMIC_ACQUIRE) != 0;
}

/* The SIGBUS handler's question (async-signal-safe): is addr inside an open file's
 * mapping? If so the file was shrunk under us (or its file system could not give the
 * page a block): every view of that file is replaced by private memory, so the faulting
 * store and any later one succeed harmlessly, and the file is marked broken. */
int cp_cfile_fault(const void *addr);

/* The file offset of a pointer returned by cp_cfile_counter (tests). */
size_t cp_cfile_offset(const struct cp_cfile *f, const void *p);
/* The value of the counter whose record is at offset off (cp_cfile_offset of a pointer
 * cp_cfile_counter gave), through the view that owns it (cfile.c, "Residency"): a
 * 4-byte handle for a counter, where a pointer is 8 (the engine's buckets keep these). */
uint64_t *cp_cfile_value_slow(const struct cp_cfile *f, uint32_t off);
static inline uint64_t *cp_cfile_value(const struct cp_cfile *f, uint32_t off)
{
    /* (inline: a rate-1 flush adds to two or four a bucket) the newest view owns off
     * unless the one before maps it too; half of a growing file is the newest's alone */
    unsigned nv = __atomic_load_n(&f->nviews, __ATOMIC_ACQUIRE);
    if (nv == 1 ||
        (nv > 1 && __atomic_load_n(&f->views[nv - 2].mapped, __ATOMIC_ACQUIRE) < (size_t)off + 16))
        return (uint64_t *)(f->views[nv - 1].base + off);
    return cp_cfile_value_slow(f, off);
}

/* VA bytes this file's views reserve (tests: bounded by a few times the file's size). */
size_t cp_cfile_reserved(const struct cp_cfile *f);

/* Find or create the counter with this raw name (1..4096 bytes, any bytes) and return a
 * pointer to its 64-bit value in the mapping. The pointer stays valid until close,
 * whatever any process does to the file. Implements FORMAT.md 5.2-5.5 exactly, including
 * the duplicate check and dead marker, and remaps instead of failing when another
 * process grew the file. */
int cp_cfile_counter(struct cp_cfile *f, const void *name, size_t len, uint64_t **valp);

/* cp_cfile_counter for a name nobody else can have made (docs/SCHEMA.md: it carries an
 * id this process took from the file's ctrprof/ids), and that this process has not made
 * before: the record is linked without walking its hash chain (at rate 1 a profile has
 * hundreds of thousands of counters on the format's 512 chains; the walk was most of the
 * cost of a new stack). The caller keeps the pointer: a second call makes a duplicate. */
int cp_cfile_counter_fresh(struct cp_cfile *f, const void *name, size_t len, uint64_t **valp);

/* Atomically add n to *v, saturating at 2^64-1 (as Go does). */
void cp_cfile_add(uint64_t *v, uint64_t n);

/* The same for a writer that no other thread or process can race: a file this process
 * created (f->created, cp_cfile_open_as) and writes alone (a per-process profile), the
 * caller holding the lock its own threads write under. No locked instruction (a
 * compare-and-swap a counter was ~9% of a single-threaded program's CPU at rate 1, which
 * publishes three of them at each event): a plain load and a release store. Release
 * stores become visible in program order after every earlier store, so a reader of the
 * file's seqlock (cp_cfile_load) sees a publish's begun, counters and ended in the order
 * written, as with cp_cfile_add. */
static inline void cp_cfile_add_sole(uint64_t *v, uint64_t n)
{
    uint64_t old = __atomic_load_n(v, __ATOMIC_RELAXED), nv = old + n;
    __atomic_store_n(v, nv < old ? UINT64_MAX : nv, __ATOMIC_RELEASE);
}

/* Build the header bytes for meta into buf (size >= 32 + metalen rounded to 32).
 * Returns H, or a negative code. Exposed for tests and for the meta-compat check. */
int cp_cfile_header(uint8_t *buf, size_t buflen, const char *meta, size_t metalen);

/* FNV-1a 32 with the fold, mod 512: the bucket of a name (FORMAT.md 4). */
uint32_t cp_cfile_bucket(const void *name, size_t len);

/* ------------------------------------------------------------------------------------
 * Reader. Offline only (tools, tests, fuzzer); may use mmap'd scratch memory, never
 * malloc'd state that outlives the call.
 */

/* Called once per metadata line, in file order (a repeated key: the caller keeps the
 * last, as Go does). Strings are not NUL-terminated. */
typedef void (*cp_cfile_meta_fn)(void *ctx, const char *key, size_t klen, const char *val,
                                 size_t vlen);
/* Called once per reachable record, in Go's order (bucket 0..511, chain order), with the
 * RAW name (ditto marks not expanded; see cp_cfile_decode_name) and its value. */
typedef void (*cp_cfile_counter_fn)(void *ctx, const uint8_t *name, size_t len, uint64_t value);

/* Parse a whole file image. Checks, in Go's order: length >= 16384, magic, 32 <= H <=
 * 16384, metadata lines, then every chain with Go's bounds checks. Every chain walk is
 * bounded and every raw name is checked against the names already seen, so loops and
 * duplicates are errors (CP_CFILE_ELOOP), never hangs. On error returns the code and, if
 * where != NULL, writes a short description of what is wrong (e.g. "bucket 288: record
 * at 0x9c0 runs past end of file (16384)") into where[wherelen]. Callbacks may be
 * NULL. On error no counter callback has been made (the image is validated first). */
int cp_cfile_parse(const uint8_t *buf, size_t len, cp_cfile_meta_fn meta_cb,
                   cp_cfile_counter_fn counter_cb, void *ctx, char *where, size_t wherelen);

/* The publish seqlock of a ctrprof profile (see docs/SCHEMA.md): every writer adds 1 to
 * BEGUN before a publish and 1 to ENDED after it. */
#define CP_CFILE_SEQ_BEGUN "ctrprof/health:publishing"
#define CP_CFILE_SEQ_ENDED "ctrprof/health:flushes"

/* Read a file for reporting: open read-only (O_NOFOLLOW not required; must be a regular
 * file), copy it into a private buffer (a writer may be live; values are read with 64-bit
 * atomic loads), store it in *bufp and *lenp (free with cp_cfile_unload). When the file
 * has the publish seqlock, the copy is retried until no publish ran during it and the
 * file did not grow, so it is exactly the last published snapshot; a writer that died in
 * the middle of a publish (begun > ended, unchanged for a quarter of a second) or one
 * publishing without pause for 2 s gets the copy as it is. Returns 0 or a negative code. */
int cp_cfile_load(const char *path, uint8_t **bufp, size_t *lenp);
/* The same; *settled: false when the copy was taken as it is (a publish was running
 * during it: a bucket's allocations and frees may then be from two publishes), true
 * when it is exactly a published snapshot (or the file has no seqlock). */
int cp_cfile_load_settled(const char *path, uint8_t **bufp, size_t *lenp, bool *settled);
/* The same for a file open for reading (O_NONBLOCK, should it be a FIFO), which it closes
 * (cfile/packed.c's load, which looked at its first bytes, hands it over). */
int cp_cfile_load_fd(int fd, uint8_t **bufp, size_t *lenp, bool *settled);
void cp_cfile_unload(uint8_t *buf, size_t len);

/* A fast 64-bit hash of a byte string for in-memory tables (not the file's bucket hash,
 * which is Go's FNV-1a: cp_cfile_bucket). */
uint64_t cp_hash_bytes(const void *data, size_t len);

/* Expand Go ditto marks in a raw name exactly as Go's parser does (FORMAT.md 8). Writes
 * at most outlen bytes; returns the full decoded length (may exceed outlen). */
size_t cp_cfile_decode_name(const uint8_t *name, size_t len, char *out, size_t outlen);

#endif
