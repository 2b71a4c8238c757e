/*
 * heaptime.c — the heap over time: peak profile and object lifetimes (heaptime.h).
 *
 * About 735 lines, one concept: a heap site's state over time, its events and its
 * publication. What made it grow past 600 (issue 23, session rss1) is that state's layout
 * for many-stack programs at rate 1 (pages by bucket index, the side struct, class nodes
 * of 32 bytes and their lookups), and since session 26 counters that wait (wait_until).
 *
 * Contexts: the flusher or whoever holds flusher.c's cp_flush_lock (every function here); no
 * hook ever calls in (the hooks only stamp their sampled records: cp_ht_stamp, whose TSC
 * stamps cp_ht_alloc and cp_ht_free convert: stampclock.h). Memory comes from the arena
 * (per-bucket state): no malloc.
 *
 * The running total. flusher.c drains each ring in order (resolve.c's cp_account) and
 * calls cp_ht_alloc/cp_ht_free for every heap event it applies, so in a single-threaded
 * process (one ring) the events come in the program's order and the running total of
 * in-use bytes (each sampled object weighted size / (1 - exp(-size/rate)), the report's
 * unbiasing; exactly its size at rate 1) is the program's. With several rings the order
 * is per ring, ring after ring: the total is that of an interleaving the flusher chose,
 * which can overstate a peak by at most the events of one flush interval.
 *
 * The peak, exact at every event and O(1) each (better than tcmalloc's PeakHeapTracker,
 * which copies every bucket when the total passes the saved peak by a growth factor): a
 * lazy snapshot. Each new maximum of the total bumps an epoch; a bucket about to change
 * whose stamp is older than the epoch has not changed since the peak, so its current
 * count is its count at the peak: saved, stamped. A bucket's count at the peak is then
 * `stamp == epoch ? at_peak : cur`. Publication walks the buckets (at most once per flush
 * interval or when the peak has grown by an eighth since, and at the final flush) and adds
 * each one's change to its peak counter.
 *
 * Lifetimes. A sampled object's birth (its allocation's stamp) is kept beside its value
 * in the hooks' live table (live.h), which its free reads anyway, and the free's record
 * carries it with the free's own time: the difference is classed in decades and counted
 * per bucket. So the order in which rings are drained does not matter to a lifetime.
 * (Until session 21 the flusher kept address -> birth in a hash table of its own, filled
 * in drain order: a random miss at every allocation and free on a large heap, a third of
 * the run on 1 M live objects at rate 1, and a free drained after its address's next
 * allocation found the newer birth and went unclassed.)
 */
#include "heaptime.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arena.h"
#include "bucket.h"
#include "hweight.h"
#include "line.h"
#include "log.h"
#include "names.h"
#include "prof.h"
#include "rawsys.h"
#include "timeline.h"

/* per heap bucket, zero until its first event (flusher only). Objects and bytes are unbiased,
 * each sample weighted by its own size (hweight.h), in 1/65536 (exact x 65536 at rate 1);
 * the lifetime sums are kept modulo 2^64 and published as whole-unit differences, as the
 * bucket's own values (publish.c's cp_publish_bucket). The bytes counters (pb, lb<class>)
 * are written only once the bucket is mixed (bucket.h): until then they are the objects
 * times the record's size.
 *
 * Its size is what a many-stack program at rate 1 pays per site (issue 23: 262k sites), so
 * only what a site uses is made. Its first free's class is implied by its free record
 * (Ctrprof-Format 4: the free counter minus the other classes), so it needs no counter and
 * no cp_hlife: its sums are kept here only for cp_ht_bucket_life. A cp_hlife is made for
 * each further class at its first free (most sites see one or two of the ten); the
 * peak's publication state (cp_htpk) for a site in use at a published peak (a few
 * thousand of namestacks' 262k); bytes (cp_htb, a class's bytes node) only once the
 * site has had two sizes. 56 bytes a site (in pages by bucket index, htx()), +32 a
 * further class, +56 (its cp_htside) at a peak or once mixed, +32 a class's bytes once
 * mixed (arena sizes; 80 + the bucket's pointer 8, and 48 a class, before session rss1,
 * issue 23; format 3's was 128 + 64 a class). */

