/*
 * stack.c — stack capture (see stack.h); the module table is modules.c's.
 *
 * Contexts: cp_stack_capture from hooks (sampled events only; the re-entrancy guard is
 * held, so whatever libunwind or pthread_getattr_np allocate goes to the real allocator
 * unsampled); libunwind's loading from the flusher and start-up.
 *
 * Frame-pointer walking never dereferences an address outside the current thread's stack
 * (bounds from pthread_getattr_np, cached per thread), so a caller compiled without frame
 * pointers ends the walk early instead of faulting.
 * Lock: libunwind's load lock, a leaf; why fork need not take it: docs/ARCHITECTURE.md,
 * "Locks". About 620 lines, at the project's ~600: the capture by each unwinder and
 * libunwind's loading share the walk's bounds and libunwind's state.
 */
#define UNW_LOCAL_ONLY
#include "stack.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <libunwind.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "arena.h"
#include "line.h"
#include "log.h"
#include "mapsnap.h"
#include "modules.h"
#include "ownstack.h"
#include "rawsys.h"
#include "spin.h"
#include "threadspan.h"
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
CP_READ_MOSTLY static uintptr_t main_hi, main_self;
/* How far below main_hi the main thread's stack may reach: its RLIMIT_STACK at start-up
 * (at most 1 GiB, as for any thread). The kernel keeps mmap'd memory at least that far
 * below the stack's top, so a handler's alternate stack mmap'd by the program is never
 * taken for the main stack; with a wider window it was whenever the mappings lay close
 * below the stack (always with ASLR off: gdb, setarch -R), and libunwind then ran in place
 * on the alternate stack and overran it (stacks.sh, no-aslr). A program that raises its
 * limit later and recurses deeper has those frames walked as on another stack. */
CP_READ_MOSTLY static uintptr_t main_span = (uintptr_t)1 << 30;

void cp_stack_init(void)
{
    main_hi = (uintptr_t)getauxval(AT_EXECFN);
    main_self = (uintptr_t)pthread_self();
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < main_span)
        main_span = (uintptr_t)rl.rlim_cur;
    cp_threadspan_init();
    cp_unwind_init();
}

/* [*lo, *hi): where a walk starting at the frame `here` may read. 0 if unknown. */
static inline int thread_bounds(uintptr_t here, uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t self = (uintptr_t)pthread_self();
    *lo = here;
    *hi = self == main_self ? main_hi : self;
    uintptr_t span = self == main_self ? main_span : cp_threadspan(self);
    /* a stack that is not laid out that way (a thread made by raw clone shares its
     * creator's descriptor, a coroutine or signal stack may be far away): no bounds */
    return here < *hi && *hi - here <= span;
}

/* Any other stack (issue 25): a handler's on the thread's alternate signal stack, whose
 * bounds the kernel knows (sigaltstack: one system call, made only for a walk that is not
 * on the thread's own stack), or a coroutine's or fiber's stack (makecontext on a heap
 * or mmap'd block), whose bounds nobody keeps: the walk may then read memory from the
 * walk's page up that is readable now, found with process_vm_readv of one byte of each
 * page (it stops at the first page that cannot be read: unmapped, or a PROT_NONE guard,
 * which is what lies above a stack mmap'd below another). Probed as the walk goes: two
 * pages first, then up to the page a read needs (cp_stack_more), at most FOREIGN_MAX
 * above the walk's start (pinning pages costs: probing 1 MiB at once made a walk 34 us).
 * The last such stack's bounds are kept per thread (fc_lo below). Cost: BENCHMARKS.md,
 * "Walks on other stacks". Where process_vm_readv cannot be used (a seccomp filter
 * refuses it, as some container runtimes' do without CAP_SYS_PTRACE, or the process is
 * sandboxed and must not ask), a coroutine's stack is bounded by the end of the readable
 * mapping that holds the walk's start, from a snapshot of /proc/self/maps taken off the
 * hot path (mapsnap.h); a stack mapped since the last snapshot goes to libunwind. */
#define PROBE_PAGES 32
#define PROBE_FIRST 2
#define FOREIGN_MAX (1u << 20)

/* this thread's walk reads probed memory: its start page (0: it does not) */
static __thread uintptr_t probe_base __attribute__((tls_model("initial-exec")));
/* process_vm_readv failed as a call (EPERM, ENOSYS): not tried again (atomic) */
static int probe_refused;

