/*
 * stack.c — stack capture and the module table (see stack.h).
 *
 * Contexts: cp_stack_capture from hooks (sampled events only; the re-entrancy guard is
 * held, so whatever libunwind or pthread_getattr_np allocate goes to the real allocator
 * unsampled); the module functions from the flusher (naming new buckets) and start-up.
 *
 * Frame-pointer walking never dereferences an address outside the current thread's stack
 * (bounds from pthread_getattr_np, cached per thread), so a caller compiled without frame
 * pointers ends the walk early instead of faulting.
 */
#define UNW_LOCAL_ONLY
#include "stack.h"

#include <dlfcn.h>
#include <elf.h>
#include <libunwind.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "arena.h"
#include "log.h"
#include "spin.h"
#include "unwind.h"

/* ---- capture ----------------------------------------------------------------------- */

/* Stack bounds, without allocating and without a system call: a capture can run inside a
 * pthread_mutex_lock hook while the program's allocator holds its own lock (jemalloc behind
 * us takes a mutex in malloc), so it must not call anything that allocates.
 * pthread_getattr_np does (a cpuset buffer, and /proc/self/maps for the main thread):
 * calling it on a thread's first sample deadlocked such a thread on jemalloc's lock
 * (compat.sh, alloc_mt with jemalloc); calling it once at start-up instead cost every
 * process 127,000 instructions and a read of /proc/self/maps (callgrind, seq 3). So a
 * walk reads only above the frame it starts from, up to: for the main thread, the
 * executable's name that the kernel put at the top of the initial stack (AT_EXECFN);
 * for any other thread, its thread descriptor (glibc puts struct pthread, then the static
 * TLS, at the top of the stack block, also for a stack the program supplied). */
static uintptr_t main_hi, main_self;

void cp_stack_init(void)
{
    main_hi = (uintptr_t)getauxval(AT_EXECFN);
    main_self = (uintptr_t)pthread_self();
}

/* [*lo, *hi): where a walk starting at the frame `here` may read. 0 if unknown. */
static int thread_bounds(uintptr_t here, uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t self = (uintptr_t)pthread_self();
    *lo = here;
    *hi = self == main_self ? main_hi : self;
    /* a stack that is not laid out that way (a thread made by raw clone shares its
     * creator's descriptor, a coroutine or signal stack may be far away): no bounds */
    return here < *hi && *hi - here <= ((uintptr_t)1 << 30);
}

static unsigned capture_fp(uintptr_t *pcs, unsigned max, unsigned skip, int *truncated)
{
    uintptr_t *fp = __builtin_frame_address(0);
    unsigned n = 0;
    uintptr_t stack_lo, stack_hi;
    *truncated = 0;
    if (!thread_bounds((uintptr_t)fp, &stack_lo, &stack_hi))
        return 0;
    while ((uintptr_t)fp >= stack_lo && (uintptr_t)fp + 16 <= stack_hi && ((uintptr_t)fp & 7) == 0) {
        uintptr_t ret = fp[1];
        uintptr_t *next = (uintptr_t *)fp[0];
        if (ret < 4096)
            break;
        if (skip)
            skip--;
        else if (n < max)
            pcs[n++] = ret;
        else {
            *truncated = 1;
            break;
        }
        if (next <= fp)
            break;
        fp = next;
    }
    return n;
}

/* libunwind is loaded when it is first needed (dlopen, RTLD_LOCAL), not linked: linked,
 * every process paid for the dynamic linker mapping and relocating it and liblzma, its
 * dependency (101k of the 184k instructions the shim added to `seq 3`, callgrind; git's
 * workload starts 3,232 processes), though the CFI walker rarely hands it a stack. It is
 * loaded only where dlopen is safe: at start-up when CTRPROF_UNWIND asks for it
 * (libunwind, check), and by the flusher thread once a walk has wanted it. Never from a
 * hook: the dynamic linker itself calls malloc, and a dlopen inside its own work is not
 * something it survives. Until libunwind is there (or if it cannot be loaded) a stack the
 * CFI walker gave up on is walked by frame pointers, and counted (cp_stack_fp_fallbacks).
 * RTLD_LOCAL also keeps its exported _Unwind_* and backtrace out of the program's lookup
 * scope, where linking put them (after us, before libgcc_s and libc). */
