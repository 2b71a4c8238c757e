/*
 * ownstack.c — the profiler's own stack (see ownstack.h).
 *
 * Context: the callers of an inline or final flush (prof.c), under flush_lock, which is
 * also what makes the one stack enough: one flush runs at a time. A signal that arrives
 * meanwhile is handled on this stack (unless the program set an alternate one): the
 * re-entrancy guard is held, so its allocations take the real allocator's path only, and
 * 256 KiB leaves it the room a thread's stack would. The guard page below turns an
 * overflow into a fault instead of a write into other memory.
 */
#include "ownstack.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

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

static char *base; /* the mapping: guard page, then the stack; guarded by the caller */

void cp_own_stack_run(void (*fn)(void *), void *arg)
{
#if defined(__x86_64__)
    size_t page = (size_t)getpagesize();
    if (!base) {
        /* not cp_mmap_anon: this stack is not the engine's data (the profiler-bytes
         * figure), and a test's injected mmap failure is meant for a table or a ring */
        char *m = mmap(NULL, page + CP_OWN_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (m != MAP_FAILED && mprotect(m, page, PROT_NONE) != 0) {
            munmap(m, page + CP_OWN_STACK_SIZE);
            m = MAP_FAILED;
        }
        base = m == MAP_FAILED ? NULL : m;
        if (base)
            REGISTER_STACK(base + page, base + page + CP_OWN_STACK_SIZE);
    }
    if (base) {
        cp_own_stack_call(fn, arg, base + page + CP_OWN_STACK_SIZE);
        return;
    }
    static int once;
    cp_log_once(&once, "cannot map a stack for flushing; flushes run on the program's "
                       "thread's stack");
#endif
    fn(arg);
}
