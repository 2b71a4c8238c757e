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
 * cannot be seen (their /proc/PID/maps is theirs): root sees them all.
 *
 * Offline context (a normal program).
 */
#include "pack.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cfile.h"
#include "cmds.h"
#include "dirlist.h"
#include "packed.h"
#include "views.h"

/* Has process pid the file (dev, ino) open? Its descriptors, each stat'ed through its
 * /proc link (the file it is open on, as stat gives it through an overlay too). */
static bool has_open(long pid, dev_t dev, ino_t ino)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return false; /* gone, or another user's */
    bool yes = false;
    for (struct dirent *e; !yes && (e = readdir(d));) {
        struct stat st;
        if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0)
            yes = st.st_dev == dev && st.st_ino == ino;
    }
    closedir(d);
    return yes;
}

/* A process that maps the file or has it open, other than this one: its pid, else 0. A
 * mapping is the file's when its device and inode are the file's, or its path is the
 * file's real path: on overlayfs (containers) /proc/PID/maps shows the device and inode
 * of the layer's file, not those stat gives through the overlay, but the overlay's path.
 * An open descriptor counts too: a profile appears under its name whole (cfile.c's
 * create_whole links it in) before its writer maps it, and a run that ended in that
 * moment packed a child's new profile under it (pack.sh's run:running-child-kept failed
 * 2 runs in 8, session 20: "it changed while it was packed", or packed and gone). A
 * writer's descriptor is closed only once the file is mapped, so its descriptors are
 * looked at first and its maps after: the other order missed a writer that mapped and
 * closed in between (cfile.c also maps a page before the name: "Never unmapped while
 * named"). */
static long mapped_by(const char *file, dev_t dev, ino_t ino)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    char real[PATH_MAX];
    if (!realpath(file, real))
        real[0] = 0;
    long self = (long)getpid(), who = 0;
    for (struct dirent *e; !who && (e = readdir(proc));) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        long pid = strtol(e->d_name, NULL, 10);
        if (pid == self)
            continue;
        if (has_open(pid, dev, ino)) {
            who = pid;
            break;
        }
        char path[64], line[PATH_MAX + 256];
        snprintf(path, sizeof path, "/proc/%ld/maps", pid);
        FILE *f = fopen(path, "re");
        if (!f)
            continue; /* gone, or another user's */
        while (!who && fgets(line, sizeof line, f)) {
            /* "start-end perms offset MAJ:MIN inode   path" (dev in hex) */
            unsigned maj, min;
            unsigned long in;
            int at = 0;
            if (sscanf(line, "%*s %*s %*s %x:%x %lu %n", &maj, &min, &in, &at) != 3 || !at)
                continue;
            char *p = line + at;
            p[strcspn(p, "\n")] = 0;
            if ((in == (unsigned long)ino && maj == major(dev) && min == minor(dev)) ||
                (real[0] && !strcmp(p, real)))
                who = pid;
        }
        fclose(f);
    }
    closedir(proc);
    return who;
}

static void who_is(long pid, char *out, size_t len)
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

/* One profile's image packed (cp_pack_file's other thread). */
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

