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

struct cp_line_bool {
    _Alignas(CP_LINE) bool v;
    char pad_[CP_LINE - sizeof(bool)];
};

struct cp_line_u64 {
    _Alignas(CP_LINE) uint64_t v;
    char pad_[CP_LINE - sizeof(uint64_t)];
};

#endif