/* A lifetime class of a site (not its implied one): its freed objects, or (a bytes node,
 * HL_BYTES, always right after its class's objects node) its freed bytes, made when the
 * class changes after its site became mixed (bucket.h): until then every object it freed
 * had the record's size, so its bytes are n x size0 (the same weights: exact, modulo 2^64
 * as the sums are) and need not be kept.
 * 32 bytes: what was published is a multiple of 65536 (whole units), so pub's low 16 bits
 * hold the class and the bytes flag (hl_*). */
struct cp_hlife {
    struct cp_hlife *next;
    uint64_t n;    /* freed objects (bytes) in 1/65536 */
    uint64_t pub;  /* published (hl_pub), and the class and flag in its low bits */
    uint64_t *ctr; /* its counter, once made */
};
_Static_assert(sizeof(struct cp_hlife) == 32, "a class is 32 bytes");
#define HL_BYTES 0x10u
#define HL_KEY 0x1fu
_Static_assert(CP_NCLASS <= 16, "a class fits pub's low 4 bits");

static inline unsigned hl_k(const struct cp_hlife *l)
{
    return (unsigned)(l->pub & 0xf);
}
static inline uint64_t hl_pub(const struct cp_hlife *l)
{
    return l->pub & ~(uint64_t)0xffff;
}

/* A site's bytes in use, at the peak and freed in its implied class, made at its first
 * event after it became mixed; until then they are its objects x size0, as above. */
struct cp_htb {
    int64_t curb, at_peakb;
    uint64_t b0;
};

struct cp_htpk {
    uint64_t pub_peak, pub_peakb; /* the peak's whole objects and bytes added to the file */
    uint64_t *ctr_peak, *ctr_peakb;
};

/* A site's rarer state, made when it first needs either part (bytes once mixed, the
 * peak's publication state once in use at a published peak; few sites have either): its
 * parts are in use only when the cp_htx's flag says so. */
struct cp_htside {
    struct cp_htb bx;
    struct cp_htpk pk;
};

/* 56 bytes, 64 in the arena (was 80: the list's link is a bucket index, the bucket itself
 * is not kept (every caller has it), and the bytes and the peak's state are behind one
 * pointer) */
struct cp_htx {
    int64_t cur;     /* in use: objects */
    int64_t at_peak; /* cur at the peak, when stamp == epoch */
    uint64_t stamp;
    uint64_t n0;            /* freed in the implied class (c0): not published */
    struct cp_htside *side; /* its bytes (has_bx: once mixed; none: objects x size0) and
                             * its peak's state (has_pk: once in use at a published peak) */
    struct cp_hlife *life;  /* its classes but the implied one */
    uint16_t lmask;         /* the classes changed since published; on that list when not 0 */
    uint8_t c0p1;           /* the implied class (its first free's) + 1, 0 before */
    uint8_t failed : 1;
    uint8_t has_bx : 1;
    uint8_t has_pk : 1;
    uint32_t lnext; /* the next bucket's index on the list of buckets whose explicit
                     * classes changed (0: the end) */
};
_Static_assert(sizeof(struct cp_htx) == 56, "a site's heap-over-time state is 56 bytes");

/* h's node of class k (its bytes node if bytes), NULL if none */
static inline struct cp_hlife *hl_find(const struct cp_htx *h, unsigned k, bool bytes)
{
    unsigned key = k | (bytes ? HL_BYTES : 0);
    struct cp_hlife *l = h->life;
    while (l && (l->pub & HL_KEY) != key)
        l = l->next;
    return l;
}
_Static_assert(CP_NCLASS <= 16, "a class is a bit of cp_htx's lmask");

static inline struct cp_htb *hbx(const struct cp_htx *h)
{
    return h->has_bx ? &h->side->bx : NULL;
}
static inline struct cp_htpk *hpk(const struct cp_htx *h)
{
    return h->has_pk ? &h->side->pk : NULL;
}
/* h's side, made (zeroed) if it has none; NULL without memory */
static struct cp_htside *side_of(struct cp_htx *h)
{
    if (!h->side && (h->side = cp_arena_alloc(sizeof *h->side)) != NULL)
        memset(h->side, 0, sizeof *h->side);
    return h->side;
}

