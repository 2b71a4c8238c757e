/*
 * stampclock.c — the TSC stamps' conversion to CLOCK_MONOTONIC nanoseconds (stampclock.h).
 *
 * Contexts: cp_stamp_init at start-up (before a second thread); cp_stamp_ns_slow (and
 * stampclock.h's inline cp_stamp_ns) under cp_flush_lock (heaptime.c applying a drained
 * event), which guards the calibration below. cp_stamp_tsc_mode is read by hooks
 * (relaxed) and cleared here if the TSC is found going backwards or out of step with
 * the clock by more than 10 ms (a VM migration, a suspend the TSC did not count): later
 * stamps are CLOCK_MONOTONIC ones.
 *
 * It also calibrates the lock hooks' wait clock (contention.h's cp_now_ns), once, with
 * two pairs 20 ms apart: cp_waitclock_step, on the flusher thread.
 *
 * And it keeps both clocks off the TSC once the program forbids it (cp_prof_tsc_denied,
 * from the prctl hook of any program thread, before its call): no stamp, pair or clock
 * read of ours reads it from then on (stampclock.h's cp_tsc_denied). The CPU's own word
 * on its TSC (cpuid) is read once at start-up: a program may make cpuid fault too
 * (arch_prctl ARCH_SET_CPUID), for the threads it makes later, the flusher among them.
 */
#include "stampclock.h"

#include "contention.h"
#include "line.h"
#include "prof.h" /* cp_prof_tsc_denied */
#include "rawsys.h"
#include "spin.h"

#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct cp_line_bool cp_stamp_tsc_mode;
CP_READ_MOSTLY int cp_tsc_denied;
static bool tsc_invariant;        /* cpuid's word, read at start-up (cp_stamp_init) */
struct cp_stamp_cal cp_stamp_cal; /* tsc0, ns0: the first pair; mult: over the latest */

/* guarded by cp_flush_lock (or start-up) */
static bool gave_up; /* the TSC misbehaved: no more pairs */
static unsigned ncal;

#define MIN_SPAN (1ull << 14)
#define FIRST_SPAN (1ull << 16) /* the first ratio's baseline at least: ~20-30 us */
#define MAX_SPAN (1ull << 24)
#define WINDOW 2000u /* ticks: ~0.5-1 us */

uint64_t cp_clock_notsc(void)
{
    struct timespec ts;
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE) ||
        cp_raw_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0, 0, 0) != 0)
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* (the vDSO's reads no TSC) */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cp_prof_tsc_denied(void)
{
    __atomic_store_n(&cp_tsc_denied, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&cp_stamp_tsc_mode.v, false, __ATOMIC_SEQ_CST);
    __atomic_store_n(&cp_waitclock_on, CP_WAITCLOCK_NOTSC, __ATOMIC_SEQ_CST);
}

/* A TSC reading and CLOCK_MONOTONIC read together: the clock read between two ordered
 * TSC reads, the TSC's midpoint taken; a few tries for a window under WINDOW ticks (a
 * preemption or an interrupt in between), else the narrowest. tsc 0: the TSC went
 * backwards under us. */
static uint64_t read_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    *tsc = 0;
    *ns = 0;
    for (int i = 0; i < 4 && best > WINDOW; i++) {
        _mm_lfence();
        uint64_t a = __rdtsc();
        _mm_lfence();
        uint64_t n = cp_mono_ns();
        _mm_lfence();
        uint64_t b = __rdtsc();
        if (b >= a && b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = n;
        }
    }
    return best; /* the window, in ticks */
}

/* ns per tick x 2^32 over a baseline of dns ns and dtsc (> 0) ticks */
static uint64_t ratio(uint64_t dns, uint64_t dtsc)
{
    return (uint64_t)(((unsigned __int128)dns << 32) / dtsc);
}

static bool clocksource_is_tsc(void)
{
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                  O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[16];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n >= 4 && memcmp(buf, "tsc\n", 4) == 0;
}

/* The CPU says its TSC is invariant (cpuid 0x80000007 EDX bit 8: constant and nonstop). */
static bool cpu_tsc_invariant(void)
{
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u));
    if (a < 0x80000007u)
        return false;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000007u));
    return (d & (1u << 8)) != 0;
}

/* The TSC is invariant (cp_stamp_init read cpuid), the program has not forbidden it, and
 * the kernel's clock source is "tsc" (so it found the TSCs of all CPUs in step). */
static bool tsc_trusted(void)
{
    return tsc_invariant && !__atomic_load_n(&cp_tsc_denied, __ATOMIC_RELAXED) &&
           clocksource_is_tsc();
}

void cp_stamp_init(bool dense)
{
    cp_stamp_tsc_mode.v = false;
    tsc_invariant = cpu_tsc_invariant();
    if (!dense || !tsc_trusted())
        return;
    uint64_t tsc, ns;
    read_pair(&tsc, &ns);
    if (!tsc)
        return;
    /* lim 0: the first stamp reads a pair (the ratio is not known yet) */
    cp_stamp_cal = (struct cp_stamp_cal){tsc, ns, 0, 0};
    ncal = 0;
    gave_up = false;
    __atomic_store_n(&cp_stamp_tsc_mode.v, true, __ATOMIC_RELAXED);
}

static void give_up(void)
{
    __atomic_store_n(&cp_stamp_tsc_mode.v, false, __ATOMIC_RELAXED);
    gave_up = true;
    /* stamps already made keep the last ratio, if there is one (else the clock's now) */
    cp_stamp_cal.lim = cp_stamp_cal.mult ? UINT64_MAX : 0;
}

