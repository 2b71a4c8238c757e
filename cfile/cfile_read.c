/*
 * cfile_read.c — the counter-file reader (see cfile.h). Offline only: `ctrprof dump`,
 * `ctrprof report`, the tests and the fuzzer. Never linked into a hot path.
 *
 * It accepts exactly what Go's parser (internal/counter Parse) accepts, in the same
 * order of checks (FORMAT.md 9), and additionally rejects the two inputs on which Go
 * hangs or panics: a header length below 32, and a cycle through a ditto-marked stack
 * name. Every offset and length is checked against the buffer before use; every chain
 * walk is bounded, because every record a walk visits must carry a raw name not seen
 * before (so a cycle is a repeated name) and there are fewer distinct offsets than bytes.
 *
 * Memory: scratch sets live in anonymous mmaps released before returning (no malloc, so
 * the reader can be linked anywhere core is).
 */
#include "cfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfile_quick.h"
#include "log.h"

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- a set of byte strings, in mmap'd memory ---------------------------------------- */

struct str {
    const uint8_t *p;
    size_t len;
    uint64_t h;
};

struct set {
    struct str *slot;
    size_t cap, n;
};

/* A word-at-a-time hash: names are long (a stack is hundreds of bytes) and a big profile
 * has a hundred thousand of them, each hashed once per set. */
uint64_t cp_hash_bytes(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    if (len > i)
        memcpy(&w, p + i, len - i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 32);
}

static void set_free(struct set *s)
{
    if (s->slot)
        munmap(s->slot, s->cap * sizeof *s->slot);
    s->slot = NULL;
    s->cap = s->n = 0;
}

static int set_grow(struct set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    struct str *t =
        mmap(NULL, cap * sizeof *t, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED)
        return -ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        struct str e = s->slot[i];
        if (!e.p)
            continue;
        size_t j = e.h & (cap - 1);
        while (t[j].p)
            j = (j + 1) & (cap - 1);
        t[j] = e;
    }
    size_t n = s->n;
    set_free(s);
    s->slot = t;
    s->cap = cap;
    s->n = n;
    return 0;
}

static bool set_has(const struct set *s, const uint8_t *p, size_t len, uint64_t h)
{
    if (!s->cap)
        return false;
    size_t j = h & (s->cap - 1);
    for (; s->slot[j].p; j = (j + 1) & (s->cap - 1))
        if (s->slot[j].h == h && s->slot[j].len == len && memcmp(s->slot[j].p, p, len) == 0)
            return true;
    return false;
}

static int set_add(struct set *s, const uint8_t *p, size_t len, uint64_t h)
{
    if ((s->n + 1) * 2 > s->cap) {
        int err = set_grow(s);
        if (err)
            return err;
    }
    size_t j = h & (s->cap - 1);
    while (s->slot[j].p)
        j = (j + 1) & (s->cap - 1);
    s->slot[j] = (struct str){p ? p : (const uint8_t *)"", len, h};
    s->n++;
    return 0;
}

/* A bump arena for decoded names (mmap'd, chained). */
struct arena {
    uint8_t *chunk;
    size_t cap, used;
    struct arena_hdr *list;
};
struct arena_hdr {
    struct arena_hdr *next;
    size_t size;
};

static uint8_t *arena_alloc(struct arena *a, size_t n)
{
    if (!a->chunk || a->used + n > a->cap) {
        size_t size =
            n + sizeof(struct arena_hdr) > (1u << 20) ? n + sizeof(struct arena_hdr) : (1u << 20);
        void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        struct arena_hdr *h = m;
        h->next = a->list;
        h->size = size;
        a->list = h;
        a->chunk = (uint8_t *)m + sizeof *h;
        a->cap = size - sizeof *h;
        a->used = 0;
    }
    uint8_t *p = a->chunk + a->used;
    a->used += n;
    return p;
}

static void arena_free(struct arena *a)
{
    while (a->list) {
        struct arena_hdr *n = a->list->next;
        munmap(a->list, a->list->size);
        a->list = n;
    }
    a->chunk = NULL;
}

/* ---- name decoding (Go's DecodeStack) ----------------------------------------------- */

size_t cp_cfile_decode_name(const uint8_t *name, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
#define EMIT(ptr, n)                                                                               \
    do {                                                                                           \
        for (size_t k_ = 0; k_ < (n); k_++, o++)                                                   \
            if (o < outlen)                                                                        \
                out[o] = (char)(ptr)[k_];                                                          \
    } while (0)
    if (!memchr(name, '\n', len)) {
        EMIT(name, len);
        return o;
    }
    const uint8_t *last = NULL; /* remembered path, including its final '.' */
    size_t lastlen = 0;
    size_t i = 0;
    for (;;) {
        const uint8_t *nl = memchr(name + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - name) : len;
        const uint8_t *line = name + i;
        size_t ll = end - i;
        size_t dot = ll;
        for (size_t k = ll; k-- > 0;)
            if (line[k] == '.') {
                dot = k;
                break;
            }
        if (dot == ll || dot == 0) {
            EMIT(line, ll); /* no '.', or nothing before the last '.': unchanged */
        } else if (dot == 1 && line[0] == '"') {
            EMIT(last, lastlen);
            EMIT(line + 2, ll - 2);
        } else {
            last = line;
            lastlen = dot + 1;
            EMIT(line, ll);
        }
        if (!nl)
            break;
        EMIT("\n", 1);
        i = end + 1;
    }
#undef EMIT
    return o;
}

