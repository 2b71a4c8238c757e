#!/usr/bin/env bash
# Runs every test and ends with one line CI reads: "N passed, N failed, N skipped" (the
# exit status is 0 when nothing failed and something passed; skips count neither way).
#   tests/run.sh [--units-only] BUILD_DIR [EXTRA_UNIT_BUILD_DIR...] [--fuzz SECONDS BIN...]
# Extra build dirs (the sanitizer builds) have their unit tests run as well; --fuzz runs
# the libFuzzer targets for a bounded time, each run counting as one test.
# Unit tests are cmocka binaries (BUILD_DIR/tests/test_*); their own summaries are
# counted. End-to-end drivers are tests/e2e/*.sh: each prints "PASS <name>" or
# "FAIL <name>: <expected vs actual>" per check, or "SKIP <name>: <reason>" for a check
# that cannot run here (see tests/e2e/lib.sh); a driver that exits non-zero without
# printing a FAIL counts as one failure.
set -u
units_only=0
if [ "${1:-}" = --units-only ]; then units_only=1; shift; fi
B=${1:-build}
shift || true
extra=()
fuzz_secs=0
fuzz_bins=()
while [ $# -gt 0 ]; do
    if [ "$1" = --fuzz ]; then fuzz_secs=$2; shift 2; fuzz_bins=("$@"); break; fi
    extra+=("$1"); shift
done
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
passed=0 failed=0 skipped=0
failures=()
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

for t in "$B"/tests/test_* $(for e in "${extra[@]}"; do echo "$e"/tests/test_*; done); do
    [ -x "$t" ] || continue
    name=$(basename "$(dirname "$(dirname "$t")")")/$(basename "$t")
    name=${name//\//:}
    echo "=== unit $name"
    timeout 600 "$t" >"$log/$name.out" 2>&1
    rc=$?
    cat "$log/$name.out"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log/$name.out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log/$name.out" | tail -1)
    k=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s).*/\1/p' "$log/$name.out" | tail -1)
    p=${p:-0}; f=${f:-0}; skipped=$((skipped + ${k:-0}))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1; echo "FAIL $name: exited with status $rc"
    fi
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" -gt 0 ] && failures+=("$name") && { echo "--- unit $name"; grep -v '^\[ \(RUN\|       OK\) ' "$log/$name.out" | tail -25; } >>"$log/what-failed"
done

if [ "$units_only" -eq 0 ]; then
    for d in tests/e2e/*.sh; do
        [ -f "$d" ] || continue
        name=$(basename "$d" .sh)
        [ "$name" = lib ] && continue # the drivers' helpers, not a driver
        echo "=== e2e $name"
        B="$B" timeout 1200 bash "$d" >"$log/$name.out" 2>&1
        rc=$?
        cat "$log/$name.out"
        p=$(grep -c '^PASS ' "$log/$name.out")
        f=$(grep -c '^FAIL ' "$log/$name.out")
        skipped=$((skipped + $(grep -c '^SKIP ' "$log/$name.out")))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1; echo "FAIL $name: driver exited with status $rc"
        fi
        passed=$((passed + p)); failed=$((failed + f))
        [ "$f" -gt 0 ] && failures+=("$name") && { echo "--- e2e $name"; grep '^FAIL ' "$log/$name.out" | cut -c1-600; } >>"$log/what-failed"
    done
fi

for fb in "${fuzz_bins[@]}"; do
    name=$(basename "$fb")
    echo "=== fuzz $name (${fuzz_secs}s)"
    if tests/fuzz/run.sh "$fuzz_secs" "$fb" >"$log/$name.out" 2>&1; then
        tail -5 "$log/$name.out"; echo "PASS fuzz:$name"; passed=$((passed + 1))
    else
        tail -40 "$log/$name.out"; echo "FAIL fuzz:$name: crash or error (see above)"
        failed=$((failed + 1)); failures+=("fuzz:$name")
        echo "--- fuzz $name: crash or error (its output above)" >>"$log/what-failed"
    fi
done

echo
# Every failure again, last: CI shows the log's ends, and a failure in the middle of a
# long run was otherwise out of sight (stop 53's shim failure).
if [ -s "$log/what-failed" ]; then
    echo "=== what failed"
    cat "$log/what-failed"
fi
[ "${#failures[@]}" -gt 0 ] && echo "failing: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
