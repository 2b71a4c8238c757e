#!/usr/bin/env bash
# Rate 1 (every allocation recorded) against heaptrack on single processes, where both
# profile the same process: heaptrack does not follow exec'd children, so on make bench's
# gcc, git and memcached workloads it records only the top process (the gcc driver, a
# shell). Here gcc -O2's compiler proper, cc1, is run directly. Interleaved repetitions,
# median wall seconds and median CPU seconds (user + system of the whole tree: heaptrack's
# includes its heaptrack_interpret process, which works beside the program), ratios to no
# profiler in the same run, and each profiler's overhead as a share of heaptrack's (the
# median of each repetition's own).
# ctrprof-cfi is the default (CTRPROF_FLUSHER=auto: at rate 1 the flusher process drains a
# single-threaded program's events on the other core, core/flushproc.c; its CPU counts in
# the program's, which reaps it); ctrprof-inline: CTRPROF_FLUSHER=inline, every event
# accounted on the program's thread; ctrprof-thread: CTRPROF_FLUSHER=thread, on the
# profiler's own thread.
# make bench runs it too (bench.py's rate1: its table in BENCHMARKS.md, at most 5 reps).
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
# field (1 wall, 2 CPU), then a configuration's, bare's and heaptrack's "wall:cpu ..." (one
# a repetition, in order) -> the median over the repetitions of (time - bare) / (heaptrack
# - bare): each repetition's runs follow one another, and share more of the machine's drift
# than runs minutes apart do (bench/shapes.py's paired_shares)
share() {
    awk -v f="$1" -v c="$2" -v b="$3" -v h="$4" 'BEGIN {
        n = split(c, cs, " "); split(b, bs, " "); split(h, hs, " "); k = 0
        for (i = 1; i <= n; i++) {
            split(cs[i], x, ":"); split(bs[i], y, ":"); split(hs[i], z, ":")
            if (z[f] > y[f]) v[k++] = (x[f] - y[f]) / (z[f] - y[f])
        }
        if (!k) { print "-"; exit }
        for (i = 1; i < k; i++) for (j = i; j > 0 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        printf "%.2f", k % 2 ? v[int(k / 2)] : (v[k / 2 - 1] + v[k / 2]) / 2
    }'
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
    for c in "${cfgs[@]}"; do
        w=$(med 1 "${t[$c]}") u=$(med 2 "${t[$c]}")
        printf '%-8s %-18s %7s %7s %7s %7s %7s %7s  %s\n' "$wl" "$c" "$w" \
            "$(awk -v a="$w" -v b="$bw" 'BEGIN { printf "%.3f", a / b }')" "$u" \
            "$(awk -v a="$u" -v b="$bc" 'BEGIN { printf "%.3f", a / b }')" \
            "$(share 1 "${t[$c]}" "${t[glibc]}" "${t[heaptrack]}")" \
            "$(share 2 "${t[$c]}" "${t[glibc]}" "${t[heaptrack]}")" "${t[$c]}"
    done
    unset t
done
