/*
 * dltramp.S — dlopen, dlmopen and dlsym, interposed without becoming their caller
 * (deepbind.c says why they are: RTLD_DEEPBIND).
 *
 * Why assembly: glibc's dlopen, dlmopen and dlsym act for their caller, found from their
 * return address: dlopen searches the calling object's RUNPATH/RPATH for a bare name and
 * loads into its namespace, dlsym(RTLD_NEXT) looks after the calling object. A C wrapper
 * would make the shim the caller. Each entry here saves the argument registers, calls
 * deepbind.c's C hook (which returns the real function), restores them and jumps to the
 * real function with the program's return address still on the stack: glibc sees the
 * program's call, and returns to it.
 *
 * Contract: the real function's result and errno (the hooks keep errno). Any thread.
 */

        .text

        .globl  dlopen
        .type   dlopen, @function
        .p2align 4
dlopen:                                 /* (file, mode) */
        .cfi_startproc
        pushq   %rdi
        .cfi_adjust_cfa_offset 8
        pushq   %rsi
        .cfi_adjust_cfa_offset 8
        subq    $8, %rsp                /* the stack aligned for the call */
        .cfi_adjust_cfa_offset 8
        call    cp_shim_dlopen_before
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq    %rsi
        .cfi_adjust_cfa_offset -8
        popq    %rdi
        .cfi_adjust_cfa_offset -8
        jmp     *%rax
        .cfi_endproc
        .size   dlopen, .-dlopen

        .globl  dlmopen
        .type   dlmopen, @function
        .p2align 4
dlmopen:                                /* (lmid, file, mode) */
        .cfi_startproc
        pushq   %rdi
        .cfi_adjust_cfa_offset 8
        pushq   %rsi
        .cfi_adjust_cfa_offset 8
        pushq   %rdx
        .cfi_adjust_cfa_offset 8
        call    cp_shim_dlmopen_before
        popq    %rdx
        .cfi_adjust_cfa_offset -8
        popq    %rsi
        .cfi_adjust_cfa_offset -8
        popq    %rdi
        .cfi_adjust_cfa_offset -8
        jmp     *%rax
        .cfi_endproc
        .size   dlmopen, .-dlmopen

        .globl  dlsym
        .type   dlsym, @function
        .p2align 4
dlsym:                                  /* (handle, name) */
        .cfi_startproc
        pushq   %rdi
        .cfi_adjust_cfa_offset 8
        pushq   %rsi
        .cfi_adjust_cfa_offset 8
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
        call    cp_shim_dlsym_before
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq    %rsi
        .cfi_adjust_cfa_offset -8
        popq    %rdi
        .cfi_adjust_cfa_offset -8
        jmp     *%rax
        .cfi_endproc
        .size   dlsym, .-dlsym

        .section .note.GNU-stack,"",@progbits
