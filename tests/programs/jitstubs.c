/*
 * jitstubs: allocations made under generated code, in no loaded object (a JIT's).
 *
 *   jitstubs fp|nofp|asm N K
 *
 * N stubs, each at its own address in an anonymous executable mapping, each called K
 * times; a stub calls alloc_one, which allocates 48 bytes and frees them. fp: the stubs
 * keep a frame pointer (push %rbp; mov %rsp,%rbp; movabs $alloc_one,%rax; call *%rax;
 * pop %rbp; ret), as V8's and the JVM's compiled code can; nofp: they do not (sub $8,%rsp
 * ... add $8,%rsp). asm: no stubs; N x K calls of alloc_one through plain_call
 * (exprframe.h), a function of this program that keeps a frame pointer and has no CFI
 * (hand-written code; V8's builtins in node are such code). Prints "done". No CFI describes the
 * stubs or plain_call: a profiler walks them by their frame pointer or hands the stack to libunwind
 * (core/unwind.c).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "exprframe.h"

static void *volatile keep;

static __attribute__((noinline)) void alloc_one(void)
{
    keep = malloc(48);
    free(keep);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "fp") && strcmp(argv[1], "nofp") && strcmp(argv[1], "asm"))) {
        fprintf(stderr, "usage: jitstubs fp|nofp|asm N K\n");
        return 2;
    }
    int fp = !strcmp(argv[1], "fp"), n = atoi(argv[2]), k = atoi(argv[3]);
    if (!strcmp(argv[1], "asm")) {
        for (long i = 0; i < (long)n * k; i++)
            (void)plain_call((uintptr_t(*)(uintptr_t))(uintptr_t)alloc_one, 0);
        printf("done\n");
        return 0;
    }
    enum { STUB = 64 };
    uint8_t *code = mmap(NULL, (size_t)STUB * (size_t)n, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (n <= 0 || k <= 0 || code == MAP_FAILED) {
        perror("jitstubs");
        return 2;
    }
    uint8_t with_fp[] = {0x55, 0x48, 0x89, 0xe5,                   /* push rbp; mov rbp,rsp */
                         0x48, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, /* movabs rax, imm64 */
                         0xff, 0xd0, 0x5d, 0xc3};                  /* call rax; pop rbp; ret */
    uint8_t without[] = {0x48, 0x83, 0xec, 0x08,                   /* sub rsp, 8 */
                         0x48, 0xb8, 0,    0,    0,    0,    0,   0, 0, 0, /* movabs rax, imm64 */
                         0xff, 0xd0, 0x48, 0x83, 0xc4, 0x08, 0xc3}; /* call; add rsp,8; ret */
    uint8_t *s = fp ? with_fp : without;
    size_t len = fp ? sizeof with_fp : sizeof without;
    uintptr_t target = (uintptr_t)alloc_one;
    memcpy(s + 6, &target, sizeof target);
    for (int i = 0; i < n; i++)
        memcpy(code + (size_t)i * STUB, s, len);
    for (int i = 0; i < n; i++) {
        void (*stub)(void) = (void (*)(void))(uintptr_t)(code + (size_t)i * STUB);
        for (int j = 0; j < k; j++)
            stub();
    }
    printf("done\n");
    return 0;
}
