# Shared helpers for the end-to-end drivers (sourced). Each check prints exactly one
# "PASS name", "FAIL name: ..." or "SKIP name: reason" line, which tests/run.sh counts.
# A check that cannot run here (a missing optional tool, no root) is a skip: never a
# pass, and not a failure.
set -u
B=${B:-build}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CTRPROF="$TOP/$B/ctrprof"
# SHIM_OVERRIDE: run the drivers against another build of the shim (an older commit's, to
# see a new test fail without its fix)
SHIM="${SHIM_OVERRIDE:-$TOP/$B/libctrprof.so}"
PROGS="$TOP/$B/progs"
FIX="$TOP/tests/fixtures/telemetry-v1"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# skip NAME REASON: the check did not run, and why
skip() { echo "SKIP $1: $2"; }

# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected [$2], got [$3]"; fi
}
# check_cmd NAME CMD...: passes when CMD exits 0
check_cmd() {
    local n=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$n"; else fail "$n" "command failed: $* :: $(echo "$out" | tail -3)"; fi
}
# check_absent NAME STATUS TEXT PRESENT ABSENT: passes when the command that made TEXT
# exited with STATUS 0, PRESENT (an ERE) appears in TEXT, and ABSENT does not: "X does not
# appear" is only worth something when the command worked and drew something else.
check_absent() {
    if [ "$2" != 0 ]; then
        fail "$1" "the command failed (status $2): $(head -c 300 <<<"$3")"
    elif ! grep -Eq -- "$4" <<<"$3"; then
        fail "$1" "[$4] does not appear either: $(head -c 300 <<<"$3")"
    elif grep -Eq -- "$5" <<<"$3"; then
        fail "$1" "[$5] appears: $(grep -E -m3 -- "$5" <<<"$3")"
    else
        pass "$1"
    fi
}
# wait_until SECONDS CMD...: polls CMD (every 50 ms) until it succeeds; false if it never
# did within SECONDS. For a handshake on what a program wrote (a file, a line, a screen),
# never for guessing that something concurrent has happened by now.
wait_until() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.05
    done
}
# within EXPECTED ACTUAL TOLERANCE_FRACTION: true when |ACTUAL - EXPECTED| <= TOL * EXPECTED
within() { awk -v e="$1" -v a="$2" -v t="$3" 'BEGIN { d = a - e; if (d < 0) d = -d; exit !(d <= t * e) }'; }
# check_within NAME EXPECTED ACTUAL TOLERANCE_FRACTION
check_within() {
    if within "$2" "$3" "$4"; then
        pass "$1"
    else
        fail "$1" "expected $2 ±$(awk -v t="$4" 'BEGIN{print t*100}')%, got $3"
    fi
}

# site FILE LEAF [SAMPLE]: the total of the stacks whose innermost function is LEAF
# (SAMPLE: alloc_objects by default, exact at rate 1)
site() {
    "$CTRPROF" report --sample "${3:-alloc_objects}" --format folded "$1" 2>/dev/null |
        awk -v k="$2" '{ n = split($1, a, ";"); if (a[n] == k) s += $2 } END { printf "%.0f\n", s }'
}
