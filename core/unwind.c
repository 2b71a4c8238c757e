/*
 * unwind.c — the CFI stack walker and its shape table (see unwind.h).
 *
 * About 1,000 lines: the shape table, the object lookup (what a return address is in: its
 * object, its segment) and the walker with its cache of the last walk. They
 * stay one file: the walk's loops inline the table's probe (lookup), the step and the
 * cache's join test (wc_join_ok), all static and always_inline, and the cache's states
 * are the walk's own. The .eh_frame parser that answers a return address's shape is
 * ehframe.c's (pure: bytes in, a shape out; fuzzed on its own), the shape word
 * ehframe.h's.
 *
 * Context: hook context (a sampled event, re-entrancy guard held), any thread, also a
 * signal handler that allocates. No malloc (the table is mmap'd once; a thread's cache of
 * its last walk comes from the arena at its first walk: wc_get), no locks: the
 * table's slots are claimed with one compare-and-swap on the key and never move; a value
 * is one 64-bit word, written whole, carrying the generation it was parsed in, so
 * cp_unwind_invalidate only has to bump the generation.
 *
 * Code in no loaded object (a JIT's: V8, LuaJIT, a JVM's compiled methods, generated
 * stubs), and code of an object that no FDE covers (V8's builtins embedded in node), has
 * no CFI anywhere we or libunwind look: its frame is walked by its frame pointer (CFA =
 * rbp + 16, the caller's rbp saved at rbp), which is what libunwind's own fallback does
 * there (CTRPROF_UNWIND=check on node: 200,448 stacks, none differ), and what JITs that
 * keep frame pointers are walked by (perf). Until session 31 such a frame sent the stack
 * to libunwind, which took the dynamic linker's lock (dl_iterate_phdr) in every sampled
 * allocation made under it: a thread of the program that held that lock starved the
 * allocating one (tests/programs/loaderlock.c). A frame pointer that does not lead up the
 * stack ends the walk there, and so does a "return address" so read that cannot be code
 * (on the stack, in an object's data: not_code), which is not named as a frame.
 */
#include "unwind.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <ucontext.h>

#include "arena.h"
#include "ehframe.h"
#include "line.h"

/* ---- the table --------------------------------------------------------------------- */

#define TBITS 15
#define TSIZE (1u << TBITS)
#define PROBES 16

struct slot {
    uintptr_t key; /* return address; 0 = free. Claimed once by CAS, never changed. */
    uint64_t val;  /* shape; rewritten whole (a newer generation) */
};

CP_READ_MOSTLY static struct slot *table; /* atomic pointer, mapped on first use */

static size_t slot_of(uintptr_t ra)
{
    return (size_t)((ra * 0x9e3779b97f4a7c15ull) >> (64 - TBITS));
}
CP_READ_MOSTLY static unsigned generation; /* atomic */
static uint64_t n_parsed, n_unusable;      /* atomic, statistics */

