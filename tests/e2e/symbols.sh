#!/usr/bin/env bash
# Symbolization (issue 5) where the debug info is not in the binary: a stripped program
# with its DWARF in a .gnu_debuglink file, or in a build-id tree given by --debug-dir;
# a debug file that has gone missing; C++ names demangled.
source "$(dirname "$0")/lib.sh"

# report_target: outer() calls the always-inlined inl(); only DWARF knows inl, so the
# inlined frame shows whether the separate debug file was found.
D="$WORK/dl"
mkdir -p "$D" "$WORK/dbg"
cc -std=gnu11 -g -O1 -fno-omit-frame-pointer -o "$D/prog" "$TOP/tests/programs/report_target.c"
objcopy --only-keep-debug "$D/prog" "$D/prog.debug"
strip --strip-all "$D/prog"
bid=$(readelf -n "$D/prog" | sed -n 's/.*Build ID: //p')
mkdir -p "$WORK/dbg/.build-id/${bid:0:2}"
cp "$D/prog.debug" "$WORK/dbg/.build-id/${bid:0:2}/${bid:2}.debug"
cp "$D/prog" "$D/prog.nolink"
objcopy --add-gnu-debuglink="$D/prog.debug" "$D/prog"

profile() { # profile BINARY OUTDIR
    mkdir -p "$2"
    (cd "$WORK" && CTRPROF_DIR="$2" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$1" >/dev/null)
    ls "$2"/ctrprof.*.count
}
inl_bytes() { "$CTRPROF" report --sample alloc_space --format folded "$@" 2>"$WORK/err" | awk '/;main;outer;inl / { print $NF }'; }

# 1. .gnu_debuglink next to the stripped binary
P1=$(profile "$D/prog" "$WORK/p1")
check_eq "symbols:debuglink:inlined-chain" "1000000" "$(inl_bytes "$P1")"
check_eq "symbols:debuglink:no-warning" "1000000|" "$(inl_bytes "$P1")|$(cat "$WORK/err")"
"$CTRPROF" report --format pprof -o "$WORK/p1.pb.gz" "$P1" 2>/dev/null
if ! command -v go >/dev/null; then
    skip "symbols:debuglink:file-line" "go (golang-go) is not installed: its pprof reads the lines"
else
    lines=$(HOME="$WORK" go tool pprof -top -lines -sample_index=alloc_space "$WORK/p1.pb.gz" 2>/dev/null)
    grep -Eq ' inl [^ ]*report_target.c:1[0-9] \(inline\)$' <<<"$lines" && pass "symbols:debuglink:file-line" ||
        fail "symbols:debuglink:file-line" "$(head -12 <<<"$lines")"
fi
total1=$("$CTRPROF" report --sample alloc_space --format folded "$P1" 2>/dev/null | awk '{ s += $NF } END { print s }')

# 2. No debuglink: the build-id tree, found only with --debug-dir
P2=$(profile "$D/prog.nolink" "$WORK/p2")
out=$("$CTRPROF" report --sample alloc_space --format folded "$P2" 2>/dev/null)
check_absent "symbols:build-id-dir:without" $? "$out" ';prog\.nolink\+0x[0-9a-f]+ 1000000$' ';main;outer;inl '
check_eq "symbols:build-id-dir:with" "1000000" "$(inl_bytes --debug-dir "$WORK/dbg" "$P2")"
check_eq "symbols:build-id-dir:flag=value" "1000000" "$(inl_bytes --debug-dir="/nonexistent:$WORK/dbg" "$P2")"

# 3. A debug file that has gone missing: the report still runs, names from what is left
# (a fully stripped binary has only its dynamic symbols; frames become module+offset)
rm "$D/prog.debug"
out=$("$CTRPROF" report --sample alloc_space --format folded "$P1" 2>"$WORK/err")
check_eq "symbols:missing-debug:status" "0" "$?"
grep -q 'prog+0x' <<<"$out" && pass "symbols:missing-debug:offsets" ||
    fail "symbols:missing-debug:offsets" "$(head -3 <<<"$out")"
check_eq "symbols:missing-debug:same-total" "$total1" "$(awk '{ s += $NF } END { print s }' <<<"$out")"
# another binary under the recorded path (rebuilt): its build-id differs, so nothing
# of it is used, and that is said once
cc -std=gnu11 -g -O0 -DREBUILT -o "$D/prog" "$TOP/tests/programs/report_target.c"
"$CTRPROF" report "$P1" >/dev/null 2>"$WORK/err"
check_eq "symbols:rebuilt-binary:warned-once" "1" "$(grep -c 'does not match' "$WORK/err")"

# 4. C++: names demangled, none left mangled (whole names: --demangle=full; the default
# short names are tests/e2e/names.sh's)
g++ -O1 -g -pthread -o "$WORK/cxx" "$TOP/tests/compat/cxx_exceptions.cc"
P4=$(profile "$WORK/cxx" "$WORK/p4")
cxx=$("$CTRPROF" report --sample alloc_objects --format folded --demangle=full "$P4" 2>/dev/null)
cxx_rc=$?
grep -q ';depth_throw(int);' <<<"$cxx" && pass "symbols:cxx:demangled" ||
    fail "symbols:cxx:demangled" "$(head -c 400 <<<"$cxx")"
grep -q 'operator new(unsigned long)' <<<"$cxx" && pass "symbols:cxx:libstdc++-demangled" ||
    fail "symbols:cxx:libstdc++-demangled" "no operator new frame"
check_absent "symbols:cxx:nothing-mangled" $cxx_rc "$(tr ';' '\n' <<<"$cxx")" '^depth_throw\(int\)$' '^_Z'

# glibc's functions by the names users know: strdup (not __GI___strdup nor __strdup),
# _IO_file_doallocate (not __GI__IO_file_doallocate), printf (not __printf)
mkdir -p "$WORK/gi"
(cd "$WORK" && CTRPROF_DIR="$WORK/gi" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/glibc_names" >/dev/null)
gi=$("$CTRPROF" report --sample alloc_objects --format folded "$WORK"/gi/*.count 2>&1)
rc=$?
check_absent "symbols:glibc:strdup" $rc "$gi" ';main;strdup 1$' '__strdup'
check_absent "symbols:glibc:_IO_file_doallocate" $rc "$gi" ';_IO_fgets;.*;_IO_file_doallocate 1$' '__GI_'
check_absent "symbols:glibc:printf" $rc "$gi" ';main;printf;.*;_IO_file_doallocate 1$' ';__printf;'
