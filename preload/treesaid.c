/*
 * treesaid.c — a line said once per process tree across exec too (issue 29).
 *
 * base/log.h's flags are a shared page inherited by fork children, and what was said
 * travels down to exec'd images in CTRPROF_SAID (said.c). Nothing travelled up or across:
 * a line said first by an exec'd child (a compiler `make` started with a bad CTRPROF_*
 * value) was said again by each of its siblings and by the parent. So before the first
 * line of a cause is said, its sayer asks the tree, through a marker file made
 * create-exclusive (O_EXCL: one process of the tree wins, whatever the order):
 *
 *     <runtime dir>/ctrprof-said-<uid>/<root pid>-<root start time>/<cause>
 *
 * The runtime dir is $XDG_RUNTIME_DIR, else /tmp; the per-user directory is made 0700
 * and used only if it is a directory of this user's that nobody else may write. The
 * root is the furthest ancestor reached through parents that have this shim loaded (its
 * file in /proc/<pid>/maps): the process the user started under LD_PRELOAD or `ctrprof
 * run`; its start time (/proc/<pid>/stat) tells it from a later process of the same pid.
 * Most processes say nothing: the shim's own path is read from /proc/self/maps at the
 * first question (find_self), not at start-up, and at exit a process looks for its
 * directory only when the per-user directory changed while it ran, or held that
 * directory already when it started (an image exec'd by the root): both had cost every
 * process ~50 us (BENCHMARKS.md, "Session 33").
 * Nothing is put in the program's environment or descriptors; the only trace is the
 * directory, which the root removes when it exits (a descendant that outlives the root
 * and meets a cause then says it again). A root killed (SIGKILL, a crash) leaves its
 * directory behind; the next tree to make its own directory sweeps those (sweep): a name
 * exactly <pid>-<start time> whose process is gone, or is another process by that pid
 * (its start time differs), with the tag pidns-<inode> of the sweeper's pid namespace in
 * it, loses its markers and goes. The tag is made by whoever makes a tree's directory
 * (when its /proc is of its own pid namespace, as a sweeper's must be): a tree of another
 * pid namespace sharing the runtime dir (a container's, a /tmp bound in) has pids this
 * /proc cannot judge, so its directory, like an untagged one (an older shim's, or one
 * being made), is left alone. At most SWEEP_NAMES names are looked at per sweep (in a
 * huge directory, the first its listing gives); no symlink is followed.
 * The tree is not asked (the line is said, as before) when the process started under a
 * seccomp filter (one it cannot read: mkdir may be forbidden), once it installs one that
 * forbids any system call made here (preload/sandbox.c runs each filter for them before
 * it goes in: cp_shim_treesaid_filter; an allow-list without openat, say), or when /proc
 * or the directory cannot be used.
 *
 * Contexts: cp_shim_treesaid_init from the constructor; tree_first through
 * cp_log_tree_first, in any context that says something (hooks, the flusher, a signal
 * handler, a vfork child): raw system calls only, no allocation, no lock, errno kept;
 * cp_shim_treesaid_exit from the exit path (shim.c, at_exit_flush). About 2 KiB of the
 * caller's stack at most, the sweep's included (ownstack.h's bound is for every hook path;
 * a line is said on few of them, and once).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "rawsys.h"
#include "shim.h"
#include "spin.h"

static bool on;             /* the tree is asked */
static bool filtered;       /* atomic: a filter forbids asking it (sandbox.c) */
static char base[192];      /* <runtime dir>/ctrprof-said-<uid> */
static char self_path[256]; /* this shim's file, as /proc/<pid>/maps shows it (find_self) */
static size_t self_n;
/* find_self's progress: SELF_UNKNOWN until a tree_first asks, SELF_FILLING while one reads
 * it (another then says its line without asking), then SELF_KNOWN or SELF_NONE. Atomic. */
enum { SELF_UNKNOWN, SELF_FILLING, SELF_KNOWN, SELF_NONE };
static int self_state;
/* base as the constructor found it, and whether this process's own tree directory (the
 * one it would have as a root) was in it then: an image exec'd by a root whose tree made
 * it before the exec (cp_shim_treesaid_exit) */