/* The pages [top, top + 4096 * npages) that can be read, from the first: how many. */
static unsigned probe(uintptr_t top, unsigned npages)
{
    char sink[PROBE_PAGES];
    struct iovec local = {sink, npages}, remote[PROBE_PAGES];
    for (unsigned i = 0; i < npages; i++)
        remote[i] = (struct iovec){(void *)(top + 4096 * (uintptr_t)i), 1};
    if (__atomic_load_n(&probe_refused, __ATOMIC_RELAXED))
        return 0;
    long got = cp_raw_syscall(SYS_process_vm_readv, cp_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0),
                              (long)&local, 1, (long)remote, (long)npages, 0);
    if (got == -EPERM || got == -ENOSYS || got == -EACCES)
        __atomic_store_n(&probe_refused, 1, __ATOMIC_RELAXED);
    return got > 0 ? (unsigned)got : 0;
}

/* The last foreign stack this thread walked on, [fc_lo, fc_hi) (its start page to the
 * last page probed readable, or the alternate stack): a walk that starts inside it again
 * takes those bounds without a system call (2 us a walk otherwise: BENCHMARKS.md). The
 * walk starts on a live stack, and the frames it follows (valid CFI) lie between it and
 * that stack's top, which the cached range covers; only a walk past the top (frames a
 * fiber library left without an end) reads above, where the cache may be stale (the
 * block unmapped since): the cost of not asking the kernel on every walk. */
static __thread uintptr_t fc_lo, fc_hi, fc_probed __attribute__((tls_model("initial-exec")));

/* Without a probe: the readable mapping holding here, from the snapshot (mapsnap.h) */
static int snapshot_bounds(uintptr_t here, uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t top;
    if (!cp_mapsnap_find(here, &top) || top <= here + 16)
        return 0;
    *lo = here;
    *hi = top;
    fc_lo = here & ~(uintptr_t)4095;
    fc_hi = top;
    fc_probed = 0;
    return 1;
}

static __attribute__((noinline)) int foreign_bounds(uintptr_t here, uintptr_t *lo, uintptr_t *hi)
{
    if (here >= fc_lo && here < fc_hi && fc_hi - here > 16) {
        *lo = here;
        *hi = fc_hi;
        probe_base = fc_probed;
        return 1;
    }
    stack_t ss;
    probe_base = 0;
    fc_lo = fc_hi = 0;
    /* sigaltstack and process_vm_readv are calls a sandbox's allow-list may forbid (publish.c,
     * "sandboxes"): a walk on another stack then has no bounds (frame pointers) */
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_RELAXED))
        return snapshot_bounds(here, lo, hi);
    if (cp_raw_syscall(SYS_sigaltstack, 0, (long)&ss, 0, 0, 0, 0) == 0 &&
        (ss.ss_flags & SS_ONSTACK) && here >= (uintptr_t)ss.ss_sp &&
        here - (uintptr_t)ss.ss_sp < ss.ss_size) {
        *lo = here;
        *hi = (uintptr_t)ss.ss_sp + ss.ss_size;
        fc_lo = (uintptr_t)ss.ss_sp;
        fc_hi = *hi;
        fc_probed = 0;
        return 1;
    }
    uintptr_t page = here & ~(uintptr_t)4095;
    uintptr_t top = page + 4096 * (uintptr_t)probe(page, PROBE_FIRST);
    *lo = here;
    *hi = top;
    if (top <= here + 16) /* (the page of a live frame: the probe was refused) */
        return snapshot_bounds(here, lo, hi);
    probe_base = fc_probed = fc_lo = page;
    fc_hi = top;
    return 1;
}

void cp_stack_note_altstack(void)
{
    stack_t ss;
    if (cp_raw_syscall(SYS_sigaltstack, 0, (long)&ss, 0, 0, 0, 0) == 0 &&
        !(ss.ss_flags & SS_DISABLE) && ss.ss_size) {
        fc_lo = (uintptr_t)ss.ss_sp;
        fc_hi = (uintptr_t)ss.ss_sp + ss.ss_size;
        fc_probed = 0;
    }
}

/* The walker needs to read below `want` but its bounds end at *hi: if they are probed
 * ones, probe on up to want's page (and one more), and say whether *hi reaches it now. */
