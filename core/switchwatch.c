/*
 * switchwatch.c — the empty critical section's descriptor and the start-up check of
 * switchwatch.h (who calls what, and why it can be trusted: there).
 *
 * Contexts: cp_sw_init on the start-up path only (events.c's cp_live_defer_begin: before
 * a second thread), never in a sandbox; cp_sw_on is read by hooks.
 */
#include "switchwatch.h"

#include <sys/rseq.h> /* RSEQ_SIG */
#include <sys/syscall.h>
#include <time.h>

#include "rawsys.h" /* (no errno: start-up may run inside a hook) */

CP_READ_MOSTLY bool cp_sw_on;

/* The kernel reads, at abort_ip - 4, the signature the thread registered with (glibc:
 * RSEQ_SIG); abort_ip is the word after it, outside the section [start_ip, start_ip + 0). */
static const uint32_t sig[2] __attribute__((aligned(8))) = {RSEQ_SIG, 0};

/* struct rseq_cs: version, flags (u32 each), start_ip, post_commit_offset, abort_ip; 32
 * bytes, 32-aligned (linux/rseq.h). Filled in by cp_sw_init, read by the kernel alone. */
CP_READ_MOSTLY uint64_t cp_sw_desc[4] __attribute__((aligned(32)));

void cp_sw_init(void)
{
    __atomic_store_n(&cp_sw_on, false, __ATOMIC_RELAXED);
    if (!&__rseq_offset || !&__rseq_size || __rseq_size < 20)
        return;
    if (cp_sw_area()->cpu_id < 0)
        return;
    uint64_t *d = cp_sw_desc;
    d[0] = 0; /* version 0, flags 0 */
    d[1] = (uint64_t)(uintptr_t)&sig[1];
    d[2] = 0;
    d[3] = (uint64_t)(uintptr_t)&sig[1];
    /* an armed pointer survives a system call that does not block, and not a sleep */
    for (int i = 0; i < 3; i++) {
        cp_sw_arm();
        (void)cp_raw_syscall(SYS_getppid, 0, 0, 0, 0, 0, 0);
        if (!cp_sw_armed())
            continue; /* (a signal or a preemption just then: again) */
        struct timespec ts = {0, 20000};
        (void)cp_raw_syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, (long)&ts, 0, 0, 0);
        if (cp_sw_armed())
            break; /* (not cleared: the kernel does not do it; never trusted) */
        __atomic_store_n(&cp_sw_on, true, __ATOMIC_RELAXED);
        return;
    }
}