uint32_t cp_ht_lhead; /* the first bucket's index on the list (0: empty; heaptime.h) */
static uint64_t rate, interval_ns, t0;
static uint64_t epoch = 1;
static double total, peak, allocated; /* unbiased bytes: in use, its peak, ever allocated */
static uint64_t peak_t;               /* ns since t0 */
static bool peak_dirty;
static double press_at; /* (double)pub_peak_bytes * 1.125: the peak presses past it */
bool cp_ht_pressing;    /* peak_dirty && peak > press_at (heaptime.h) */
static uint64_t last_peak_pub;
static uint64_t pub_peak_bytes, pub_peak_ms;
static uint64_t *ctr_peak_bytes, *ctr_peak_ms;
static uint64_t nolife; /* no memory for a class node: lifetimes not classed (health) */
uint64_t cp_ht_last_t;  /* the latest applied event's time (cp_ht_last_event) */
/* A counter the sink could not make for now (its waits()): nothing here is published
 * before this time (cp_ht_now), unless forced; 0: none waits. What waits stays in the
 * state (the classes' list, the dirty peak, the timeline's points) and goes out whole
 * once the file can grow: until session 26 such a site (or timeline point) stopped for
 * good (a program at its descriptor limit lost its sites' peak and lifetimes). */
static uint64_t wait_until;

CP_READ_MOSTLY bool cp_ht_on = true;

/* cp_ht_class's tables (heaptime.h), by bit length: generated from the classes' definition
 * ([k] from 10^(k+2) ns, [8] from 10 s), checked against it by test_heaptime */
/* (clang-format off: the tables as generated, by bit length) */
// clang-format off
const uint8_t cp_ht_class_base[65] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 6, 6,
    6, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
    8, 8, 8, 8, 8
};
#define NONE_ UINT64_MAX
const uint64_t cp_ht_class_below[65] = {
    NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, UINT64_C(999),
    NONE_, NONE_, NONE_, UINT64_C(9999), NONE_, NONE_, UINT64_C(99999), NONE_, NONE_,
    UINT64_C(999999), NONE_, NONE_, NONE_, UINT64_C(9999999), NONE_, NONE_,
    UINT64_C(99999999), NONE_, NONE_, UINT64_C(999999999), NONE_, NONE_, NONE_,
    UINT64_C(9999999999), NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_,
    NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_,
    NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_, NONE_
};
// clang-format on
#undef NONE_

void cp_ht_init(uint64_t mem_rate, uint64_t flush_ms, bool on)
{
    cp_ht_on = on;
    rate = mem_rate;
    cp_hw_init(mem_rate); /* (the weights are resolve.c's too: set here, once, for both) */
    interval_ns = flush_ms * 1000000u;
    t0 = cp_ht_now();
    cp_stamp_init(on && mem_rate && mem_rate < CP_DENSE_RATE);
    cp_tl_init(flush_ms);
}

/* The sites' states by bucket index (bucket.h's hidx), in pages of 256 from the arena,
 * as the buckets are (bucket.c): no pointer in the bucket, and 56 bytes a site, not the
 * arena's 64. A page is made at the first event of a heap bucket in it; a zeroed state is
 * a site's state before its first event (stamp 0 is older than any epoch: its count at
 * the peak is its count then, 0; c0p1 0: no class yet). A page holds every type's
 * indexes (a mutex or block bucket's state stays zero). Flusher only. */
#define HPAGE_BITS 8
#define HPAGE (1u << HPAGE_BITS)
static struct cp_htx *hdir[CP_HIDX_MAX >> HPAGE_BITS];

/* b's state, NULL if its page was never made (no event yet) */
static inline struct cp_htx *htx_if(const struct cp_bucket *b)
{
    struct cp_htx *pg = hdir[b->hidx >> HPAGE_BITS];
    return pg ? &pg[b->hidx & (HPAGE - 1)] : NULL;
}

