/*
 * pack.c — `ctrprof pack [--keep] [--level N] FILE|DIR...`, and the packing `ctrprof run`
 * does when its program is done: a profile nobody writes any more becomes NAME.zst, one
 * zstd frame that unpacks to the very bytes of NAME (cfile/packed.h), which every
 * ctrprof reader takes as it takes the live file. A rate-1 profile is a counter per
 * allocation site and a name per stack, tens of MB on a program of many stacks; packed, it
 * is about a tenth (BENCHMARKS.md).
 *
 * What must hold: nothing is lost. A file is packed only when no process maps it (a
 * writer always does: the shim keeps no descriptor), only when it is a whole counter file
 * (the reader validates every chain), and the original goes only once the packed file is
 * on disk (written, fsync'd, linked under its name without replacing anything) and
 * unpacks to the same bytes. A process that starts writing the file while it is packed
 * is seen at the second look, and the file is left as it was; one that opens it in the
 * microseconds between that look and the unlink writes into a file that has lost its
 * name, which its writer notices (CP_CFILE_ELOST) and says. Processes of other users
 * cannot be seen (their /proc/PID/maps is theirs): root sees them all. Files go in
 * batches (cp_pack_batch: a directory, `ctrprof run`'s profiles): each look is one pass
 * over /proc for all of them (holders.c), so packing costs what the profiles do, not
 * the number of processes on the host times the number of files.
 *
 * Offline context (a normal program).
 */
#include "pack.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfile.h"
#include "cmds.h"
#include "dirlist.h"
#include "holders.h"
#include "packed.h"
#include "views.h"

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void sync_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* One profile's image packed (pack_beside's other thread). */
struct packing {
    const uint8_t *img;
    size_t len;
    int level;
    uint8_t *z;
    size_t zlen;
    int err;
};

static void *pack_job(void *arg)
{
    struct packing *j = arg;
    j->err = cp_packed_pack(j->img, j->len, j->level, &j->z, &j->zlen);
    return NULL;
}

/* A file of a batch between its phases. */
struct stage {
    int state;      /* 0: done (its rc said); 1: to pack; 2: packed beside it, under tmp */
    struct stat st; /* (as the first look found it) */
    char real[PATH_MAX];
    char tmp[PATH_MAX + 32];
};

static int say(struct cp_pack_one *f, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int say(struct cp_pack_one *f, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
    return f->rc = rc;
}

/* The file's bytes, to be freed with cp_cfile_unload. A big one is mapped rather than
 * copied (the reader's copy of a live file: cp_cfile_load_settled): nobody writes it (the
 * first look), and a writer that starts meanwhile is seen at the second (a copy is no
 * safer: a writer's counts added after it would go with the original too). 36 MB copied
 * were a fifth of a pack's CPU. */
static int load(const char *path, uint8_t **img, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (1 << 20) &&
        (size_t)st.st_size <= ((size_t)1 << 32) + CP_CFILE_PAGE) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            close(fd);
            *img = m;
            *len = (size_t)st.st_size;
            return 0;
        }
    }
    if (fd >= 0)
        close(fd);
    return cp_cfile_load_settled(path, img, len, NULL); /* (and its errors) */
}

/* The file checked whole and packed beside it under a temporary name: state 2, or an rc. */
static void pack_beside(struct cp_pack_one *f, struct stage *g, const struct cp_pack_opts *o)
{
    uint8_t *img = NULL, *z = NULL;
    size_t len = 0, zlen = 0;
    int err = load(f->path, &img, &len);
    if (!err && cp_packed_is(img, len)) {
        say(f, 1, "packed already");
        cp_cfile_unload(img, len);
        return;
    }
    /* packed on a thread of its own while this one checks the file (each is a third of
     * the work on a 36 MB profile); what it made is kept only if the file is whole */
    struct packing job = {img, len, o->level, NULL, 0, 0};
    pthread_t th;
    bool threaded = !err && pthread_create(&th, NULL, pack_job, &job) == 0;
    char where[256] = "";
    if (!err)
        err = cp_cfile_parse(img, len, f->ctx ? o->meta : NULL, f->ctx ? o->counter : NULL, f->ctx,
                             where, sizeof where);
    f->done.parsed = !err;
    if (threaded)
        pthread_join(th, NULL);
    else if (!err)
        pack_job(&job);
    z = job.z, zlen = job.zlen;
    if (err) {
        say(f, -1, "%s%s%s: left as it is", cp_cfile_strerror(err), where[0] ? ": " : "", where);
        cp_cfile_unload(img, len);
        cp_cfile_unload(z, zlen);
        return;
    }
    err = job.err;
    if (!err)
        err = cp_packed_same(z, zlen, img, len); /* (zstd's own bug: never seen) */
    cp_cfile_unload(img, len);
    if (err) {
        say(f, -1, "cannot pack it: %s", cp_cfile_strerror(err));
        cp_cfile_unload(z, zlen);
        return;
    }
    /* beside it under a temporary name, then linked under the packed name, which must not
     * exist (link refuses to replace) */
    snprintf(g->tmp, sizeof g->tmp, "%s.tmp%ld", f->done.packed, (long)getpid());
    int fd = open(g->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, g->st.st_mode & 0777);
    /* the profile's own mode, as gzip and zstd keep theirs: the umask's would be 0000
     * under umask 0777, a packed profile its owner could not read */
    int bad = fd < 0 || fchmod(fd, g->st.st_mode & 0777) != 0 || write_all(fd, z, zlen) != 0 ||
              fsync(fd) != 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    cp_cfile_unload(z, zlen);
    if (bad) {
        say(f, -1, "cannot write %s: %s", fd < 0 ? g->tmp : f->done.packed, strerror(e));
        if (fd >= 0)
            unlink(g->tmp);
        return;
    }
    f->done.from = len;
    f->done.to = zlen;
    g->state = 2;
}

