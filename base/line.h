/*
 * line.h — a variable alone on its cache line (64 bytes on x86-64).
 *
 * What the flusher writes often must not share a line with what a program's thread reads
 * at every event: each write takes the line from the other core, whose next read waits
 * for it ("false sharing"). The linker places globals side by side in an order nobody
 * chose (link-time optimisation reorders them), so a flag the hooks read at every event
 * sat beside the flusher's per-bucket counters (perf on bench/progs/namestacks at rate 1:
 * a third of cp_event_alloc's samples on the load of cp_flusher_running, session 35). A
 * variable of one of these types fills its line; its value is the member v.
 */
#ifndef CP_LINE_H
#define CP_LINE_H

#include <stdbool.h>
#include <stdint.h>

#define CP_LINE 64

/* The other half of the rule, for the variables the hooks read at every event and that
 * are written seldom (at start-up, a fork, a flush, a table's growth, an error): each is
 * declared CP_READ_MOSTLY, which puts it in a section of its own; the shim's link
 * (base/readmostly.ld) lays that section out on cache lines of its own, away from
 * whatever the flusher writes. Without it the linker set heaptime.c's epoch, which the
 * flusher bumps at every new peak of a growing heap, on the line of cp_ht_on and
 * cp_cycle, read at every allocation: perf put a quarter of cp_event_alloc's samples on
 * perl at rate 1 on that load (session 37). Outside the shim's link (unit tests, which
 * link libcore.a) the section is laid out as any other. A variable written at every
 * event or every wait (a counter shared by threads) is not read-mostly: it gets a line
 * of its own below instead. */
#define CP_READ_MOSTLY __attribute__((section(".cp_read_mostly")))

struct cp_line_bool {
    _Alignas(CP_LINE) bool v;
    char pad_[CP_LINE - sizeof(bool)];
};

struct cp_line_u64 {
    _Alignas(CP_LINE) uint64_t v;
    char pad_[CP_LINE - sizeof(uint64_t)];
};

#endif
