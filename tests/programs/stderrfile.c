/*
 * stderrfile.c — a program whose standard error descriptor becomes one of its own files
 * (hostfiles.sh section 9): it closes fd 2 and opens its data file, which takes the lowest
 * free number, 2 (or fd 2 was closed when it started), writes its data there, then lowers
 * RLIMIT_FSIZE to what it wrote, so that the profile cannot be made or grown ("File too
 * large": the profiler has something to say), and allocates. Until session 29 the
 * profiler's line went into the data file. Mode keep leaves fd 2 alone and writes its data
 * to a descriptor of its own: the line goes to standard error, as it should. Modes gone
 * and fullpipe leave fd 2 alone too, a pipe: gone waits until its reader has gone (the
 * profiler's line would raise SIGPIPE, which ends a program that never writes there
 * itself: the old shim's did); fullpipe fills it first (the reader reads only once
 * DATAFILE.done exists, which the program makes at its end: the old shim's line blocked
 * the program for good).
 *
 *   stderrfile MODE DATAFILE     MODE: close | closed (fd 2 closed at start) | keep |
 *                                      gone | fullpipe
 * Prints "ok" and exits 0, or what is wrong and exits 1.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    if (!strcmp(argv[1], "close"))
        close(2);
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bool own = !strcmp(argv[1], "close") || !strcmp(argv[1], "closed");
    int want = own ? 2 : fd;
    if (fd < 0 || fd != want) {
        printf("data file on descriptor %d, not %d\n", fd, want);
        return 1;
    }
    char line[64];
    off_t size = 0;
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(line, sizeof line, "record %d\n", i);
        if (write(fd, line, (size_t)n) != n)
            return 1;
        size += n;
    }
    if (!strcmp(argv[1], "gone")) {
        /* until fd 2's reader has gone (POLLERR), at most 10 s */
        for (int i = 0; i < 1000; i++) {
            struct pollfd p = {2, POLLOUT, 0};
            if (poll(&p, 1, 10) == 1 && (p.revents & POLLERR))
                break;
        }
    }
    if (!strcmp(argv[1], "fullpipe")) {
        int fl = fcntl(2, F_GETFL);
        fcntl(2, F_SETFL, fl | O_NONBLOCK);
        while (write(2, line, sizeof line) > 0)
            ;
        fcntl(2, F_SETFL, fl);
    }
    struct rlimit rl = {(rlim_t)size, (rlim_t)size};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 1;
    /* 64 MiB in all, kept and freed: samples at any rate */
    void *keep[64];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 64; i++)
            keep[i] = malloc(256 * 1024);
        for (int i = 0; i < 64; i++)
            free(keep[i]);
    }
    if (!strcmp(argv[1], "fullpipe")) {
        char done[4096];
        snprintf(done, sizeof done, "%s.done", argv[2]);
        close(open(done, O_WRONLY | O_CREAT, 0644));
    }
    printf("ok\n");
    return 0;
}
