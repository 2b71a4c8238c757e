/*
 * slowlink.c — a test interposer (pack.sh): preloaded ahead of the shim, it passes every
 * linkat through and, once a name beginning "ctrprof." has been linked, holds the caller
 * until the file named by $SLOWLINK_GO exists (at most 20 s). That stops a profiled
 * process in the instant after its new profile got its name and before the profiler's
 * next step, so that a test can look at it there (what maps the file, what `ctrprof pack`
 * does with it). Test-only: getenv and nanosleep from inside the shim's call are fine here.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
    static int (*real)(int, const char *, int, const char *, int);
    if (!real)
        real = (int (*)(int, const char *, int, const char *, int))dlsym(RTLD_NEXT, "linkat");
    int r = real(olddirfd, oldpath, newdirfd, newpath, flags);
    const char *base = strrchr(newpath, '/');
    base = base ? base + 1 : newpath;
    const char *go = getenv("SLOWLINK_GO");
    if (r == 0 && go && strncmp(base, "ctrprof.", 8) == 0) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        for (int i = 0; i < 2000 && access(go, F_OK) != 0; i++)
            nanosleep(&ts, NULL);
    }
    return r;
}