/* The second look found nobody writing it and the same file: the packed copy under its
 * name, the original gone. */
static void finish(struct cp_pack_one *f, struct stage *g, const struct cp_pack_opts *o)
{
    int made = link(g->tmp, f->done.packed) == 0 ? 1 : 0;
    int e = made ? 0 : errno;
    if (!made && e != EEXIST) {
        /* a file system without hard links (vfat, some FUSE): a rename that replaces nothing */
        if (renameat2(AT_FDCWD, g->tmp, AT_FDCWD, f->done.packed, RENAME_NOREPLACE) == 0)
            made = 2; /* (tmp is the packed file now) */
        else if (errno == EEXIST)
            e = EEXIST;
    }
    if (!made) {
        unlink(g->tmp);
        if (e == EEXIST)
            say(f, 1, "%s exists already: left as it is", f->done.packed);
        else
            say(f, -1, "cannot make %s: %s", f->done.packed, strerror(e));
        return;
    }
    if (made == 1)
        unlink(g->tmp);
    if (!o->keep && unlink(f->path) != 0) {
        e = errno;
        unlink(f->done.packed); /* both would be read: one profile counted twice */
        say(f, -1, "cannot remove it: %s: left as it is", strerror(e));
        return;
    }
    sync_dir(f->done.packed);
    f->rc = 0;
}

/* Who holds the files of the batch in the given state (one pass over /proc); the holders
 * in pid[]. 0, or -1 if nobody could be looked for (memory). */
static int holders(const struct stage *g, size_t n, int state, long *pid)
{
    struct cp_held *h = malloc((n ? n : 1) * sizeof *h);
    if (!h)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        pid[i] = 0;
        if (g[i].state == state)
            h[k++] = (struct cp_held){g[i].st.st_dev, g[i].st.st_ino, g[i].real, 0};
    }
    int rc = cp_held_scan(h, k);
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (g[i].state == state)
            pid[i] = h[k++].pid;
    free(h);
    return rc;
}

/* The files in the given state left as they are: who writes them could not be looked for. */
static void unseen(struct cp_pack_one *f, struct stage *g, size_t n, int state)
{
    for (size_t i = 0; i < n; i++)
        if (g[i].state == state) {
            if (state == 2)
                unlink(g[i].tmp);
            say(&f[i], 1, "cannot look for a process writing it (%s): left as it is",
                strerror(ENOMEM));
            g[i].state = 0;
        }
}

void cp_pack_batch(struct cp_pack_one *f, size_t n, const struct cp_pack_opts *o)
{
    struct stage *g = calloc(n ? n : 1, sizeof *g);
    long *pid = calloc(n ? n : 1, sizeof *pid);
    for (size_t i = 0; i < n; i++) {
        memset(&f[i].done, 0, sizeof f[i].done);
        f[i].why[0] = 0;
        f[i].rc = -1;
    }
    if (!g || !pid) {
        for (size_t i = 0; i < n; i++)
            say(&f[i], -1, "%s", strerror(ENOMEM));
        free(g);
        free(pid);
        return;
    }
    /* the files as they are, and a first look at who writes them */
    for (size_t i = 0; i < n; i++) {
        if (lstat(f[i].path, &g[i].st) != 0)
            say(&f[i], -1, "%s", strerror(errno));
        else if (S_ISLNK(g[i].st.st_mode))
            say(&f[i], 1, "a symbolic link: name the file itself");
        else if (!S_ISREG(g[i].st.st_mode))
            say(&f[i], -1, "%s", cp_cfile_strerror(CP_CFILE_ENOTREG));
        else if ((size_t)snprintf(f[i].done.packed, sizeof f[i].done.packed, "%s%s", f[i].path,
                                  CP_PACKED_SUFFIX) >= sizeof f[i].done.packed)
            say(&f[i], -1, "path too long");
        else {
            g[i].state = 1;
            if (!realpath(f[i].path, g[i].real))
                g[i].real[0] = 0;
            for (size_t k = 0; k < i; k++)
                if (g[k].state == 1 && g[k].st.st_dev == g[i].st.st_dev &&
                    g[k].st.st_ino == g[i].st.st_ino) {
                    g[i].state = 0;
                    say(&f[i], 1, "named again: packed once");
                    break;
                }
        }
    }
    if (holders(g, n, 1, pid))
        unseen(f, g, n, 1);
    for (size_t i = 0; i < n; i++) {
        if (g[i].state != 1)
            continue;
        if (pid[i]) {
            char comm[64];
            cp_held_comm(pid[i], comm, sizeof comm);
            say(&f[i], 1, "still written by pid %ld%s%s%s: left as it is", pid[i],
                comm[0] ? " (" : "", comm, comm[0] ? ")" : "");
            g[i].state = 0;
            continue;
        }
        g[i].state = 0;
        pack_beside(&f[i], &g[i], o);
    }
    /* the second look: nobody started writing them meanwhile, and they are the same files */
    if (holders(g, n, 2, pid))
        unseen(f, g, n, 2);
    for (size_t i = 0; i < n; i++) {
        if (g[i].state != 2)
            continue;
        struct stat st2;
        const struct stat *st = &g[i].st;
        if (lstat(f[i].path, &st2) != 0 || st2.st_ino != st->st_ino || st2.st_dev != st->st_dev ||
            st2.st_size != st->st_size || st2.st_mtim.tv_sec != st->st_mtim.tv_sec ||
            st2.st_mtim.tv_nsec != st->st_mtim.tv_nsec || pid[i]) {
            unlink(g[i].tmp);
            if (pid[i])
                say(&f[i], 1, "pid %ld started writing it while it was packed: left as it is",
                    pid[i]);
            else
                say(&f[i], 1, "it changed while it was packed: left as it is");
            continue;
        }
        finish(&f[i], &g[i], o);
    }
    free(g);
    free(pid);
}