static bool base_seen, own_seen;
static struct timespec base_mtime;
static unsigned long base_links;

/* (the *at calls: the plain ones do not exist on every architecture) */
static int sys_open(const char *p, int flags, int mode)
{
    return (int)cp_raw_syscall(SYS_openat, AT_FDCWD, (long)p, flags, mode, 0, 0);
}
static void sys_chmod_0700(const char *p)
{
    cp_raw_syscall(SYS_fchmodat, AT_FDCWD, (long)p, 0700, 0, 0, 0);
}
/* made 0700 whatever the umask: under umask 0777 it was 0000, a directory its owner's
 * later processes could not make theirs in, for as long as it stayed (base_is_ours
 * mends one left so) */
static long sys_mkdir(const char *p)
{
    long r = cp_raw_syscall(SYS_mkdirat, AT_FDCWD, (long)p, 0700, 0, 0, 0);
    if (r == 0)
        sys_chmod_0700(p);
    return r;
}
static long sys_unlink(const char *p, int flags)
{
    return cp_raw_syscall(SYS_unlinkat, AT_FDCWD, (long)p, flags, 0, 0, 0);
}
static void sys_close(int fd)
{
    cp_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
}
static long sys_read(int fd, char *b, size_t n)
{
    return cp_raw_syscall(SYS_read, fd, (long)b, (long)n, 0, 0, 0);
}

/* /proc/<pid>/stat: its parent and start time (clock ticks since boot). 0, or the
 * open's negative errno (-ENOENT: no such process), or -1. */
static int stat_of(long pid, long *ppid, unsigned long long *start)
{
    char path[48], buf[512]; /* (the line is ~300 bytes: a 16-byte command, numbers) */
    cp_fmt(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    long n = sys_read(fd, buf, sizeof buf - 1);
    sys_close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* (the command may hold spaces and parentheses) */
    if (!p)
        return -1;
    /* fields from 3 on: state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime */
    p += 2;
    int field = 3;
    *ppid = 0;
    *start = 0;
    while (*p && field <= 22) {
        if (field == 4)
            *ppid = strtol(p, NULL, 10);
        if (field == 22)
            *start = strtoull(p, NULL, 10);
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
        field++;
    }
    return field > 22 ? 0 : -1;
}

/* Has process pid this shim loaded (its file among its mappings)? (Not inlined: its
 * buffer is not in tree_first's frame while sweep runs.) */
__attribute__((noinline)) static bool has_shim(long pid)
{
    char path[48], buf[1024 + sizeof self_path]; /* (small: hook paths, small stacks) */
    cp_fmt(path, sizeof path, "/proc/%ld/maps", pid);
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return false;
    size_t keep = 0; /* the last self_n - 1 bytes of the previous read, for a match across */
    bool found = false;
    for (;;) {
        long n = sys_read(fd, buf + keep, 1024);
        if (n <= 0)
            break;
        size_t len = keep + (size_t)n;
        buf[len] = 0;
        if (memmem(buf, len, self_path, self_n)) {
            found = true;
            break;
        }
        keep = len < self_n - 1 ? len : self_n - 1;
        memmove(buf, buf + len - keep, keep);
    }
    sys_close(fd);
    return found;
}

/* The tree's directory, <base>/<root pid>-<root start time>, into dir. 0 or -1. */
static int tree_dir(char *dir, size_t n)
{
    long pid = (long)getpid(), ppid;
    unsigned long long start;
    if (stat_of(pid, &ppid, &start) != 0)
        return -1;
    for (int depth = 0; depth < 64 && ppid > 1 && has_shim(ppid); depth++) {
        long up = ppid;
        unsigned long long up_start;
        if (stat_of(up, &ppid, &up_start) != 0)
            break;
        pid = up;
        start = up_start;
    }
    cp_fmt(dir, n, "%s/%ld-%llu", base, pid, start);
    return 0;
}

/* Is base a directory of ours nobody else may write? */
static bool base_is_ours(void)
{
    struct stat st;
    if (cp_raw_syscall(SYS_newfstatat, AT_FDCWD, (long)base, (long)&st, AT_SYMLINK_NOFOLLOW, 0,
                       0) != 0)
        return false;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
        return false;
    if ((st.st_mode & 0700) != 0700) /* (made under umask 0777 by an older shim) */
        sys_chmod_0700(base);
    return true;
}

/* ---- the sweep: directories left by roots that were killed ---- */

#define SWEEP_NAMES 64 /* names of the per-user directory looked at per sweep, at most */

/* The digits of what the /proc link at p says ("pid:[4026531836]": 4026531836; /proc/self:
 * this process's pid as this /proc numbers it), into d (n bytes). Their count, or 0. */
static size_t link_digits(const char *p, char *d, size_t n)
{
    char buf[40];
    long r = cp_raw_syscall(SYS_readlinkat, AT_FDCWD, (long)p, (long)buf, sizeof buf, 0, 0);
    if (r <= 0 || r >= (long)sizeof buf)
        return 0;
    size_t k = 0;
    for (long i = 0; i < r; i++)
        if (buf[i] >= '0' && buf[i] <= '9') {
            if (k + 1 >= n)
                return 0;
            d[k++] = buf[i];
        }
    d[k] = 0;
    return k;
}

/* Is name exactly <pid>-<start time> as tree_dir writes them (decimal, no sign, no leading
 * zero, pid from 1)? Then true, with both. */
static bool tree_name(const char *s, long *pid, unsigned long long *start)
{
    unsigned long long v[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        const char *b = s;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (s - b >= 19)
                return false; /* (19 digits fit) */
            v[i] = v[i] * 10 + (unsigned)(*s - '0');
        }
        if (s == b || (*b == '0' && s - b > 1) || *s++ != (i == 0 ? '-' : 0))
            return false;
    }
    if (v[0] == 0 || v[0] > 0x7fffffff)
        return false;
    *pid = (long)v[0];
    *start = v[1];
    return true;
}

