/*
 * samepid.c — two processes that choose the same per-process file name: run each as pid 1
 * of a pid namespace of its own (unshare -Urpf), with the same CTRPROF_DIR, so both find
 * ctrprof.samepid.1.count free at start-up, and let them create their files (lazily, at
 * their first allocation) one after the other. The second must take another name and
 * never write into the first's file (core/publish.c, cp_open_pending), whose counters its
 * creator adds without a locked instruction (tests/e2e/inline.sh).
 *
 *   samepid READY GO N   creates READY (the name is chosen: the shim's constructor has
 *                        run), waits until GO exists, then samepid_site: N malloc+free
 *                        pairs of 40 bytes; then creates READY.done and returns 0
 *
 * Nothing allocates before GO (the file is created at the first allocation at rate 1):
 * no stdio, only open/close/nanosleep.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static __attribute__((noinline)) void samepid_site(long n)
{
    for (long i = 0; i < n; i++) {
        void *volatile p = malloc(40);
        free(p);
    }
}

static int touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    long n = atol(argv[3]);
    if (touch(argv[1]))
        return 1;
    /* a handshake on a file the test makes, not a guess about time: wait for GO */
    struct timespec tick = {0, 5000000};
    for (int i = 0; access(argv[2], F_OK) != 0; i++) {
        if (i > 12000) /* a minute: the test is gone */
            return 1;
        nanosleep(&tick, NULL);
    }
    samepid_site(n);
    char done[4096];
    snprintf(done, sizeof done, "%s.done", argv[1]);
    return touch(done) ? 1 : 0;
}