static void calibrate(void)
{
    struct cp_stamp_cal *c = &cp_stamp_cal;
    uint64_t tsc, ns;
    /* The first ratio: a pair's TSC is known to within half its window (up to WINDOW
     * ticks), so a baseline of a few thousand ticks (a first event just after start-up)
     * could put it 20% off, and the first lifetimes in the wrong class. Wait until the
     * baseline is FIRST_SPAN ticks (a relative error under ~0.3%): at most that long,
     * once a process, and only if its first sampled event comes that early. */
    for (unsigned i = 0; !c->mult && i < 100000 && __rdtsc() - c->tsc0 < FIRST_SPAN; i++)
        __builtin_ia32_pause(); /* (bounded: a TSC that stood still would fail below) */
    read_pair(&tsc, &ns);
    ncal++;
    if (tsc <= c->tsc0 || ns <= c->ns0) {
        give_up();
        return;
    }
    if (c->mult) {
        /* where the conversion so far put this moment: more than 10 ms off means the TSC
         * stopped or jumped (a suspend, a VM moved): later stamps use the clock */
        uint64_t at = c->ns0 + (uint64_t)(((unsigned __int128)(tsc - c->tsc0) * c->mult) >> 32);
        if (at > ns + 10000000u || ns > at + 10000000u) {
            give_up();
            return;
        }
    }
    uint64_t span = tsc - c->tsc0;
    /* ns per tick x 2^32, over the whole baseline */
    c->mult = ratio(ns - c->ns0, span);
    /* the next pair when a stamp passes this one by the baseline so far (it doubles)
     * or by MAX_SPAN ticks */
    c->lim = span + (span < MIN_SPAN ? MIN_SPAN : span > MAX_SPAN ? MAX_SPAN : span);
}

uint64_t cp_stamp_ns_slow(uint64_t t)
{
    struct cp_stamp_cal *c = &cp_stamp_cal;
    /* (forbidden the TSC: the stamps made before keep the last ratio, as after give_up) */
    if (!gave_up && !__atomic_load_n(&cp_tsc_denied, __ATOMIC_RELAXED) && t >= c->tsc0 &&
        t - c->tsc0 > c->lim)
        calibrate();
    if (!c->mult) /* no good pair ever (the TSC went backwards at once): the clock's now */
        return cp_mono_ns() + 1;
    if (t < c->tsc0) /* (another CPU's TSC, a little behind at start-up) */
        return c->ns0 - (uint64_t)(((unsigned __int128)(c->tsc0 - t) * c->mult) >> 32);
    return c->ns0 + (uint64_t)(((unsigned __int128)(t - c->tsc0) * c->mult) >> 32);
}

unsigned cp_stamp_calibrations(void)
{
    return ncal;
}

/* ---- the waits' clock (contention.h) ------------------------------------------------ *
 * Its own calibration, not cp_stamp_cal's: the hooks read it without a lock, so it is
 * written once and never changed, where cp_stamp_cal is re-read under cp_flush_lock as
 * its baseline doubles (and exists only at the dense rates). */

CP_READ_MOSTLY struct cp_waitclock cp_waitclock;
CP_READ_MOSTLY int cp_waitclock_on;

/* the flusher thread's alone (one at a time); a fork child's carries on where its
 * parent's was */
static int wc_state; /* 0: not begun; 1: the first pair read; 2: done (or never) */
static uint64_t wc_tsc, wc_ns;

#define WC_BASELINE 20000000u /* ns between the two pairs */
#define WC_WINDOW 20000u      /* ticks: a pair read across more (preempted) is read again */

uint64_t cp_waitclock_step(void)
{
    uint64_t tsc, ns;
    if (__atomic_load_n(&cp_sandboxed, __ATOMIC_ACQUIRE))
        return 0; /* (no more calls: the vDSO stays the waits' clock) */
    if (__atomic_load_n(&cp_tsc_denied, __ATOMIC_RELAXED))
        wc_state = 2; /* (and the clock is cp_clock_notsc's for good) */
    switch (wc_state) {
    case 0:
        if (!tsc_trusted() || read_pair(&wc_tsc, &wc_ns) > WC_WINDOW || !wc_tsc) {
            wc_state = 2;
            return 0;
        }
        wc_state = 1;
        return WC_BASELINE;
    case 1:
        ns = cp_mono_ns();
        if (ns - wc_ns < WC_BASELINE)
            return WC_BASELINE - (ns - wc_ns);
        if (read_pair(&tsc, &ns) > WC_WINDOW)
            return 1000000; /* (another try in a millisecond) */
        wc_state = 2;
        if (!tsc || tsc <= wc_tsc || ns <= wc_ns)
            return 0; /* the TSC went backwards or stood still: the vDSO it stays */
        uint64_t mult = ratio(ns - wc_ns, tsc - wc_tsc);
        /* a TSC between 100 MHz and 100 GHz; anything else is not a clock to time with */
        if (mult > (10ull << 32) || mult < (1ull << 32) / 100)
            return 0;
        cp_waitclock = (struct cp_waitclock){tsc, ns, mult};
        /* (a CAS: a program that has forbidden the TSC meanwhile keeps it forbidden) */
        int off = CP_WAITCLOCK_VDSO;
        __atomic_compare_exchange_n(&cp_waitclock_on, &off, CP_WAITCLOCK_TSC, 0, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED);
        return 0;
    default:
        return 0;
    }
}
