/*
 * rlimit.c — the host's resource limits, as they bear on what the profiler may take
 * (issue 29: each flusher thread counts against RLIMIT_NPROC, so a pre-forking server
 * under `ulimit -u` started fewer workers).
 *
 * Context: the engine's start-up paths (cp_prof_start: the constructor, a fork child).
 * No allocation, no stdio: open/read/close and getrlimit only.
 */
#include "rlimit.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

static long threads_max(void)
{
    char buf[32];
    int fd = open("/proc/sys/kernel/threads-max", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    long v = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        v = v * 10 + (buf[i] - '0');
    return v > 0 ? v : -1;
}

bool cp_rlimit_nproc_tight(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NPROC, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return false;
    long tm = threads_max();
    return tm <= 0 || rl.rlim_cur < (rlim_t)(tm / 2);
}
