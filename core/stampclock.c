/*
 * stampclock.c — the TSC stamps' conversion to CLOCK_MONOTONIC nanoseconds (stampclock.h).
 *
 * Contexts: cp_stamp_init at start-up (before a second thread); cp_stamp_ns_tsc under
 * cp_flush_lock (heaptime.c applying a drained event), which guards the calibration
 * below. cp_stamp_tsc_mode is read by hooks (relaxed) and cleared here if the TSC is
 * found going backwards or out of step with the clock by more than 10 ms (a VM
 * migration, a suspend the TSC did not count): later stamps are CLOCK_MONOTONIC ones.
 */
#include "stampclock.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool cp_stamp_tsc_mode;

/* guarded by cp_flush_lock (or start-up) */
static uint64_t tsc0, ns0; /* the first pair */
static uint64_t next_cal;  /* a stamp past this reads a new pair */
static double r;           /* ns per tick over tsc0 to the latest pair; 0: not yet known */
static bool gave_up;       /* the TSC misbehaved: no more pairs */
static unsigned ncal;

#define MIN_SPAN (1ull << 14)
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
 * preemption or an interrupt in between), else the narrowest. */
static void read_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
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
    if (best == UINT64_MAX) { /* the TSC went backwards under us */
        *tsc = 0;
        *ns = mono_ns();
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
    read_pair(&tsc0, &ns0);
    if (!tsc0)
        return;
    next_cal = tsc0; /* the first stamp reads a pair: r is not known yet */
    r = 0;
    ncal = 0;
    gave_up = false;
    __atomic_store_n(&cp_stamp_tsc_mode, true, __ATOMIC_RELAXED);
}

static void give_up(void)
{
    __atomic_store_n(&cp_stamp_tsc_mode, false, __ATOMIC_RELAXED);
    gave_up = true;
}

static void calibrate(void)
{
    uint64_t tsc, ns;
    read_pair(&tsc, &ns);
    ncal++;
    if (tsc <= tsc0 || ns <= ns0) {
        give_up();
        return;
    }
    double nr = (double)(ns - ns0) / (double)(tsc - tsc0);
    if (r > 0) {
        /* where the conversion so far put this moment: more than 10 ms off means the TSC
         * stopped or jumped (a suspend, a VM moved): later stamps use the clock */
        double off = (double)ns0 + (double)(tsc - tsc0) * r - (double)ns;
        if (off > 1e7 || off < -1e7) {
            give_up();
            return;
        }
    }
    r = nr;
    uint64_t span = tsc - tsc0;
    span = span < MIN_SPAN ? MIN_SPAN : span > MAX_SPAN ? MAX_SPAN : span;
    next_cal = tsc + span;
}

uint64_t cp_stamp_ns_tsc(uint64_t t)
{
    if (!gave_up && (t > next_cal || r == 0))
        calibrate();
    if (r == 0) /* no good pair ever (the TSC went backwards at once): the clock's now */
        return mono_ns() + 1;
    double d = (double)(int64_t)(t - tsc0) * r;
    uint64_t ns = d >= 0 ? ns0 + (uint64_t)d : ns0 - (uint64_t)-d;
    return ns ? ns : 1;
}

unsigned cp_stamp_calibrations(void)
{
    return ncal;
}
