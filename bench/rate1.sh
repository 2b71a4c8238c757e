#!/usr/bin/env bash
# Rate 1 (every allocation recorded) against heaptrack on single processes, where both
# profile the same process: heaptrack does not follow exec'd children, so on make bench's
# gcc, git and memcached workloads it records only the top process (the gcc driver, a
# shell). Here gcc -O2's compiler proper, cc1, is run directly. Interleaved repetitions,
# median wall seconds and median CPU seconds (user + system of the whole tree: heaptrack's
# includes its heaptrack_interpret process, which works beside the program), ratios to no
# profiler in the same run, and each profiler's overhead as a share of heaptrack's.
# ctrprof-cfi is the default (CTRPROF_FLUSHER=auto: at rate 1 the flusher process drains a
# single-threaded program's events on the other core, core/flushproc.c; its CPU counts in
# the program's, which reaps it); ctrprof-inline: CTRPROF_FLUSHER=inline, every event
# accounted on the program's thread; ctrprof-thread: CTRPROF_FLUSHER=thread, on the
# profiler's own thread.
# make bench runs it too (bench.py's rate1: its table in BENCHMARKS.md, at most 3 reps).
#   [WORKLOADS="sqlite3 python3 perl cc1 node"] bench/rate1.sh [BUILD] [REPS]   (~6 minutes, 3 reps)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
reps=${2:-3}
S="$top/$B/libctrprof.so"
[ -f "$S" ] || { echo "rate1.sh: no $S (build it: make B=$B)" >&2; exit 2; }
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
    node) cmd=(node "$W/node.js") ;;
    esac
    case $cfg in
    glibc) t=(env X=1) ;;
    ctrprof-cfi) t=(env LD_PRELOAD="$S" CTRPROF_DIR=out CTRPROF_MEM_RATE=1) ;;
    ctrprof-libunwind) t=(env LD_PRELOAD="$S" CTRPROF_DIR=out CTRPROF_MEM_RATE=1 CTRPROF_UNWIND=libunwind) ;;
    ctrprof-thread) t=(env LD_PRELOAD="$S" CTRPROF_DIR=out CTRPROF_MEM_RATE=1 CTRPROF_FLUSHER=thread) ;;
    ctrprof-inline) t=(env LD_PRELOAD="$S" CTRPROF_DIR=out CTRPROF_MEM_RATE=1 CTRPROF_FLUSHER=inline) ;;
    heaptrack) t=(heaptrack -o out/ht) ;;
    esac
    /usr/bin/time -f '%e:%U:%S' -o time.txt "${t[@]}" "${cmd[@]}" <"$in" >/dev/null 2>&1
    awk -F: '{ printf "%s:%.2f\n", $1, $2 + $3 }' time.txt
}
cfgs=(glibc ctrprof-cfi ctrprof-inline ctrprof-libunwind ctrprof-thread heaptrack)
med() { # field (1 wall, 2 CPU), "wall:cpu ..." -> the median
    tr ' ' '\n' <<<"$2" | awk -F: -v f="$1" 'NF { print $f }' | sort -n |
        awk 'NF { a[n++] = $1 } END { print a[int(n / 2)] }'
}
share() { # time, bare, heaptrack -> (time - bare) / (heaptrack - bare)
    awk -v a="$1" -v b="$2" -v h="$3" 'BEGIN { if (h > b) printf "%.2f", (a - b) / (h - b); else print "-" }'
}
printf '%-8s %-18s %7s %7s %7s %7s %7s %7s  %s\n' workload config wall ratio CPU ratio "wall/ht" "CPU/ht" "runs (wall:CPU)"
for wl in ${WORKLOADS:-sqlite3 python3 perl cc1 node}; do
    declare -A t=()
    for ((r = 0; r < reps; r++)); do
        for ((i = 0; i < ${#cfgs[@]}; i++)); do
            c=${cfgs[(i + r) % ${#cfgs[@]}]}
            t[$c]+="$(run "$c" "$wl") "
        done
    done
    bw=$(med 1 "${t[glibc]}") bc=$(med 2 "${t[glibc]}")
    hw=$(med 1 "${t[heaptrack]}") hc=$(med 2 "${t[heaptrack]}")
    for c in "${cfgs[@]}"; do
        w=$(med 1 "${t[$c]}") u=$(med 2 "${t[$c]}")
        printf '%-8s %-18s %7s %7s %7s %7s %7s %7s  %s\n' "$wl" "$c" "$w" \
            "$(awk -v a="$w" -v b="$bw" 'BEGIN { printf "%.3f", a / b }')" "$u" \
            "$(awk -v a="$u" -v b="$bc" 'BEGIN { printf "%.3f", a / b }')" \
            "$(share "$w" "$bw" "$hw")" "$(share "$u" "$bc" "$hc")" "${t[$c]}"
    done
    unset t
done
