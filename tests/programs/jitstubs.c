/*
 * jitstubs: allocations made under generated code, in no loaded object (a JIT's).
 *
 *   jitstubs fp|nofp|badfp|asm N K
 *
 * N stubs, each at its own address in an anonymous executable mapping, each called K
 * times; a stub calls alloc_one, which allocates 48 bytes and frees them. fp: the stubs
 * keep a frame pointer (push %rbp; mov %rsp,%rbp; movabs $alloc_one,%rax; call *%rax;
 * pop %rbp; ret), as V8's and the JVM's compiled code can; nofp: they do not (sub $8,%rsp
 * ... add $8,%rsp); badfp: rbp points at two words of the stub's own that are no frame
 * (0, then the stack address rsp itself where a return address would be), as code that
 * uses rbp for its own ends can leave it. asm: no stubs; N x K calls of alloc_one through
 * plain_call (exprframe.h), a function of this program that keeps a frame pointer and has no CFI
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
    if (argc != 4 || (strcmp(argv[1], "fp") && strcmp(argv[1], "nofp") &&
                      strcmp(argv[1], "badfp") && strcmp(argv[1], "asm"))) {
        fprintf(stderr, "usage: jitstubs fp|nofp|badfp|asm N K\n");
        return 2;
    }
    int fp = !strcmp(argv[1], "fp"), bad = !strcmp(argv[1], "badfp"), n = atoi(argv[2]),
        k = atoi(argv[3]);
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
                         0xff, 0xd0, 0x48, 0x83, 0xc4, 0x08, 0xc3};    /* call; add rsp,8; ret */
    uint8_t bad_fp[] = {0x55,                                          /* push rbp */
                        0x48, 0x83, 0xec, 0x10,                        /* sub rsp, 16 */
                        0x48, 0xc7, 0x04, 0x24, 0,    0,   0, 0,       /* mov qword [rsp], 0 */
                        0x48, 0x89, 0x64, 0x24, 0x08,                  /* mov [rsp+8], rsp */
                        0x48, 0x89, 0xe5,                              /* mov rbp, rsp */
                        0x48, 0xb8, 0,    0,    0,    0,   0, 0, 0, 0, /* movabs rax, imm64 */
                        0xff, 0xd0,                                    /* call rax */
                        0x48, 0x83, 0xc4, 0x10, 0x5d, 0xc3}; /* add rsp,16; pop rbp; ret */
    uint8_t *s = fp ? with_fp : bad ? bad_fp : without;
    size_t len = fp ? sizeof with_fp : bad ? sizeof bad_fp : sizeof without;
    uintptr_t target = (uintptr_t)alloc_one;
    memcpy(s + (bad ? 23 : 6), &target, sizeof target);
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
