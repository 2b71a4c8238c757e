#!/usr/bin/env bash
# The ctrprof command built with ASan+UBSan ($B-asan/ctrprof: `make test` builds it beside
# the sanitizer unit tests) through the drivers of the commands that read, pack, watch and
# serve profiles: pack, why (ctrprof run), top, report, format, serve. The command parses
# files anyone may have written and scans /proc; the fuzzers cover its parsers, these its
# commands whole. Every check must hold as with the release build (a sanitizer's report
# ends the command with a non-zero status, which fails them), and no report may appear in
# a driver's output (toolsan:<driver>:no-sanitizer-report). The shim and the test programs
# stay the release build's: a directory beside $B holds the sanitized command and links
# to the rest.
source "$(dirname "$0")/lib.sh"

T="$TOP/$B-asan/ctrprof"
if [ ! -x "$T" ]; then
    skip toolsan "no $B-asan/ctrprof (make test builds it; or make B=$B-asan SAN='-fsanitize=address,undefined' OPT=-O1 $B-asan/ctrprof)"
    exit 0
fi
M="$B-toolsan" # (the drivers take B relative to the top of the tree)
rm -rf "${TOP:?}/$M"
mkdir -p "$TOP/$M"
trap 'rm -rf "$WORK" "${TOP:?}/$M"' EXIT
# a copy, not a link: `ctrprof run` finds the shim beside its own binary's real path
cp "$T" "$TOP/$M/ctrprof"
ln -s "$TOP/$B/libctrprof.so" "$TOP/$M/libctrprof.so"
ln -s "$TOP/$B/progs" "$TOP/$M/progs"
for d in pack why top report format serve; do
    out=$(B="$M" ASAN_OPTIONS=detect_leaks=1 timeout 1200 bash "$TOP/tests/e2e/$d.sh" 2>&1)
    rc=$?
    sed -n 's/^\(PASS\|FAIL\|SKIP\) /\1 toolsan:/p' <<<"$out"
    if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error:' <<<"$out"; then
        fail "toolsan:$d:no-sanitizer-report" "$(grep -m1 -A8 'AddressSanitizer\|LeakSanitizer\|runtime error:' <<<"$out")"
    elif [ $rc -ne 0 ] && ! grep -q '^FAIL ' <<<"$out"; then
        fail "toolsan:$d:no-sanitizer-report" "the driver exited with status $rc: $(tail -3 <<<"$out")"
    else
        pass "toolsan:$d:no-sanitizer-report"
    fi
done
