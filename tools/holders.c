/*
 * holders.c — see holders.h. Offline context (a normal program).
 *
 * Why one pass for many files: reading every process's /proc/PID/fd and maps costs in
 * proportion to the host, not to the profile (2 ms on an idle machine of 70 processes,
 * 0.2 s among 2,000), and `ctrprof run` of a program that forks leaves a profile a
 * process, each looked at twice (before it is packed, and before the original goes):
 * 100 small profiles took 0.47 s on the idle machine, and would have taken 40 s among
 * 2,000 processes. The files are sorted by device and inode, and by real path, and each
 * descriptor and mapping is looked up among them.
 *
 * What counts as holding a file: a mapping whose device and inode are the file's, or
 * whose path is the file's real path (on overlayfs, in containers, /proc/PID/maps shows
 * the device and inode of the layer's file, not those stat gives through the overlay,
 * but the overlay's path); and an open descriptor: a profile appears under its name whole
 * (cfile.c's create_whole links it in) before its writer maps it, and a run that ended in
 * that moment packed a child's new profile under it (pack.sh's run:running-child-kept
 * failed 2 runs in 8, session 20). A writer's descriptor is closed only once the file is
 * mapped, so a process's descriptors are looked at first and its maps after: the other
 * order missed a writer that mapped and closed in between (cfile.c also maps a page
 * before the name: "Never unmapped while named").
 */
#include "holders.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct scan {
    struct cp_held *f;
    size_t n, left;               /* left: files without a holder yet */
    size_t *byid, *bypath, npath; /* indices into f, sorted */
};

static int cmp_id(const struct cp_held *a, dev_t dev, ino_t ino)
{
    if (a->dev != dev)
        return a->dev < dev ? -1 : 1;
    return a->ino < ino ? -1 : a->ino > ino;
}

static struct cp_held *sort_base; /* (qsort has no context) */

static int by_id(const void *x, const void *y)
{
    const struct cp_held *b = &sort_base[*(const size_t *)y];
    return cmp_id(&sort_base[*(const size_t *)x], b->dev, b->ino);
}

static int by_path(const void *x, const void *y)
{
    return strcmp(sort_base[*(const size_t *)x].real, sort_base[*(const size_t *)y].real);
}

/* pid holds the files of (dev, ino): each of them without a holder yet gets it */
static void held_id(struct scan *s, dev_t dev, ino_t ino, long pid)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (cmp_id(&s->f[s->byid[m]], dev, ino) < 0)
            lo = m + 1;
        else
            hi = m;
    }
    for (; lo < s->n && cmp_id(&s->f[s->byid[lo]], dev, ino) == 0; lo++)
        if (!s->f[s->byid[lo]].pid) {
            s->f[s->byid[lo]].pid = pid;
            s->left--;
        }
}

static void held_path(struct scan *s, const char *path, long pid)
{
    size_t lo = 0, hi = s->npath;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (strcmp(s->f[s->bypath[m]].real, path) < 0)
            lo = m + 1;
        else
            hi = m;
    }
    for (; lo < s->npath && !strcmp(s->f[s->bypath[lo]].real, path); lo++)
        if (!s->f[s->bypath[lo]].pid) {
            s->f[s->bypath[lo]].pid = pid;
            s->left--;
        }
}

/* pid's descriptors, each stat'ed through its /proc link (the file it is open on, as stat
 * gives it through an overlay too) */
static void look_fds(struct scan *s, long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return; /* gone, or another user's */
    for (struct dirent *e; s->left && (e = readdir(d));) {
        struct stat st;
        if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0)
            held_id(s, st.st_dev, st.st_ino, pid);
    }
    closedir(d);
}

static void look_maps(struct scan *s, long pid)
{
    char path[64], line[PATH_MAX + 256];
    snprintf(path, sizeof path, "/proc/%ld/maps", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return; /* gone, or another user's */
    while (s->left && fgets(line, sizeof line, f)) {
        /* "start-end perms offset MAJ:MIN inode   path" (dev in hex) */
        unsigned maj, min;
        unsigned long in;
        int at = 0;
        if (sscanf(line, "%*s %*s %*s %x:%x %lu %n", &maj, &min, &in, &at) != 3 || !at)
            continue;
        if (!in)
            continue; /* anonymous memory */
        char *p = line + at;
        p[strcspn(p, "\n")] = 0;
        held_id(s, makedev(maj, min), (ino_t)in, pid);
        if (s->npath && p[0])
            held_path(s, p, pid);
    }
    fclose(f);
}

int cp_held_scan(struct cp_held *f, size_t n)
{
    struct scan s = {f, n, n, NULL, NULL, 0};
    for (size_t i = 0; i < n; i++)
        f[i].pid = 0;
    if (!n)
        return 0;
    s.byid = malloc(n * sizeof *s.byid);
    s.bypath = malloc(n * sizeof *s.bypath);
    if (!s.byid || !s.bypath) {
        free(s.byid);
        free(s.bypath);
        return -1;
    }
    /* (no /proc at all: nobody can be seen, as pack has always taken it) */
    DIR *proc = opendir("/proc");
    if (proc) {
        for (size_t i = 0; i < n; i++) {
            s.byid[i] = i;
            if (f[i].real && f[i].real[0])
                s.bypath[s.npath++] = i;
        }
        sort_base = f;
        qsort(s.byid, n, sizeof *s.byid, by_id);
        qsort(s.bypath, s.npath, sizeof *s.bypath, by_path);
        long self = (long)getpid();
        for (struct dirent *e; s.left && (e = readdir(proc));) {
            if (!isdigit((unsigned char)e->d_name[0]))
                continue;
            long pid = strtol(e->d_name, NULL, 10);
            if (pid == self)
                continue;
            look_fds(&s, pid);
            if (s.left)
                look_maps(&s, pid);
        }
        closedir(proc);
    }
    free(s.byid);
    free(s.bypath);
    return 0;
}

void cp_held_comm(long pid, char *out, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    FILE *f = fopen(path, "re");
    out[0] = 0;
    if (f) {
        if (fgets(out, (int)len, f))
            out[strcspn(out, "\n")] = 0;
        fclose(f);
    }
}