static __attribute__((noinline)) struct cp_htx *htx_page(const struct cp_bucket *b)
{
    struct cp_htx **pg = &hdir[b->hidx >> HPAGE_BITS];
    if (!*pg && !(*pg = cp_arena_alloc(HPAGE * sizeof **pg)))
        return NULL;
    return &(*pg)[b->hidx & (HPAGE - 1)];
}

/* b's state, its page made if need be; NULL without memory */
static inline struct cp_htx *htx(const struct cp_bucket *b)
{
    struct cp_htx *h = htx_if(b);
    return __builtin_expect(h != NULL, 1) ? h : htx_page(b);
}

/* h's bytes, made at its first event once its site is mixed: every object counted before
 * had the record's size (no memory: the site's heap over time stops, as a counter that
 * cannot be made stops it) */
static __attribute__((noinline)) void make_bytes(struct cp_htx *h, const struct cp_bucket *b)
{
    struct cp_htside *sd = side_of(h);
    if (!sd) {
        h->failed = 1;
        return;
    }
    struct cp_htb *x = &sd->bx;
    uint64_t s0 = b->u.mem.size0;
    x->curb = (int64_t)((uint64_t)h->cur * s0);
    x->at_peakb = (int64_t)((uint64_t)h->at_peak * s0);
    x->b0 = h->n0 * s0;
    h->has_bx = 1;
}
static inline void bytes_of(struct cp_htx *h, const struct cp_bucket *b)
{
    if (__builtin_expect(!h->has_bx && b->u.mem.mixed, 0))
        make_bytes(h, b);
}

static inline int64_t cur_bytes(const struct cp_htx *h, const struct cp_bucket *b, bool at_peak)
{
    int64_t c = at_peak ? h->at_peak : h->cur;
    const struct cp_htb *x = hbx(h);
    return x ? (at_peak ? x->at_peakb : x->curb) : (int64_t)((uint64_t)c * b->u.mem.size0);
}

/* about to change h: keep its count at the peak if this is its first change since */
static inline void touch(struct cp_htx *h)
{
    if (h->stamp != epoch) {
        h->at_peak = h->cur;
        if (h->has_bx)
            h->side->bx.at_peakb = h->side->bx.curb;
        h->stamp = epoch;
    }
}

/* The bytes node of objects node l, NULL if none */
static inline struct cp_hlife *hl_bytes_of(const struct cp_hlife *l)
{
    struct cp_hlife *n = l->next;
    return n && (n->pub & HL_KEY) == ((l->pub & HL_KEY) | HL_BYTES) ? n : NULL;
}

/* h's objects node of class k, moved (with its bytes node) to the front of its list (a
 * site's frees are mostly of one class: its lookup and publish_life's then stop at the
 * first node); NULL if none */
static inline struct cp_hlife *hl_find_front(struct cp_htx *h, unsigned k)
{
    struct cp_hlife **pp = &h->life, *l;
    while ((l = *pp) != NULL && (l->pub & HL_KEY) != k)
        pp = &l->next;
    if (l && pp != &h->life) {
        struct cp_hlife *last = hl_bytes_of(l);
        if (!last)
            last = l;
        *pp = last->next;
        last->next = h->life;
        h->life = l;
    }
    return l;
}

/* A new class node (zeroed but for its key and n): an objects node first on h's list, a
 * bytes node right after its objects node after; NULL without memory. */
static struct cp_hlife *hl_new(struct cp_htx *h, struct cp_hlife *after, unsigned k, bool bytes,
                               uint64_t n)
{
    struct cp_hlife *l = cp_arena_alloc(sizeof *l), **at = after ? &after->next : &h->life;
    if (!l)
        return NULL;
    *l = (struct cp_hlife){*at, n, k | (bytes ? HL_BYTES : 0), NULL};
    *at = l;
    return l;
}

/* ---- events ---- */

