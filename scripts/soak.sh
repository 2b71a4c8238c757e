#!/usr/bin/env bash
# Soak (issue 8, "stress hours"): runs the stress suite in a loop for a bounded time and
# counts every check. One round = tests/e2e/stress.sh under the release shim (threads at
# rate 1 with exact counts, fork+signals, exit-from-thread, SIGKILL, 8 processes sharing a
# file, the ASan-built program under the shim) + the engine stress test (test_stress) in
# the release, ASan+UBSan and TSan builds that exist. Any failure keeps its log.
#   scripts/soak.sh MINUTES [BUILD] [LOGDIR]
# Ends with one line: "soak: R rounds in M min: P checks passed, F failed".
set -u
minutes=${1:?minutes}
B=${2:-build}
logdir=${3:-$(mktemp -d /tmp/ctrprof-soak.XXXXXX)}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
mkdir -p "$logdir"
start=$(date +%s)
deadline=$((start + minutes * 60))
rounds=0 passed=0 failed=0
echo "soak: logs in $logdir, until $(date -u -d @"$deadline" +%H:%M:%S) UTC"
while [ "$(date +%s)" -lt "$deadline" ]; do
    rounds=$((rounds + 1))
    out="$logdir/round-$rounds"
    B="$B" timeout 1200 bash tests/e2e/stress.sh >"$out.stress" 2>&1
    rc=$?
    p=$(grep -c '^PASS ' "$out.stress")
    f=$(grep -c '^FAIL ' "$out.stress")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)) failed=$((failed + f))
    for t in "$B" build-asan build-tsan; do
        [ -x "$t/tests/test_stress" ] || continue
        timeout 600 "$t/tests/test_stress" >"$out.$t" 2>&1
        if [ $? -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); f=$((f + 1)); fi
    done
    if [ "$f" -eq 0 ]; then rm -f "$out".*; else echo "soak: round $rounds FAILED: logs $out.*"; fi
    echo "soak: $(date -u +%H:%M:%S) round $rounds: $passed passed, $failed failed"
done
echo "soak: $rounds rounds in $((($(date +%s) - start) / 60)) min: $passed checks passed, $failed failed"
[ "$failed" -eq 0 ]