#define LU_STR_(x) #x
#define LU_STR(x) LU_STR_(x)              /* the names libunwind.h's macros give these functions */
static int (*lu_backtrace)(void **, int); /* atomic: set once libunwind is loaded */
static int lu_state; /* atomic: 0 not tried, 1 loaded, 2 failed, 3 not here (loader_suspect) */
static int lu_wanted;                     /* atomic: a walk needed libunwind */
static uint64_t n_fp_fallbacks;           /* atomic */
/* this thread has walked with libunwind, so its thread-local storage (dynamic TLS, which
 * __tls_get_addr allocates with malloc on a thread's first access) is in place */
static __thread bool lu_warm __attribute__((tls_model("initial-exec")));

int cp_stack_load_libunwind(void)
{
    static cp_spin lu_lock = CP_SPIN_INIT;
    cp_spin_lock(&lu_lock);
    int st = __atomic_load_n(&lu_state, __ATOMIC_ACQUIRE);
    if (st == 0) {
        st = 2;
        void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        int (*bt)(void **, int) = NULL;
        int (*policy)(unw_addr_space_t, unw_caching_policy_t) = NULL;
        unw_addr_space_t *as = NULL;
        if (h) {
            bt = (int (*)(void **, int))dlsym(h, "unw_backtrace");
            policy = (int (*)(unw_addr_space_t, unw_caching_policy_t))dlsym(
                h, LU_STR(unw_set_caching_policy));
            as = (unw_addr_space_t *)dlsym(h, LU_STR(unw_local_addr_space));
        }
        if (bt && policy && as) {
            /* libunwind's default cache is global: every unw_step then takes a mutex with
             * all signals blocked, two sigprocmask system calls a frame, which made up 40%
             * of a rate-1 run of bench/progs/alloc_mt (perf record -g). A per-thread cache
             * needs neither. */
            policy(*as, UNW_CACHE_PER_THREAD);
            void *one[2];
            bt(one, 2); /* this thread's storage, while allocating is safe */
            lu_warm = true;
            __atomic_store_n(&lu_backtrace, bt, __ATOMIC_RELEASE);
            st = 1;
        } else {
            const char *why = h ? "a function is missing" : dlerror();
            cp_log("libunwind.so.8 cannot be loaded (%s); stacks the CFI walker cannot follow "
                   "are walked by frame pointers (ctrprof/health:unwind-fp-fallbacks)",
                   why ? why : "?");
        }
        __atomic_store_n(&lu_state, st, __ATOMIC_RELEASE);
    }
    cp_spin_unlock(&lu_lock);
    return st == 1 ? 0 : -1;
}

/* A fork child of a process that had other threads may hold a copy of the dynamic
 * loader's dl_load_write_lock taken by a thread that does not exist in it: glibc resets
 * only dl_load_lock in a fork child, and dl_iterate_phdr takes the write lock, so the
 * child's first libunwind walk or module refresh waited for ever (issue 29: rate 1,
 * CTRPROF_UNWIND=libunwind, a child forked while another thread was in dlopen, or in
 * one of our own walks). Such a child never calls dl_iterate_phdr: libunwind is hidden
 * (lu_backtrace NULL: its walks go by frame pointers, counted as fp-fallbacks, and it is
 * not loaded either: lu_state 3), and the module table keeps what the parent knew. Until
 * exec; the CFI walker, which needs neither, is unaffected. */
static bool loader_suspect; /* written in the child's atfork handler, before other use */

