/*
 * timeline.c — the heap over time, as points: at most one a step (the flush interval at
 * first), the estimated heap in use, the bytes allocated so far (the report derives the
 * allocation rate) and the process's RSS (/proc/self/statm, read here, never in a hook).
 *
 * Contexts: heaptime.c's publication, so the flusher, or whoever holds flusher.c's
 * cp_flush_lock (an inline flush on a program's thread, on the profiler's own stack). Five
 * raw system calls a point (open, fstat, pread, fstat, close of statm: see rss() for why),
 * none in a sandbox (openat may be forbidden: the RSS is then 0) and none on a hook's
 * path.
 *
 * Bounded whatever the run's length: CP_TL_MAX points per process. When they are all
 * used, each pair of neighbours becomes one (the one with more heap in use, so a spike
 * stays visible) and the step doubles: the whole run is always covered, older parts at a
 * coarser resolution. Published as ctrprof/timeline:<pid>:<i>:{ms,heap,rss,alloc} and
 * ctrprof/timeline:<pid>:n (docs/SCHEMA.md); a slot's counters are rewritten (as deltas)
 * when the pairing moves a point into it.
 */
#include "timeline.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "rawsys.h"
#include "spin.h"

enum { F_MS, F_HEAP, F_RSS, F_ALLOC, NF };
static const char *const fname[NF] = {"ms", "heap", "rss", "alloc"};

static uint64_t pt[CP_TL_MAX][NF], pub[CP_TL_MAX][NF];
static uint64_t *ctr[CP_TL_MAX][NF];
static bool failed[CP_TL_MAX];
static uint32_t npt, pub_n, dirty_from, hi; /* hi: slots ever used */
static uint64_t *ctr_n;
static uint64_t step_ns, next_ns;
static long pid, page = 4096;
static __thread long named_pid __attribute__((tls_model("initial-exec")));

long cp_tl_pid(void)
{
    if (named_pid)
        return named_pid;
    if (!pid)
        pid = cp_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0);
    return pid;
}

void cp_tl_name_pid(long p)
{
    named_pid = p;
}

void cp_tl_init(uint64_t flush_ms)
{
    step_ns = (flush_ms ? flush_ms : 1) * 1000000u;
    next_ns = 0;
    ctr_n = NULL;
    /* (only the slots used: at start-up none, so no page of these arrays is touched) */
    for (uint32_t i = 0; i < hi; i++) {
        for (int f = 0; f < NF; f++) {
            pub[i][f] = 0;
            ctr[i][f] = NULL;
        }
        failed[i] = false;
    }
    npt = pub_n = dirty_from = hi = 0;
    pid = 0; /* asked at the first publication: no system call at start-up */
    long ps = sysconf(_SC_PAGESIZE);
    if (ps > 0)
        page = ps;
}

/* Resident bytes, or 0 if statm cannot be read. A descriptor of ours lives for three
 * system calls, and a daemon's thread may close every descriptor and open its own in
 * that instant (issue 26, as core/cfile.c's reopen): the number could then be the
 * program's. So the file is read with pread (a program's file offset never moves; a pipe
 * or socket refuses it), and closed only if fstat still shows the file we opened. */
static uint64_t rss(void)
{
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_RELAXED))
        return 0;
    long fd = cp_raw_syscall(SYS_openat, AT_FDCWD, (long)"/proc/self/statm", O_RDONLY | O_CLOEXEC,
                             0, 0, 0);
    if (fd < 0)
        return 0;
    struct stat st0, st1;
    char buf[128];
    long n = -1;
    if (cp_raw_syscall(SYS_fstat, fd, (long)&st0, 0, 0, 0, 0) == 0)
        n = cp_raw_syscall(SYS_pread64, fd, (long)buf, sizeof buf - 1, 0, 0, 0);
    if (cp_raw_syscall(SYS_fstat, fd, (long)&st1, 0, 0, 0, 0) == 0 && st1.st_dev == st0.st_dev &&
        st1.st_ino == st0.st_ino)
        cp_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
    else
        n = -1; /* not ours any more: neither closed nor believed */
    if (n <= 0)
        return 0;
    buf[n] = 0;
    /* "size resident shared ...", in pages */
    char *p = buf;
    while (*p >= '0' && *p <= '9')
        p++;
    while (*p == ' ')
        p++;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    return v * (uint64_t)page;
}

void cp_tl_tick(uint64_t t_ns, double inuse, double allocated, bool force)
{
    if (!force && t_ns < next_ns)
        return;
    if (npt == CP_TL_MAX) { /* pair the points: the step doubles */
        for (uint32_t i = 0; i < CP_TL_MAX / 2; i++) {
            const uint64_t *a = pt[2 * i], *b = pt[2 * i + 1];
            const uint64_t *k = a[F_HEAP] > b[F_HEAP] ? a : b;
            for (int f = 0; f < NF; f++)
                pt[i][f] = k[f];
        }
        npt = CP_TL_MAX / 2;
        step_ns *= 2;
        dirty_from = 0;
    }
    uint64_t *q;
    if (npt && pt[npt - 1][F_MS] == t_ns / 1000000u) {
        q = pt[npt - 1]; /* a forced point in the same millisecond replaces the last */
        if (dirty_from > npt - 1)
            dirty_from = npt - 1;
    } else {
        q = pt[npt++];
    }
    if (npt > hi)
        hi = npt;
    q[F_MS] = t_ns / 1000000u;
    q[F_HEAP] = inuse > 0 ? (uint64_t)(inuse + 0.5) : 0;
    q[F_ALLOC] = allocated > 0 ? (uint64_t)(allocated + 0.5) : 0;
    q[F_RSS] = rss();
    next_ns = t_ns + step_ns;
}

static __attribute__((noinline)) bool publish(const struct cp_ht_sink *s)
{
    char name[96];
    long who = cp_tl_pid();
    for (uint32_t i = dirty_from; i < npt; i++) {
        for (int f = 0; f < NF && !failed[i]; f++) {
            if (pt[i][f] == pub[i][f])
                continue;
            if (!ctr[i][f]) {
                cp_fmt(name, sizeof name, "ctrprof/timeline:%ld:%u:%s", who, i, fname[f]);
                if (!(ctr[i][f] = s->named_ctr(name))) {
                    if (s->waits()) { /* (this point and the rest: at the next call) */
                        dirty_from = i;
                        return false;
                    }
                    failed[i] = true;
                    break;
                }
            }
            __atomic_fetch_add(ctr[i][f], pt[i][f] - pub[i][f], __ATOMIC_SEQ_CST);
            pub[i][f] = pt[i][f];
        }
    }
    dirty_from = npt;
    if (npt != pub_n) {
        if (!ctr_n) {
            cp_fmt(name, sizeof name, "ctrprof/timeline:%ld:n", who);
            ctr_n = s->named_ctr(name);
        }
        if (ctr_n) {
            /* last: a reader that sees n sees its points (one publication in any case) */
            __atomic_fetch_add(ctr_n, (uint64_t)npt - pub_n, __ATOMIC_SEQ_CST);
            pub_n = npt;
        } else if (s->waits()) {
            return false;
        }
    }
    return true;
}

bool cp_tl_publish(const struct cp_ht_sink *s)
{
    /* nothing new at most calls (an inline flush at every event, at rate 1): tested here,
     * before publish()'s frame is built */
    if (dirty_from < npt || npt != pub_n)
        return publish(s);
    return true;
}
