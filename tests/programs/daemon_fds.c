/*
 * daemon_fds.c — a daemon's start-up (issue 26): it closes every descriptor above 2, opens
 * its own data file, which gets the lowest free number (the one a profiler's descriptor
 * may have had), dup2s it onto the next two numbers, writes 1 MiB and goes on
 * allocating; a forked child does the same with a file of its own. At the end each
 * checks its file byte for byte.
 *
 *   daemon_fds HOW THREADS DATAFILE
 *     HOW      loop (close 3..1023) | range (close_range) | from (closefrom)
 *     THREADS  1 or 2 (phase 2 on two threads)
 * Sites (for the profile's exact counts at rate 1):
 *   phase1: 2000 objects of 64 bytes, kept; 8 of 4 MiB, freed (the default rate samples them)
 *   phase2: per thread, 6000 objects of distinct sizes 100..6099, freed (many buckets: the
 *           profile must grow after the close), and 40 of 2 MiB + i*4096, freed
 * Prints "ok" and exits 0, or prints what is wrong and exits 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1 << 20)
static void *keep[2000];

static __attribute__((noinline)) void phase1(void)
{
    for (int i = 0; i < 2000; i++)
        keep[i] = malloc(64);
    for (int i = 0; i < 8; i++) {
        void *volatile p = malloc(4 * MIB);
        free(p);
    }
}

static __attribute__((noinline)) void *phase2(void *arg)
{
    for (int i = 0; i < 6000; i++) {
        void *volatile p = malloc(100 + (size_t)i);
        free(p);
    }
    for (int i = 0; i < 40; i++) {
        void *volatile p = malloc(2 * MIB + (size_t)i * 4096);
        free(p);
    }
    return arg;
}

/* At rate 1 the flusher creates the profile a moment after the first sample: wait for it,
 * so that it exists (and, before issue 26, held a descriptor) when everything is closed. */
static void wait_for_profile(void)
{
    const char *dir = getenv("CTRPROF_DIR");
    if (!dir || !getenv("LD_PRELOAD"))
        return;
    char want[64];
    snprintf(want, sizeof want, ".%d.count", (int)getpid());
    for (int tries = 0; tries < 500; tries++) {
        DIR *d = opendir(dir);
        struct dirent *e;
        int found = 0;
        while (d && (e = readdir(d)))
            if (strstr(e->d_name, want))
                found = 1;
        if (d)
            closedir(d);
        if (found)
            return;
        usleep(10000); /* a poll of the directory */
    }
    fprintf(stderr, "no profile appeared in %s\n", dir);
}

static void close_all(const char *how)
{
    if (!strcmp(how, "range"))
        syscall(SYS_close_range, 3u, ~0u, 0u);
    else if (!strcmp(how, "from"))
        closefrom(3);
    else
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
}

static char pattern(size_t i)
{
    return (char)('a' + (i * 7 + i / 4096) % 26);
}

static int own_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    dup2(fd, fd + 1);
    dup2(fd, fd + 2);
    static char buf[MIB];
    for (size_t i = 0; i < MIB; i++)
        buf[i] = pattern(i);
    if (write(fd, buf, MIB) != MIB) {
        perror("write");
        exit(1);
    }
    return fd;
}

static int check_file(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size != MIB) {
        printf("BAD %s: size %lld, want %d\n", path, (long long)st.st_size, MIB);
        return 1;
    }
    static char buf[MIB];
    if (pread(fd, buf, MIB, 0) != MIB) {
        printf("BAD %s: short read\n", path);
        return 1;
    }
    for (size_t i = 0; i < MIB; i++)
        if (buf[i] != pattern(i)) {
            printf("BAD %s: byte %zu is %d\n", path, i, buf[i]);
            return 1;
        }
    /* and the numbers dup2'd onto still name it */
    for (int k = 1; k <= 2; k++) {
        struct stat s2;
        if (fstat(fd + k, &s2) != 0 || s2.st_ino != st.st_ino) {
            printf("BAD %s: descriptor %d no longer names it\n", path, fd + k);
            return 1;
        }
    }
    return 0;
}

static void work(int threads)
{
    if (threads > 1) {
        pthread_t t;
        pthread_create(&t, NULL, phase2, NULL);
        phase2(NULL);
        pthread_join(t, NULL);
    } else {
        phase2(NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int threads = atoi(argv[2]);
    phase1();
    wait_for_profile();
    close_all(argv[1]);
    int fd = own_file(argv[3]);
    work(threads);
    char cpath[4096];
    snprintf(cpath, sizeof cpath, "%s.child", argv[3]);
    pid_t pid = fork();
    if (pid == 0) {
        close_all(argv[1]);
        int cfd = own_file(cpath);
        work(threads);
        exit(check_file(cfd, cpath)); /* exit: the profile is published */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    int bad = check_file(fd, argv[3]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("BAD child: status %d\n", st);
        bad = 1;
    }
    for (int i = 0; i < 2000; i++)
        free(keep[i]), keep[i] = NULL;
    if (!bad)
        printf("ok\n");
    return bad;
}