void cp_ht_alloc(struct cp_bucket *b, uint64_t size, uint64_t t)
{
    if (!cp_ht_on)
        return;
    struct cp_htx *h = htx(b);
    if (!h)
        return;
    t = cp_stamp_ns(t);
    bytes_of(h, b); /* (no memory: the site stops publishing; the process's total goes on) */
    touch(h);
    uint64_t wq = cp_hw_q16(size), bq = wq * size;
    h->cur += (int64_t)wq;
    if (h->has_bx)
        h->side->bx.curb += (int64_t)bq;
    total += (double)bq / 65536;
    allocated += (double)bq / 65536;
    if (total > peak) {
        peak = total;
        peak_t = t > t0 ? t - t0 : 0;
        epoch++; /* every bucket's count now is its count at the peak */
        peak_dirty = true;
        cp_ht_pressing = peak > press_at;
    }
    if (t)
        cp_ht_last_t = t;
}

/* The class of a lifetime from stamps t (a free's) and birth, both converted now, with
 * the same conversion: a TSC calibration read between the two drains would otherwise move
 * one and not the other, and a lifetime of 200 ns could come out negative
 * (stampclock.h). CP_LIFE_NONE if either is 0 (not known) or the birth is later; *tn: t
 * in ns. */
static inline unsigned life_class(uint64_t t, uint64_t birth, uint64_t *tn)
{
    t = cp_stamp_ns(t);
    *tn = t;
    uint64_t born = t && birth ? cp_stamp_ns(birth) : 0;
    return born && born <= t ? cp_ht_class(t - born) : CP_LIFE_NONE;
}

unsigned cp_ht_life(uint64_t t, uint64_t birth)
{
    uint64_t tn;
    return cp_ht_on ? life_class(t, birth, &tn) : CP_LIFE_NONE;
}

/* A free of b's object of size bytes, of lifetime class k, at t ns (0: not known) */
static inline __attribute__((always_inline)) void free_classed(struct cp_bucket *b, uint64_t size,
                                                               uint64_t t, unsigned k)
{
    struct cp_htx *h = htx(b);
    if (!h)
        return;
    bytes_of(h, b); /* (no memory: the site stops publishing; the process's total goes on) */
    touch(h);
    uint64_t wq = cp_hw_q16(size), bq = wq * size;
    h->cur -= (int64_t)wq;
    if (h->has_bx)
        h->side->bx.curb -= (int64_t)bq;
    total -= (double)bq / 65536;
    if (t)
        cp_ht_last_t = t;
    if (!h->c0p1)
        h->c0p1 = (uint8_t)(k + 1); /* the free record will be named after it (stacktab.c) */
    if (k + 1 == h->c0p1) {         /* implied by the free record: nothing to publish */
        h->n0 += wq;
        if (h->has_bx)
            h->side->bx.b0 += bq;
        return;
    }
    struct cp_hlife *l = hl_find_front(h, k), *lb = NULL;
    if (!l && !(l = hl_new(h, NULL, k, false, 0))) {
        nolife++;
        h->failed = 1; /* (its classes stop here; the implied one takes the rest) */
        return;
    }
    /* (a mixed site's class: its frees so far were of the record's size) */
    if (h->has_bx && !(lb = hl_bytes_of(l)) &&
        !(lb = hl_new(h, l, k, true, l->n * b->u.mem.size0))) {
        nolife++;
        h->failed = 1;
        return;
    }
    l->n += wq;
    if (lb)
        lb->n += bq;
    if (!h->lmask) {
        h->lnext = cp_ht_lhead;
        cp_ht_lhead = b->hidx;
    }
    h->lmask |= (uint16_t)(1u << k);
}

void cp_ht_free(struct cp_bucket *b, uint64_t size, uint64_t t, uint64_t birth)
{
    if (!cp_ht_on)
        return;
    uint64_t tn;
    unsigned k = life_class(t, birth, &tn);
    free_classed(b, size, tn, k);
}

void cp_ht_free_class(struct cp_bucket *b, uint64_t size, unsigned k)
{
    if (cp_ht_on)
        free_classed(b, size, 0, k < CP_LIFE_NONE ? k : CP_LIFE_NONE);
}

