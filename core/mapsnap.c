/*
 * mapsnap.c — the readable-mappings snapshot (mapsnap.h).
 *
 * State: two buffers of [lo, hi) pairs, sorted (the kernel lists mappings in address
 * order), mapped once at the first refresh (MS_MAX entries each, 64 KiB); `cur` says which
 * one readers use. A refresh fills the other one and then publishes it; each buffer has a
 * sequence word (odd while it is written), so a reader that raced a refresh of the buffer
 * it was reading discards what it read. Raw system calls only (openat, read, close), no
 * allocation, no stdio. A fork child's reset (cp_mapsnap_fork_child) evens a sequence
 * that a _Fork copied mid-refresh.
 */
#include "mapsnap.h"

#include <fcntl.h>
#include <sys/syscall.h>

#include "arena.h"
#include "rawsys.h"

#define MS_MAX 4095

struct snap {
    uint64_t seq; /* odd: being written */
    uint64_t n;
    uintptr_t r[MS_MAX][2];
};

static struct snap *bufs; /* [2], atomic pointer */
static unsigned cur;      /* atomic: the published one */
int cp_mapsnap_want;      /* atomic (mapsnap.h: read inline) */

void cp_mapsnap_fork_child(void)
{
    struct snap *b = __atomic_load_n(&bufs, __ATOMIC_ACQUIRE);
    for (int i = 0; b && i < 2; i++)
        if (b[i].seq & 1)
            b[i].seq++;
}

bool cp_mapsnap_find(uintptr_t p, uintptr_t *hi)
{
    struct snap *b = __atomic_load_n(&bufs, __ATOMIC_ACQUIRE);
    if (!b) {
        __atomic_store_n(&cp_mapsnap_want, 1, __ATOMIC_RELAXED);
        return false;
    }
    const struct snap *s = &b[__atomic_load_n(&cur, __ATOMIC_ACQUIRE) & 1];
    uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if (seq & 1)
        return false;
    uint64_t n = __atomic_load_n(&s->n, __ATOMIC_RELAXED);
    if (n > MS_MAX)
        return false;
    /* the last range with lo <= p */
    uint64_t a = 0, z = n;
    while (a < z) {
        uint64_t m = a + (z - a) / 2;
        if (__atomic_load_n(&s->r[m][0], __ATOMIC_RELAXED) <= p)
            a = m + 1;
        else
            z = m;
    }
    uintptr_t h = 0;
    bool found = a > 0 && p < (h = __atomic_load_n(&s->r[a - 1][1], __ATOMIC_RELAXED));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != seq)
        return false;
    if (!found) {
        __atomic_store_n(&cp_mapsnap_want, 1, __ATOMIC_RELAXED);
        return false;
    }
    *hi = h;
    return true;
}

int cp_mapsnap_refresh(void)
{
    struct snap *b = __atomic_load_n(&bufs, __ATOMIC_ACQUIRE);
    if (!b) {
        b = cp_mmap_anon(2 * sizeof *b);
        if (!b)
            return -12; /* ENOMEM */
        __atomic_store_n(&bufs, b, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&cp_mapsnap_want, 0, __ATOMIC_RELAXED);
    long fd = cp_raw_syscall(SYS_openat, AT_FDCWD, (long)"/proc/self/maps", O_RDONLY | O_CLOEXEC, 0,
                             0, 0);
    if (fd < 0)
        return (int)fd;
    struct snap *s = &b[(__atomic_load_n(&cur, __ATOMIC_RELAXED) & 1) ^ 1];
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED); /* odd */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    /* each line: "lo-hi perms ...": field 0 lo, 1 hi, 2 the first permission, 3 the rest */
    char buf[4096];
    uint64_t n = 0;
    uintptr_t lo = 0, hi = 0;
    int field = 0;
    for (;;) {
        long got = cp_raw_syscall(SYS_read, fd, (long)buf, sizeof buf, 0, 0, 0);
        if (got <= 0)
            break;
        for (long i = 0; i < got; i++) {
            char c = buf[i];
            if (c == '\n') {
                field = 0;
                lo = hi = 0;
                continue;
            }
            if (field < 2) {
                unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                                    : 16u;
                if (d < 16) {
                    if (field == 0)
                        lo = lo << 4 | d;
                    else
                        hi = hi << 4 | d;
                } else {
                    field++; /* '-' after lo, ' ' after hi */
                }
            } else if (field == 2) {
                if (c == 'r' && lo < hi && n < MS_MAX) {
                    __atomic_store_n(&s->r[n][0], lo, __ATOMIC_RELAXED);
                    __atomic_store_n(&s->r[n][1], hi, __ATOMIC_RELAXED);
                    n++;
                }
                field = 3;
            }
        }
    }
    cp_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
    __atomic_store_n(&s->n, n, __ATOMIC_RELAXED);
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE); /* even */
    __atomic_store_n(&cur, (unsigned)(s - b), __ATOMIC_RELEASE);
    return 0;
}
