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
for bin in "$@"; do
    name=$(basename "$bin")
    corpus="$top/build-fuzz/corpus-$name"
    mkdir -p "$corpus" "$top/build-fuzz/crashes"
    cp "$top"/../shared/fixtures/telemetry-v1/*.count "$corpus"/ 2>/dev/null
    cp "$top"/tests/fuzz/corpus/* "$corpus"/ 2>/dev/null
    echo "fuzz: $name for ${secs}s"
    if ! "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
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