int cp_ht_implied_class(const struct cp_bucket *b)
{
    const struct cp_htx *h = htx_if(b);
    return h && h->c0p1 ? h->c0p1 - 1 : -1;
}

/* ---- publication ---- */

static void add_delta(uint64_t *ctr, uint64_t *pub, uint64_t val)
{
    /* a counter only adds: a fall is added modulo 2^64 (the file's sum over processes is
     * of values that never fall below 0, so it reads right) */
    __atomic_fetch_add(ctr, val - *pub, __ATOMIC_SEQ_CST);
    *pub = val;
}

/* Is publication held back (wait_until)? */
static bool held(void)
{
    if (__builtin_expect(!wait_until, 1))
        return false;
    if (cp_ht_now() < wait_until)
        return true;
    wait_until = 0;
    return false;
}

/* A counter waits: hold publication back for an interval; the peak does not press (an
 * inline flush at every event would try again) until it is published */
static void hold(void)
{
    wait_until = cp_ht_now() + interval_ns + 1;
    cp_ht_pressing = false;
    press_at = __builtin_inf();
}

/* Add the whole units of *sum not yet in *pub to *ctr (made by which if need be), rounded
 * as the bucket's own values are (bucket.h's cp_bucket_round_off). */
static inline bool publish_sum(const struct cp_ht_sink *s, struct cp_bucket *b, int which,
                               uint64_t **ctr, uint64_t sum, uint64_t *pub)
{
    uint64_t d = ((sum + cp_bucket_round_off(b)) >> 16) - (*pub >> 16);
    if (!d)
        return true;
    if (!*ctr && !(*ctr = s->bucket_ctr(b, which)))
        return false;
    __atomic_fetch_add(*ctr, d, __ATOMIC_SEQ_CST);
    *pub += d << 16;
    return true;
}

/* publish_sum for class node l, whose pub keeps its key in its low bits */
static inline bool publish_life_sum(const struct cp_ht_sink *s, struct cp_bucket *b, int which,
                                    struct cp_hlife *l)
{
    uint64_t pub = hl_pub(l);
    bool ok = publish_sum(s, b, which, &l->ctr, l->n, &pub);
    l->pub = pub | (l->pub & 0xffff);
    return ok;
}

/* (apart from cp_ht_publish_life, so that its every-flush test for nothing to do costs no
 * register saves: at rate 1 in a single-threaded process it runs at every event) */
static __attribute__((noinline)) void publish_life(const struct cp_ht_sink *s)
{
    for (uint32_t i = cp_ht_lhead, n; i; i = n) {
        struct cp_bucket *b = cp_bucket_by_hidx(i);
        struct cp_htx *h = htx_if(b); /* (on the list: it has a state) */
        n = h->lnext;
        unsigned m = h->lmask; /* only the classes that changed (at rate 1 in a single-
                                * threaded process this runs at every free: one class) */
        bool mixed = b->u.mem.mixed;
        h->lmask = 0;
        h->lnext = 0;
        /* (a class that has not changed since the site became mixed freed objects of the
         * record's size only: its bytes are still implied) */
        if (h->failed)
            continue;
        for (struct cp_hlife *l = h->life; l && m; l = l->next) {
            unsigned k = hl_k(l);
            if ((l->pub & HL_BYTES) || !(m & (1u << k)))
                continue; /* (a bytes node goes with its objects node) */
            m &= ~(1u << k);
            struct cp_hlife *lb = mixed ? hl_bytes_of(l) : NULL;
            if (!publish_life_sum(s, b, CP_NAME_LIFE0 + (int)k, l) ||
                (lb && !publish_life_sum(s, b, CP_NAME_LIFEB0 + (int)k, lb))) {
                if (s->waits()) { /* this class, the rest and the list's rest wait */
                    h->lmask = (uint16_t)(m | (1u << k));
                    h->lnext = n;
                    cp_ht_lhead = i;
                    hold();
                    return;
                }
                h->failed = 1;
                break;
            }
        }
    }
    cp_ht_lhead = 0;
}