void cp_stack_loader_suspect(void)
{
    loader_suspect = true;
    __atomic_store_n(&lu_backtrace, NULL, __ATOMIC_RELEASE);
    if (__atomic_load_n(&lu_state, __ATOMIC_ACQUIRE) == 0)
        __atomic_store_n(&lu_state, 3, __ATOMIC_RELEASE);
}

bool cp_stack_libunwind_wanted(void)
{
    return __atomic_load_n(&lu_wanted, __ATOMIC_RELAXED) &&
           !__atomic_load_n(&lu_state, __ATOMIC_RELAXED);
}

uint64_t cp_stack_fp_fallbacks(void)
{
    return __atomic_load_n(&n_fp_fallbacks, __ATOMIC_RELAXED);
}

static inline __attribute__((always_inline)) unsigned
capture_unwind(uintptr_t *pcs, unsigned max, unsigned skip, int *truncated, bool noalloc)
{
    int (*bt)(void **, int) = __atomic_load_n(&lu_backtrace, __ATOMIC_ACQUIRE);
    if (__builtin_expect(!bt || (noalloc && !lu_warm), 0)) {
        /* not loaded yet (the flusher loads it when asked), not loadable, or not for a
         * thread that may not allocate and has not used it yet */
        if (!bt && !__atomic_load_n(&lu_wanted, __ATOMIC_RELAXED))
            __atomic_store_n(&lu_wanted, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&n_fp_fallbacks, 1, __ATOMIC_RELAXED);
        return capture_fp(pcs, max, skip, truncated);
    }
    /* unw_backtrace walks with libunwind's per-thread trace cache (frame shapes keyed by
     * PC; x86-64's tdep_trace), so a stack it has seen costs no DWARF parsing; it falls
     * back to unw_step by itself. Its entry 0 is its own return address, into
     * cp_stack_capture or cp_stack_capture_from (which inline this function): dropped, so
     * the result starts at the return address into their caller, as the CFI and
     * frame-pointer walks do. */
    void *raw[256]; /* callers ask for at most CP_MAX_DEPTH (128) + 24 */
    unsigned cap = max + skip + 1 + 1; /* one more than wanted: tells truncation */
    if (cap > sizeof raw / sizeof raw[0])
        cap = sizeof raw / sizeof raw[0];
    *truncated = 0;
    int got = bt(raw, (int)cap);
    lu_warm = true;
    unsigned n = 0, drop = skip + 1;
    for (int i = 0; i < got; i++) {
        uintptr_t ip = (uintptr_t)raw[i];
        if (ip == 0)
            break;
        if (drop) {
            drop--;
            continue;
        }
        if (n == max) {
            *truncated = 1;
            break;
        }
        pcs[n++] = ip;
    }
    return n;
}

static uint64_t n_fallbacks, n_checked, n_differ; /* atomic, statistics */

/* The CFI walk, from the frame described by r (the caller of cp_stack_capture), with the
 * same result as capture_unwind. Returns 0 if the stack needs libunwind. */
static inline __attribute__((always_inline)) int capture_cfi(struct cp_unwind_regs r,
                                                             uintptr_t *pcs, unsigned max,
                                                             unsigned skip, int *truncated,
                                                             unsigned *out)
{
    uintptr_t stack_lo, stack_hi;
    if (!thread_bounds(r.sp, &stack_lo, &stack_hi)) {
        __atomic_add_fetch(&n_fallbacks, 1, __ATOMIC_RELAXED);
        return 0;
    }
    uintptr_t raw[256];
    unsigned cap = max + skip;
    if (cap > sizeof raw / sizeof raw[0])
        cap = sizeof raw / sizeof raw[0];
    int full;
    int got = cp_unwind_cfi(r, skip ? raw : pcs, skip ? cap : max, stack_lo, stack_hi, &full);
    if (got < 0) {
        __atomic_add_fetch(&n_fallbacks, 1, __ATOMIC_RELAXED);
        return 0;
    }
    unsigned n = (unsigned)got;
    if (skip) { /* tests only; the shim passes 0 */
        n = n > skip ? n - skip : 0;
        memcpy(pcs, raw + skip, n * sizeof *pcs);
    }
    *truncated = full;
    *out = n;
    return 1;
}