static void usage(FILE *f)
{
    fputs(
        "usage: ctrprof pack [--keep] [--level N] FILE|DIR...\n"
        "  Packs each profile nobody writes any more into FILE.zst (zstd; `zstd -d` gives back\n"
        "  the very counter file) and removes FILE. Every ctrprof command reads packed profiles.\n"
        "  A DIR means the *.count files in it. A file a process still maps is left as it is.\n"
        "  --keep      keep FILE too (a DIR listing then reads FILE, not FILE.zst)\n"
        "  --level N   zstd level, 1 (fastest) to 19 (smallest); default 3\n",
        f);
}

/* The files named, in order (a directory's counter files in name order): one batch. */
struct walk {
    struct cp_pack_one *f;
    size_t n, cap;
    int status;
};

static void add(struct walk *w, const char *path)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        struct cp_pack_one *nf = realloc(w->f, cap * sizeof *nf);
        if (!nf) {
            fprintf(stderr, "ctrprof: pack: %s: %s\n", path, strerror(ENOMEM));
            w->status = 1;
            return;
        }
        w->f = nf;
        w->cap = cap;
    }
    char *p = strdup(path);
    if (!p) {
        fprintf(stderr, "ctrprof: pack: %s: %s\n", path, strerror(ENOMEM));
        w->status = 1;
        return;
    }
    w->f[w->n++] = (struct cp_pack_one){.path = p};
}

static void on_entry(void *ctx, const char *path, const char *why)
{
    (void)why; /* (CP_DIR_COUNT_FILES: only regular NAME.count[.zst] files come) */
    size_t l = strlen(path);
    if (cp_count_name_len(path) == l) /* packed ones stay as they are */
        add(ctx, path);
}

int cp_cmd_pack(int argc, char **argv)
{
    struct cp_pack_opts o = {3, false, NULL, NULL};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--keep")) {
            o.keep = true;
            continue;
        }
        if (!strcmp(argv[i], "--level") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 1 || v > 19) {
                fprintf(stderr, "ctrprof: pack: --level takes 1 to 19, not '%s'\n", argv[i]);
                return 2;
            }
            o.level = (int)v;
            continue;
        }
        fprintf(stderr, "ctrprof: pack: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (i >= argc) {
        fprintf(stderr, "ctrprof: pack: no file or directory given\n");
        usage(stderr);
        return 2;
    }
    struct walk w = {NULL, 0, 0, 0};
    for (; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            int err = cp_dir_each(argv[i], CP_DIR_COUNT_FILES, 0, on_entry, &w);
            if (err) {
                fprintf(stderr, "ctrprof: pack: %s: %s\n", argv[i], strerror(-err));
                w.status = 1;
            }
        } else {
            add(&w, argv[i]);
        }
    }
    cp_pack_batch(w.f, w.n, &o);
    for (size_t k = 0; k < w.n; k++) {
        const struct cp_pack_one *f = &w.f[k];
        char a[32], b[32];
        if (f->rc == 0)
            printf("%s (%s) -> %s (%s)\n", f->path,
                   cp_rep_human((double)f->done.from, "bytes", a, sizeof a), f->done.packed,
                   cp_rep_human((double)f->done.to, "bytes", b, sizeof b));
        else {
            fprintf(stderr, "ctrprof: pack: %s: %s\n", f->path, f->why);
            w.status = 1;
        }
        free((char *)f->path);
    }
    free(w.f);
    return w.status;
}
