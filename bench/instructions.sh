#!/usr/bin/env bash
# Whole-program instruction counts under callgrind (every process of the workload traced,
# the flusher thread included), for ctrprof at the default rate against glibc alone and
# for jemalloc's heap profiler at the same rate (lg_prof_sample:19 = 512 KiB) against
# jemalloc alone, and for tcmalloc's sampling heap profiler (TCMALLOC_SAMPLE_PARAMETER,
# what MallocExtension::GetHeapSample reports) at the same rate against tcmalloc alone.
# Instructions are repeatable on a shared machine where seconds are not.
# "ctrprof rate 0" is the shim with heap sampling off (CTRPROF_MEM_RATE=0: every hook in
# place, the countdown parked): the like-for-like baseline for the cost of heap sampling
# itself, as "tcmalloc" (sampling parameter 0, its countdown tested in its fast path all
# the same) and "jemalloc" are for theirs; ctrprof's last column is against it.
#   bench/instructions.sh [BUILD]      (~40 minutes; prints one line per run)
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
printf '%-8s %-14s %16s %10s %12s\n' workload config instructions overhead "vs rate 0"
for wl in sqlite3 gcc; do
    base=0 off=0
    for cfg in glibc ctrprof-rate0 ctrprof jemalloc jemalloc+prof tcmalloc tcmalloc+sample; do
        rm -rf "$work/out" "$work/db.sqlite" && mkdir "$work/out"
        case $cfg in
        glibc) env=(X=1) ;;
        ctrprof) env=(LD_PRELOAD="$S" CTRPROF_DIR="$work/out") ;;
        ctrprof-rate0) env=(LD_PRELOAD="$S" CTRPROF_DIR="$work/out" CTRPROF_MEM_RATE=0) ;;
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
        pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f%%", 100 * (a - b) / b }'; }
        case $cfg in glibc | jemalloc | tcmalloc) base=$n; over="" ;;
        *) over=$(pct "$n" "$base") ;; esac
        vs0=""
        case $cfg in ctrprof-rate0) off=$n ;; ctrprof) vs0=$(pct "$n" "$off") ;; esac
        printf '%-8s %-14s %16s %10s %12s\n' "$wl" "$cfg" "$n" "$over" "$vs0"
    done
done
