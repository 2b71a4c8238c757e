#!/usr/bin/env bash
# Overcommit disabled (vm.overcommit_memory = 2, a host setting of databases and some
# production fleets): the kernel charges every private writable mapping against the
# commit limit, MAP_NORESERVE or not, and refuses a mapping past it. The profiler's
# tables and rings are reserved MAP_NORESERVE and touched as they fill: a reservation
# far larger than what it uses (at rate 1 the profiler once reserved ~57 MiB at start:
# mlock.sh) would be charged whole here, and one of gigabytes refused ("cannot map
# profiler memory"). Three programs run bare and under the shim with the setting on:
# output and status as bare, nothing said, a profile that reads, at rate 1 and at the
# default. The setting is the machine's: root only, put back on exit.
. "$(dirname "$0")/lib.sh"

OC=/proc/sys/vm/overcommit_memory
if [ "$(id -u)" != 0 ] || ! old=$(cat "$OC" 2>/dev/null) || ! echo "$old" >"$OC" 2>/dev/null; then
    skip "overcommit" "vm.overcommit_memory cannot be set here (root, a writable /proc/sys)"
    exit 0
fi
trap 'echo "$old" >"$OC"' EXIT
echo 2 >"$OC"
check_eq "overcommit:set" "2" "$(cat "$OC")"

runs=("demo" "stacks 200 100" "bigheap 20000 4096 1")
for r in "${runs[@]}"; do
    read -r -a cmd <<<"$r"
    name=${cmd[0]}
    want=$(cd "$WORK" && "$PROGS/${cmd[0]}" "${cmd[@]:1}" 2>/dev/null; echo "rc=$?")
    for rate in 1 524288; do
        n="overcommit:$name:rate-$rate"
        d="$WORK/$name-$rate"
        mkdir -p "$d"
        got=$(cd "$WORK" && CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" \
            "$PROGS/${cmd[0]}" "${cmd[@]:1}" 2>"$d.err"; echo "rc=$?")
        check_eq "$n:as-bare" "$want" "$got"
        # (stacks writes its stack depths on stderr, bare too)
        check_eq "$n:said-nothing" "" "$(grep '^ctrprof' "$d.err")"
        f=$(ls "$d"/*.count 2>/dev/null | head -1)
        [ -n "$f" ] || { fail "$n:profile" "none in $d"; continue; }
        check_cmd "$n:profile-reads" "$CTRPROF" report "$f"
    done
done
echo "$old" >"$OC"
