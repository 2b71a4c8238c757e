#!/usr/bin/env bash
# Rate 1 (every allocation recorded) against heaptrack on single processes, where both
# profile the same process: heaptrack does not follow exec'd children, so on make bench's
# gcc, git and memcached workloads it records only the top process (the gcc driver, a
# shell). Here gcc -O2's compiler proper, cc1, is run directly. Interleaved repetitions,
# median wall seconds, ratios to no profiler in the same run.
#   [WORKLOADS="sqlite3 python3 perl cc1"] bench/rate1.sh [BUILD] [REPS]   (~3 minutes, 3 reps)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
reps=${2:-3}
S="$top/$B/libctrprof.so"
W="$top/bench/workloads"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
python3 "$W/gen_c.py" 450 >big.c
# the cc1 command line gcc -O2 -S would run (its -### output is shell-quoted)
eval "cc1=($(gcc -O2 -S big.c -o big.s -### 2>&1 | grep '/cc1 '))"
run() { # config workload -> seconds
    local cfg=$1 wl=$2 cmd in=/dev/null t
    rm -rf out db.sqlite && mkdir out
    case $wl in
    sqlite3) cmd=(sqlite3 db.sqlite) in="$W/sqlite.sql" ;;
    python3) cmd=(/usr/bin/python3 "$W/python.py") ;;
    perl) cmd=(perl "$W/perl.pl") ;;
    cc1) cmd=("${cc1[@]}") ;;
    esac
    case $cfg in
    glibc) t=(env X=1) ;;
    ctrprof-cfi) t=(env LD_PRELOAD="$S" CTRPROF_DIR=out CTRPROF_MEM_RATE=1) ;;
    ctrprof-libunwind) t=(env LD_PRELOAD="$S" CTRPROF_DIR=out CTRPROF_MEM_RATE=1 CTRPROF_UNWIND=libunwind) ;;
    heaptrack) t=(heaptrack -o out/ht) ;;
    esac
    /usr/bin/time -f %e -o time.txt "${t[@]}" "${cmd[@]}" <"$in" >/dev/null 2>&1
    cat time.txt
}
cfgs=(glibc ctrprof-cfi ctrprof-libunwind heaptrack)
printf '%-8s %-18s %8s %8s %s\n' workload config median ratio runs
for wl in ${WORKLOADS:-sqlite3 python3 perl cc1}; do
    declare -A t=()
    for ((r = 0; r < reps; r++)); do
        for ((i = 0; i < ${#cfgs[@]}; i++)); do
            c=${cfgs[(i + r) % ${#cfgs[@]}]}
            t[$c]+="$(run "$c" "$wl") "
        done
    done
    base=$(tr ' ' '\n' <<<"${t[glibc]}" | sort -n | awk 'NF { a[n++] = $1 } END { print a[int(n / 2)] }')
    for c in "${cfgs[@]}"; do
        m=$(tr ' ' '\n' <<<"${t[$c]}" | sort -n | awk 'NF { a[n++] = $1 } END { print a[int(n / 2)] }')
        printf '%-8s %-18s %8s %8s %s\n' "$wl" "$c" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.3f", a / b }')" "${t[$c]}"
    done
    unset t
done
