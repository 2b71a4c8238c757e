#!/usr/bin/env bash
# Runs libFuzzer targets for a bounded time each, seeded with the counter-file fixtures
# (and any profiles in tests/fuzz/corpus/). Exits non-zero if a target crashes; the
# crashing input is kept in build-fuzz/crashes/ and should become a regression test.
#   tests/fuzz/run.sh SECONDS BIN...
set -u
secs=$1
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
status=0

# Profiles that reach every part of the report: heap, mutex and block stacks, a module
# that exists (with and without the right build-id), a missing one, truncated and
# overflow frames, lost samples, a merge of two rates.
seed_profiles() {
    local mk="python3 $top/tests/e2e/mkprofile.py" d=$1 bid
    bid=$(readelf -n /bin/true 2>/dev/null | sed -n 's/.*Build ID: //p')
    local m=('Ctrprof-Format: 1' 'MemRate: 524288' 'MutexFraction: 1' 'BlockRate: 10000')
    local mod="ctrprof/module:0000beef:$bid:/bin/true=1" bad="ctrprof/module:0000dead:00ff:/bin/true=1"
    $mk "$d/seed-heap.count" "${m[@]}" -- "$mod" "$bad" 'ctrprof/module:0000f00d:-:/nonexistent/lib.so=2' \
        'ctrprof/heap:alloc:1024\n0000beef+0x1010\n0000dead+0x20\n0000f00d+0x30=100' \
        'ctrprof/heap:free:1024\n0000beef+0x1010\n0000dead+0x20\n0000f00d+0x30=40' \
        'ctrprof/heap:alloc:1\n?+0x7f0000001000\ntruncated=7' 'ctrprof/heap:alloc:64\nctrprof-overflow=3' \
        'ctrprof/health:lost:overflow=5'
    $mk "$d/seed-mutex.count" "${m[@]}" -- "$mod" \
        'ctrprof/mutex:contentions\n0000beef+0x1010\n0000beef+0x2000=196608' \
        'ctrprof/mutex:delay\n0000beef+0x1010\n0000beef+0x2000=5000000' \
        'ctrprof/block:contentions\n0000beef+0x3000=65536' 'ctrprof/block:delay\n0000beef+0x3000=20000'
    $mk "$d/seed-rate1.count" 'Ctrprof-Format: 1' 'MemRate: 1' 'MutexFraction: 1' 'BlockRate: 1' -- \
        "$mod" 'ctrprof/heap:alloc:8\n0000beef+0x1010=9'
    # format 2: ids, module dittos, a chain of dittos, a missing base, a second value
    $mk "$d/seed-format2.count" 'Ctrprof-Format: 2' 'MemRate: 524288' 'MutexFraction: 1' 'BlockRate: 10000' -- \
        "$mod" 'ctrprof/ids=5' 'ctrprof/heap:1:1024\n0000beef+0x1010\n+20\n+30=100' 'ctrprof/f:1=40' \
        'ctrprof/heap:2:16\n0000beef+0x1040\n^1:1=3' 'ctrprof/heap:3:16\n+50\n^2:0=2' \
        'ctrprof/mutex:4\n0000beef+0x2000\n^2:1=65536' 'ctrprof/f:4=7000' 'ctrprof/block:5\n^9:0=65536'
    # format 3: heap sites, one of mixed sizes (bytes counters) and one of one size
    $mk "$d/seed-format3.count" 'Ctrprof-Format: 3' 'MemRate: 524288' 'MutexFraction: 1' 'BlockRate: 10000' -- \
        "$mod" 'ctrprof/ids=2' 'ctrprof/heap:1:1024\n0000beef+0x1010\n+20=100' 'ctrprof/f:1=40' \
        'ctrprof/ab:1=900000' 'ctrprof/fb:1=300000' 'ctrprof/peak:1=7' 'ctrprof/pb:1=60000' \
        'ctrprof/life:1us:1=30' 'ctrprof/lb:1us:1=250000' 'ctrprof/heap:2:16\n0000beef+0x1040\n^1:1=3' \
        'ctrprof/life:lt1us:2=2'
    # format 4: the implied lifetime class (f<c>), short kinds, a class ahead of its frees
    $mk "$d/seed-format4.count" 'Ctrprof-Format: 4' 'MemRate: 524288' 'MutexFraction: 1' 'BlockRate: 10000' -- \
        "$mod" 'ctrprof/ids=2' 'ctrprof/heap:1:1024\n0000beef+0x1010\n+20=100' 'ctrprof/f3:1=40' \
        'ctrprof/ab:1=900000' 'ctrprof/fb:1=300000' 'ctrprof/p:1=7' 'ctrprof/pb:1=60000' \
        'ctrprof/l1:1=30' 'ctrprof/lb1:1=250000' 'ctrprof/lu:1=2' 'ctrprof/heap:2:16\n0000beef+0x1040\n^1:1=3' \
        'ctrprof/f0:2=1' 'ctrprof/l8:2=2'
}
for bin in "$@"; do
    name=$(basename "$bin")
    corpus="$top/build-fuzz/corpus-$name"
    mkdir -p "$corpus" "$top/build-fuzz/crashes"
    cp "$top"/tests/fixtures/telemetry-v1/*.count "$corpus"/ 2>/dev/null
    cp "$top"/tests/fuzz/corpus/* "$corpus"/ 2>/dev/null
    [ "$name" = fuzz_report ] && seed_profiles "$corpus"
    # packed profiles: the fixtures and the corpus, each through zstd (the zstd command)
    if [ "$name" = fuzz_packed ]; then
        for f in "$corpus"/*; do
            zstd -q -c "$f" >"$f.zst" && rm -f "$f"
        done
    fi
    # executables: the first 64 KiB of a C program, a C library and a Go program (the
    # note segments lie near their start)
    if [ "$name" = fuzz_exe ]; then
        rm -f "$corpus"/*.count
        for f in /bin/true /lib/x86_64-linux-gnu/libz.so.1 /usr/lib/go-*/pkg/tool/*/vet; do
            [ -f "$f" ] && head -c 65536 "$f" >"$corpus/elf-$(basename "$f")"
        done
    fi
    [ "$name" = fuzz_unwind ] && python3 "$top/tests/fuzz/eh_seeds.py" "$corpus" /bin/true \
        "$top/build/progs/hotpath" /lib/x86_64-linux-gnu/libz.so.1
    # every crash found so far, replayed first (tests/fuzz/regressions/NAME-*)
    for r in "$top"/tests/fuzz/regressions/"$name"-*; do
        [ -e "$r" ] || continue
        if "$bin" -close_fd_mask=2 "$r" >/dev/null 2>&1; then
            echo "fuzz: $name: regression $(basename "$r") ok"
        else
            echo "fuzz: $name: regression $(basename "$r") FAILED"
            "$bin" "$r" 2>&1 | grep -E '^(==|SUMMARY)|runtime error' | head -5
            status=1
        fi
    done
    echo "fuzz: $name for ${secs}s"
    # the report target prints one error line per refused input: close its stderr
    # (libFuzzer keeps its own and the sanitizers' reports on a duplicate)
    mask=0
    [ "$name" = fuzz_report ] && mask=2
    if ! "$bin" -close_fd_mask=$mask -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$top/build-fuzz/crashes/$name-" -print_final_stats=1 "$corpus" 2>&1 |
        grep -E '^(stat::number_of_executed_units|stat::peak_rss|==|SUMMARY|artifact)|Done [0-9]+ runs'; then
        :
    fi
    if [ "${PIPESTATUS[0]}" -ne 0 ]; then
        echo "fuzz: $name FAILED (see build-fuzz/crashes/)"
        status=1
    fi
done
exit $status
