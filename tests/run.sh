#!/usr/bin/env bash
# Runs every test and ends with one line CI reads: "N passed, N failed".
#   tests/run.sh [--units-only] BUILD_DIR
# Unit tests are cmocka binaries (BUILD_DIR/tests/test_*); their own summaries are
# counted. End-to-end drivers are tests/e2e/*.sh: each prints "PASS <name>" or
# "FAIL <name>: <expected vs actual>" per check (see tests/e2e/lib.sh); a driver that
# exits non-zero without printing a FAIL counts as one failure.
set -u
units_only=0
if [ "${1:-}" = --units-only ]; then units_only=1; shift; fi
B=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
passed=0 failed=0
failures=()
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

for t in "$B"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    echo "=== unit $name"
    timeout 600 "$t" >"$log/$name.out" 2>&1
    rc=$?
    cat "$log/$name.out"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log/$name.out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log/$name.out" | tail -1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1; echo "FAIL $name: exited with status $rc"
    fi
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" -gt 0 ] && failures+=("$name")
done

if [ "$units_only" -eq 0 ]; then
    for d in tests/e2e/*.sh; do
        [ -f "$d" ] || continue
        name=$(basename "$d" .sh)
        echo "=== e2e $name"
        B="$B" timeout 1200 bash "$d" >"$log/$name.out" 2>&1
        rc=$?
        cat "$log/$name.out"
        p=$(grep -c '^PASS ' "$log/$name.out")
        f=$(grep -c '^FAIL ' "$log/$name.out")
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1; echo "FAIL $name: driver exited with status $rc"
        fi
        passed=$((passed + p)); failed=$((failed + f))
        [ "$f" -gt 0 ] && failures+=("$name")
    done
fi

echo
[ "${#failures[@]}" -gt 0 ] && echo "failing: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
