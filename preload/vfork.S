/*
 * vfork.S — vfork, interposed (issue 29): a vfork that the kernel refuses with EAGAIN
 * under RLIMIT_NPROC while a thread of ours exists is made again once ours has stepped
 * aside (nproc.c says why and when). Built into libctrprof.so with the C hooks.
 *
 * Why assembly: the child runs on the parent's stack, and returns from this function
 * before the parent does; a C frame would be returned from twice, the second time after
 * the child may have overwritten it. As glibc 2.36's own vfork.S: the return address is
 * popped into %rdi (the system call keeps it; the child's copy of the registers has it
 * too), the system call made, and the address pushed back, so whatever the child left in
 * that stack slot, the parent returns to its caller. Only when the call failed, in the
 * parent, where no child exists, is C called (cp_shim_vfork_failed: step aside and say
 * to try again, or set errno). With a shadow stack in use (CET: rdsspq reads nonzero;
 * it is a no-op without), the child jumps back without popping the shadow stack it shares
 * with the parent, again as glibc does.
 *
 * Contract: returns what glibc's vfork returns (the child's pid in the parent, 0 in the
 * child, -1 with errno on failure); errno untouched on success, as glibc's. Any
 * application thread.
 */
#include <sys/syscall.h>

        .text
        .globl  vfork
        .type   vfork, @function
        .p2align 4
vfork:
        .cfi_startproc
.Lagain:
        popq    %rdi
        .cfi_adjust_cfa_offset -8
        .cfi_register %rip, %rdi
        movl    $SYS_vfork, %eax
        syscall
        pushq   %rdi
        .cfi_adjust_cfa_offset 8
        .cfi_offset %rip, -8
        cmpl    $-4095, %eax
        jae     .Lfailed
        xorl    %esi, %esi
        rdsspq  %rsi
        testq   %rsi, %rsi
        je      .Lreturn
        testl   %eax, %eax
        jnz     .Lreturn
        popq    %rdi                    /* the child, with a shadow stack in use */
        .cfi_adjust_cfa_offset -8
        .cfi_register %rip, %rdi
        jmp     *%rdi
        .cfi_adjust_cfa_offset 8
        .cfi_offset %rip, -8
.Lreturn:
        ret
.Lfailed:                               /* the parent: no child exists */
        movslq  %eax, %rdi
        subq    $8, %rsp                /* the stack aligned for the call */
        .cfi_adjust_cfa_offset 8
        call    cp_shim_vfork_failed
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        testl   %eax, %eax
        jnz     .Lagain
        movq    $-1, %rax
        ret
        .cfi_endproc
        .size   vfork, .-vfork

        .section .note.GNU-stack, "", @progbits
