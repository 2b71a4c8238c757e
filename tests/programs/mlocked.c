/*
 * mlocked.c — a program that locks all its memory, as an unprivileged process (issue 29:
 * the profiler's reservations made mlockall fail, or a locked program's later mmaps).
 * Sets RLIMIT_MEMLOCK to 8 MiB (the default; lowering it needs no privilege), then
 * mlockall(MCL_CURRENT | MCL_FUTURE): from then on every mapping of the process, the
 * profiler's included, is locked and counted against those 8 MiB of address space. Run
 * without CAP_IPC_LOCK (tests/e2e/mlock.sh drops it). Prints whether mlockall succeeded
 * ("mlockall ok" or its error), then:
 *
 *   mlocked probe     with RLIMIT_MEMLOCK at 64 KiB instead, mlockall(MCL_CURRENT) only:
 *                     prints "mlockall: Cannot allocate memory" unless the process may
 *                     lock more than its limit (CAP_IPC_LOCK): the test's check that it
 *                     really runs unprivileged.
 *   mlocked small     two sites, each its own function: small_a allocates 200 blocks of
 *                     40 bytes, freeing each; small_b keeps 100 blocks of 1000 bytes,
 *                     then frees them. Prints "small ok", exits 0 (3 if an allocation
 *                     failed).
 *   mlocked grow N    N distinct stacks (manysites.h: codes 0 .. N-1, 16 frames each),
 *                     one 64-byte block each, freed: at rate 1 a bucket and its counters
 *                     for each, past what 8 MiB of locked memory holds. Prints
 *                     "grow ok N", exits 0 (3 if an allocation failed).
 *
 * What it prints and its status are the same with and without the profiler; the
 * profiler's own memory is on stderr ("VmLck: ..." of /proc/self/status, for the log).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "manysites.h"

static int failed;

static __attribute__((noinline)) void small_a(void)
{
    for (int i = 0; i < 200; i++) {
        char *volatile p = malloc(40);
        if (!p)
            failed = 1;
        else
            p[0] = 1;
        free(p);
    }
}

static __attribute__((noinline)) void small_b(void)
{
    static char *keep[100];
    for (int i = 0; i < 100; i++) {
        keep[i] = malloc(1000);
        if (!keep[i])
            failed = 1;
        else
            keep[i][0] = 1;
    }
    for (int i = 0; i < 100; i++)
        free(keep[i]);
}

static __attribute__((noinline)) void leaf(size_t size)
{
    char *volatile p = malloc(size);
    if (!p)
        failed = 1;
    else
        p[0] = 1;
    free(p);
    __asm__ volatile("" ::: "memory");
}

MANY_SITES(sites, leaf)

static void show_locked(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmLck:", 6) || !strncmp(line, "VmSize:", 7))
            fputs(line, stderr);
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mlocked probe | small | grow N\n");
        return 2;
    }
    bool probe = !strcmp(argv[1], "probe");
    struct rlimit rl = {probe ? 64u << 10 : 8u << 20, probe ? 64u << 10 : 8u << 20};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) {
        perror("setrlimit");
        return 2;
    }
    if (probe) {
        if (mlockall(MCL_CURRENT) == 0)
            printf("mlockall ok\n");
        else
            printf("mlockall: %s\n", strerror(errno));
        return 0;
    }
    if (mlockall(MCL_CURRENT | MCL_FUTURE) == 0)
        printf("mlockall ok\n");
    else
        printf("mlockall: %s\n", strerror(errno));
    fflush(stdout);
    if (!strcmp(argv[1], "small")) {
        small_a();
        small_b();
        printf("small ok\n");
    } else if (!strcmp(argv[1], "grow") && argc > 2) {
        unsigned n = (unsigned)strtoul(argv[2], NULL, 10);
        for (unsigned c = 0; c < n; c++)
            sites(c, 64);
        printf("grow ok %u\n", n);
    } else {
        return 2;
    }
    show_locked();
    return failed ? 3 : 0;
}