/* The directory name (of bfd, the per-user directory), its root gone: its markers and
 * itself removed, if the tag (our pid namespace's) is in it. */
static void sweep_one(int bfd, const char *name, const char *tag)
{
    int fd = (int)cp_raw_syscall(SYS_openat, bfd, (long)name,
                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0, 0);
    if (fd < 0)
        return;
    int t = (int)cp_raw_syscall(SYS_openat, fd, (long)tag,
                                O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0, 0, 0);
    if (t >= 0) {
        sys_close(t);
        for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++)
            cp_raw_syscall(SYS_unlinkat, fd, (long)cp_log_tree_name(k), 0, 0, 0, 0);
        cp_raw_syscall(SYS_unlinkat, fd, (long)tag, 0, 0, 0, 0);
    }
    sys_close(fd);
    if (t >= 0) /* (anything else in it, and it stays) */
        cp_raw_syscall(SYS_unlinkat, bfd, (long)name, AT_REMOVEDIR, 0, 0, 0);
}

/* dir (a tree's directory, just made by this process) gets the tag of this pid namespace;
 * then the per-user directory's names of trees whose root is gone go (the top). Only when
 * this /proc numbers processes as getpid() does (its pid namespace's: the names' pids are
 * judged in it). About 1.4 KiB of stack with stat_of's (x86-64, -O2), beside has_shim's
 * 1.4 KiB rather than on top of it: neither is inlined into tree_first, whose own frame
 * stays ~0.6 KiB (2.0 KiB in all; 2.3 KiB when has_shim was inlined, before the sweep). */