/* ---- the parser -------------------------------------------------------------------- */

static void where_fmt(char *where, size_t wl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void where_fmt(char *where, size_t wl, const char *fmt, ...)
{
    if (!where || !wl)
        return;
    va_list ap;
    va_start(ap, fmt);
    cp_vfmt(where, wl, fmt, ap);
    va_end(ap);
}

/* One pass over all chains. With check, validates and fills the sets; without, calls cb
 * (only after a successful checking pass). */
static int walk_all(const uint8_t *buf, size_t len, uint32_t h, bool check, struct set *raw,
                    struct set *dec, struct arena *ar, cp_cfile_counter_fn cb, void *ctx,
                    char *where, size_t wl)
{
    for (uint32_t b = 0; b < CP_CFILE_NBUCKETS; b++) {
        size_t off = cp_cfile_rd32(buf, len, (size_t)h + 4 + 4 * (size_t)b);
        while (off != 0) {
            size_t nl = 0;
            if (check) {
                if (off < (size_t)h + 4 || off + 16 > len) {
                    where_fmt(where, wl,
                              "bucket %u: record offset 0x%zx outside the records (file size %zu)",
                              b, off, len);
                    return CP_CFILE_ECORRUPT;
                }
                nl = cp_cfile_name_len(buf, len, off);
                if (nl == 0) {
                    where_fmt(where, wl, "bucket %u: record at 0x%zx has an empty name", b, off);
                    return CP_CFILE_ECORRUPT;
                }
                if (off + 16 + nl > len) {
                    where_fmt(where, wl,
                              "bucket %u: record at 0x%zx: name of %zu bytes runs past the end of "
                              "the file (%zu)",
                              b, off, nl, len);
                    return CP_CFILE_ECORRUPT;
                }
            } else {
                nl = cp_cfile_name_len(buf, len, off);
            }
            const uint8_t *name = buf + off + 16;
            if (check) {
                /* Go: rejected if the raw name is already a key of the (decoded) map */
                uint64_t hn = cp_hash_bytes(name, nl);
                if (set_has(dec, name, nl, hn)) {
                    where_fmt(where, wl,
                              "bucket %u: record at 0x%zx repeats a name already seen (a loop or a "
                              "duplicate)",
                              b, off);
                    return CP_CFILE_ELOOP;
                }
                /* beyond Go: a repeated raw name is a cycle even when decoding hid it */
                if (set_has(raw, name, nl, hn)) {
                    where_fmt(where, wl, "bucket %u: record at 0x%zx: the chain loops", b, off);
                    return CP_CFILE_ELOOP;
                }
                const uint8_t *d = name;
                size_t dl = nl;
                uint64_t hd = hn;
                if (memchr(name, '\n', nl)) {
                    dl = cp_cfile_decode_name(name, nl, NULL, 0);
                    uint8_t *m = arena_alloc(ar, dl ? dl : 1);
                    if (!m)
                        return -ENOMEM;
                    cp_cfile_decode_name(name, nl, (char *)m, dl);
                    d = m;
                    hd = cp_hash_bytes(d, dl);
                }
                if (set_add(raw, name, nl, hn) || set_add(dec, d, dl, hd))
                    return -ENOMEM;
            } else if (cb) {
                cb(ctx, name, nl, rd64(buf + off));
            }
            off = cp_cfile_rd32(buf, len, off + 12);
        }
    }
    return 0;
}

static int parse(const uint8_t *buf, size_t len, cp_cfile_meta_fn meta_cb,
                 cp_cfile_counter_fn counter_cb, void *ctx, char *where, size_t wherelen,
                 bool quick)
{
    if (where && wherelen)
        where[0] = '\0';
    if (len < CP_CFILE_PAGE) {
        where_fmt(where, wherelen, "%zu bytes", len);
        return CP_CFILE_ESHORT;
    }
    if (memcmp(buf, CP_CFILE_MAGIC, CP_CFILE_MAGIC_LEN) != 0) {
        return CP_CFILE_EHDR;
    }
    uint32_t h = cp_cfile_rd32(buf, len, CP_CFILE_MAGIC_LEN);
    if (h > CP_CFILE_PAGE || h < 32) {
        where_fmt(where, wherelen, "H = %u, not within 32..16384", h);
        return CP_CFILE_EHDRLEN;
    }
    /* metadata: bytes 32..H, cut at the first NUL, lines split on \n */
    const char *meta = (const char *)buf + 32;
    size_t ml = h - 32;
    const char *nul = memchr(meta, 0, ml);
    if (nul)
        ml = (size_t)(nul - meta);
    for (int pass = 0; pass < 2; pass++) {
        size_t i = 0;
        while (i < ml) {
            const char *nl = memchr(meta + i, '\n', ml - i);
            size_t end = nl ? (size_t)(nl - meta) : ml;
            const char *line = meta + i;
            size_t ll = end - i;
            if (ll) {
                const char *sep = NULL;
                for (size_t k = 0; k + 1 < ll; k++)
                    if (line[k] == ':' && line[k + 1] == ' ') {
                        sep = line + k;
                        break;
                    }
                if (!sep) {
                    where_fmt(where, wherelen, "metadata line at offset %zu has no \": \"",
                              (size_t)(32 + i));
                    return CP_CFILE_EMETA;
                }
                if (pass == 1 && meta_cb)
                    meta_cb(ctx, line, (size_t)(sep - line), sep + 2,
                            ll - (size_t)(sep - line) - 2);
            }
            i = end + 1;
        }
    }
    if (quick) {
        /* the quick walk (cfile_quick.c) says the file is whole, or defers to the exact
         * one below (which also takes over when the quick one's memory cannot be had) */
        struct cp_cfile_walk w;
        int q = cp_cfile_walk_quick(buf, len, h, &w);
        if (q == 0 && counter_cb) {
            for (size_t i = 0; i < w.n; i++) {
                if (i + 8 < w.n)
                    __builtin_prefetch(buf + w.off[i + 8]);
                size_t off = w.off[i];
                counter_cb(ctx, buf + off + 16, cp_cfile_name_len(buf, len, off), rd64(buf + off));
            }
        }
        cp_cfile_walk_free(&w);
        if (q == 0)
            return 0;
    }
    struct set raw = {0}, dec = {0};
    struct arena ar = {0};
    int err = walk_all(buf, len, h, true, &raw, &dec, &ar, NULL, NULL, where, wherelen);
    set_free(&raw);
    set_free(&dec);
    arena_free(&ar);
    if (err)
        return err;
    return walk_all(buf, len, h, false, NULL, NULL, NULL, counter_cb, ctx, NULL, 0);
}

int cp_cfile_parse(const uint8_t *buf, size_t len, cp_cfile_meta_fn meta_cb,
                   cp_cfile_counter_fn counter_cb, void *ctx, char *where, size_t wherelen)
{
    return parse(buf, len, meta_cb, counter_cb, ctx, where, wherelen, true);
}

int cp_cfile_parse_exact(const uint8_t *buf, size_t len, cp_cfile_meta_fn meta_cb,
                         cp_cfile_counter_fn counter_cb, void *ctx, char *where, size_t wherelen)
{
    return parse(buf, len, meta_cb, counter_cb, ctx, where, wherelen, false);
}

/* ---- loading a file ---------------------------------------------------------------- */

/* rd32 on the live shared mapping: writers (other processes, other threads) link new
 * counters with a compare-and-swap, so a word is read whole, and with acquire so that
 * the counter it links to is read complete. */
static uint32_t rd32_live(const uint8_t *m, size_t len, size_t off)
{
    if (off + 4 > len || (off & 3))
        return 0;
    return __atomic_load_n((const uint32_t *)(const void *)(m + off), __ATOMIC_ACQUIRE);
}

/* The offset of the value of counter `name` in the live mapping m, or 0: a bounded walk
 * of its hash chain that trusts no offset. A counter's name and length never change once
 * it is linked. */
static size_t find_counter(const uint8_t *m, size_t len, const char *name)
{
    if (len < CP_CFILE_PAGE || memcmp(m, CP_CFILE_MAGIC, CP_CFILE_MAGIC_LEN) != 0)
        return 0;
    uint32_t h = rd32_live(m, len, CP_CFILE_MAGIC_LEN);
    if (h < 32 || h > CP_CFILE_PAGE)
        return 0;
    size_t nl = strlen(name);
    size_t off = rd32_live(m, len, (size_t)h + 4 + 4 * (size_t)cp_cfile_bucket(name, nl));
    for (unsigned steps = 0; off != 0 && steps < (1u << 20); steps++) {
        if (off < (size_t)h + 4 || off + 16 > len || (off & 7))
            return 0;
        size_t l = rd32_live(m, len, off + 8) & 0x00FFFFFFu;
        if (off + 16 + l > len)
            return 0;
        if (l == nl && memcmp(m + off + 16, name, nl) == 0)
            return off;
        off = rd32_live(m, len, off + 12);
    }
    return 0;
}

/* Copy len bytes of the shared mapping m (or, without one, read fd) into buf. Returns the
 * number of bytes had. */
static size_t copy_image(uint8_t *buf, const uint8_t *m, int fd, size_t len)
{
    size_t got = 0;
    if (m) {
        /* 8-byte atomic loads so that counters a live writer is adding to are never torn;
         * acquire (a plain load on x86-64) so that the seqlock read after the copy cannot
         * move before any of it */
        size_t words = len / 8;
        for (size_t i = 0; i < words; i++) {
            uint64_t v = __atomic_load_n((const uint64_t *)m + i, __ATOMIC_ACQUIRE);
            memcpy(buf + 8 * i, &v, 8);
        }
        memcpy(buf + 8 * words, m + 8 * words, len - 8 * words);
        return len;
    }
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* truncated meanwhile: parse what there is */
        got += (size_t)r;
    }
    return got;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int cp_cfile_load(const char *path, uint8_t **bufp, size_t *lenp)
{
    return cp_cfile_load_settled(path, bufp, lenp, NULL);
}

int cp_cfile_load_settled(const char *path, uint8_t **bufp, size_t *lenp, bool *settled)
{
    *bufp = NULL;
    *lenp = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0)
        return -errno;
    return cp_cfile_load_fd(fd, bufp, lenp, settled);
}