/* noinline with a frame pointer (-fno-omit-frame-pointer): its frame is where the CFI
 * walk starts, at its caller's return address, where libunwind's result starts once its
 * first entry (the return address into this function) is dropped. */
__attribute__((noinline)) unsigned cp_stack_capture(int unwind, uintptr_t *pcs, unsigned max,
                                                    unsigned skip, int *truncated)
{
    bool noalloc = (unwind & CP_UNWIND_NOALLOC) != 0;
    unwind &= ~CP_UNWIND_NOALLOC;
    if (unwind == CP_UNWIND_FP)
        return capture_fp(pcs, max, skip, truncated);
    if (unwind == CP_UNWIND_LIBUNWIND)
        return capture_unwind(pcs, max, skip, truncated, noalloc);
    uintptr_t *fp = __builtin_frame_address(0);
    struct cp_unwind_regs r = {fp[1], (uintptr_t)(fp + 2), fp[0]};
    unsigned n;
    if (unwind == CP_UNWIND_CFI || (noalloc && !lu_warm)) {
        /* (check, where libunwind may not run yet: the walker alone, nothing compared) */
        if (capture_cfi(r, pcs, max, skip, truncated, &n))
            return n;
        return capture_unwind(pcs, max, skip, truncated, noalloc);
    }
    /* CP_UNWIND_CHECK: both; libunwind's stack is the one returned */
    uintptr_t mine[256];
    int mtrunc = 0, ok = max <= sizeof mine / sizeof mine[0] &&
                         capture_cfi(r, mine, max, skip, &mtrunc, &n);
    unsigned m = capture_unwind(pcs, max, skip, truncated, noalloc);
    if (ok) {
        __atomic_add_fetch(&n_checked, 1, __ATOMIC_RELAXED);
        if (n != m || mtrunc != *truncated || memcmp(mine, pcs, n * sizeof *pcs))
            __atomic_add_fetch(&n_differ, 1, __ATOMIC_RELAXED);
    }
    return m;
}

/* noinline with a frame pointer, as cp_stack_capture: libunwind's result starts at the
 * return address into its caller. */
__attribute__((noinline)) unsigned cp_stack_capture_from(int unwind, const uintptr_t *frame,
                                                         uintptr_t *pcs, unsigned max,
                                                         int *truncated)
{
    unsigned n;
    if ((unwind & ~CP_UNWIND_NOALLOC) != CP_UNWIND_CFI || !frame)
        return cp_stack_capture(unwind, pcs, max, 0, truncated);
    struct cp_unwind_regs r = {frame[1], (uintptr_t)(frame + 2), frame[0]};
    if (capture_cfi(r, pcs, max, 0, truncated, &n))
        return n;
    /* not cp_stack_capture: its CFI walk from here would meet the same frame, fail again
     * and count the fallback twice */
    return capture_unwind(pcs, max, 0, truncated, (unwind & CP_UNWIND_NOALLOC) != 0);
}

void cp_stack_stats(uint64_t *fallbacks, uint64_t *checked, uint64_t *differ)
{
    *fallbacks = __atomic_load_n(&n_fallbacks, __ATOMIC_RELAXED);
    *checked = __atomic_load_n(&n_checked, __ATOMIC_RELAXED);
    *differ = __atomic_load_n(&n_differ, __ATOMIC_RELAXED);
}

/* ---- modules ----------------------------------------------------------------------- */

#define MAXMOD 8192
#define STRPOOL (4u << 20)

static struct cp_module *mods; /* guarded by lock; entries immutable once counted */
static unsigned nmods;
static char *pool;
static size_t pool_used;
static cp_spin lock = CP_SPIN_INIT;