int cp_pack_file(const char *path, const struct cp_pack_opts *o, struct cp_pack_done *done,
                 char *why, size_t whylen)
{
    memset(done, 0, sizeof *done);
    why[0] = 0;
    struct stat st;
    if (lstat(path, &st) != 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(why, whylen, "a symbolic link: name the file itself");
        return 1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "%s", cp_cfile_strerror(CP_CFILE_ENOTREG));
        return -1;
    }
    if ((size_t)snprintf(done->packed, sizeof done->packed, "%s%s", path, CP_PACKED_SUFFIX) >=
        sizeof done->packed) {
        snprintf(why, whylen, "path too long");
        return -1;
    }
    long pid = mapped_by(path, st.st_dev, st.st_ino);
    if (pid) {
        char comm[64];
        who_is(pid, comm, sizeof comm);
        snprintf(why, whylen, "still written by pid %ld%s%s%s: left as it is", pid,
                 comm[0] ? " (" : "", comm, comm[0] ? ")" : "");
        return 1;
    }
    uint8_t *img = NULL, *z = NULL;
    size_t len = 0, zlen = 0;
    int err = cp_cfile_load_settled(path, &img, &len, NULL);
    if (!err && cp_packed_is(img, len)) {
        snprintf(why, whylen, "packed already");
        cp_cfile_unload(img, len);
        return 1;
    }
    /* packed on a thread of its own while this one checks the file (each is a third of
     * the work on a 36 MB profile); what it made is kept only if the file is whole */
    struct packing job = {img, len, o->level, NULL, 0, 0};
    pthread_t th;
    bool threaded = !err && pthread_create(&th, NULL, pack_job, &job) == 0;
    char where[256] = "";
    if (!err)
        err = cp_cfile_parse(img, len, o->meta, o->counter, o->ctx, where, sizeof where);
    done->parsed = !err;
    if (threaded)
        pthread_join(th, NULL);
    else if (!err)
        pack_job(&job);
    z = job.z, zlen = job.zlen;
    if (err) {
        snprintf(why, whylen, "%s%s%s: left as it is", cp_cfile_strerror(err), where[0] ? ": " : "",
                 where);
        cp_cfile_unload(img, len);
        cp_cfile_unload(z, zlen);
        return -1;
    }
    err = job.err;
    if (!err)
        err = cp_packed_same(z, zlen, img, len); /* (zstd's own bug: never seen) */
    if (err) {
        snprintf(why, whylen, "cannot pack it: %s", cp_cfile_strerror(err));
        cp_cfile_unload(img, len);
        cp_cfile_unload(z, zlen);
        return -1;
    }
    /* beside it under a temporary name, then linked under the packed name, which must not
     * exist (link refuses to replace) */
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", done->packed, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0777);
    /* the profile's own mode, as gzip and zstd keep theirs: the umask's would be 0000
     * under umask 0777, a packed profile its owner could not read */
    int bad = fd < 0 || fchmod(fd, st.st_mode & 0777) != 0 || write_all(fd, z, zlen) != 0 ||
              fsync(fd) != 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    cp_cfile_unload(z, zlen);
    cp_cfile_unload(img, len);
    if (bad) {
        snprintf(why, whylen, "cannot write %s: %s", fd < 0 ? tmp : done->packed, strerror(e));
        if (fd >= 0)
            unlink(tmp);
        return -1;
    }
    /* the second look: nobody started writing it meanwhile, and it is the same file */
    struct stat st2;
    pid = 0;
    if (lstat(path, &st2) != 0 || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev ||
        st2.st_size != st.st_size || st2.st_mtim.tv_sec != st.st_mtim.tv_sec ||
        st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
        (pid = mapped_by(path, st.st_dev, st.st_ino))) {
        unlink(tmp);
        if (pid)
            snprintf(why, whylen, "pid %ld started writing it while it was packed: left as it is",
                     pid);
        else
            snprintf(why, whylen, "it changed while it was packed: left as it is");
        return 1;
    }
    int made = link(tmp, done->packed) == 0 ? 1 : 0;
    e = made ? 0 : errno;
    if (!made && e != EEXIST) {
        /* a file system without hard links (vfat, some FUSE): a rename that replaces nothing */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, done->packed, RENAME_NOREPLACE) == 0)
            made = 2; /* (tmp is the packed file now) */
        else if (errno == EEXIST)
            e = EEXIST;
    }
    if (!made) {
        unlink(tmp);
        if (e == EEXIST)
            snprintf(why, whylen, "%s exists already: left as it is", done->packed);
        else
            snprintf(why, whylen, "cannot make %s: %s", done->packed, strerror(e));
        return e == EEXIST ? 1 : -1;
    }
    if (made == 1)
        unlink(tmp);
    if (!o->keep && unlink(path) != 0) {
        e = errno;
        unlink(done->packed); /* both would be read: one profile counted twice */
        snprintf(why, whylen, "cannot remove it: %s: left as it is", strerror(e));
        return -1;
    }
    sync_dir(done->packed);
    done->from = len;
    done->to = zlen;
    return 0;
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

struct walk {
    const struct cp_pack_opts *o;
    int status;
};

static void one(struct walk *w, const char *path)
{
    struct cp_pack_done d;
    char why[PATH_MAX + 200], a[32], b[32];
    int rc = cp_pack_file(path, w->o, &d, why, sizeof why);
    if (rc == 0) {
        printf("%s (%s) -> %s (%s)\n", path, cp_rep_human((double)d.from, "bytes", a, sizeof a),
               d.packed, cp_rep_human((double)d.to, "bytes", b, sizeof b));
        return;
    }
    fprintf(stderr, "ctrprof: pack: %s: %s\n", path, why);
    w->status = 1;
}

static void on_entry(void *ctx, const char *path, const char *why)
{
    (void)why; /* (CP_DIR_COUNT_FILES: only regular NAME.count[.zst] files come) */
    size_t l = strlen(path);
    if (cp_count_name_len(path) == l) /* packed ones stay as they are */
        one(ctx, path);
}

int cp_cmd_pack(int argc, char **argv)
{
    struct cp_pack_opts o = {3, false, NULL, NULL, NULL};
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
    struct walk w = {&o, 0};
    for (; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            int err = cp_dir_each(argv[i], CP_DIR_COUNT_FILES, 0, on_entry, &w);
            if (err) {
                fprintf(stderr, "ctrprof: pack: %s: %s\n", argv[i], strerror(-err));
                w.status = 1;
            }
        } else {
            one(&w, argv[i]);
        }
    }
    return w.status;
}
