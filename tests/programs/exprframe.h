/*
 * exprframe.h — expr_call(fn, arg): calls fn(arg) from a frame whose CFA the CFI states as
 * a DWARF expression (DW_CFA_def_cfa_expression: DW_OP_breg6 16, i.e. rbp + 16), the
 * frame of a function that pushed rbp and set it to rsp. libunwind evaluates the
 * expression; ctrprof's CFI walker (core/unwind.c) does not, and hands such a stack to
 * libunwind (or, until libunwind is loaded, walks it by frame pointers). For tests that
 * need that fallback (tests/unit/test_unwind.c, tests/programs/sigalloc.c and
 * loaderlock.c): a frame with no CFI at all no longer makes one, and a compiler's own
 * realigned frames (GCC's DRAP) are the compiler's to choose. And plain_call, below. One
 * per program: they are global symbols.
 */
#ifndef CP_TEST_EXPRFRAME_H
#define CP_TEST_EXPRFRAME_H

#include <stdint.h>

uintptr_t expr_call(uintptr_t (*fn)(uintptr_t), uintptr_t arg);
__asm__(".text\n"
        ".globl expr_call\n"
        ".type expr_call, @function\n"
        "expr_call:\n"
        "    .cfi_startproc\n"
        "    pushq %rbp\n"
        "    .cfi_def_cfa_offset 16\n"
        "    .cfi_offset rbp, -16\n"
        "    movq %rsp, %rbp\n"
        "    .cfi_escape 0x0f, 0x02, 0x76, 0x10\n" /* CFA = rbp + 16, as an expression */
        "    movq %rdi, %rax\n"
        "    movq %rsi, %rdi\n"
        "    call *%rax\n"
        "    popq %rbp\n"
        "    .cfi_def_cfa rsp, 8\n"
        "    ret\n"
        "    .cfi_endproc\n"
        ".size expr_call, .-expr_call\n");

/* plain_call(fn, arg): the same frame with no CFI at all (hand-written code; V8's
 * builtins in node are such code): the walker follows its frame pointer, as libunwind
 * does (core/unwind.c, S_NOCFI). */
uintptr_t plain_call(uintptr_t (*fn)(uintptr_t), uintptr_t arg);
__asm__(".text\n"
        ".globl plain_call\n"
        ".type plain_call, @function\n"
        "plain_call:\n"
        "    pushq %rbp\n"
        "    movq %rsp, %rbp\n"
        "    movq %rdi, %rax\n"
        "    movq %rsi, %rdi\n"
        "    call *%rax\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size plain_call, .-plain_call\n");

#endif
