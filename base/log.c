/*
 * log.c — async-signal-safe diagnostics (see log.h).
 *
 * Contexts: any — hooks, signal handlers, the flusher, atfork handlers, offline tools.
 * Invariants: no stdio, no malloc, no locks; errno is preserved; one write(2) per
 * message so concurrent messages do not interleave within a line (PIPE_BUF).
 */
#include "log.h"
#include "nocancel.h"
#include "rawsys.h"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cp_log_debug_enabled;

struct out {
    char *buf;
    size_t len, pos;
};

static void put(struct out *o, char c)
{
    if (o->pos + 1 < o->len)
        o->buf[o->pos] = c;
    o->pos++;
}

static void put_u(struct out *o, unsigned long long v, unsigned base, int width, char pad)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (width-- > n)
        put(o, pad);
    while (n)
        put(o, tmp[--n]);
}

size_t cp_vfmt(char *buf, size_t len, const char *fmt, va_list ap)
{
    struct out o = {buf, len, 0};
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        p++;
        char pad = ' ';
        int width = 0;
        if (*p == '0') {
            pad = '0';
            p++;
        }
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        long prec = -1;
        if (*p == '.') {
            prec = 0;
            for (p++; *p >= '0' && *p <= '9'; p++)
                prec = prec * 10 + (*p - '0');
            if (*p == '*') {
                prec = va_arg(ap, int);
                p++;
            }
        }
        int lng = 0;
        while (*p == 'l') {
            lng++;
            p++;
        }
        if (*p == 'z') {
            lng = 2;
            p++;
        }
        switch (*p) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            while (*s && prec-- != 0)
                put(&o, *s++);
            break;
        }
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 'd':
        case 'i': {
            long long v = lng >= 2 ? va_arg(ap, long long)
                          : lng    ? va_arg(ap, long)
                                   : va_arg(ap, int);
            unsigned long long u = (unsigned long long)v;
            if (v < 0) {
                put(&o, '-');
                u = 0ull - u;
            }
            put_u(&o, u, 10, width, pad);
            break;
        }
        case 'u':
        case 'x':
        case 'o': {
            unsigned long long v = lng >= 2 ? va_arg(ap, unsigned long long)
                                   : lng    ? va_arg(ap, unsigned long)
                                            : va_arg(ap, unsigned);
            put_u(&o, v, *p == 'x' ? 16 : *p == 'o' ? 8 : 10, width, pad);
            break;
        }
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_u(&o, (uintptr_t)va_arg(ap, void *), 16, 0, ' ');
            break;
        case '%':
            put(&o, '%');
            break;
        case '\0':
            p--;
            break;
        default:
            put(&o, '%');
            put(&o, *p);
        }
    }
    if (len)
        buf[o.pos < len ? o.pos : len - 1] = '\0';
    return o.pos;
}

size_t cp_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = cp_vfmt(buf, len, fmt, ap);
    va_end(ap);
    return n;
}

/* ---- fd 2 (log.h: cp_log_pin_stderr) ---- */
enum { FD2_ANY, FD2_PINNED, FD2_FROZEN, FD2_NOT_OURS };
static int fd2_state; /* atomic */
static bool fd2_had;  /* fd 2 was open at the pin: its device and inode */
static unsigned long fd2_dev, fd2_ino;

/* fd 2's status by the raw system call (no interposer of fstat sees it: a sanitizer's
 * runtime); false if it is not open */
static bool fd2_stat(struct stat *st)
{
    return cp_raw_syscall(SYS_fstat, 2, (long)st, 0, 0, 0, 0) == 0;
}

/* Would n more bytes on fd 2, a regular file, start at or past RLIMIT_FSIZE? The kernel
 * would then send SIGXFSZ, which kills a program that does not handle it (and the program
 * may have lowered the limit below its standard error's size: a line of ours must not
 * end it). Whole lines only: one that would be cut is not written either. */
static bool past_fsize(const struct stat *st, size_t n)
{
    struct rlimit rl;
    if (!S_ISREG(st->st_mode) ||
        cp_raw_syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, 0, (long)&rl, 0, 0) != 0 ||
        rl.rlim_cur == RLIM_INFINITY)
        return false;
    long fl = cp_raw_syscall(SYS_fcntl, 2, F_GETFL, 0, 0, 0, 0);
    long at = fl >= 0 && (fl & O_APPEND) ? (long)st->st_size
                                         : cp_raw_syscall(SYS_lseek, 2, 0, SEEK_CUR, 0, 0, 0);
    return at < 0 || (unsigned long)at + n > rl.rlim_cur;
}