static struct slot *get_table(void)
{
    struct slot *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (__builtin_expect(t != NULL, 1))
        return t;
    struct slot *mine = cp_mmap_anon(TSIZE * sizeof *mine);
    if (!mine)
        return NULL;
    struct slot *expected = NULL;
    if (__atomic_compare_exchange_n(&table, &expected, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return mine;
    cp_munmap_anon(mine, TSIZE * sizeof *mine); /* another thread won */
    return expected;
}

void cp_unwind_invalidate(void)
{
    __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
}

void cp_unwind_stats(uint64_t *parsed, uint64_t *unusable)
{
    *parsed = __atomic_load_n(&n_parsed, __ATOMIC_RELAXED);
    *unusable = __atomic_load_n(&n_unusable, __ATOMIC_RELAXED);
}

int cp_unwind_cfi_available(void)
{
    return HAVE_CFI;
}

/* Can the walk read below want? Its bounds may grow (probed ones, unwind.h). */
static __attribute__((noinline)) int more(uintptr_t want, uintptr_t *hi)
{
    return cp_stack_more(want, hi);
}

/* Through a signal frame: r is the frame of __restore_rt (r.sp is where the handler
 * returned to, the struct ucontext the kernel wrote: uc_flags, uc_link, uc_stack (24
 * bytes), then uc_mcontext's gregs, DW_RBP 10, DW_RSP 15, REG_RIP 16). The registers of
 * the interrupted code are read from there, inside [lo, hi); its stack may be another
 * (a handler on the alternate signal stack interrupted code on the thread's): then *lo and
 * *hi become that stack's. 1 if r is now the interrupted frame, 0 if the walk ends here. */
static int sigframe(struct cp_unwind_regs *r, uintptr_t *lo, uintptr_t *hi)
{
    const uintptr_t gregs = r->sp + 40;
    if (gregs + 17 * 8 < gregs || (gregs + 17 * 8 > *hi && !more(gregs + 17 * 8, hi)))
        return 0;
    uintptr_t bp = ((const uintptr_t *)gregs)[10], sp = ((const uintptr_t *)gregs)[15],
              ip = ((const uintptr_t *)gregs)[16];
    if (!(sp >= r->sp + 8 && sp < *hi)) { /* not above on this stack: another stack */
        uintptr_t nlo, nhi;
        if (!cp_stack_bounds(sp, &nlo, &nhi))
            return 0;
        *lo = nlo;
        *hi = nhi;
    }
    r->ip = ip;
    r->sp = sp;
    r->bp = bp;
    return 1;
}

#if HAVE_CFI

/* ---- a return address's shape: its object, then its row (ehframe.c) ---------------- */

/* The return address makecontext gives a coroutine's first function: glibc's
 * __start_context, a local symbol, found by asking makecontext once (on a dummy stack)
 * what it puts at the top of a new stack. A coroutine's stack ends there, as libunwind's
 * walk does: its CFI (if any) does not describe a caller. */
static uintptr_t start_context(void);
static void wc_key_init(void);

/* At start-up (on the main thread's stack): what a walk would otherwise do the first time
 * on whatever stack it runs on, maybe an 8 KiB alternate signal stack: ask makecontext
 * (a ucontext_t is 1 KiB), and have the dynamic linker bind _dl_find_object (a lazy
 * binding saves the whole register state on the stack: 2.7 KiB with AVX-512). */
void cp_unwind_init(void)
{
    wc_key_init();
    start_context();
    struct dl_find_object dlfo;
    (void)_dl_find_object((void *)(uintptr_t)cp_unwind_init, &dlfo);
}

static uintptr_t start_context(void)
{
    static uintptr_t addr; /* atomic; 1: not found */
    uintptr_t a = __atomic_load_n(&addr, __ATOMIC_RELAXED);
    if (a)
        return a;
    static _Alignas(16) char dummy[512];
    ucontext_t uc;
    a = 1;
    if (getcontext(&uc) == 0) {
        uc.uc_stack.ss_sp = dummy;
        uc.uc_stack.ss_size = sizeof dummy;
        uc.uc_link = NULL;
        makecontext(&uc, (void (*)(void))start_context, 0);
        uintptr_t sp = (uintptr_t)uc.uc_mcontext.gregs[REG_RSP];
        if (sp >= (uintptr_t)dummy && sp + 8 <= (uintptr_t)dummy + sizeof dummy)
            a = *(const uintptr_t *)sp;
    }
    __atomic_store_n(&addr, a ? a : 1, __ATOMIC_RELAXED);
    return a;
}

/* The main program's program headers (AT_PHDR: no lock), if they are its own: checked by
 * their PT_PHDR against l, the program's link map (a program started as `ld.so PROG` has
 * the loader's headers there). Their count, or 0. */
static size_t program_phdrs(const struct link_map *l, const ElfW(Phdr) * *out)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    size_t n = getauxval(AT_PHNUM);
    for (size_t i = 0; ph && i < n; i++)
        if (ph[i].p_type == PT_PHDR && l->l_addr + ph[i].p_vaddr == (uintptr_t)ph) {
            *out = ph;
            return n;
        }
    return 0;
}

/* glibc's _dl_find_object gives the main program's extent as its text segment alone
 * where the program's segments are not contiguous (linked with a max-page-size of 2 MiB
 * and separate-code, as Debian's node is): its .eh_frame_hdr, in a read-only segment of
 * its own, is outside it, and every frame of the program was "unusable" (every sampled
 * stack of node went to libunwind). The segment that holds it, from the program's own
 * headers (program_phdrs). 1 and [*lo, *hi) if found. */
static int main_segment(const struct link_map *l, const uint8_t *eh, const uint8_t **lo,
                        const uint8_t **hi)
{
    if (!l || !l->l_name || l->l_name[0])
        return 0; /* (not the main program: a shared object's extent is its whole mapping) */
    const ElfW(Phdr) *ph = NULL;
    size_t n = program_phdrs(l, &ph);
    for (size_t i = 0; i < n; i++) {
        uintptr_t a = l->l_addr + ph[i].p_vaddr;
        if (ph[i].p_type == PT_LOAD && (uintptr_t)eh >= a && (uintptr_t)eh - a < ph[i].p_filesz) {
            *lo = (const uint8_t *)a;
            *hi = (const uint8_t *)(a + ph[i].p_filesz);
            return 1;
        }
    }
    return 0;
}

/* Is pc in none of the executable segments of the object found for it (d)? From the
 * object's program headers: the main program's from AT_PHDR, a shared object's from the
 * ELF header its first segment maps at d's start, read only when they lie in that first
 * page (an object's later pages may be holes the loader left without access). 0 when
 * they cannot be had, as if it were code. */
static int outside_code(const struct dl_find_object *d, uintptr_t pc)
{
    const struct link_map *l = d->dlfo_link_map;
    if (!l || !l->l_name)
        return 0;
    const ElfW(Phdr) * ph;
    size_t n;
    uintptr_t lo = (uintptr_t)d->dlfo_map_start, hi = (uintptr_t)d->dlfo_map_end;
    if (!l->l_name[0]) {
        if (!(n = program_phdrs(l, &ph)))
            return 0;
    } else {
        const ElfW(Ehdr) *e = (const ElfW(Ehdr) *)lo;
        size_t page = hi - lo < 4096 ? hi - lo : 4096;
        if (page < sizeof *e || e->e_ident[EI_MAG0] != ELFMAG0 || e->e_ident[EI_MAG1] != ELFMAG1 ||
            e->e_ident[EI_MAG2] != ELFMAG2 || e->e_ident[EI_MAG3] != ELFMAG3 ||
            e->e_phentsize != sizeof *ph || e->e_phoff > page ||
            e->e_phnum > (page - e->e_phoff) / sizeof *ph)
            return 0;
        ph = (const ElfW(Phdr) *)(lo + e->e_phoff);
        n = e->e_phnum;
    }
    int loads = 0;
    for (size_t i = 0; ph && i < n; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        loads = 1;
        uintptr_t a = l->l_addr + ph[i].p_vaddr;
        if ((ph[i].p_flags & PF_X) && pc - a < ph[i].p_memsz)
            return 0;
    }
    return loads;
}

static uint64_t parse_shape(uintptr_t ra, unsigned gen)
{
    if (ra == start_context())
        return make_shape(K_END, 0, 0, 0, 0, gen);
    struct dl_find_object dlfo;
    if (_dl_find_object((void *)(ra - 1), &dlfo) != 0)
        return make_shape(K_END, 0, 0, NOCFI_NOOBJ, 0, gen) | S_NOCFI;
    const uint8_t *eh = dlfo.dlfo_eh_frame, *lo = dlfo.dlfo_map_start, *hi = dlfo.dlfo_map_end;
    if (!eh || ((eh < lo || eh >= hi) && !main_segment(dlfo.dlfo_link_map, eh, &lo, &hi)))
        return make_shape(K_UNUSABLE, 0, 0, 0, 0, gen);
    uint64_t s = cp_ehframe_parse(eh, lo, hi, ra - 1, gen);
    if (shape_kind(s) == K_END && (s & S_NOCFI) && outside_code(&dlfo, ra - 1))
        return make_shape(K_END, 0, 0, NOCFI_NOTCODE, 0, gen) | S_NOCFI;
    return s;
}

/* A return address that a frame-pointer guess (nocfi_step) read, in a frame no CFI covers
 * (shape s): is it not code at all? Then it is no frame: the guess read a word that is
 * not a return address, and the walk ends before it (until session 33 it was named as a
 * frame, and walked on from by its "frame pointer"). Not code: a word of an object's
 * data (NOCFI_NOTCODE), and outside every object an address no code can have: in the
 * first 64 KiB (below the kernel's mmap_min_addr), not a user address, or on the stack
 * being walked [lo, hi). A JIT's code is in none of these; a word pointing into the heap
 * is not told from it. */
static inline int not_code(uint64_t s, uintptr_t ip, uintptr_t lo, uintptr_t hi)
{
    if (shape_bp_off(s) == NOCFI_NOTCODE)
        return 1;
    return shape_bp_off(s) == NOCFI_NOOBJ && (ip < 65536 || ip >> 56 || ip - lo < hi - lo);
}

static __attribute__((noinline)) uint64_t shape_of(struct slot *t, uintptr_t ra, unsigned gen)
{
    struct slot *claim = NULL;
    if (t) {
        size_t h = slot_of(ra);
        for (unsigned i = 0; i < PROBES; i++) {
            struct slot *sl = &t[(h + i) & (TSIZE - 1)];
            uintptr_t k = __atomic_load_n(&sl->key, __ATOMIC_ACQUIRE);
            if (k == ra) {
                uint64_t v = __atomic_load_n(&sl->val, __ATOMIC_ACQUIRE);
                if (shape_kind(v) != K_NONE && shape_gen(v) == gen)
                    return v;
                claim = sl; /* being filled by another thread, or stale: fill it */
                break;
            }
            if (k == 0) {
                uintptr_t expected = 0;
                if (__atomic_compare_exchange_n(&sl->key, &expected, ra, 0, __ATOMIC_ACQ_REL,
                                                __ATOMIC_ACQUIRE) ||
                    expected == ra) {
                    claim = sl;
                    break;
                }
            }
        }
    }
    uint64_t v = parse_shape(ra, gen);
    __atomic_add_fetch(&n_parsed, 1, __ATOMIC_RELAXED);
    if (shape_kind(v) == K_UNUSABLE)
        __atomic_add_fetch(&n_unusable, 1, __ATOMIC_RELAXED);
    if (claim)
        __atomic_store_n(&claim->val, v, __ATOMIC_RELEASE);
    return v;
}

/* ---- the last walk, per thread ------------------------------------------------------
 *
 * Consecutive samples on a thread mostly share their outer frames (a compiler allocating
 * from the same 40-deep parse, a loop calling the same allocating function). A walk is a
 * function of its start state (sp, bp, ip), the shapes (fixed for a generation) and the
 * stack words it reads: each frame's return-address slot and, where the shape saves it,
 * the rbp slot. So each walk keeps its states; the next walk on the thread, on reaching
 * a state the last walk also had (same sp, bp and ip), re-reads the words the last walk
 * read above that point, and if every one still holds what was read then, the rest of
 * the walk is the last walk's: its return addresses are copied, with no shape lookups
 * (on gcc's cc1 at rate 1 the walk was 12% of the run: 50-60 frames per stack, a
 * table lookup each). Any difference, a new generation (dlclose), other stack bounds or
 * another cap: the walk goes on as usual. Every word re-read lies between the current sp
 * and the stack top, which the last walk checked against the same bounds.
 *
 * A state the last walk had whose words above did not all stay (the leaf functions of
 * the last stack, called from another place further out) is still the last walk's
 * state: its step to the caller is the same (the same shape, sp and bp give the same CFA
 * and slots), so it is taken from the cache, reading the two slots, with no shape lookup
 * ("cached step"; on namechurn at rate 1, 4 of the 5 frames walked an allocation). The
 * words above are read once a walk, however many of its states meet the last walk's
 * (wverify). Cost: BENCHMARKS.md, "Rate-1 CPU: the unwinder". */
#define WC_MAX 96 /* states kept: the shim's cap is CTRPROF_DEPTH (64) + 24 */
#define FRESH 16  /* states of a walk kept apart while it may still join the last */
/* Every walk tries to join the last one, however shallow. Until session 36 a walk joined
 * only if the last had at least 13 frames (WC_JOIN_MIN) and a shallower one walked plainly,
 * keeping no states: a join has a fixed cost (the search for the last walk's state at
 * each fresh frame, the fresh states moved into the cache, the check of the words above
 * the join, the copy of the kept return addresses) that a plain walk does not pay, and
 * each frame it keeps saves a plain step (~45 instructions); counted per walk at rate 1
 * with callgrind, churn (6 frames) was ~64 instructions cheaper plain, namechurn (9) ~120,
 * perl (9-12) 687 joined against 493 plain, deepstacks (~13) ~280 cheaper joined
 * (BENCHMARKS.md, "Session 20" and "Session 32"). All of that was counted in
 * instructions, with the accounting inline; beside the flusher process the program's
 * thread is what a rate-1 run waits for, and there the joined walk, more instructions but
 * fewer dependent loads (a plain step loads the return address, its shape's slot and the
 * next CFA in a chain), is the faster. Paired (`farm-bench -n 14`, rate 1, against 13):
 * churn wall 0.924, CPU 0.951; namechurn wall 0.926, CPU 0.941; perl (-n 10) 0.989 /
 * 0.991; sqlite3 (-n 8) 1.000 / 1.008; callgrind's malloc+free at the default rate 151.7
 * (152.4); churn's instructions under callgrind, inline: +5.8%. (A policy that scored each
 * join by what it kept and tried again every 16 or 256 walks took 2.5-5% more CPU on
 * namechurn than the 13-frame rule, though ~0.4% more instructions.) */
/* No back-off for deeper stacks whose joins gain little: one (session 32: 8 walks in a row
 * that kept fewer than twice the fresh frames plus four, then 64 plain walks) took
 * sqlite3's walks at rate 1 from 310.5 to 248.9 M instructions, yet its runs were 1.5-4%
 * longer (four paired series; cc1, node, perl unchanged). Why is not known (callgrind's
 * cache simulation gives both as many data-cache misses); removed in session 33
 * (BENCHMARKS.md): instruction counts alone do not decide the walker's choices. */

struct wstate {
    uintptr_t sp, bp, ip;
    uintptr_t bpat; /* where this frame's caller's rbp was read, or 0 (unchanged) */
};

enum { W_ZERO = 1, W_END = 2, W_FULL = 3 }; /* how a walk ended */

struct wcache {
    struct wcache *next; /* the pool: a list that only grows (wc_get) */
    uint32_t owned;      /* atomic: a thread's, or free for the next thread */
    uint32_t pad_;       /* (the states keep their alignment) */
    uint64_t joins;      /* walks that joined the last one (this thread; for tests) */
    unsigned b;          /* the walk's state i is st[b + i] (b + states kept <= WC_MAX + 1) */
    unsigned n;          /* frames: states 0..n-1 gave return addresses */
    unsigned end;        /* W_*; for W_ZERO and W_FULL state n (read, not returned) is kept too */
    unsigned gen, cap;
    uintptr_t hi;
    struct wstate st[WC_MAX + 1];
    struct wstate fresh[FRESH]; /* a walk's states while it may still join the last */
};

/* Each thread's cache (3.6 KiB) comes from a pool in the arena, taken at the thread's
 * first walk and given back when it goes (wc_key's destructor: a thread walks for its
 * mutex waits without ever having a ring, so the rings' thread-exit key would not do):
 * the caches number the most threads alive at once (churn.sh). Not static TLS: glibc carves static
 * TLS out of the top of every thread's stack, and a PTHREAD_STACK_MIN thread (16 KiB)
 * lost 3.2 KiB of it to the cache, in every thread of every program, walking or not
 * (libunwind then overran such a stack: stacks.sh); nor a walk's states on the stack
 * (512 bytes more of it). */
static struct wcache *wc_pool; /* atomic head */
static __thread struct wcache *wc __attribute__((tls_model("initial-exec")));
/* created by cp_unwind_init; a key below 32 (glibc keeps its value in the thread
 * descriptor: setting it allocates nothing) */
CP_READ_MOSTLY static pthread_key_t wc_key;
CP_READ_MOSTLY static int wc_key_ok;

static void wc_release(struct wcache *c)
{
    if (wc == c)
        wc = NULL;
    c->joins = 0;
    /* release: this thread's last writes to it come before the next owner's */
    __atomic_store_n(&c->owned, 0, __ATOMIC_RELEASE);
}

/* wc_key's destructor, on the thread that goes (a later destructor that walks again
 * takes a cache again and sets the key: glibc then calls this again) */
static void wc_gone(void *arg)
{
    wc_release(arg);
}

static void wc_key_init(void)
{
    if (!wc_key_ok && pthread_key_create(&wc_key, wc_gone) == 0)
        __atomic_store_n(&wc_key_ok, 1, __ATOMIC_RELEASE);
}
CP_READ_MOSTLY static int wc_off; /* tests: compare walks with and without the cache */

/* This thread's cache, or NULL (no memory: walks go on uncached). Hook context. */
static struct wcache *wc_get(void)
{
    if (__builtin_expect(wc != NULL, 1))
        return wc;
    struct wcache *c;
    for (c = __atomic_load_n(&wc_pool, __ATOMIC_ACQUIRE); c; c = c->next) {
        uint32_t free_ = 0;
        if (__atomic_load_n(&c->owned, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&c->owned, &free_, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            c->n = 0; /* the last owner's walk is not this thread's */
            goto mine;
        }
    }
    c = cp_arena_alloc(sizeof *c);
    if (!c)
        return NULL;
    c->owned = 1;
    /* push (the pool never shrinks, so no ABA) */
    c->next = __atomic_load_n(&wc_pool, __ATOMIC_RELAXED);
    while (
        !__atomic_compare_exchange_n(&wc_pool, &c->next, c, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
mine:
    if (__atomic_load_n(&wc_key_ok, __ATOMIC_ACQUIRE))
        pthread_setspecific(wc_key, c);
    return wc = c;
}

void cp_unwind_thread_gone(void)
{
    struct wcache *c = wc;
    if (!c)
        return;
    if (__atomic_load_n(&wc_key_ok, __ATOMIC_ACQUIRE))
        pthread_setspecific(wc_key, NULL);
    wc_release(c);
}

void cp_unwind_cache_enable(int on)
{
    __atomic_store_n(&wc_off, !on, __ATOMIC_RELAXED);
}

void cp_unwind_fork_child(void)
{
    for (struct wcache *c = wc_pool; c; c = c->next)
        if (c != wc)
            c->owned = 0;
}

unsigned cp_unwind_caches(void)
{
    unsigned n = 0;
    for (struct wcache *c = __atomic_load_n(&wc_pool, __ATOMIC_ACQUIRE); c; c = c->next)
        n++;
    return n;
}

uint64_t cp_unwind_cache_joins(void)
{
    return wc ? wc->joins : 0;
}

/* memmove of n states, without libc (its first call would be bound lazily, on whatever
 * stack the walk runs on: rawsys.h); the barrier keeps GCC from making it a call again. */
static void move_states(struct wstate *dst, const struct wstate *src, unsigned n)
{
    if (dst < src)
        for (unsigned i = 0; i < n; i++) {
            dst[i] = src[i];
            __asm__ volatile("" ::: "memory");
        }
    else
        for (unsigned i = n; i-- > 0;) {
            dst[i] = src[i];
            __asm__ volatile("" ::: "memory");
        }
}

/* Do the stack words the cached walk read above state j still hold what it read? Every
 * return-address slot is above sp (states' sp only grow); an rbp slot is read only if it
 * is not below sp either. A state without bpat kept its rbp (the walk only changes rbp
 * where the shape saved it), so there is nothing to compare. (The exact check, word by
 * word from j up: wc_join_ok's fallback.) */
static int wc_same(const struct wcache *c, unsigned j, uintptr_t sp)
{
    unsigned last = c->end == W_END ? c->n - 1 : c->n;
    const struct wstate *cs = c->st + c->b;
    for (unsigned k = j; k < last; k++) {
        const struct wstate *a = &cs[k], *b = &cs[k + 1];
        if (*(const uintptr_t *)(b->sp - 8) != b->ip)
            return 0;
        if (a->bpat && (a->bpat < sp || *(const uintptr_t *)a->bpat != b->bp))
            return 0;
    }
    return 1;
}

/* What one walk learnt of the words above the last walk's states, so that each word is
 * read at most once a walk, however many states the walk tries to join at: a walk whose
 * leaf frames are the last one's and whose outer ones are not (namechurn: the same five
 * functions under a different call site in main's callee) met the last walk at each of
 * its states and re-read everything above each time, ~300 instructions a walk of the
 * ~1,000 its walk cost at rate 1 (callgrind). The words are checked from the top down:
 * frames lo..last-1 (frame k: state k+1's return-address slot and state k's rbp slot)
 * hold what the last walk read, and frame bad does not (-1: none found), so no join at
 * a state at or below bad can succeed and any above it needs no more reads. wc_same's
 * other test, no rbp slot below the sp joined at, holds for every frame whose rbp slot
 * is not below its own sp (states' sp only grow): irr is the highest frame checked that
 * has one below (-1: none; compilers do not make them), and a join at or below it asks
 * wc_same. The words do not change during a walk: they are above its sp, on the
 * thread's own stack (or the one a signal interrupted, which is never joined: see the
 * walk). */
struct wverify {
    unsigned lo;
    int bad, irr;
};

static __attribute__((noinline)) int wc_verify(const struct wcache *c, struct wverify *v,
                                               unsigned j, uintptr_t sp, uintptr_t lo)
{
    const struct wstate *const cs = c->st + c->b;
    const struct wstate *a = cs + v->lo; /* (locals: the loop's state in registers) */
    int irr = v->irr;
    while (a > cs + j) {
        const struct wstate *b = a--;
        /* an rbp slot below the walk's start is below any sp it can join at: wc_same
         * would refuse it, and it is not read */
        if (*(const uintptr_t *)(b->sp - 8) != b->ip)
            goto bad;
        if (a->bpat) {
            if (__builtin_expect(a->bpat < a->sp, 0)) {
                if (a->bpat < lo)
                    goto bad;
                if (irr < 0)
                    irr = (int)(a - cs);
            }
            if (*(const uintptr_t *)a->bpat != b->bp)
                goto bad;
        }
        continue;
    bad:
        v->bad = (int)(a - cs);
        v->lo = (unsigned)(b - cs);
        v->irr = irr;
        return 0;
    }
    v->lo = j;
    v->irr = irr;
    return (int)j > irr || wc_same(c, j, sp);
}

/* May the walk join the last one at its state j (same sp, bp and ip)? Without a call
 * where the words are known already (bad, or all read). */
static inline __attribute__((always_inline)) int
wc_join_ok(const struct wcache *c, struct wverify *v, unsigned j, uintptr_t sp, uintptr_t lo)
{
    if ((int)j <= v->bad)
        return 0;
    if (j >= v->lo)
        return (int)j > v->irr || wc_same(c, j, sp);
    return wc_verify(c, v, j, sp, lo);
}

/* more() for the walk's hot loop, which keeps hi in a register (more's pointer would put
 * it in memory, with the loop's other state: ~20% of a walk's instructions were spills):
 * the new bound, or 0 if the walk cannot read below want. */
static __attribute__((noinline)) uintptr_t more_hi(uintptr_t want, uintptr_t hi)
{
    return more(want, &hi) ? hi : 0;
}

/* A cached shape's kind and generation, in one compare: fast_want (K_FRAME and this
 * generation) for an ordinary frame, end_want(fast_want) for the outermost one (K_END,
 * which may be the signal trampoline: S_SIGNAL) */
#define FAST_MASK (3u | (uint64_t)GEN_MASK << 4)
static inline uint64_t end_want(uint64_t fast_want)
{
    return fast_want ^ K_FRAME ^ K_END;
}

/* The CFA of a frame of shape s whose registers are sp and bp, and the slot where its
 * caller's rbp is saved (if S_BP_SAVED) */
static inline uintptr_t shape_cfa(uint64_t s, uintptr_t sp, uintptr_t bp)
{
    return ((s & S_CFA_RBP) ? bp : sp) + (uintptr_t)(intptr_t)shape_cfa_off(s);
}

static inline uintptr_t shape_bp_at(uint64_t s, uintptr_t cfa)
{
    return cfa + (uintptr_t)(intptr_t)shape_bp_off(s);
}

/* The shape of the frame whose return address (or, with exact, interrupted ip) is ip:
 * one probe of the table for a cached ordinary frame of this generation (fast_want),
 * else shape_of. */
static inline __attribute__((always_inline)) uint64_t lookup(struct slot *t, uintptr_t key,
                                                             uint64_t fast_want, unsigned gen)
{
    uint64_t s = 0;
    if (__builtin_expect(t != NULL, 1)) {
        const struct slot *sl = &t[slot_of(key)];
        if (__atomic_load_n(&sl->key, __ATOMIC_ACQUIRE) == key)
            s = __atomic_load_n(&sl->val, __ATOMIC_ACQUIRE);
    }
    if (__builtin_expect((s & FAST_MASK) == fast_want, 1))
        return s;
    /* the outermost frame (_start's, a thread's start routine's), cached as the others: a
     * walk that goes to the end meets it every time, and shape_of's call and probe loop
     * were ~42 instructions a walk (callgrind, namechurn at rate 1 without the walk
     * cache) */
    if ((s & FAST_MASK) == end_want(fast_want))
        return s;
    return shape_of(t, key, gen);
}

/* One frame up, by its shape s (an ordinary frame): r becomes its caller's registers,
 * *bpat where the caller's rbp was read (0: unchanged). 0 if a word it needs is out of
 * bounds: the caller's frame must be above this one and below hi (so every slot read,
 * from cfa - 8 up, is on this stack: sp >= lo holds from the start). */
static inline __attribute__((always_inline)) int step(struct cp_unwind_regs *r, uint64_t s,
                                                      uintptr_t lo, uintptr_t *hi, uintptr_t *bpat)
{
    uintptr_t cfa = shape_cfa(s, r->sp, r->bp);
    if (cfa < r->sp + 8)
        return 0;
    if (__builtin_expect(cfa > *hi, 0) && !(*hi = more_hi(cfa, *hi)))
        return 0;
    uintptr_t at = 0;
    if (s & S_BP_SAVED) {
        at = shape_bp_at(s, cfa);
        if (__builtin_expect(at - lo > *hi - 8 - lo, 0)) {
            uintptr_t h;
            if (at < lo || !(h = more_hi(at + 8, *hi)) || at - lo > h - 8 - lo)
                return 0;
            *hi = h;
        }
        r->bp = *(const uintptr_t *)at;
    }
    *bpat = at;
    r->ip = *(const uintptr_t *)(cfa - 8);
    r->sp = cfa;
    return 1;
}

/* A frame no CFI covers (shape s, S_NOCFI), r.ip its return address: one frame up by its
 * frame pointer, the shape of a function that pushed rbp and set it to rsp. 1 if r is now
 * its caller's, 0 if rbp does not lead up the stack (the walk ends here), -1 if an object
 * holds r.ip now where none did (the cached shape is older than a dlopen there:
 * libunwind, this once). */
static __attribute__((noinline)) int nocfi_step(struct cp_unwind_regs *r, uint64_t s, unsigned gen,
                                                uintptr_t lo, uintptr_t *hi)
{
    struct dl_find_object dlfo;
    if (shape_bp_off(s) == NOCFI_NOOBJ && _dl_find_object((void *)(r->ip - 1), &dlfo) == 0)
        return -1;
    uintptr_t bpat;
    return step(r, make_shape(K_FRAME, 1, 1, -16, 16, gen), lo, hi, &bpat);
}

/* The walk. Two loops: while the last walk may still be met (its states are read from c,
 * this walk's go to fresh), then on alone (this walk's states straight to c). */
int cp_unwind_cfi(struct cp_unwind_regs r, uintptr_t *pcs, unsigned cap, uintptr_t lo, uintptr_t hi,
                  int *full)
{
    struct slot *t = get_table();
    unsigned gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE) & GEN_MASK;
    /* the common case, a cached ordinary frame of this generation, in one compare */
    const uint64_t fast_want = K_FRAME | (uint64_t)gen << 4;
    unsigned n = 0;
    *full = 0;
    if (r.sp < lo || r.sp > hi)
        return -1;
    struct wcache *c = wc_get();
    int keep = c && cap <= WC_MAX && !__atomic_load_n(&wc_off, __ATOMIC_RELAXED);
    unsigned exact = 0;   /* r.ip is where a signal interrupted, not a return address */
    unsigned guessed = 0; /* r.ip was read by a frame-pointer guess (nocfi_step) */
    int end;
    uint64_t s;
    uintptr_t bpat;
    if (keep && c->n && c->gen == gen && c->hi == hi && c->cap == cap) {
        /* (pointers rather than indices, and few live values: the loop's state stays in
         * registers) */
        struct wstate *const fresh = c->fresh, *f = fresh;
        /* the last walk's states; cj: the first not below sp */
        const struct wstate *const cs = c->st + c->b;
        const struct wstate *cj = cs, *const cend = cs + c->n;
        uintptr_t *out = pcs;
        struct wverify v = {c->end == W_END ? c->n - 1 : c->n, -1, -1};
        /* the states the last walk stepped from (an END frame's, last of a W_END walk, not) */
        const struct wstate *const clast = cs + v.lo;
        /* The walk's registers, a copy of r that only step() (inlined) sees: r's address
         * goes to functions not inlined (sigframe, nocfi_step), which keeps it in memory,
         * and this loop reloaded each register from the store it had just made (~20% of
         * the walk's samples on one compare, perf, namechurn at rate 1). Back to r where
         * the loop goes on alone. */
        struct cp_unwind_regs q = r;
        for (;;) {
            while (cj < cend && cj->sp < q.sp)
                cj++;
            if (cj == cend)
                break; /* past the last walk's states: on alone */
            int same = cj->sp == q.sp && cj->ip == q.ip && cj->bp == q.bp;
            if (same && wc_join_ok(c, &v, (unsigned)(cj - cs), q.sp, lo)) {
                /* joined: the last walk's states j.. follow this walk's 0..n-1. They stay
                 * where they are and this walk's go just below them (states are stored
                 * from a base, so no copy of the shared part: a memmove of it cost ~45
                 * instructions a sample on perl at rate 1), unless there is no room
                 * below: then the shared part moves to the top of the array, once. */
                unsigned j = (unsigned)(cj - cs), cn = c->n;
                n = (unsigned)(f - fresh);
                c->joins++;
                unsigned total = n + (cn - j);
                unsigned tail = c->end == W_END ? cn - j : cn - j + 1;
                if (n + tail > cap + 1)
                    tail = cap + 1 - n; /* states past the cap are not needed */
                unsigned nb = c->b + j - n;
                if (c->b + j < n) {
                    nb = WC_MAX + 1 - n - tail; /* >= 0: n + tail <= cap + 1 <= WC_MAX + 1 */
                    move_states(&c->st[nb + n], cj, tail);
                }
                struct wstate *ns = c->st + nb;
                if (n)
                    move_states(ns, fresh, n);
                c->b = nb;
                unsigned got = total < cap ? total : cap;
                const struct wstate *from = ns + n;
                for (uintptr_t *o = pcs + n, *oend = pcs + got; o < oend; o++, from++)
                    *o = from->ip;
                if (total > cap || (total == cap && c->end == W_FULL)) {
                    c->n = cap;
                    c->end = W_FULL;
                    *full = 1;
                    return (int)cap;
                }
                c->n = total;
                if (c->end != W_FULL)
                    return (int)total;
                /* the last walk stopped at its cap and this one is shorter below it: go on
                 * from the state the last walk stopped at, with the states from 0 */
                n = total;
                move_states(c->st, ns, n + 1);
                c->b = 0;
                r.sp = c->st[n].sp, r.bp = c->st[n].bp, r.ip = c->st[n].ip;
                goto alone;
            }
            if (f == fresh + FRESH)
                break; /* too many new states: on alone */
            f->sp = q.sp;
            f->bp = q.bp;
            f->ip = q.ip;
            f->bpat = 0;
            if (q.ip == 0) {
                end = W_ZERO;
                goto ended_fresh;
            }
            if (out == pcs + cap) {
                *full = 1;
                end = W_FULL;
                goto ended_fresh;
            }
            *out++ = q.ip;
            if (same && cj < clast && (!cj->bpat || cj->bpat >= lo)) {
                /* The last walk's state j, whose words above did not all stay (or the join
                 * was refused at it): its step is the last walk's, which the same shape
                 * (this generation's), sp and bp determine, and which read the words at the
                 * same places, inside the same bounds: no lookup. (namechurn's leaf frames
                 * under a call site that changes each time: 4 of its 5 walked frames.) */
                f->bpat = cj->bpat;
                q.sp = cj[1].sp;
                if (cj->bpat)
                    q.bp = *(const uintptr_t *)cj->bpat;
                q.ip = *(const uintptr_t *)(q.sp - 8);
                f++;
                cj++;
                continue;
            }
            s = lookup(t, q.ip, fast_want, gen);
            if (__builtin_expect(shape_kind(s) != K_FRAME, 0)) {
                if (shape_kind(s) == K_END && (s & (S_SIGNAL | S_NOCFI))) {
                    /* the loop below takes this frame again, without keeping states (see
                     * there) */
                    n = (unsigned)(f - fresh);
                    c->n = 0;
                    keep = 0;
                    r = q;
                    goto alone;
                }
                if (shape_kind(s) == K_END) {
                    end = W_END;
                    goto ended_fresh;
                }
                goto fail;
            }
            if (!step(&q, s, lo, &hi, &f->bpat))
                goto fail;
            f++;
        }
        n = (unsigned)(f - fresh);
        move_states(c->st, fresh, n);
        c->b = 0;
        r = q;
        goto alone;
    ended_fresh: /* without meeting the last walk; n frames, and state n unless W_END */
        n = (unsigned)(out - pcs);
        move_states(c->st, fresh, n + (end != W_END));
        c->b = 0;
        goto done;
    }
    if (keep)
        c->b = 0;
alone:
    if (!keep && __builtin_expect(t != NULL, 1)) {
        /* A walk that keeps no states (no cache, or a cap past it), through ordinary
         * frames whose shapes are cached (and the outermost one): lookup's fast probe and
         * step() without its bound growth, the walk's registers in locals. Any other frame
         * (not cached, a signal frame, a word out of the bounds known) leaves it before
         * anything of that frame is done, and the loop below takes the frame as it would
         * have. The loop below cost ~62 instructions a frame, this one ~44 (namechurn at
         * rate 1, 9 frames a walk: BENCHMARKS.md, "Session 22"). */
        uintptr_t sp = r.sp, bp = r.bp, ip = r.ip;
        const uintptr_t room = hi - 8 - lo; /* a saved rbp's slot is in [lo, hi - 8] */
        while (ip && n < cap) {
            const struct slot *sl = &t[slot_of(ip)];
            if (__atomic_load_n(&sl->key, __ATOMIC_ACQUIRE) != ip)
                break;
            uint64_t s1 = __atomic_load_n(&sl->val, __ATOMIC_ACQUIRE);
            if ((s1 & FAST_MASK) != fast_want) {
                /* the outermost frame (lookup's K_END), which every walk to the end meets */
                if ((s1 & FAST_MASK) != end_want(fast_want) || (s1 & (S_SIGNAL | S_NOCFI)))
                    break;
                pcs[n++] = ip;
                end = W_END;
                goto done;
            }
            uintptr_t cfa = shape_cfa(s1, sp, bp);
            if (cfa < sp + 8 || cfa > hi)
                break;
            uintptr_t nbp = bp;
            if (s1 & S_BP_SAVED) {
                uintptr_t at = shape_bp_at(s1, cfa);
                if (at - lo > room)
                    break;
                nbp = *(const uintptr_t *)at;
            }
            pcs[n++] = ip;
            bp = nbp;
            ip = *(const uintptr_t *)(cfa - 8);
            sp = cfa;
        }
        r.sp = sp, r.bp = bp, r.ip = ip;
    }
    for (;;) {
        if (keep) /* n <= cap <= WC_MAX */
            c->st[n] = (struct wstate){r.sp, r.bp, r.ip, 0};
        if (r.ip == 0) {
            end = W_ZERO;
            break;
        }
        if (n == cap) {
            *full = 1;
            end = W_FULL;
            break;
        }
        pcs[n++] = r.ip;
        /* a shape is keyed by a return address, whose row is the one at key - 1; the
         * frame a signal interrupted is at its ip itself, so its key is ip + 1 */
        s = lookup(t, r.ip + exact, fast_want, gen);
        exact = 0;
        if (__builtin_expect(shape_kind(s) != K_FRAME, 0)) {
            if (shape_kind(s) == K_END && (s & S_SIGNAL)) {
                /* Walks through a signal frame are not kept for joining: a join checks
                 * each frame's return-address slot, which the interrupted frame has not,
                 * and its stack may be another. */
                if (keep)
                    c->n = 0;
                keep = 0;
                uintptr_t nlo = lo, nhi = hi; /* (lo and hi stay in registers) */
                int on = sigframe(&r, &nlo, &nhi);
                lo = nlo, hi = nhi;
                if (!on) {
                    end = W_END;
                    break;
                }
                exact = 1;
                guessed = 0;
                continue;
            }
            if (shape_kind(s) == K_END && (s & S_NOCFI)) {
                if (guessed && not_code(s, r.ip, lo, hi)) {
                    n--; /* (keep is 0: the frame that guessed cleared it) */
                    end = W_END;
                    break;
                }
                /* (not kept for joining either: a join would take this guess for CFI's) */
                if (keep)
                    c->n = 0;
                keep = 0;
                int on = nocfi_step(&r, s, gen, lo, &hi);
                if (on < 0)
                    goto fail;
                if (!on) {
                    end = W_END;
                    break;
                }
                guessed = 1;
                continue;
            }
            if (shape_kind(s) == K_END) {
                end = W_END;
                break;
            }
            goto fail;
        }
        if (!step(&r, s, lo, &hi, &bpat))
            goto fail;
        guessed = 0;
        if (keep)
            c->st[n - 1].bpat = bpat;
    }
done:
    if (keep) {
        c->n = n;
        c->end = (unsigned)end;
        c->gen = gen;
        c->cap = cap;
        c->hi = hi;
    }
    return (int)n;
fail:
    if (keep)
        c->n = 0;
    return -1;
}

#else /* !HAVE_CFI */

void cp_unwind_init(void)
{
}

void cp_unwind_thread_gone(void)
{
}

void cp_unwind_fork_child(void)
{
}

unsigned cp_unwind_caches(void)
{
    return 0;
}

void cp_unwind_cache_enable(int on)
{
    (void)on;
}

uint64_t cp_unwind_cache_joins(void)
{
    return 0;
}

int cp_unwind_cfi(struct cp_unwind_regs r, uintptr_t *pcs, unsigned cap, uintptr_t lo, uintptr_t hi,
                  int *full)
{
    (void)r, (void)pcs, (void)cap, (void)lo, (void)hi;
    *full = 0;
    return -1;
}

#endif