int cp_stack_more(uintptr_t want, uintptr_t *hi)
{
    uintptr_t base = probe_base, top = *hi;
    if (!base || want <= top || want - base > FOREIGN_MAX || (top & 4095))
        return 0;
    while (top < want) {
        uintptr_t need = ((want - top + 4095) >> 12) + 1;
        unsigned n = need < PROBE_PAGES ? (unsigned)need : PROBE_PAGES;
        unsigned got = probe(top, n);
        top += 4096 * (uintptr_t)got;
        if (got < n)
            break;
    }
    *hi = top;
    if (base == fc_probed && top > fc_hi)
        fc_hi = top; /* the next walk there starts with it */
    return want <= top;
}

/* The bounds of the stack `here` is on: the thread's, else another one (foreign_bounds). */
static inline int stack_bounds(uintptr_t here, uintptr_t *lo, uintptr_t *hi)
{
    if (__builtin_expect(thread_bounds(here, lo, hi), 1)) {
        probe_base = 0;
        return 1;
    }
    return foreign_bounds(here, lo, hi);
}

/* For the CFI walker, past a signal frame: the stack the interrupted code was on. */
int cp_stack_bounds(uintptr_t sp, uintptr_t *lo, uintptr_t *hi)
{
    return stack_bounds(sp, lo, hi);
}

/* The signal trampoline (glibc's __restore_rt): the return address of a handler's frame,
 * as the kernel pushed it. Learnt from the kernel once a handler of glibc's making is in
 * place (the shim's SIGBUS one): the restorer it passed with it. 0: not known. */
static uintptr_t restorer;

void cp_stack_learn_restorer(void)
{
#if defined(__x86_64__)
    struct {
        uintptr_t handler;
        unsigned long flags;
        uintptr_t restorer;
        uint64_t mask;
    } k;
    if (cp_raw_syscall(SYS_rt_sigaction, SIGBUS, 0, (long)&k, 8, 0, 0) == 0 &&
        (k.flags & 0x04000000 /* SA_RESTORER */))
        restorer = k.restorer;
#endif
}

