#!/usr/bin/env bash
# Lifetimes at rate 1 in a single-threaded event loop (tests/programs/eventloop.c): a
# request frees its temporaries in a row and the loop waits (poll, epoll_wait, select,
# nanosleep, a blocking read), and the kept objects are freed in a row after the next
# wait. At rate 1 a free that follows a free may leave its time to the flusher, which
# brackets it (core/events.c, "runs of frees"; resolve.c, "frees in a run"): a wait
# inside a run must still count in the lifetime of what is freed after it, and a wait
# after a run must not leave the run's frees unclassed (what the first version of runs
# of frees did, session 37: 7 of every request's 8 temporaries here).
#   - req_temp (8 a request, microseconds): at least 95% in the classes under 1 ms (90%
#     in the short runs below; a request preempted for a millisecond between an
#     allocation and its free is the rest: 8 of 800 once beside a benchmark, 1 of 3,200
#     on a quiet machine; session 37's version classed 399 of 3,200);
#   - req_kept, after_wait, run_pause (4 + 1 + 1 a request): none under 1 ms (every one
#     outlived a wait of at least 1 ms by the program's own clock), at least 99% classed;
#   - ctrprof/health:life-unbracketed at most 1% of ctrprof/health:life-in-run, which is
#     not 0 where runs of frees are possible (TSC stamps and glibc's rseq): otherwise
#     said, visibly;
#   - with glibc's rseq turned off (GLIBC_TUNABLES), no run at all, the same classes;
#   - a program that uses rseq itself (eventloop's "rseq": its own section's descriptor
#     after every free, as tcmalloc's are): no run at all, the same classes.
source "$(dirname "$0")/lib.sh"

counter() { "$CTRPROF" dump "$1" | awk -v k="$2" '$2 == k { print $1 }' | head -1; }

N=400
d=$WORK/el
mkdir -p "$d"
CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/eventloop" "$N" >"$WORK/out"
check_eq "eventloop:runs" "0 requests $N" "$? $(cat "$WORK/out")"
f=$(ls "$d"/*.count 2>/dev/null | head -1)
lt=$("$CTRPROF" report --format=lifetimes "$f")
# a site's row: lt1us 1us 10us 100us 1ms 10ms 100ms 1s 10s live median site
row() { echo "$lt" | awk -v s="$1" '$NF == s { b = $1 + $2 + $3 + $4; a = $5 + $6 + $7 + $8 + $9; print b, a, $10 }'; }
read -r tb ta tl <<<"$(row req_temp)"
check_cmd "eventloop:temporaries-under-1ms ($tb of $((8 * N)), $ta over, $tl live)" \
    test "${tb:-0}" -ge $((8 * N * 95 / 100)) -a "${tl:-1}" -eq 0
for s in req_kept:4 after_wait:1 run_pause:1; do
    read -r b a l <<<"$(row "${s%%:*}")"
    want=$((${s##*:} * N))
    check_cmd "eventloop:${s%%:*}-none-under-1ms ($b under, $a over of $want, $l live)" \
        test "${b:-1}" -eq 0 -a "${a:-0}" -ge $((want * 99 / 100)) -a "${a:-0}" -le "$want" -a "${l:-1}" -eq 0
done
inrun=$(counter "$f" ctrprof/health:life-in-run)
unbr=$(counter "$f" ctrprof/health:life-unbracketed)
inrun=${inrun:-0}
unbr=${unbr:-0}
check_cmd "eventloop:unbracketed-at-most-1% ($unbr of $inrun frees in runs)" \
    test $((unbr * 100)) -le "$inrun"
# Runs of frees are possible here: an invariant TSC the kernel keeps time with (the hooks
# stamp with it at rate 1: core/stampclock.h), glibc 2.35+ registering rseq (not turned
# off by GLIBC_TUNABLES), and a kernel that clears an armed rseq_cs at a switch
# (core/switchwatch.h; tests/programs/rseqprobe makes the engine's start-up check)
tsc=no
if grep -qw constant_tsc /proc/cpuinfo && grep -qw nonstop_tsc /proc/cpuinfo &&
    [ "$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)" = tsc ]; then
    tsc=yes
fi
probe=$("$PROGS/rseqprobe")
rseq=no
[ "$probe" != none ] && rseq=yes
if [ "$tsc" = yes ] && [ "$probe" = clears ]; then
    check_cmd "eventloop:runs-of-frees-engaged ($inrun frees in runs)" test "$inrun" -gt 0
else
    skip eventloop:runs-of-frees-engaged "no TSC stamps ($tsc) or no switch watch (rseq: $probe) here: every free read its own time"
fi

# unwatched NAME ENV...: eventloop of 100 requests, where no free may be left to the
# flusher (nothing in runs), with the classes as always
unwatched() {
    local name=$1 dir=$WORK/$1
    shift
    mkdir -p "$dir"
    env "$@" CTRPROF_DIR="$dir" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/eventloop" 100 \
        ${RSEQ_ARG:-} >/dev/null
    check_eq "eventloop:$name-runs" 0 "$?"
    local f
    f=$(ls "$dir"/*.count 2>/dev/null | head -1)
    lt=$("$CTRPROF" report --format=lifetimes "$f")
    read -r tb ta tl <<<"$(row req_temp)"
    read -r kb ka kl <<<"$(row req_kept)"
    check_cmd "eventloop:$name-classes (temporaries $tb under 1 ms of 800; kept $kb under, $ka over of 400)" \
        test "${tb:-0}" -ge 720 -a "${kb:-1}" -eq 0 -a "${ka:-0}" -ge 396
    check_eq "eventloop:$name-nothing-in-runs" "" "$(counter "$f" ctrprof/health:life-in-run)"
}

# Without glibc's rseq (its tunable off) there is no switch watch: every free reads its
# own time, nothing is bracketed, and the classes are the same
unwatched no-rseq GLIBC_TUNABLES=glibc.pthread.rseq=0

# A program that uses rseq itself (as tcmalloc does) points the area at its own sections,
# replacing the profiler's switch watch: every free then reads its own time (the watch
# reads "switched"), the program runs on, and the classes hold
if [ "$rseq" = yes ]; then
    RSEQ_ARG=rseq unwatched rseq-user
else
    skip eventloop:rseq-user "glibc registers no rseq here"
fi
