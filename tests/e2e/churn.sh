#!/usr/bin/env bash
# Thread churn (issue 23, item 4): a program that creates and retires threads, two alive
# at a time, must cost the profiler memory bounded by the threads alive at once, not by
# how many have ever existed. bench/progs/thread_churn "fixed" (every buffer 4 KiB, so
# that distinct sizes do not add buckets and only what grows with threads shows): 2,000
# and then 100,000 threads, at the default rate and at rate 1.
#   - ctrprof/health:profiler-bytes (the engine's mapped bytes, a high-water mark) after
#     100k threads is at most 1.625 MiB above what it is after 2k. What may differ between
#     two runs without being a thread's cost: a step of the tables, mapped as samples come
#     (the heads, the live map, the arena: 512 KiB), and the rings of the three threads
#     alive at once, each of which grows from 128 KiB to 512 KiB once its thread has
#     waited for the flusher (events.c's ring_grow), which the machine's load decides:
#     3 x 384 KiB (CI once saw 1.93 MB at 2k, no ring grown, and 2.50 MB at 20k). Any
#     cost per thread ever made of 18 bytes or more would pass the bound (98k threads);
#     a ring per thread would add 12 GiB. Measured at rate 1: 2.35-2.40 MB at 2k,
#     2.37 MB at 100k, 2.50-3.02 MB at 20k;
#   - the process's peak RSS grows by no more than bare's growth plus 8 MiB between the
#     two (a touched page per dead thread's ring would add 380 MiB).
# Every churn run here, bare and profiled, has MALLOC_ARENA_MAX=2 (the threads alive at once).
# Without it glibc makes a new malloc arena whenever threads contend, up to 8 per core,
# and how many a run makes depends on how its threads were scheduled: under load, 20k
# threads met more contention than 2k and the profiled process's live map had a leaf for
# each 256 KiB of the new arenas' heaps that held a sampled object (core/live.c), +1.0 MB
# at rate 1 where quiet runs added ~0.1 MB (session 20: two runs each beside a busy
# loop; with the arenas pinned, +41 KB loaded and +106 KB quiet). Those leaves are
# the heap's address extent, not a thread's cost (docs/ARCHITECTURE.md, "Memory"): the
# arenas are pinned so that what grows with the threads shows alone.
source "$(dirname "$0")/lib.sh"

counter() { "$CTRPROF" dump "$1" | awk -v k="$2" '$2 == k { print $1 }'; }
# hwm N [ENV...]: the program's own VmHWM in KiB after N threads
hwm() {
    local n=$1; shift
    (cd "$WORK" && env MALLOC_ARENA_MAX=2 "$@" "$PROGS/thread_churn" "$n" fixed 2>&1 >/dev/null) | awk '/^vmhwm_kib/ { print $2 }'
}

b2=$(hwm 2000 X=1)
b100=$(hwm 100000 X=1)
for rate in 524288 1; do
    for n in 2000 100000; do
        mkdir -p "$WORK/r$rate-$n"
        eval "h$n=\$(hwm $n CTRPROF_DIR=\"\$WORK/r\$rate-\$n\" CTRPROF_MEM_RATE=$rate LD_PRELOAD=\"\$SHIM\")"
        f=$(ls "$WORK/r$rate-$n"/ctrprof.thread_churn.*.count 2>/dev/null | head -1)
        eval "pb$n=\$(counter \"\$f\" ctrprof/health:profiler-bytes)"
        eval "th$n=\$(\"\$CTRPROF\" dump \"\$f\" >/dev/null 2>&1 && echo ok)"
    done
    # shellcheck disable=SC2154
    check_eq "churn:rate$rate-files" "ok ok" "${th2000:-missing} ${th100000:-missing}"
    # 512 KiB of table steps + 3 rings x 384 KiB grown = 1,703,936 B
    if [ -n "${pb2000:-}" ] && [ -n "${pb100000:-}" ] &&
        awk -v a="$pb2000" -v b="$pb100000" 'BEGIN { exit !(a > 0 && b <= a + 1703936) }'; then
        pass "churn:rate$rate-profiler-bytes-bounded"
    else
        fail "churn:rate$rate-profiler-bytes-bounded" "2k threads: ${pb2000:-?} B, 100k threads: ${pb100000:-?} B (at most +1.625 MiB)"
    fi
    if [ -n "$b2" ] && [ -n "$b100" ] && [ -n "${h2000:-}" ] && [ -n "${h100000:-}" ] &&
        awk -v b2="$b2" -v b100="$b100" -v h2="$h2000" -v h100="$h100000" \
            'BEGIN { exit !(h100 - h2 <= (b100 - b2) + 8192) }'; then
        pass "churn:rate$rate-rss-bounded"
    else
        fail "churn:rate$rate-rss-bounded" "VmHWM KiB bare 2k/100k: $b2/$b100, profiled: ${h2000:-?}/${h100000:-?} (growth at most bare's + 8 MiB)"
    fi
done

# A spike: 48 threads alive at once wrap their rate-1 rings (512 KiB each), all exit, the
# process idles until two flushes have completed after the joins (the file's
# ctrprof/health:flushes, the handshake). The gone threads' rings are shed but for a few
# (CP_RING_KEEP_RESIDENT, core/ring.h): the resident set above bare's after the spike is
# under half the peak's excess over bare's (kept resident, 48 rings hold ~24 MiB).
flushes() { "$CTRPROF" dump "$1" 2>/dev/null | awk '$2 == "ctrprof/health:flushes" {print $1}'; }
flushed_since() { local n; n=$(flushes "$1"); [ -n "$n" ] && [ "$n" -ge "$2" ]; }
# spike DIR ENV...: the program's output line; with a DIR, its profile there has flushed
# twice after the joins before the program reads its resident set
spike() {
    local d=$1 go="$WORK/spike-go.$RANDOM"
    shift
    (cd "$WORK" && exec env "$@" "$PROGS/threadspike" 48 "$go" >"$go.out") &
    local p=$! f n0
    wait_until 60 grep -qs joined "$go.out"
    if [ -n "$d" ]; then
        f=$(ls "$d"/*.count 2>/dev/null | head -1)
        n0=$(flushes "$f")
        wait_until 30 flushed_since "$f" $((${n0:-0} + 2)) || echo "no two flushes after the joins in [$f] (from [$n0])" >&2
    fi
    touch "$go"
    wait "$p"
    tail -1 "$go.out"
}
read -r _ bh _ br <<<"$(spike "" X=1)"
mkdir -p "$WORK/spike"
read -r _ ph _ pr <<<"$(spike "$WORK/spike" CTRPROF_DIR="$WORK/spike" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=100 LD_PRELOAD="$SHIM")"
if [ -n "${bh:-}" ] && [ -n "${ph:-}" ] && [ -n "${pr:-}" ] &&
    awk -v bh="$bh" -v br="$br" -v ph="$ph" -v pr="$pr" 'BEGIN { exit !(ph - bh > 8192 && pr - br < (ph - bh) / 2) }'; then
    pass "churn:spike-rings-shed"
else
    fail "churn:spike-rings-shed" "KiB bare peak/after ${bh:-?}/${br:-?}, profiled ${ph:-?}/${pr:-?} (the spike must show, > 8 MiB, and after it less than half its excess)"
fi
