#!/usr/bin/env bash
# The build and the install (issue 20): `make install` into a DESTDIR under a temporary
# directory, the demo profiled with the installed command (which finds the installed
# shim, not the build tree's), the man page against every command's --help,
# `make uninstall`, `ctrprof --version`, and the Makefile's contract: the user's flags
# after the project's, header dependencies from the compiler, cmocka needed only by the
# test targets, `make clean` of B= only. Uses the objects already built in $B.
source "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1
DEST="$WORK/dest"
PFX=/usr/local

# 1. make install: the three files, nothing rebuilt (the build is up to date)
out=$(make -s B="$B" install PREFIX=$PFX DESTDIR="$DEST" 2>&1)
check_eq "install:make-install" "0" "$?"
got=""
for f in bin/ctrprof lib/ctrprof/libctrprof.so share/man/man1/ctrprof.1; do
    [ -f "$DEST$PFX/$f" ] && got+="$f "
done
check_eq "install:three-files" "bin/ctrprof lib/ctrprof/libctrprof.so share/man/man1/ctrprof.1 " "$got"
[ -x "$DEST$PFX/bin/ctrprof" ] && pass "install:command-executable" || fail "install:command-executable" "$(ls -l "$DEST$PFX/bin/ctrprof")"

# 2. the installed command profiles the demo with the installed shim
ICP="$DEST$PFX/bin/ctrprof"
got=$("$ICP" run --dir "$WORK/o0" -- sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
check_eq "install:run-preloads-the-installed-shim" "$DEST$PFX/lib/ctrprof/libctrprof.so" "$got"
"$ICP" run --rate 4096 --dir "$WORK/demo-out" -- "$PROGS/demo" >/dev/null 2>"$WORK/demo.err"
check_eq "install:demo-runs" 0 $?
grep -q "^ctrprof: profile in $WORK/demo-out/ctrprof.demo.[0-9]*.count" "$WORK/demo.err" &&
    pass "install:demo-profile-said" || fail "install:demo-profile-said" "$(cat "$WORK/demo.err")"
rep=$("$ICP" report --sample alloc_space "$WORK/demo-out" 2>&1)
check_eq "install:report-runs" 0 $?
# the demo's allocating functions are named in the report, read by the installed command
for fn in load_documents build_index; do
    grep -q "$fn" <<<"$rep" && pass "install:report-names-$fn" || fail "install:report-names-$fn" "$(head -20 <<<"$rep")"
done
# without the shim beside it or in ../lib/ctrprof, run says so and runs nothing
mkdir -p "$WORK/lonely/bin" && cp "$ICP" "$WORK/lonely/bin/"
"$WORK/lonely/bin/ctrprof" run --dir "$WORK/o1" -- touch "$WORK/lonely-ran" 2>"$WORK/lonely.err"
check_eq "install:no-shim-found" "1 no 1" \
    "$? $([ -e "$WORK/lonely-ran" ] && echo ran || echo no) $(grep -c 'libctrprof.so not found' "$WORK/lonely.err")"

# 3. --version: the Version string the files carry
v=$("$ICP" --version)
check_eq "install:version-status" 0 $?
fv=$("$CTRPROF" dump "$(ls "$WORK"/demo-out/*.count* | head -1)" | sed -n 's/^Version: //p')
check_eq "install:version-is-the-files" "$fv" "$v"
[ -n "$v" ] && pass "install:version-not-empty" || fail "install:version-not-empty" "empty"
check_eq "install:version-V" "$v" "$("$ICP" -V)"
"$ICP" --help | grep -q -- '--version' && pass "install:help-lists-version" || fail "install:help-lists-version" "$("$ICP" --help)"

# 4. the man page names every command and every flag of every command's --help
man=$(sed 's/\\-/-/g; s/\\(dq/"/g' "$DEST$PFX/share/man/man1/ctrprof.1")
missing=""
nflags=0 nenv=0
for c in run report dump serve top pack; do
    grep -q "^\.SS \"ctrprof $c" <<<"$man" || missing+=" cmd:$c"
    for fl in $("$ICP" $c --help | grep -o -- '\(^\| \|\[\)--*[a-z][a-z_-]*' | tr -d ' [' | sort -u); do
        nflags=$((nflags + 1))
        grep -q -- "$fl\b" <<<"$man" || missing+=" $c:$fl"
    done
done
for fl in $("$ICP" --help | grep -o -- ' --*[a-z][a-z_-]*' | sort -u); do
    nflags=$((nflags + 1))
    grep -q -- "$fl\b" <<<"$man" || missing+=" ctrprof:$fl"
done
for e in $(grep -o '{"CTRPROF_[A-Z_]*"' base/options.c | tr -d '{' | tr -d '"'); do
    nenv=$((nenv + 1))
    grep -q "^\.B $e$" <<<"$man" || missing+=" env:$e"
done
# (something was compared: the --help texts gave flags, options.c its variables)
check_eq "install:man-covers-every-flag (and flags were read)" "|many|many" \
    "$missing|$([ $nflags -ge 20 ] && echo many || echo "$nflags flags")|$([ $nenv -ge 5 ] && echo many || echo "$nenv variables")"
if command -v groff >/dev/null; then
    w=$(groff -man -Tutf8 -ww "$DEST$PFX/share/man/man1/ctrprof.1" 2>&1 >"$WORK/man.txt")
    check_eq "install:man-renders-cleanly (and rendered)" "0||yes" "$?|$w|$(grep -q 'ctrprof run' "$WORK/man.txt" && echo yes)"
else
    skip "install:man-renders-cleanly" "groff is not installed"
fi

# 5. make uninstall removes the three files
make -s B="$B" uninstall PREFIX=$PFX DESTDIR="$DEST" >/dev/null 2>&1
check_eq "install:uninstall" "0 0" "$? $(find "$DEST" -type f | wc -l)"

# 6. the Makefile's contract, read from make -n (nothing is compiled)
# the user's CFLAGS and CPPFLAGS come after the project's; LDFLAGS reach the links
line=$(make -n -B B="$WORK/fb" CFLAGS=-O0 CPPFLAGS=-DUSERDEF LDFLAGS=-Wl,--user-ld "$WORK/fb/obj/base/log.o" 2>&1 | grep ' -c base/log.c')
grep -q -- '-O3 .*-DUSERDEF -O0 ' <<<"$line" && pass "install:user-cflags-after-ours" || fail "install:user-cflags-after-ours" "$line"
line=$(make -n -B B="$WORK/fb" LDFLAGS=-Wl,--user-ld "$WORK/fb/libctrprof.so" "$WORK/fb/ctrprof" 2>&1 | grep -c -- '-o .*--user-ld\|--user-ld.*-o ')
check_eq "install:ldflags-in-both-links" 2 "$line"
# header dependencies: the compiler's, so a header the object includes rebuilds it
grep -q 'base/log\.h' "$B/obj/base/log.d" 2>/dev/null && pass "install:depfile-lists-header" ||
    fail "install:depfile-lists-header" "$B/obj/base/log.d: $(head -3 "$B/obj/base/log.d" 2>&1)"
got=$(make -n B="$B" -W base/log.h "$B/obj/base/log.o" "$B/obj/tools/why.o" 2>&1 | grep -c ' -c ')
check_eq "install:header-change-rebuilds-only-includers" 1 "$got"
# plain make needs no cmocka; the test targets say it is missing
printf '#!/bin/sh\nfor a; do [ "$a" = cmocka ] && exit 1; done\nexec pkg-config "$@"\n' >"$WORK/pc"
chmod +x "$WORK/pc"
make -n B="$WORK/fb" PKG_CONFIG="$WORK/pc" all >/dev/null 2>"$WORK/pc.err"
check_eq "install:plain-make-without-cmocka" "0 0" "$? $(grep -c cmocka "$WORK/pc.err")"
make -n B="$WORK/fb" PKG_CONFIG="$WORK/pc" units >/dev/null 2>"$WORK/pc.err"
check_eq "install:units-need-cmocka" "2 1" "$? $(grep -c 'cmocka not found' "$WORK/pc.err")"
# plain make needs no C++ compiler: without one it leaves out the C++ test programs
make -n B="$WORK/fb" CXX=/nonexistent/c++ all >"$WORK/nocxx.out" 2>&1
check_eq "install:plain-make-without-c++ (and builds the rest)" "0 0 yes" \
    "$? $(grep -c '/nonexistent/c++' "$WORK/nocxx.out") $(grep -q -- "-o $WORK/fb/libctrprof.so" "$WORK/nocxx.out" && echo yes)"
# make clean honours B=: that tree goes, the others stay
mkdir -p "$WORK/cb/obj" "$WORK/cb-asan"
make -s clean B="$WORK/cb" >/dev/null 2>&1
check_eq "install:clean-honours-B" "0 gone gone kept" \
    "$? $([ -e "$WORK/cb" ] && echo kept || echo gone) $([ -e "$WORK/cb-asan" ] && echo kept || echo gone) $([ -e "$B/ctrprof" ] && echo kept || echo gone)"

# 7. The offline counter-file reader is compiled with the tool's flags (stack protector
# on), and the tool takes no object of the shim's build (libcore.a) at link time
if [ -f "$B/ctrprof.map" ]; then
    check_eq "install:tool-links-no-shim-object (its own reader is linked)" "|yes" \
        "$(grep -o 'libcore\.a([a-z_]*\.o)' "$B/ctrprof.map" | sort -u | tr '\n' ' ')|$(grep -q 'obj/toolcore/cfile/cfile_read\.o' "$B/ctrprof.map" && echo yes)"
else
    fail "install:tool-links-no-shim-object" "$B/ctrprof.map missing (the Makefile writes it at link time)"
fi
if command -v objdump >/dev/null; then
    n=$(objdump -dr "$B/obj/toolcore/cfile/cfile_read.o" 2>/dev/null | grep -c '__stack_chk_fail')
    [ "${n:-0}" -gt 0 ] && pass "install:reader-has-stack-protector ($n checks)" ||
        fail "install:reader-has-stack-protector" "no __stack_chk_fail in $B/obj/toolcore/cfile/cfile_read.o"
else
    skip "install:reader-has-stack-protector" "objdump is not installed"
fi
