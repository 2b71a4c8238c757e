/*
 * stampclock.c — the TSC stamps' conversion to CLOCK_MONOTONIC nanoseconds (stampclock.h).
 *
 * Contexts: cp_stamp_init at start-up (before a second thread); cp_stamp_ns_slow (and
 * stampclock.h's inline cp_stamp_ns) under cp_flush_lock (heaptime.c applying a drained
 * event), which guards the calibration below. cp_stamp_tsc_mode is read by hooks
 * (relaxed) and cleared here if the TSC is found going backwards or out of step with
 * the clock by more than 10 ms (a VM migration, a suspend the TSC did not count): later
 * stamps are CLOCK_MONOTONIC ones.
 */
#include "stampclock.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool cp_stamp_tsc_mode;
struct cp_stamp_cal cp_stamp_cal; /* tsc0, ns0: the first pair; mult: over the latest */

/* guarded by cp_flush_lock (or start-up) */
static bool gave_up; /* the TSC misbehaved: no more pairs */
static unsigned ncal;

#define MIN_SPAN (1ull << 14)
#define FIRST_SPAN (1ull << 16) /* the first ratio's baseline at least: ~20-30 us */
#define MAX_SPAN (1ull << 24)
#define WINDOW 2000u /* ticks: ~0.5-1 us */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A TSC reading and CLOCK_MONOTONIC read together: the clock read between two ordered
 * TSC reads, the TSC's midpoint taken; a few tries for a window under WINDOW ticks (a
 * preemption or an interrupt in between), else the narrowest. tsc 0: the TSC went
 * backwards under us. */
static void read_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    *tsc = 0;
    *ns = 0;
    for (int i = 0; i < 4 && best > WINDOW; i++) {
        _mm_lfence();
        uint64_t a = __rdtsc();
        _mm_lfence();
        uint64_t n = mono_ns();
        _mm_lfence();
        uint64_t b = __rdtsc();
        if (b >= a && b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = n;
        }
    }
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

void cp_stamp_init(bool dense)
{
    cp_stamp_tsc_mode = false;
    if (!dense)
        return;
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u));
    if (a < 0x80000007u)
        return;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000007u));
    if (!(d & (1u << 8)) || !clocksource_is_tsc())
        return;
    uint64_t tsc, ns;
    read_pair(&tsc, &ns);
    if (!tsc)
        return;
    /* lim 0: the first stamp reads a pair (the ratio is not known yet) */
    cp_stamp_cal = (struct cp_stamp_cal){tsc, ns, 0, 0};
    ncal = 0;
    gave_up = false;
    __atomic_store_n(&cp_stamp_tsc_mode, true, __ATOMIC_RELAXED);
}

static void give_up(void)
{
    __atomic_store_n(&cp_stamp_tsc_mode, false, __ATOMIC_RELAXED);
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
    c->mult = (uint64_t)(((unsigned __int128)(ns - c->ns0) << 32) / span);
    /* the next pair when a stamp passes this one by the baseline so far (it doubles)
     * or by MAX_SPAN ticks */
    c->lim = span + (span < MIN_SPAN ? MIN_SPAN : span > MAX_SPAN ? MAX_SPAN : span);
}

uint64_t cp_stamp_ns_slow(uint64_t t)
{
    struct cp_stamp_cal *c = &cp_stamp_cal;
    if (!gave_up && t >= c->tsc0 && t - c->tsc0 > c->lim)
        calibrate();
    if (!c->mult) /* no good pair ever (the TSC went backwards at once): the clock's now */
        return mono_ns() + 1;
    if (t < c->tsc0) /* (another CPU's TSC, a little behind at start-up) */
        return c->ns0 - (uint64_t)(((unsigned __int128)(c->tsc0 - t) * c->mult) >> 32);
    return c->ns0 + (uint64_t)(((unsigned __int128)(t - c->tsc0) * c->mult) >> 32);
}

unsigned cp_stamp_calibrations(void)
{
    return ncal;
}
