#!/usr/bin/env bash
# Children no atfork handler saw (_Fork: core/newproc.h) of a multi-threaded profiled
# process (issue 20): each must exit, whatever engine lock a thread of the parent held at
# the fork (docs/ARCHITECTURE.md, "Locks"). tests/unit/test_forklocks.c holds each lock
# from inside the engine; this runs a real program under the shim. Its children make only
# async-signal-safe calls (after _Fork in a multi-threaded process glibc's own locks are
# not reset either: a child that called dlopen here hung in glibc in 18 of 100 forks
# without any profiler).
. "$(dirname "$0")/lib.sh"

N=100
# the program alone: every child exits
out=$("$PROGS/rawfork_aside" $N 2>&1)
check_eq rawfork:aside:without-shim "children $N, exited $N, hung 0" "$out"
# under the shim at rate 1, the flusher draining every millisecond: each child's first
# profiled call is unshare(CLONE_NEWUSER), whose hook steps the engine aside
# (preload/alone.c) in a child that has no flusher and may have inherited the flush lock
# held (without the fix, 10 of 40 children hung)
mkdir -p "$WORK/aside"
out=$(CTRPROF_DIR="$WORK/aside" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=1 LD_PRELOAD="$SHIM" \
    timeout 900 "$PROGS/rawfork_aside" $N 2>&1)
check_eq rawfork:aside:children-exit "children $N, exited $N, hung 0" "$out"
# and the parent's profile reads
check_cmd rawfork:aside:parent-profile-reads "$CTRPROF" dump "$(ls "$WORK"/aside/*.count 2>/dev/null | head -1)"
