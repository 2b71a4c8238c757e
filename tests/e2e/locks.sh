#!/usr/bin/env bash
# Mutex and block profiling (issue 6): return values and errno of every interposed
# pthread/semaphore call as glibc's; a program with known contention: the mutex delay
# adds up to the waits the program measured (within 20%), charged mostly to the unlock
# of the longer critical section; the block delay per waiting site matches (within 20%).
source "$(dirname "$0")/lib.sh"

want=$(timeout 60 "$PROGS/lock_check")
check_eq "locks:check-program-runs-bare" 0 $?
for mode in "1 1" "1 0" "0 1000000"; do
    set -- $mode
    got=$(cd "$WORK" && CTRPROF_MUTEX_FRACTION=$1 CTRPROF_BLOCK_RATE=$2 LD_PRELOAD="$SHIM" timeout 60 "$PROGS/lock_check")
    check_eq "locks:results-and-errno:fraction=$1:block=$2" "$want" "$got"
done

# One run of the contention program: sets total, wshort, wlong (the program's own
# measurements), ushort, ulong (mutex delay charged to each unlock), bshort, blong (block
# delay at each lock) and P (the profile).
leaf_sums() { awk '{ n = split($1, a, ";"); s[a[n]] += $2 } END { for (k in s) print k, s[k] }'; }
contention_run() {
    rm -rf "$WORK/c" && mkdir -p "$WORK/c"
    local line mutex block
    line=$(cd "$WORK" && CTRPROF_DIR="$WORK/c" CTRPROF_MUTEX_FRACTION=1 CTRPROF_BLOCK_RATE=1 LD_PRELOAD="$SHIM" \
        timeout 120 "$PROGS/contention")
    read -r _ total _ wshort _ wlong <<<"$line"
    P=$(ls "$WORK"/c/ctrprof.contention.*.count)
    mutex=$("$CTRPROF" report --profile mutex --format folded "$P" | leaf_sums)
    block=$("$CTRPROF" report --profile block --format folded "$P" | leaf_sums)
    ushort=$(awk '$1 == "unlock_short" { print $2 }' <<<"$mutex")
    ulong=$(awk '$1 == "unlock_long" { print $2 }' <<<"$mutex")
    bshort=$(awk '$1 == "lock_short" { print $2 }' <<<"$block")
    blong=$(awk '$1 == "lock_long" { print $2 }' <<<"$block")
}
# A wait is missed whole when the thread is preempted between the hook's peek at the lock
# word and the real lock (preload/pthread.c explains the trade-off): on a loaded machine
# that can take a third of a site's delay (1 run in ~50 with three CPU hogs on two cores;
# it failed CI once). The program never misses a wait, so a shortfall that is real
# repeats: the checks look at a second run when the first is out of bounds.
contention_run
if ! within "$total" "$((${ushort:-0} + ${ulong:-0}))" 0.20 || ! within "$wshort" "${bshort:-0}" 0.20 ||
    ! within "$wlong" "${blong:-0}" 0.20; then
    echo "note: locks: first contention run out of bounds (waits $total $wshort $wlong; profile $((${ushort:-0} + ${ulong:-0})) ${bshort:-0} ${blong:-0}); running it again"
    contention_run
fi
check_within "locks:mutex-delay-total" "$total" "$((${ushort:-0} + ${ulong:-0}))" 0.20
[ "${ulong:-0}" -gt "${ushort:-0}" ] && pass "locks:longer-section-charged-more ($ulong > $ushort)" ||
    fail "locks:longer-section-charged-more" "unlock_long $ulong, unlock_short $ushort"
check_within "locks:block-delay-lock_short" "$wshort" "${bshort:-0}" 0.20
check_within "locks:block-delay-lock_long" "$wlong" "${blong:-0}" 0.20
n=$("$CTRPROF" report --profile mutex --sample contentions --format folded "$P" | awk '{ s += $NF } END { print s + 0 }')
[ "$n" -gt 0 ] && pass "locks:contentions-counted ($n)" || fail "locks:contentions-counted" "none"

# Fraction 0 and block rate 0 record nothing.
mkdir -p "$WORK/z"
(cd "$WORK" && CTRPROF_DIR="$WORK/z" CTRPROF_MUTEX_FRACTION=0 CTRPROF_BLOCK_RATE=0 LD_PRELOAD="$SHIM" "$PROGS/contention" >/dev/null)
# (a process that records nothing leaves no file; if one is there, it holds no such counter)
check_eq "locks:off-records-nothing" "" "$(for f in "$WORK"/z/*.count; do [ -e "$f" ] && "$CTRPROF" dump "$f"; done | grep -E 'ctrprof/(mutex|block):')"
