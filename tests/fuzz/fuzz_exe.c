/* fuzz_exe.c — libFuzzer target for tools/exe.c, which reads the ELF header, program
 * headers and note segments of whatever executable `ctrprof run` is given: any bytes must
 * come back as a kind (dynamic, static, other) and a Go flag, never a crash, a hang or an
 * out-of-bounds access (ASan and UBSan watch). The input is the file, made in memory
 * (memfd) and named by its /proc/self/fd path. A script (#!) is left out: its interpreter
 * is a path on this machine, and a fuzzer that found /proc/kmsg would wait on it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "exe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 2 && data[0] == '#' && data[1] == '!')
        return 0;
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("fuzz_exe", 0)) < 0)
        abort();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct cp_exe e;
    if (cp_exe_inspect(path, &e) != 0)
        abort(); /* (the file is there) */
    if (e.kind != CP_EXE_DYNAMIC && e.kind != CP_EXE_STATIC && e.kind != CP_EXE_OTHER)
        abort();
    return 0;
}