static unsigned capture_fp(uintptr_t *pcs, unsigned max, unsigned skip, int *truncated)
{
    uintptr_t *fp = __builtin_frame_address(0);
    unsigned n = 0;
    uintptr_t stack_lo, stack_hi;
    *truncated = 0;
    if (!stack_bounds((uintptr_t)fp, &stack_lo, &stack_hi))
        return 0;
    while ((uintptr_t)fp >= stack_lo && ((uintptr_t)fp & 7) == 0 &&
           ((uintptr_t)fp + 16 <= stack_hi || cp_stack_more((uintptr_t)fp + 16, &stack_hi))) {
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
        if (ret == restorer) {
            /* A handler's frame: the kernel's signal frame lies above its return address
             * (the struct ucontext: 40 bytes, then gregs: DW_RBP 10, DW_RSP 15, REG_RIP
             * 16), as in unwind.c's sigframe(). The walk goes on from the interrupted
             * code's ip and frame pointer, on its stack (maybe the thread's own, when the
             * handler ran on the alternate signal stack). */
            uintptr_t gregs = (uintptr_t)(fp + 2) + 40;
            if (gregs + 17 * 8 > stack_hi && !cp_stack_more(gregs + 17 * 8, &stack_hi))
                break;
            uintptr_t bp = ((const uintptr_t *)gregs)[10], sp = ((const uintptr_t *)gregs)[15],
                      ip = ((const uintptr_t *)gregs)[16];
            if (!(sp >= gregs && sp < stack_hi) && !stack_bounds(sp, &stack_lo, &stack_hi))
                break;
            if (ip < 4096)
                break;
            if (skip)
                skip--;
            else if (n < max)
                pcs[n++] = ip;
            else {
                *truncated = 1;
                break;
            }
            /* the frame pointer must be on that stack, at or above sp */
            if (bp < sp)
                break;
            fp = (uintptr_t *)bp;
            continue;
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
int cp_stack_lu_state;  /* atomic: 0 not tried, 1 loaded, 2 failed, 3 not here (loader_suspect) */
int cp_stack_lu_wanted; /* atomic: a walk needed libunwind (stack.h: both read inline) */
static uint64_t n_fp_fallbacks; /* atomic */
/* this thread has walked with libunwind, so its thread-local storage (dynamic TLS, which
 * __tls_get_addr allocates with malloc on a thread's first access) is in place */
static __thread bool lu_warm __attribute__((tls_model("initial-exec")));

int cp_stack_load_libunwind(void)
{
    static cp_spin lu_lock = CP_SPIN_INIT;
    cp_spin_lock(&lu_lock);
    int st = __atomic_load_n(&cp_stack_lu_state, __ATOMIC_ACQUIRE);
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
        __atomic_store_n(&cp_stack_lu_state, st, __ATOMIC_RELEASE);
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
 * not loaded either: its state 3), and the module table keeps what the parent knew. Until
 * exec; the CFI walker, which needs neither, is unaffected. */
static bool loader_suspect; /* written in the child's atfork handler, before other use */

void cp_stack_loader_suspect(void)
{
    loader_suspect = true;
    cp_modules_loader_suspect();
    __atomic_store_n(&lu_backtrace, NULL, __ATOMIC_RELEASE);
    if (__atomic_load_n(&cp_stack_lu_state, __ATOMIC_ACQUIRE) == 0)
        __atomic_store_n(&cp_stack_lu_state, 3, __ATOMIC_RELEASE);
}

uint64_t cp_stack_fp_fallbacks(void)
{
    return __atomic_load_n(&n_fp_fallbacks, __ATOMIC_RELAXED);
}

uint64_t cp_stack_libunwind_loaded(void)
{
    /* lu_backtrace is set before the state (release): never ahead of libunwind's walks */
    return __atomic_load_n(&cp_stack_lu_state, __ATOMIC_ACQUIRE) == 1;
}

/* libunwind's walk on the walk stack (ownstack.h): from there it goes through the
 * switching trampoline's frame, back onto the stack the capture was asked on. */
struct side_walk {
    int (*bt)(void **, int);
    void **raw;
    int cap, got;
};

static void side_walk(void *arg)
{
    struct side_walk *w = arg;
    w->got = w->bt(w->raw, w->cap);
}

/* noinline: its buffer is on the program's stack only when libunwind walks (the CFI
 * and frame-pointer walks do not carry it: CP_APP_STACK_BOUND). */
static __attribute__((noinline)) unsigned
capture_unwind_nt(uintptr_t *pcs, unsigned max, unsigned skip, int *truncated, bool noalloc)
{
    int (*bt)(void **, int) = __atomic_load_n(&lu_backtrace, __ATOMIC_ACQUIRE);
    /* a sandboxed process (publish.c, "sandboxes"): libunwind checks addresses with system
     * calls of its own (mincore, msync) a filter may forbid: frame pointers instead */
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_RELAXED))
        bt = NULL;
    if (__builtin_expect(!bt || (noalloc && !lu_warm), 0)) {
        /* not loaded yet (the flusher loads it when asked), not loadable, or not for a
         * thread that may not allocate and has not used it yet */
        if (!bt && !__atomic_load_n(&cp_stack_lu_wanted, __ATOMIC_RELAXED))
            __atomic_store_n(&cp_stack_lu_wanted, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&n_fp_fallbacks, 1, __ATOMIC_RELAXED);
        return capture_fp(pcs, max, skip, truncated);
    }
    /* unw_backtrace walks with libunwind's per-thread trace cache (frame shapes keyed by
     * PC; x86-64's tdep_trace), so a stack it has seen costs no DWARF parsing; it falls
     * back to unw_step by itself. Its entry 0 is its own return address, into this
     * function, and entry 1 the return address into cp_stack_capture or
     * cp_stack_capture_from: both dropped, so the result starts at the return address
     * into their caller, as the CFI and frame-pointer walks do. */
    void *raw[CP_STACK_MAX_WALK + 8];  /* max + skip + 2; bounded: CP_APP_STACK_BOUND */
    unsigned cap = max + skip + 2 + 1; /* one more than wanted: tells truncation */
    if (cap > sizeof raw / sizeof raw[0])
        cap = sizeof raw / sizeof raw[0];
    *truncated = 0;
    uintptr_t lo, hi, ra = (uintptr_t)__builtin_return_address(0);
    int got = -1;
    unsigned drop = skip + 2;
    if (!thread_bounds((uintptr_t)__builtin_frame_address(0), &lo, &hi)) {
        /* Not on the thread's own stack (a handler's on an alternate signal stack, a
         * coroutine's, maybe 8 KiB): libunwind's frames go to the walk stack, and its
         * result starts with theirs: it is taken from the return address into our
         * caller on, as below. */
        struct side_walk w = {
            bt, raw,
            (int)(cap + 8 < sizeof raw / sizeof raw[0] ? cap + 8 : sizeof raw / sizeof raw[0]), -1};
        if (cp_walk_stack_run(side_walk, &w) == 0) {
            got = w.got;
            int i = 0;
            while (i < got && (uintptr_t)raw[i] != ra)
                i++;
            drop = i < got ? (unsigned)i + 1 + skip : (unsigned)got;
        }
    }
    if (got < 0)
        got = bt(raw, (int)cap);
    lu_warm = true;
    unsigned n = 0;
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

/* Never a tail call: the return address into cp_stack_capture(_from) is dropped by
 * position (capture_unwind_nt). */
static inline __attribute__((always_inline)) unsigned
capture_unwind(uintptr_t *pcs, unsigned max, unsigned skip, int *truncated, bool noalloc)
{
    unsigned m = capture_unwind_nt(pcs, max, skip, truncated, noalloc);
    __asm__ volatile("" : "+r"(m));
    return m;
}

static uint64_t n_fallbacks, n_checked, n_differ; /* atomic, statistics */

/* Tests only (the shim passes skip 0): the walk with its first `skip` frames dropped, in
 * a frame of its own so that its buffer is not on the shim's path. */
static __attribute__((noinline)) int cfi_skip(struct cp_unwind_regs r, uintptr_t *pcs, unsigned max,
                                              unsigned skip, uintptr_t lo, uintptr_t hi, int *full)
{
    uintptr_t raw[256];
    unsigned cap = max + skip;
    if (cap > sizeof raw / sizeof raw[0])
        cap = sizeof raw / sizeof raw[0];
    int got = cp_unwind_cfi(r, raw, cap, lo, hi, full);
    if (got < 0)
        return got;
    unsigned n = (unsigned)got > skip ? (unsigned)got - skip : 0;
    memcpy(pcs, raw + skip, n * sizeof *pcs);
    return (int)n;
}

/* The CFI walk, from the frame described by r (the caller of cp_stack_capture), with the
 * same result as capture_unwind. Returns 0 if the stack needs libunwind. */
static inline __attribute__((always_inline)) int capture_cfi(struct cp_unwind_regs r,
                                                             uintptr_t *pcs, unsigned max,
                                                             unsigned skip, int *truncated,
                                                             unsigned *out)
{
    uintptr_t stack_lo, stack_hi;
    if (!stack_bounds(r.sp, &stack_lo, &stack_hi)) {
        __atomic_add_fetch(&n_fallbacks, 1, __ATOMIC_RELAXED);
        return 0;
    }
    int full;
    int got = skip ? cfi_skip(r, pcs, max, skip, stack_lo, stack_hi, &full)
                   : cp_unwind_cfi(r, pcs, max, stack_lo, stack_hi, &full);
    if (got < 0) {
        __atomic_add_fetch(&n_fallbacks, 1, __ATOMIC_RELAXED);
        return 0;
    }
    unsigned n = (unsigned)got;
    *truncated = full;
    *out = n;
    return 1;
}

static uint64_t stack_hash(const uintptr_t *pcs, unsigned n, int truncated)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n ^ (uint64_t)truncated << 32;
    for (unsigned i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    return h;
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
    /* CP_UNWIND_CHECK: both; libunwind's stack is the one returned. The walker's result
     * is kept as a hash, not a second copy (a second 1-2 KiB buffer on the program's
     * stack: CP_APP_STACK_BOUND); a stack that differs only where the hashes collide
     * (2^-64) is counted as agreeing. */
    int mtrunc = 0, ok = capture_cfi(r, pcs, max, skip, &mtrunc, &n);
    uint64_t mine = ok ? stack_hash(pcs, n, mtrunc) : 0;
    unsigned m = capture_unwind(pcs, max, skip, truncated, noalloc);
    if (ok) {
        __atomic_add_fetch(&n_checked, 1, __ATOMIC_RELAXED);
        if (n != m || mine != stack_hash(pcs, m, *truncated))
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

void cp_stack_code_changed(void)
{
    cp_unwind_invalidate();
}
