#!/usr/bin/env bash
# Go programs that allocate through C (cgo: tests/programs/cgo). Go's runtime ends the
# process by the exit_group system call, from main's return and os.Exit alike, and runs
# no exit handler: whatever the flusher had not published yet was lost. Until session 28
# a program that made 200 x 4 MiB of C blocks and returned left no profile at all at the
# default rate (the flusher's first flush is a second in), `ctrprof run` said the shim
# did not run in it, and 8 goroutines' 160,000 C allocations at rate 1 came out
# 300-7,000 short. The shim now knows a Go program by its executable's build-id note
# and publishes each event on the thread that records it (preload/company.c, cp_shim_go_program).
source "$(dirname "$0")/lib.sh"

if ! command -v go >/dev/null; then
    skip "cgo" "go is not installed"
    exit 0
fi
prog="$WORK/cgoalloc"
if ! (cd "$TOP/tests/programs/cgo" && GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" GOPROXY=off \
    GOFLAGS=-mod=mod go build -o "$prog" .) >"$WORK/build.log" 2>&1; then
    fail "cgo:builds" "$(tail -5 "$WORK/build.log")"
    exit 0
fi
pass "cgo:builds"

# total DIR SAMPLE FUNC: FUNC's flat value in the report of DIR's profiles
total() { "$CTRPROF" report --sample "$2" --format top "$1" 2>/dev/null | awk -v f="$3" '$NF == f { print $1 }'; }

# 1. Rate 1: every C allocation of 8 goroutines, though the program returns right after
want="$("$prog" small 20000) rc=0"
for run in 1 2 3; do
    d="$WORK/small-$run"
    mkdir -p "$d"
    got="$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$prog" small 20000) rc=$?"
    check_eq "cgo:small:rate-1:as-bare ($run)" "$want" "$got"
    # (each freed: none in use at the end)
    check_eq "cgo:small:rate-1:every-allocation ($run)" "160000 0" \
        "$(total "$d" alloc_objects c_small) $(total "$d" inuse_objects c_small)"
done

# 2. The default rate: 200 blocks of 4 MiB, each sampled but once in ~3,000 (p = 1 -
# exp(-8) at 512 KiB), then main returns at once: ~800 MiB at c_big
want="$("$prog" big 200) rc=0"
d="$WORK/big"
mkdir -p "$d"
got="$(CTRPROF_DIR="$d" LD_PRELOAD="$SHIM" "$prog" big 200) rc=$?"
check_eq "cgo:big:as-bare" "$want" "$got"
bytes=$("$CTRPROF" report --sample alloc_space --format folded "$d" 2>/dev/null |
    awk '$1 ~ /(^|;)c_big$/ { s += $NF } END { printf "%.0f\n", s }')
check_within "cgo:big:profiled" 838860800 "${bytes:-0}" 0.03

# 3. ctrprof run names the profile (it said "the shim did not run in it"), and says what
# of a Go program it profiles; with nothing recorded (the heap profile off), why no file
d="$WORK/run"
mkdir -p "$d"
out=$(cd "$d" && "$CTRPROF" run --dir "$d" -- "$prog" big 20 2>&1 >/dev/null)
check_eq "cgo:run:names-the-profile" "1 1 0" \
    "$(grep -c "profile in $d/ctrprof.cgoalloc" <<<"$out") $(grep -c \
        "cgoalloc is a Go program: what its C code (cgo) allocates and locks is profiled" \
        <<<"$out") $(grep -c 'did not run' <<<"$out")"
d="$WORK/run0"
mkdir -p "$d"
out=$(cd "$d" && "$CTRPROF" run --rate 0 --dir "$d" -- "$prog" big 20 2>&1 >/dev/null)
check_eq "cgo:run:nothing-recorded" "1 0" \
    "$(grep -c "cgoalloc left no profile: a Go program whose C code recorded nothing" \
        <<<"$out") $(grep -c 'did not run' <<<"$out")"
