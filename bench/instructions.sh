#!/usr/bin/env bash
# Whole-program instruction counts under callgrind (every process of the workload traced,
# the flusher thread included), for ctrprof at the default rate against glibc alone and
# for jemalloc's heap profiler at the same rate (lg_prof_sample:19 = 512 KiB) against
# jemalloc alone, and for tcmalloc's sampling heap profiler (TCMALLOC_SAMPLE_PARAMETER,
# what MallocExtension::GetHeapSample reports) at the same rate against tcmalloc alone.
# Instructions are repeatable on a shared machine where seconds are not.
#   bench/instructions.sh [BUILD]      (~30 minutes; prints one line per run)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
S="$top/$B/libctrprof.so"
JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
TC=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4
W="$top/bench/workloads"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$W/gen_c.py" 450 >"$work/big.c"
printf '%-8s %-14s %16s %10s\n' workload config instructions overhead
for wl in sqlite3 gcc; do
    base=0
    for cfg in glibc ctrprof jemalloc jemalloc+prof tcmalloc tcmalloc+sample; do
        rm -rf "$work/out" "$work/db.sqlite" && mkdir "$work/out"
        case $cfg in
        glibc) env=(X=1) ;;
        ctrprof) env=(LD_PRELOAD="$S" CTRPROF_DIR="$work/out") ;;
        jemalloc) env=(LD_PRELOAD="$JE") ;;
        jemalloc+prof) env=(LD_PRELOAD="$JE" "MALLOC_CONF=prof:true,lg_prof_sample:19,prof_final:true,prof_prefix:$work/out/jeprof") ;;
        tcmalloc) env=(LD_PRELOAD="$TC") ;;
        tcmalloc+sample) env=(LD_PRELOAD="$TC" TCMALLOC_SAMPLE_PARAMETER=524288) ;;
        esac
        if [ "$wl" = sqlite3 ]; then cmd=(sqlite3 "$work/db.sqlite"); in="$W/sqlite.sql"
        else cmd=(gcc -O2 -c "$work/big.c" -o "$work/big.o"); in=/dev/null; fi
        n=$(env "${env[@]}" valgrind --tool=callgrind --trace-children=yes \
            --callgrind-out-file="$work/out/cg.%p" "${cmd[@]}" <"$in" 2>&1 >/dev/null |
            awk '/Collected/ { s += $NF } END { printf "%.0f", s }')
        case $cfg in glibc | jemalloc | tcmalloc) base=$n; over="" ;;
        *) over=$(awk -v a="$n" -v b="$base" 'BEGIN { printf "%+.2f%%", 100 * (a - b) / b }') ;; esac
        printf '%-8s %-14s %16s %10s\n' "$wl" "$cfg" "$n" "$over"
    done
done