void cp_log_pin_stderr(void)
{
    struct stat st;
    if (fd2_stat(&st)) {
        fd2_dev = (unsigned long)st.st_dev;
        fd2_ino = (unsigned long)st.st_ino;
        fd2_had = true;
    }
    __atomic_store_n(&fd2_state, FD2_PINNED, __ATOMIC_RELEASE);
}

/* How a line of n bytes goes to fd 2 now: not at all, plainly (the tools; a process
 * under a seccomp filter), or carefully (careful_write: a pinned fd 2, still its file). */
enum { FD2_DROP, FD2_PLAIN, FD2_CAREFUL };
static int fd2_way(size_t n)
{
    int state = __atomic_load_n(&fd2_state, __ATOMIC_ACQUIRE);
    if (state == FD2_ANY || state == FD2_FROZEN)
        return FD2_PLAIN;
    if (state == FD2_NOT_OURS)
        return FD2_DROP;
    /* fd 2 as it was, or a stream the program put there (a pipe it reads, a socket, a
     * terminal, /dev/null); never a file or a device with data in it */
    struct stat st;
    if (!fd2_stat(&st))
        return FD2_DROP;
    bool same =
        fd2_had && (unsigned long)st.st_dev == fd2_dev && (unsigned long)st.st_ino == fd2_ino;
    bool stream = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode);
    return (same || stream) && !past_fsize(&st, n) ? FD2_CAREFUL : FD2_DROP;
}

/* a raw call's failure as a negative errno, whichever convention rawsys.h's has here */
static long raw_err(long r)
{
#if defined(__x86_64__)
    return r;
#else
    return r == -1 ? -errno : r;
#endif
}

/* The line, only if fd 2 takes it now: a pipe or socket whose reader has gone (POLLERR,
 * POLLHUP) would raise SIGPIPE, which ends a program that never writes there itself
 * (`prog 2>&1 | head`, a supervisor gone); a full pipe (no POLLOUT) would block it
 * while its reader may be waiting for it to end. And SIGPIPE is blocked around the
 * write, the one a reader gone meanwhile raises taken back (unless one was pending
 * already: the program's); SIGTTOU too, so that a program in a background job writes to
 * a terminal under `stty tostop` instead of being stopped (the kernel lets the write
 * through when the signal is blocked). Raw calls, none of them a cancellation point. */
static void careful_write(const char *buf, size_t n)
{
    struct pollfd p = {2, POLLOUT, 0};
    struct timespec zero = {0, 0};
    if (raw_err(cp_raw_syscall(SYS_ppoll, (long)&p, 1, (long)&zero, 0, 0, 0)) != 1 ||
        (p.revents & (POLLERR | POLLHUP | POLLNVAL)) || !(p.revents & POLLOUT))
        return;
    uint64_t pipe = 1ull << (SIGPIPE - 1), block = pipe | 1ull << (SIGTTOU - 1), old = 0,
             pending = 0;
    if (raw_err(cp_raw_syscall(SYS_rt_sigprocmask, SIG_BLOCK, (long)&block, (long)&old, 8, 0, 0)) !=
        0)
        return;
    if (raw_err(cp_raw_syscall(SYS_rt_sigpending, (long)&pending, 8, 0, 0, 0, 0)) != 0)
        pending = pipe; /* (not known: nothing is taken back) */
    long r;
    do
        r = raw_err(cp_raw_syscall(SYS_write, 2, (long)buf, (long)n, 0, 0, 0));
    while (r == -EINTR);
    if (r == -EPIPE && !(pending & pipe))
        cp_raw_syscall(SYS_rt_sigtimedwait, (long)&pipe, 0, (long)&zero, 8, 0, 0);
    cp_raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8, 0, 0);
}

void cp_log_freeze_stderr(void)
{
    if (__atomic_load_n(&fd2_state, __ATOMIC_ACQUIRE) != FD2_PINNED)
        return;
    /* (a regular file under a file size limit: never again, for its checks need calls
     * the filter may forbid; the size of a line is about PIPE_BUF at most) */
    __atomic_store_n(&fd2_state, fd2_way(PIPE_BUF) != FD2_DROP ? FD2_FROZEN : FD2_NOT_OURS,
                     __ATOMIC_RELEASE);
}