static uint32_t fnv32(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    return h;
}

static const char *intern(const char *s)
{
    size_t n = strlen(s) + 1;
    if (!pool || pool_used + n > STRPOOL)
        return "?";
    char *p = pool + pool_used;
    memcpy(p, s, n);
    pool_used += n;
    return p;
}

static void read_buildid(struct dl_phdr_info *info, struct cp_module *m)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof *nh;
            const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
            const uint8_t *next = desc + ((nh->n_descsz + 3) & ~3u);
            if (next > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4)) {
                m->buildid_len = nh->n_descsz > CP_BUILDID_MAX ? CP_BUILDID_MAX : (uint8_t)nh->n_descsz;
                memcpy(m->buildid, desc, m->buildid_len);
                return;
            }
            p = next;
        }
    }
}

static int on_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            uintptr_t a = info->dlpi_addr + ph->p_vaddr;
            if (a < lo)
                lo = a;
            if (a + ph->p_memsz > hi)
                hi = a + ph->p_memsz;
        }
    }
    if (hi == 0)
        return 0;
    for (unsigned i = 0; i < nmods; i++)
        if (mods[i].lo == lo && mods[i].hi == hi && mods[i].bias == info->dlpi_addr)
            return 0; /* known */
    if (nmods == MAXMOD)
        return 1;
    struct cp_module *m = &mods[nmods];
    memset(m, 0, sizeof *m);
    m->lo = lo;
    m->hi = hi;
    m->bias = info->dlpi_addr;
    char exe[PATH_MAX];
    const char *name = info->dlpi_name;
    if (!name || !name[0]) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        name = exe;
    }
    m->path = intern(name);
    read_buildid(info, m);
    char hex[2 * CP_BUILDID_MAX + 1];
    for (unsigned i = 0; i < m->buildid_len; i++) {
        hex[2 * i] = "0123456789abcdef"[m->buildid[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[m->buildid[i] & 15];
    }
    hex[2 * m->buildid_len] = 0;
    uint32_t h = fnv32(2166136261u, m->path, strlen(m->path) + 1);
    m->id = fnv32(h, hex, strlen(hex));
    /* release: the entry is complete before readers see the new count */
    __atomic_store_n(&nmods, nmods + 1, __ATOMIC_RELEASE);
    return 0;
}

int cp_modules_refresh(void)
{
    if (loader_suspect)
        return -11; /* -EAGAIN: dl_iterate_phdr may never return here (above) */
    cp_spin_lock(&lock);
    if (!mods) {
        mods = cp_mmap_anon(MAXMOD * sizeof *mods);
        pool = cp_mmap_anon(STRPOOL);
        if (!mods || !pool) {
            cp_spin_unlock(&lock);
            return -12;
        }
    }
    dl_iterate_phdr(on_object, NULL);
    cp_spin_unlock(&lock);
    return 0;
}

static const struct cp_module *lookup(uintptr_t pc)
{
    unsigned n = __atomic_load_n(&nmods, __ATOMIC_ACQUIRE);
    for (unsigned i = n; i-- > 0;) /* newest first: a dlopen may reuse a closed one's range */
        if (pc >= mods[i].lo && pc < mods[i].hi)
            return &mods[i];
    return NULL;
}

const struct cp_module *cp_modules_find(uintptr_t pc)
{
    pc = pc ? pc - 1 : 0; /* a return address may sit just past its caller's end */
    const struct cp_module *m = mods ? lookup(pc) : NULL;
    if (!m) {
        cp_modules_refresh();
        m = lookup(pc);
    }
    return m;
}

unsigned cp_modules_count(void)
{
    return __atomic_load_n(&nmods, __ATOMIC_ACQUIRE);
}

const struct cp_module *cp_modules_at(unsigned i)
{
    return i < cp_modules_count() ? &mods[i] : NULL;
}
