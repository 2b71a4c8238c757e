#!/usr/bin/env bash
# Locked memory (issue 29): a program that calls mlockall(MCL_CURRENT | MCL_FUTURE) as an
# unprivileged process under the default 8 MiB RLIMIT_MEMLOCK (tests/programs/mlocked.c
# sets it). The kernel counts every page of the process's address space against it, the
# profiler's included, and under MCL_FUTURE every later mapping too: the profiler's tables
# must be mapped in steps (at rate 1 the profiler once reserved ~57 MiB at start and
# mlockall failed with ENOMEM). Run as nobody (setpriv) when root, or in a user namespace
# (unshare -U: CAP_IPC_LOCK there is not the init namespace's), or as is when not root; a
# probe checks that mlockall is really limited, else SKIP.
#   small: mlockall succeeds as bare, output and status as bare, at rate 1 and the
#          default; at rate 1 the profile is exact (200 and 100 objects of two sites)
#          and the profiler says nothing;
#   grow:  20,000 distinct stacks at rate 1 outgrow the 8 MiB: the program is not killed,
#          its output and status are as bare, the profiler says "cannot map profiler
#          memory" exactly once (no line twice), the samples it could not keep are
#          counted as lost, and the profile reads.
. "$(dirname "$0")/lib.sh"

D="$WORK/mlock"
mkdir -p "$D" && chmod 777 "$D" && chmod 755 "$WORK"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    runner=(setpriv --reuid=nobody --regid=nogroup --clear-groups env)
    how="as nobody (setpriv)"
elif [ "$(id -u)" = 0 ] && unshare -U true 2>/dev/null; then
    runner=(unshare -U env)
    how="in a user namespace (unshare -U)"
else
    runner=(env)
    how="as $(id -un)"
fi
unpriv() { (cd "$D" && "${runner[@]}" "$@"); }

probe=$(unpriv "$PROGS/mlocked" probe 2>&1)
if [ "$probe" != "mlockall: Cannot allocate memory" ]; then
    skip "mlock" "cannot run without CAP_IPC_LOCK here ($how: the probe printed '$probe')"
    exit 0
fi

# run NAME RATE ARGS...: the program under the shim; stdout and status in $D/NAME.out,
# stderr in $D/NAME.err, its profile(s) in $D/NAME/
run() {
    local name=$1 rate=$2
    shift 2
    mkdir -p "$D/$name" && chmod 777 "$D/$name"
    unpriv CTRPROF_DIR="$D/$name" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$PROGS/mlocked" "$@" \
        >"$D/$name.out" 2>"$D/$name.err"
    echo "status $?" >>"$D/$name.out"
}
said() { grep '^ctrprof: ' "$D/$1.err"; }

want=$(unpriv "$PROGS/mlocked" small 2>/dev/null; echo "status $?")
check_eq "mlock:small:bare ($how)" "mlockall ok
small ok
status 0" "$want"
for rate in 1 524288; do
    run "small-$rate" $rate small
    check_eq "mlock:small:as-bare:rate-$rate" "$want" "$(cat "$D/small-$rate.out")"
    check_eq "mlock:small:nothing-said:rate-$rate" "" "$(said "small-$rate")"
done
f=$(ls "$D"/small-1/*.count 2>/dev/null | head -1)
check_eq "mlock:small:exact-objects:rate-1" "200 100" "$(site "$f" small_a) $(site "$f" small_b)"
check_eq "mlock:small:exact-bytes:rate-1" "8000 100000" \
    "$(site "$f" small_a alloc_space) $(site "$f" small_b alloc_space)"

N=20000
want=$(unpriv "$PROGS/mlocked" grow $N 2>/dev/null; echo "status $?")
check_eq "mlock:grow:bare" "mlockall ok
grow ok $N
status 0" "$want"
run grow-1 1 grow $N
check_eq "mlock:grow:as-bare:rate-1" "$want" "$(cat "$D/grow-1.out")"
check_eq "mlock:grow:memory-said-once:rate-1 ($(said grow-1 | head -3 | paste -sd'|'))" "1 0" \
    "$(said grow-1 | grep -c '^ctrprof: cannot map profiler memory') $(said grow-1 | sort | uniq -d | wc -l)"
f=$(ls "$D"/grow-1/*.count 2>/dev/null | head -1)
lost=$("$CTRPROF" dump "$f" 2>/dev/null | awk '$2 == "ctrprof/health:lost:nbucket" { print $1 }')
if [ -n "$lost" ] && [ "$lost" -gt 0 ]; then
    pass "mlock:grow:lost-counted:rate-1 ($lost)"
else
    fail "mlock:grow:lost-counted:rate-1" "expected ctrprof/health:lost:nbucket > 0, got '$lost'"
fi
check_cmd "mlock:grow:profile-reads:rate-1" "$CTRPROF" dump "$f"
run grow-d 524288 grow $N
check_eq "mlock:grow:as-bare:rate-524288" "$want" "$(cat "$D/grow-d.out")"
