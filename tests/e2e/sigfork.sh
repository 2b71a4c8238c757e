#!/usr/bin/env bash
# Invisible to the host (issue 29): the profiler's own thread, signals and forks must not
# change what a program can do. Each program exits 0 and prints the same with the shim as
# without it, at CTRPROF_MEM_RATE=1 (the flusher starts in the constructor) and at the
# default rate.
source "$(dirname "$0")/lib.sh"

# same NAME RATE CMD...: CMD under the shim at RATE exits as bare and prints the same
same() {
    local n=$1 rate=$2; shift 2
    local want got wrc grc
    want=$(timeout 60 "$@" 2>&1); wrc=$?
    got=$(cd "$WORK" && CTRPROF_DIR="$WORK" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" timeout 60 "$@" 2>&1); grc=$?
    check_eq "$n" "$wrc $want" "$grc $got"
}

RATES="1 524288"

# 1. Signals: the flusher is created with every signal blocked.
for rate in $RATES; do
    for mode in signalfd sigwait helper sigchld alarm; do
        same "sigfork:signals-$mode-rate-$rate" "$rate" "$PROGS/sigdaemon" "$mode"
    done
done