void cp_ht_publish_life(const struct cp_ht_sink *s)
{
    if (cp_ht_lhead && !held())
        publish_life(s);
}

/* false: a counter waits (hold), the rest is published at the next try */
static bool publish_peak(const struct cp_ht_sink *s)
{
    for (uint32_t i = 1, nb = cp_bucket_published_index(); i <= nb; i++) {
        struct cp_bucket *bk = cp_bucket_by_hidx(i);
        struct cp_htx *h = bk && bk->type == CP_HEAP ? htx_if(bk) : NULL;
        if (!h || h->failed)
            continue;
        int64_t c = h->stamp == epoch ? h->at_peak : h->cur;
        int64_t cb = cur_bytes(h, bk, h->stamp == epoch);
        uint64_t off = cp_bucket_round_off(bk); /* (rounded as its values are) */
        uint64_t v = c > 0 ? ((uint64_t)c + off) >> 16 : 0;
        uint64_t vb = cb > 0 ? ((uint64_t)cb + off) >> 16 : 0;
        bool mixed = bk->u.mem.mixed; /* bytes written, not implied (bucket.h) */
        struct cp_htpk *k = hpk(h);
        if (k ? v == k->pub_peak && (!mixed || vb == k->pub_peakb) : !v && (!mixed || !vb))
            continue; /* (never in use at a published peak: no counter, read as 0) */
        if (!k) {
            if (!side_of(h)) {
                h->failed = 1;
                continue;
            }
            k = &h->side->pk; /* (zeroed with the side, never used before) */
            h->has_pk = 1;
        }
        if ((!k->ctr_peak && !(k->ctr_peak = s->bucket_ctr(bk, CP_NAME_PEAK))) ||
            (mixed && !k->ctr_peakb && !(k->ctr_peakb = s->bucket_ctr(bk, CP_NAME_PEAKB)))) {
            if (s->waits())
                return false;
            h->failed = 1;
            continue;
        }
        add_delta(k->ctr_peak, &k->pub_peak, v);
        if (mixed)
            add_delta(k->ctr_peakb, &k->pub_peakb, vb);
    }
    if (!ctr_peak_bytes) {
        char name[64];
        long pid = cp_tl_pid();
        cp_fmt(name, sizeof name, "ctrprof/heap-peak:%ld:ms", pid);
        ctr_peak_ms = s->named_ctr(name);
        cp_fmt(name, sizeof name, "ctrprof/heap-peak:%ld:bytes", pid);
        ctr_peak_bytes = s->named_ctr(name);
        if (!ctr_peak_bytes && s->waits())
            return false;
    }
    /* time first: a reader that sees the bytes sees their time (both in one publication,
     * under the file's seqlock, in any case) */
    if (ctr_peak_ms)
        add_delta(ctr_peak_ms, &pub_peak_ms, peak_t / 1000000u);
    if (ctr_peak_bytes)
        add_delta(ctr_peak_bytes, &pub_peak_bytes, (uint64_t)(peak + 0.5));
    return true;
}

void cp_ht_publish(const struct cp_ht_sink *s, bool force)
{
    if (!cp_ht_on)
        return;
    if (force)
        wait_until = 0;
    cp_ht_publish_life(s);
    uint64_t now = cp_ht_now();
    bool wait = held();
    if (allocated > 0) { /* a timeline once there is a heap to show */
        cp_tl_tick(now - t0, total, allocated, force);
        if (!wait && !cp_tl_publish(s)) {
            hold();
            wait = true;
        }
    }
    if (!peak_dirty || wait)
        return;
    /* at most once an interval, unless the peak has grown by an eighth since it was last
     * published (tcmalloc's PeakHeapTracker's rule, here for publication only: the
     * snapshot itself is exact): a process that flushes only at its own sampled events
     * (single-threaded, no flusher thread) and then goes quiet, or is killed, has a peak
     * in the file within 1/8 of its own, and a growing heap costs a logarithmic number of
     * walks */
    if (!force && now - last_peak_pub < interval_ns && peak <= (double)pub_peak_bytes * 1.125)
        return;
    if (!publish_peak(s)) {
        hold(); /* (still dirty: published whole at the next try) */
        return;
    }
    peak_dirty = false;
    cp_ht_pressing = false;
    press_at = (double)pub_peak_bytes * 1.125;
    last_peak_pub = now;
    if (nolife)
        if (cp_log_tree_first(CP_LOG_TREE_BIRTH)) /* once per process tree */
            cp_log("no memory for lifetime classes: some lifetimes are not classed");
}

