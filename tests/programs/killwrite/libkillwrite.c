/*
 * libkillwrite.so — preloaded after the shim by tests/e2e/faults.sh: the first pwrite()
 * into a file under $KILLWRITE_DIR kills the process with SIGKILL, as a signal would that
 * arrived while the profiler was creating its file. The shim's own pwrite calls resolve
 * here (a later LD_PRELOAD entry comes before libc).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    const char *dir = getenv("KILLWRITE_DIR");
    if (dir && *dir) {
        char link[64], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t l = readlink(link, target, sizeof target - 1);
        if (l > 0) {
            target[l] = 0;
            if (strncmp(target, dir, strlen(dir)) == 0)
                kill(getpid(), SIGKILL);
        }
    }
    ssize_t (*real)(int, const void *, size_t, off_t) =
        (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    return real(fd, buf, n, off);
}
