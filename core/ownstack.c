/*
 * ownstack.c — the profiler's own stack (see ownstack.h).
 *
 * Two stacks, each used by one thread at a time. The flush stack: the callers of an
 * inline or final flush (flusher.c), under cp_flush_lock, which is what makes the one stack
 * enough: one flush runs at a time. The walk stack: libunwind walks of a stack that is not
 * a thread's own (an alternate signal stack, a coroutine's: stack.c), which need ~6 KiB
 * of libunwind's frames; walk_lock serialises them (they are rare: a handler's or a
 * coroutine's sample with CTRPROF_UNWIND=libunwind or check). A signal that arrives
 * meanwhile is handled on this stack (unless the program set an alternate one): the
 * re-entrancy guard is held, so its allocations take the real allocator's path only, and
 * 256 KiB leaves it the room a thread's stack would. The guard page below turns an
 * overflow into a fault instead of a write into other memory.
 * Locks: the flush stack is cp_flush_lock's, walk_lock a leaf (docs/ARCHITECTURE.md,
 * "Locks", says why fork need not take it; a fork child's reset frees it,
 * cp_walk_stack_fork_child).
 */
#include "ownstack.h"

#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "log.h"
#include "rawsys.h"
#include "spin.h"

/* Under valgrind the switch to this stack is a stack switch, not a frame of ~the distance
 * between the two (which memcheck would take as the thread's frames being popped): the
 * stack is registered (a client request: a no-op outside valgrind). */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define REGISTER_STACK(lo, hi) ((void)VALGRIND_STACK_REGISTER(lo, hi))
#else
#define REGISTER_STACK(lo, hi) ((void)0)
#endif

/* fn(arg) with rsp = top (16-byte aligned); rbp keeps the caller's frame, so frame-pointer
 * walks and the CFI below lead from fn back to the caller. */
void cp_own_stack_call(void (*fn)(void *), void *arg, void *top);
__asm__(".text\n"
        ".globl cp_own_stack_call\n"
        ".hidden cp_own_stack_call\n"
        ".type cp_own_stack_call, @function\n"
        "cp_own_stack_call:\n"
        ".cfi_startproc\n"
        "    pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "    movq %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "    movq %rdx, %rsp\n"
        "    movq %rdi, %rax\n"
        "    movq %rsi, %rdi\n"
        "    call *%rax\n"
        "    movq %rbp, %rsp\n"
        "    popq %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size cp_own_stack_call, .-cp_own_stack_call\n");

/* A stack of `size` bytes with a guard page below, or NULL. Raw system calls: the first
 * call of mmap through the PLT would bind it lazily on the program's stack (rawsys.h). */
static char *map_stack(size_t size)
{
    /* not cp_mmap_anon: this stack is not the engine's data (the profiler-bytes figure),
     * and a test's injected mmap failure is meant for a table or a ring */
    long m = cp_raw_syscall(SYS_mmap, 0, (long)(4096 + size), PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (m < 0 && m > -4096)
        return NULL;
    if (cp_raw_syscall(SYS_mprotect, m, 4096, PROT_NONE, 0, 0, 0) != 0) {
        cp_raw_syscall(SYS_munmap, m, (long)(4096 + size), 0, 0, 0, 0);
        return NULL;
    }
    REGISTER_STACK((char *)m + 4096, (char *)m + 4096 + size);
    return (char *)m + 4096;
}

char *cp_own_flush_stack; /* guarded by the caller (cp_flush_lock) */

void cp_own_stack_run(void (*fn)(void *), void *arg)
{
    if (!cp_own_flush_stack)
        cp_own_flush_stack = map_stack(CP_OWN_STACK_SIZE);
    if (cp_own_flush_stack) {
        cp_own_stack_call(fn, arg, cp_own_flush_stack + CP_OWN_STACK_SIZE);
        return;
    }
    if (cp_log_tree_first(CP_LOG_TREE_OWNSTACK)) /* once per process tree */
        cp_log("cannot map a stack for flushing; flushes run on the program's "
               "thread's stack");
    fn(arg);
}

static char *walk_stack; /* atomic once mapped */
static cp_spin walk_lock = CP_SPIN_INIT;

int cp_walk_stack_run(void (*fn)(void *), void *arg)
{
    cp_spin_lock(&walk_lock);
    if (!walk_stack)
        walk_stack = map_stack(CP_WALK_STACK_SIZE);
    if (!walk_stack) {
        cp_spin_unlock(&walk_lock);
        return -1;
    }
    cp_own_stack_call(fn, arg, walk_stack + CP_WALK_STACK_SIZE);
    cp_spin_unlock(&walk_lock);
    return 0;
}

void cp_walk_stack_fork_child(void)
{
    cp_spin_reset(&walk_lock);
}
