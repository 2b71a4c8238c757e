/*
 * switchwatch.h — has this thread been off its CPU since it last looked? Answered with a
 * load, no clock read, from the restartable-sequences area glibc registers for every
 * thread (rseq(2), glibc 2.35+: __rseq_offset from the thread pointer).
 *
 * How: cp_sw_arm stores a pointer to an empty critical-section descriptor in the area's
 * rseq_cs. At every return to user mode after the thread was switched out (it slept,
 * blocked or was preempted), migrated or took a signal, the kernel looks at rseq_cs and,
 * the thread not being inside the (empty) section, sets it to 0 (kernel/rseq.c,
 * rseq_ip_fixup). A system call that does not block leaves it alone. So cp_sw_armed is
 * true while no switch has come since the arm. The descriptor is valid as the kernel
 * checks it (version 0, abort_ip outside the empty range, RSEQ_SIG in the four bytes
 * before abort_ip): an invalid one would get the thread a SIGSEGV.
 *
 * Who uses it: events.c's runs of frees at rate 1 (a free may leave its time stamp to the
 * consumer only while no switch has come since the run's stamp; the stamp that ends a run
 * says whether one came after it). cp_sw_init decides at start-up, once a process, whether
 * the answer can be trusted: glibc registered the area, and a short sleep cleared an armed
 * pointer here (a kernel that stopped clearing it would make every run look unbroken).
 *
 * Contexts: cp_sw_armed / cp_sw_arm in hooks (the calling thread's own area; a thread
 * whose registration failed has cpu_id < 0 and is never armed, so never seen armed);
 * cp_sw_init on the start-up path (events.c's cp_live_defer_begin, where deferred mode
 * begins: before a second thread, not in a sandbox: it sleeps ~50-70 us). A program that uses rseq
 * itself (tcmalloc, librseq) replaces the pointer with its own descriptor in its sections:
 * cp_sw_armed then says "switched", which costs a clock read and is never wrong.
 */
#ifndef CP_SWITCHWATCH_H
#define CP_SWITCHWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "line.h"

/* glibc's (sys/rseq.h), weak: a glibc without them leaves cp_sw_on false */
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

/* The kernel's struct rseq, as far as read here (linux/rseq.h): cpu_id at 4, rseq_cs at 8. */
struct cp_sw_area {
    uint32_t cpu_id_start;
    int32_t cpu_id; /* -1 not registered, -2 registration failed (glibc) */
    uint64_t rseq_cs;
};

/* Set by cp_sw_init (read-mostly: hooks read it; base/line.h). */
extern bool cp_sw_on __attribute__((visibility("hidden")));
/* The empty section's descriptor (switchwatch.c). */
extern uint64_t cp_sw_desc[4] __attribute__((visibility("hidden")));

static inline volatile struct cp_sw_area *cp_sw_area(void)
{
    return (volatile struct cp_sw_area *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

/* cp_sw_on: a switch from now on clears what this stores. */
static inline void cp_sw_arm(void)
{
    volatile struct cp_sw_area *a = cp_sw_area();
    if (a->cpu_id >= 0)
        a->rseq_cs = (uint64_t)(uintptr_t)cp_sw_desc;
}

/* cp_sw_on: no switch since this thread's last cp_sw_arm (false if it never armed). */
static inline bool cp_sw_armed(void)
{
    return cp_sw_area()->rseq_cs == (uint64_t)(uintptr_t)cp_sw_desc;
}

/* Start-up (see above), once a process. Not in a sandbox (the caller checks). */
void cp_sw_init(void);

#endif