static void vlog(const char *fmt, va_list ap)
{
    int saved = errno;
    char buf[512] = "ctrprof: ";
    size_t pre = 9;
    size_t n = cp_vfmt(buf + pre, sizeof buf - pre - 1, fmt, ap);
    if (n > sizeof buf - pre - 2)
        n = sizeof buf - pre - 2;
    n += pre;
    buf[n++] = '\n';
    int way = fd2_way(n);
    if (way != FD2_PLAIN) {
        if (way == FD2_CAREFUL)
            careful_write(buf, n);
        errno = saved;
        return;
    }
    ssize_t r;
    int cs = cp_cancel_off(); /* (write: base/nocancel.h) */
    do
        r = write(2, buf, n);
    while (r < 0 && errno == EINTR);
    cp_cancel_restore(cs);
    errno = saved;
}

void cp_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void cp_debug(const char *fmt, ...)
{
    if (!cp_log_debug_enabled)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

/* ---- once per process tree (log.h) ---- */
static int tree_local[CP_LOG_TREE_KEYS];
static int *tree_flags = tree_local; /* the shared page once mapped */

void cp_log_tree_init(void)
{
    if (tree_flags != tree_local)
        return;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED)
        tree_flags = p;
}

static void (*tree_said_hook)(void);
static int (*tree_first_hook)(unsigned key);

void cp_log_tree_on_first(int (*fn)(unsigned key))
{
    __atomic_store_n(&tree_first_hook, fn, __ATOMIC_RELEASE);
}

void cp_log_tree_on_said(void (*fn)(void))
{
    __atomic_store_n(&tree_said_hook, fn, __ATOMIC_RELEASE);
}

int cp_log_tree_first(unsigned key)
{
    if (key >= CP_LOG_TREE_KEYS || __atomic_exchange_n(&tree_flags[key], 1, __ATOMIC_SEQ_CST))
        return 0;
    int (*first)(unsigned) = __atomic_load_n(&tree_first_hook, __ATOMIC_ACQUIRE);
    if (first && !first(key))
        return 0; /* an exec'd image of the tree said it (its flag stays set here too) */
    void (*fn)(void) = __atomic_load_n(&tree_said_hook, __ATOMIC_ACQUIRE);
    if (fn)
        fn();
    return 1;
}

void cp_log_tree_mark(unsigned key)
{
    if (key < CP_LOG_TREE_KEYS)
        __atomic_store_n(&tree_flags[key], 1, __ATOMIC_RELAXED);
}

int cp_log_tree_said(unsigned key)
{
    return key < CP_LOG_TREE_KEYS && __atomic_load_n(&tree_flags[key], __ATOMIC_RELAXED);
}

static const char *const tree_names[CP_LOG_TREE_KEYS] = {
    "not-profiling", "file",         "memory",         "options",      "truncated",
    "ring",          "flusher",      "birth-table",    "own-stack",    "sandbox-room",
    "counter",       "waiter-table", "early",          "bus-blocked",  "counter-wait",
    "deepbind",      "stalled",      "thread-checker", "another-copy", "file-mode"};

const char *cp_log_tree_name(unsigned key)
{
    return key < CP_LOG_TREE_KEYS ? tree_names[key] : "";
}

void cp_log_tree_mark_list(const char *said)
{
    for (const char *p = said; p && *p;) {
        size_t n = 0;
        while (p[n] && p[n] != ',')
            n++;
        for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++)
            if (!strncmp(p, tree_names[k], n) && tree_names[k][n] == 0)
                cp_log_tree_mark(k);
        p += n + (p[n] == ',');
    }
}

size_t cp_log_tree_list(char *buf, size_t len)
{
    size_t n = 0;
    if (len)
        buf[0] = 0;
    for (unsigned k = 0; k < CP_LOG_TREE_KEYS; k++)
        if (cp_log_tree_said(k))
            n += cp_fmt(buf + (n < len ? n : len), n < len ? len - n : 0, "%s%s", n ? "," : "",
                        tree_names[k]);
    return n;
}
