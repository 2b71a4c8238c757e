/*
 * log.c — async-signal-safe diagnostics (see log.h).
 *
 * Contexts: any — hooks, signal handlers, the flusher, atfork handlers, offline tools.
 * Invariants: no stdio, no malloc, no locks; errno is preserved; one write(2) per
 * message so concurrent messages do not interleave within a line (PIPE_BUF).
 */
#include "log.h"
#include "nocancel.h"

#include <sys/mman.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
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
        case 'x': {
            unsigned long long v = lng >= 2 ? va_arg(ap, unsigned long long)
                                   : lng    ? va_arg(ap, unsigned long)
                                            : va_arg(ap, unsigned);
            put_u(&o, v, *p == 'x' ? 16 : 10, width, pad);
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
    "not-profiling", "file",         "memory",         "options",     "truncated",
    "ring",          "flusher",      "birth-table",    "own-stack",   "sandbox-room",
    "counter",       "waiter-table", "early",          "bus-blocked", "counter-wait",
    "deepbind",      "stalled",      "thread-checker", "another-copy"};

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
