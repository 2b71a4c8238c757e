/*
 * cosandbox.c — walks on a coroutine's stack where process_vm_readv, which the walker
 * probes such a stack's bounds with, is refused (issue 25): a seccomp filter, installed
 * with prctl(PR_SET_SECCOMP), makes process_vm_readv fail with EPERM and allows every
 * other call; then a makecontext coroutine on a 64 KiB heap stack (allocated before the
 * filter) allocates and frees N blocks of 64 bytes at alloc_in_coroutine, switching back
 * to main every 100. Usage: cosandbox N. Prints "ok N" and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static int n;
static void *volatile keep;
static ucontext_t co_main, co_ctx;

static __attribute__((noinline)) void alloc_in_coroutine(void)
{
    keep = malloc(64);
    free(keep);
}

static void co_body(void)
{
    for (int i = 0; i < n; i++) {
        alloc_in_coroutine();
        if (i % 100 == 99)
            swapcontext(&co_ctx, &co_main);
    }
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atoi(argv[1]) : 1000;
    size_t co_size = 64 * 1024;
    char *co_stack = malloc(co_size);
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
        perror("seccomp");
        return 2;
    }
    getcontext(&co_ctx);
    co_ctx.uc_stack.ss_sp = co_stack;
    co_ctx.uc_stack.ss_size = co_size;
    co_ctx.uc_link = &co_main;
    makecontext(&co_ctx, co_body, 0);
    for (int i = 0; i <= n / 100; i++)
        swapcontext(&co_main, &co_ctx);
    printf("ok %d\n", n);
    return 0;
}
