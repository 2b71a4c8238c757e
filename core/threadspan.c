/*
 * threadspan.c — each thread's own-stack window (threadspan.h): how far below its
 * descriptor a frame may lie and still be on the thread's own stack block.
 *
 * A thread's window is its stack block's size less 64 KiB (the descriptor and the static
 * TLS at the block's top are within it), half of a small one: the default thread size's
 * (pthread_getattr_default_np: RLIMIT_STACK at start-up, or what the program set), or the
 * size the program asked for, noted by the shim's pthread_create hook when it is smaller.
 * A fiber's stack mmap'd after its thread's (boost.context's protected_fixedsize_stack,
 * 8 KiB) lies just below the thread's block, under 1 GiB from its descriptor: with a
 * 1 GiB window it was taken for the thread's own stack, libunwind (which boost's
 * make_fcontext, with no CFI, needs) ran in place on it and overran it (SIGSEGV, session
 * 26, for threads of the default size and of 256 KiB alike). A thread whose stack is
 * larger than the default has its deepest frames walked as on another stack; one made
 * without the hook (a raw clone) has the default window.
 *
 * The small threads' table: open addressing by descriptor; writers (the hook) under a
 * spin lock, a leaf the fork child resets; readers lock-free (a stale window only walks a
 * thread's deepest frames as on another stack). A thread caches its window once found
 * (cp_threadspan_mine), or the default once no small thread is noted nor coming (a thread
 * being made may walk before its creator has noted it: "coming", before the real call).
 */
#include "threadspan.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "spin.h"
#include "stack.h"

static uintptr_t default_span = (uintptr_t)1 << 30;

#define TSPAN_SLOTS 1024u
#define TSPAN_PROBE 16u
static uintptr_t tspan_self[TSPAN_SLOTS], tspan_span[TSPAN_SLOTS]; /* atomic */
static unsigned tspan_used;                                        /* atomic: slots ever set */
static unsigned tspan_coming;                                      /* atomic: small, being made */
static cp_spin tspan_lock = CP_SPIN_INIT;
__thread uintptr_t cp_threadspan_mine __attribute__((tls_model("initial-exec")));

static uintptr_t span_of(size_t size)
{
    return size > ((size_t)128 << 10) ? size - ((size_t)64 << 10) : size / 2;
}

void cp_threadspan_init(void)
{
    pthread_attr_t a; /* (copies the default: no allocation without a default cpuset) */
    size_t sz = 0;
    if (pthread_getattr_default_np(&a) == 0) {
        if (pthread_attr_getstacksize(&a, &sz) != 0)
            sz = 0;
        pthread_attr_destroy(&a);
    }
    if (sz && span_of(sz) < default_span)
        default_span = span_of(sz);
}

void cp_stack_thread_coming(size_t size)
{
    if (size && span_of(size) < default_span)
        __atomic_add_fetch(&tspan_coming, 1, __ATOMIC_SEQ_CST);
}

void cp_stack_thread_made(uintptr_t self, size_t size)
{
    bool small = size && span_of(size) < default_span;
    if (self && (small || __atomic_load_n(&tspan_used, __ATOMIC_ACQUIRE))) {
        uintptr_t span = small ? span_of(size) : default_span;
        unsigned h = (unsigned)(self >> 12);
        cp_spin_lock(&tspan_lock);
        for (unsigned i = 0; i < TSPAN_PROBE; i++) {
            unsigned k = (h + i) & (TSPAN_SLOTS - 1);
            uintptr_t s = __atomic_load_n(&tspan_self[k], __ATOMIC_RELAXED);
            if (s == self || (!s && small)) { /* (a reused descriptor: its new size) */
                __atomic_store_n(&tspan_span[k], span, __ATOMIC_RELEASE);
                if (!s) {
                    __atomic_store_n(&tspan_self[k], self, __ATOMIC_RELEASE);
                    __atomic_add_fetch(&tspan_used, 1, __ATOMIC_RELEASE);
                }
                break;
            }
        }
        cp_spin_unlock(&tspan_lock);
    }
    /* (not below 0: a fork child, which reset it, may end a creation its parent began) */
    unsigned c = __atomic_load_n(&tspan_coming, __ATOMIC_RELAXED);
    while (small && c &&
           !__atomic_compare_exchange_n(&tspan_coming, &c, c - 1, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED))
        ;
}

void cp_stack_table_hold(bool hold)
{
    if (hold)
        cp_spin_lock(&tspan_lock);
    else
        cp_spin_unlock(&tspan_lock);
}

void cp_stack_fork_child(void)
{
    cp_spin_reset(&tspan_lock);
    __atomic_store_n(&tspan_coming, 0, __ATOMIC_RELAXED);
}

__attribute__((noinline)) uintptr_t cp_threadspan_find(uintptr_t self)
{
    if (!__atomic_load_n(&tspan_used, __ATOMIC_ACQUIRE) &&
        !__atomic_load_n(&tspan_coming, __ATOMIC_SEQ_CST))
        return cp_threadspan_mine = default_span;
    unsigned h = (unsigned)(self >> 12);
    for (unsigned i = 0; i < TSPAN_PROBE; i++) {
        unsigned k = (h + i) & (TSPAN_SLOTS - 1);
        uintptr_t s = __atomic_load_n(&tspan_self[k], __ATOMIC_ACQUIRE);
        if (s == self)
            return cp_threadspan_mine = __atomic_load_n(&tspan_span[k], __ATOMIC_ACQUIRE);
        if (!s)
            break;
    }
    return default_span; /* (not noted, or not yet: looked for again at the next walk) */
}