int cp_cfile_load_fd(int fd, uint8_t **bufp, size_t *lenp, bool *settled)
{
    *bufp = NULL;
    *lenp = 0;
    if (settled)
        *settled = true;
    uint64_t start = now_ms(), seen_at = start;
    uint64_t last_b = 0, last_e = 0;
    for (;;) {
        struct stat st;
        if (fstat(fd, &st) < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        if (!S_ISREG(st.st_mode)) {
            close(fd);
            return CP_CFILE_ENOTREG;
        }
        size_t len = (size_t)st.st_size;
        if (len > ((size_t)1 << 32) + CP_CFILE_PAGE) {
            close(fd);
            return CP_CFILE_EFULL;
        }
        size_t cap = len ? len : 1;
        uint8_t *buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED) {
            close(fd);
            return -ENOMEM;
        }
        const uint8_t *m = NULL;
        if (len >= 8) {
            m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
            if (m == MAP_FAILED)
                m = NULL;
        }
        /* The seqlock, found in the live mapping before anything is copied: a file that
         * has none (written by Go, or by an older ctrprof) is copied once as it is; one
         * that has it is copied only when no publish is running, and again only if one
         * started meanwhile. */
        size_t ob = m ? find_counter(m, len, CP_CFILE_SEQ_BEGUN) : 0;
        size_t oe = m ? find_counter(m, len, CP_CFILE_SEQ_ENDED) : 0;
        bool done = !ob || !oe;
        size_t got = done ? copy_image(buf, m, fd, len) : len;
        while (!done) {
            /* ended before begun: begun >= ended, and equal means no publish was running */
            uint64_t e0 = __atomic_load_n((const uint64_t *)(m + oe), __ATOMIC_ACQUIRE);
            uint64_t b0 = __atomic_load_n((const uint64_t *)(m + ob), __ATOMIC_ACQUIRE);
            uint64_t t = now_ms();
            if (b0 != last_b || e0 != last_e) {
                last_b = b0, last_e = e0;
                seen_at = t;
            }
            bool stuck = b0 != e0 && t - seen_at >= 250; /* a writer died mid-publish */
            bool late = t - start >= 2000;
            if (b0 != e0 && !stuck && !late) {
                struct timespec ms = {0, 1000000};
                nanosleep(&ms, NULL);
                continue;
            }
            copy_image(buf, m, fd, len);
            uint64_t b1 = __atomic_load_n((const uint64_t *)(m + ob), __ATOMIC_ACQUIRE);
            uint64_t e1 = __atomic_load_n((const uint64_t *)(m + oe), __ATOMIC_ACQUIRE);
            struct stat st2;
            bool grew = fstat(fd, &st2) == 0 && (size_t)st2.st_size != len;
            if (grew && !late)
                break; /* map the new length and start again */
            if ((b1 == b0 && e1 == e0) || late) {
                done = true;
                /* (as it is: a publish ran during the copy, or was running before it) */
                if (settled)
                    *settled = b0 == e0 && b1 == b0 && e1 == e0;
                break;
            }
        }
        if (m)
            munmap((void *)m, len);
        if (done) {
            close(fd);
            *bufp = buf;
            *lenp = got;
            return 0;
        }
        munmap(buf, cap);
    }
}

void cp_cfile_unload(uint8_t *buf, size_t len)
{
    if (buf)
        munmap(buf, len ? len : 1);
}