__attribute__((noinline)) static void sweep(const char *dir)
{
    char ns[24], tag[32], me[24], pidtext[24];
    if (!link_digits("/proc/self", me, sizeof me) ||
        !link_digits("/proc/self/ns/pid", ns, sizeof ns))
        return;
    cp_fmt(pidtext, sizeof pidtext, "%ld", (long)getpid());
    if (strcmp(me, pidtext) != 0)
        return;
    cp_fmt(tag, sizeof tag, "pidns-%s", ns);
    int fd = sys_open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    int t = (int)cp_raw_syscall(SYS_openat, fd, (long)tag,
                                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600, 0, 0);
    sys_close(fd);
    if (t < 0)
        return;
    sys_close(t);
    const char *own = strrchr(dir, '/') + 1;
    int bfd = sys_open(base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (bfd < 0)
        return;
    union { /* (linux_dirent64s: cp_raw_dirent) */
        char b[512];
        uint64_t align;
    } u;
    int seen = 0;
    long n;
    while (seen < SWEEP_NAMES &&
           (n = cp_raw_syscall(SYS_getdents64, bfd, (long)u.b, sizeof u.b, 0, 0, 0)) > 0) {
        const char *name;
        unsigned char type;
        for (long off = 0; seen < SWEEP_NAMES && (name = cp_raw_dirent(u.b, n, &off, &type));
             seen++) {
            long pid, ppid;
            unsigned long long start, now;
            if ((type != DT_DIR && type != DT_UNKNOWN) || !tree_name(name, &pid, &start) ||
                strcmp(name, own) == 0)
                continue;
            int r = stat_of(pid, &ppid, &now);
            if (r == -ENOENT || (r == 0 && now != start))
                sweep_one(bfd, name, tag);
        }
    }
    sys_close(bfd);
}

/* This shim's file as /proc/self/maps shows it: the path of the mapping that holds this
 * function, into self_path. Read at the first question rather than at start-up (every
 * process paid ~65 us for it, most of them saying nothing: BENCHMARKS.md, "Session 33"),
 * in 512-byte reads (the hook paths' stacks: see the top). true once it is known. (Not
 * inlined: its buffer is not in tree_first's frame while has_shim and sweep run.) */
__attribute__((noinline)) static bool find_self(void)
{
    int st = __atomic_load_n(&self_state, __ATOMIC_ACQUIRE);
    if (st != SELF_UNKNOWN)
        return st == SELF_KNOWN;
    if (!__atomic_compare_exchange_n(&self_state, &st, SELF_FILLING, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return false; /* (another thread, or the handler's interrupted thread, reads it) */
    uintptr_t me = (uintptr_t)&find_self;
    char buf[512 + sizeof self_path];
    size_t len = 0; /* bytes of an unfinished line at the front */
    bool found = false;
    int fd = sys_open("/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
    while (fd >= 0 && !found) {
        long n = sys_read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            char *end;
            uintptr_t lo = (uintptr_t)strtoull(line, &end, 16);
            uintptr_t hi = *end == '-' ? (uintptr_t)strtoull(end + 1, NULL, 16) : 0;
            char *path = strchr(line, '/');
            if (me >= lo && me < hi && path && strlen(path) < sizeof self_path) {
                self_n = strlen(path);
                memcpy(self_path, path, self_n + 1);
                found = true;
                break;
            }
            line = nl + 1;
        }
        len = strlen(line); /* the unfinished line, to the front */
        memmove(buf, line, len);
        if (len == sizeof buf - 1)
            len = 0; /* (a line longer than the buffer: dropped) */
    }
    if (fd >= 0)
        sys_close(fd);
    found = found && self_n >= 2;
    __atomic_store_n(&self_state, found ? SELF_KNOWN : SELF_NONE, __ATOMIC_RELEASE);
    return found;
}

/* cp_log_tree_first's question: 1 to say key's line (nobody in the tree has), 0 not. */
static int tree_first(unsigned key)
{
    if (!__atomic_load_n(&on, __ATOMIC_ACQUIRE) || __atomic_load_n(&filtered, __ATOMIC_ACQUIRE))
        return 1;
    int saved = errno;
    if (!find_self()) {
        errno = saved;
        return 1; /* (no /proc: the tree cannot be asked) */
    }
    int say = 1;
    char dir[sizeof base + 48], marker[sizeof dir + 24];
    long r = sys_mkdir(base);
    if ((r == 0 || r == -EEXIST) && base_is_ours() && tree_dir(dir, sizeof dir) == 0) {
        r = sys_mkdir(dir);
        if (r == 0 || r == -EEXIST) {
            cp_fmt(marker, sizeof marker, "%s/%s", dir, cp_log_tree_name(key));
            int fd = sys_open(marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd >= 0)
                sys_close(fd);
            else if (fd == -EEXIST)
                say = 0; /* said in the tree already */
        }
        if (r == 0)
            sweep(dir); /* this tree's directory is new: once per tree */
    }
    errno = saved;
    return say;
}

/* This process's own tree directory, the one it has as a root (<base>/<pid>-<start time>),
 * into dir: its start time read from /proc once per process (the constructor's read
 * serves its exit; a fork child, another pid, reads its own). 0 or -1. */
static long own_pid; /* atomic: the process own_start is of */
static unsigned long long own_start;

static int own_dir(char *dir, size_t n)
{
    long pid = (long)getpid(), ppid;
    if (__atomic_load_n(&own_pid, __ATOMIC_ACQUIRE) != pid) {
        unsigned long long start;
        if (stat_of(pid, &ppid, &start) != 0)
            return -1;
        own_start = start;
        __atomic_store_n(&own_pid, pid, __ATOMIC_RELEASE);
    }
    cp_fmt(dir, n, "%s/%ld-%llu", base, pid, own_start);
    return 0;
}

/* base's modification time and link count now; false if it is not there */
static bool base_state(struct timespec *mtime, unsigned long *links)
{
    struct stat st;
    if (cp_raw_syscall(SYS_newfstatat, AT_FDCWD, (long)base, (long)&st, AT_SYMLINK_NOFOLLOW, 0,
                       0) != 0)
        return false;
    *mtime = st.st_mtim;
    *links = (unsigned long)st.st_nlink;
    return true;
}

void cp_shim_treesaid_init(bool sandboxed)
{
    if (sandboxed)
        return;
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (!rt || rt[0] != '/' || strlen(rt) > 128)
        rt = "/tmp";
    cp_fmt(base, sizeof base, "%s/ctrprof-said-%u", rt, (unsigned)geteuid());
    base_seen = base_state(&base_mtime, &base_links);
    char dir[sizeof base + 48];
    struct stat st;
    if (base_seen && own_dir(dir, sizeof dir) == 0)
        own_seen = cp_raw_syscall(SYS_newfstatat, AT_FDCWD, (long)dir, (long)&st,
                                  AT_SYMLINK_NOFOLLOW, 0, 0) == 0;
    __atomic_store_n(&on, true, __ATOMIC_RELEASE);
    cp_log_tree_on_first(tree_first);
}

void cp_shim_treesaid_exit(void)
{
    if (!__atomic_load_n(&on, __ATOMIC_ACQUIRE) || __atomic_load_n(&filtered, __ATOMIC_ACQUIRE))
        return;
    /* A directory for this process's tree (its name has this process's pid and start
     * time: no other tree's) made since the constructor changed the per-user directory:
     * its link count (a subdirectory) and its time. Unchanged, and none there then (an
     * image exec'd by this process's earlier one could find one), there is none to
     * remove, and the /proc read and the unlink below are not made: the common case,
     * nobody in the tree said anything. A sweep or another tree's directory changes it
     * too: then the look below, as before. */
    struct timespec mt;
    unsigned long links;
    if (!base_state(&mt, &links) ||
        (base_seen && !own_seen && links == base_links && mt.tv_sec == base_mtime.tv_sec &&
         mt.tv_nsec == base_mtime.tv_nsec))
        return;
    /* only a root's directory has its own pid and start time in its name */
    char dir[sizeof base + 48], marker[sizeof dir + 24];
    int saved = errno;
    if (own_dir(dir, sizeof dir) == 0) {
        if (sys_unlink(dir, AT_REMOVEDIR) == -ENOTEMPTY) {
            for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++) {
                cp_fmt(marker, sizeof marker, "%s/%s", dir, cp_log_tree_name(k));
                sys_unlink(marker, 0);
            }
            char ns[24];
            if (link_digits("/proc/self/ns/pid", ns, sizeof ns)) {
                cp_fmt(marker, sizeof marker, "%s/pidns-%s", dir, ns);
                sys_unlink(marker, 0);
            }
            sys_unlink(dir, AT_REMOVEDIR);
        }
    }
    errno = saved;
}

bool cp_shim_treesaid_filter(bool forbids)
{
    return __atomic_exchange_n(&filtered, forbids, __ATOMIC_SEQ_CST);
}