void cp_ht_atfork_child(bool newfile)
{
    /* the parent's objects are not the child's: its in-use starts at 0, its peak too */
    total = peak = allocated = 0;
    peak_t = 0;
    epoch++;
    peak_dirty = false;
    cp_ht_pressing = false;
    last_peak_pub = 0;
    pub_peak_bytes = pub_peak_ms = 0;
    press_at = 0;
    wait_until = 0;
    ctr_peak_bytes = ctr_peak_ms = NULL; /* the child's pid names its own */
    cp_ht_lhead = 0;
    for (uint32_t i = 1, nb = cp_bucket_last_index(); i <= nb; i++) {
        struct cp_bucket *bk = cp_bucket_by_hidx(i);
        struct cp_htx *h = bk && bk->type == CP_HEAP ? htx_if(bk) : NULL;
        if (!h)
            continue;
        h->cur = h->at_peak = 0;
        struct cp_htb *x = hbx(h);
        struct cp_htpk *k = hpk(h);
        if (x)
            x->curb = x->at_peakb = 0;
        h->stamp = epoch;
        h->lmask = 0;
        h->lnext = 0;
        /* the child's peak is its own contribution: 0 so far. Shared file: the parent's
         * counts stay there and the child adds its own (pub = 0, life = pub as published,
         * the free record and its implied class as they were); a file of its own starts
         * from nothing, its free records named after the child's own first frees */
        if (k) {
            k->pub_peak = k->pub_peakb = 0;
            if (newfile)
                k->ctr_peak = k->ctr_peakb = NULL;
        }
        if (newfile) {
            h->c0p1 = 0;
            h->n0 = 0;
            if (x)
                x->b0 = 0;
        }
        for (struct cp_hlife *l = h->life; l; l = l->next) {
            if (newfile) {
                l->n = 0;
                l->pub &= 0xffff;
                l->ctr = NULL;
            } else if (!(l->pub & HL_BYTES) || l->ctr) {
                l->n = hl_pub(l);
            } else { /* (bytes not written yet are the objects times the record's size) */
                const struct cp_hlife *lo = hl_find(h, hl_k(l), false);
                l->n = (lo ? hl_pub(lo) : 0) * bk->u.mem.size0;
            }
        }
        if (newfile)
            h->failed = 0;
    }
    t0 = cp_ht_now();
    cp_tl_init(interval_ns / 1000000u);
}

void cp_ht_stats(double *inuse, double *pk, uint64_t *pk_ns)
{
    *inuse = total;
    *pk = peak;
    *pk_ns = peak_t;
}

uint64_t cp_ht_bucket_peak(const struct cp_bucket *b, bool bytes)
{
    const struct cp_htx *h = htx_if(b);
    int64_t c = !h      ? 0
                : bytes ? cur_bytes(h, b, h->stamp == epoch)
                        : (h->stamp == epoch ? h->at_peak : h->cur);
    return c > 0 ? (uint64_t)c >> 16 : 0;
}

uint64_t cp_ht_bucket_life(const struct cp_bucket *b, unsigned cls, bool bytes)
{
    const struct cp_htx *h = htx_if(b);
    uint64_t s0 = b->u.mem.size0;
    if (h && h->c0p1 == cls + 1)
        return (!bytes ? h->n0 : h->has_bx ? h->side->bx.b0 : h->n0 * s0) >> 16;
    const struct cp_hlife *l = h ? hl_find(h, cls, false) : NULL, *lb;
    if (!l)
        return 0;
    return (!bytes ? l->n : (lb = hl_bytes_of(l)) != NULL ? lb->n : l->n * s0) >> 16;
}
