#!/usr/bin/env bash
# ctrprof report (issue 5): exact values at rate 1 through every view, inlined frames,
# Debian's go tool pprof reading our pprof output, exact unbiasing arithmetic on a
# synthetic profile, merging and --base, and bad input.
source "$(dirname "$0")/lib.sh"
MK="python3 $TOP/tests/e2e/mkprofile.py"

# A real run at rate 1 of a program with known allocations (see report_target.c).
mkdir -p "$WORK/rt"
(cd "$WORK" && CTRPROF_DIR="$WORK/rt" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/report_target" >/dev/null)
P=$(ls "$WORK"/rt/ctrprof.report_target.*.count)

folded=$("$CTRPROF" report --sample alloc_space --format folded "$P")
check_eq "report:folded-inlined-chain" "1000000" "$(grep ';main;outer;inl ' <<<"$folded" | awk '{ print $NF }')"
check_eq "report:folded-other" "32000" "$(grep ';main;other ' <<<"$folded" | awk '{ print $NF }')"
check_eq "report:folded-inuse-other-is-gone" "" "$("$CTRPROF" report --format folded "$P" | grep ';other ')"
check_eq "report:alloc-objects" "1000" "$("$CTRPROF" report --sample alloc_objects --format folded "$P" | grep ';outer;inl ' | awk '{ print $NF }')"

top=$("$CTRPROF" report "$P")
grep -q '^Type: inuse_space$' <<<"$top" && grep -Eq '^ +976\.56kB +[0-9.]+% +[0-9.]+% +976\.56kB +[0-9.]+%  inl$' <<<"$top" &&
    pass "report:top-flat-cum" || fail "report:top-flat-cum" "$(head -6 <<<"$top")"
tree=$("$CTRPROF" report --format tree "$P")
grep -A2 '| outer$' <<<"$tree" | grep -q '976.56kB   inl' && pass "report:tree-callees" || fail "report:tree-callees" "$(grep -B3 -A3 '| outer$' <<<"$tree")"

# go tool pprof reads our pprof file and agrees with our numbers.
"$CTRPROF" report --format pprof -o "$WORK/p.pb.gz" "$P"
check_eq "report:pprof-status" 0 $?
gtop=$(HOME="$WORK" go tool pprof -top -sample_index=alloc_space -unit=B "$WORK/p.pb.gz" 2>&1)
check_eq "report:pprof-inl" "1000000B" "$(awk '$NF == "(inline)" && $(NF-1) == "inl" { print $1 }' <<<"$gtop")"
check_eq "report:pprof-other" "32000B" "$(awk '$NF == "other" { print $1 }' <<<"$gtop")"
ours_total=$(awk '{ s += $NF } END { print s }' <<<"$folded")
check_eq "report:pprof-total" "${ours_total}B" "$(sed -n 's/.* of \([0-9]*B\) total.*/\1/p' <<<"$gtop")"
for si in inuse_space inuse_objects alloc_objects; do
    t=$(HOME="$WORK" go tool pprof -top -sample_index=$si "$WORK/p.pb.gz" 2>&1 | sed -n 's/.* of \([0-9.a-zA-Z]*\) total.*/\1/p')
    [ -n "$t" ] && pass "report:pprof-sample-$si" || fail "report:pprof-sample-$si" "go tool pprof found no total"
done

# flame: a self-contained page carrying the frames
"$CTRPROF" report --format flame -o "$WORK/f.html" "$P"
grep -q '"inl"' "$WORK/f.html" && grep -q '"outer"' "$WORK/f.html" && ! grep -q 'src="http' "$WORK/f.html" &&
    pass "report:flame-self-contained" || fail "report:flame-self-contained" "frames or inline scripts missing"

# Exact unbiasing on a synthetic profile: 100 samples of 1024 bytes at rate 524288 stand
# for 100/(1-exp(-1024/524288)) objects; 3 of them freed.
meta=('Ctrprof-Format: 1' 'MemRate: 524288' 'MutexFraction: 1' 'BlockRate: 10000')
$MK "$WORK/s1.count" "${meta[@]}" -- 'ctrprof/heap:alloc:1024\nab000001+0x10=100' \
    'ctrprof/heap:free:1024\nab000001+0x10=3' 'ctrprof/heap:alloc:1\nab000001+0x20=7'
exp=$(python3 -c 'import math
s = 1 / (1 - math.exp(-1024 / 524288)); t = 1 / (1 - math.exp(-1 / 524288))
print(round(100 * 1024 * s), round(97 * 1024 * s), round(100 * s), round(7 * t))')
got="$("$CTRPROF" report --sample alloc_space --format folded "$WORK/s1.count" 2>/dev/null | grep 'x10 ' | awk '{ print $NF }') \
$("$CTRPROF" report --sample inuse_space --format folded "$WORK/s1.count" 2>/dev/null | grep 'x10 ' | awk '{ print $NF }') \
$("$CTRPROF" report --sample alloc_objects --format folded "$WORK/s1.count" 2>/dev/null | grep 'x10 ' | awk '{ print $NF }') \
$("$CTRPROF" report --sample alloc_objects --format folded "$WORK/s1.count" 2>/dev/null | grep 'x20 ' | awk '{ print $NF }')"
check_eq "report:unbiasing-exact" "$exp" "$(echo $got)"
# the missing module is named once and its frames are kept as module+offset
"$CTRPROF" report "$WORK/s1.count" >/dev/null 2>"$WORK/err"
check_eq "report:unknown-module-frames" 0 $?

# Merging: the same file twice doubles; a different rate is an error; --base subtracts.
two=$("$CTRPROF" report --sample alloc_objects --format folded "$WORK/s1.count" "$WORK/s1.count" 2>/dev/null | grep 'x20 ' | awk '{ print $NF }')
check_eq "report:merge-sums" "$(python3 -c 'import math; print(round(14 / (1 - math.exp(-1 / 524288))))')" "$two"
$MK "$WORK/s2.count" 'Ctrprof-Format: 1' 'MemRate: 4096' -- 'ctrprof/heap:alloc:8\nab000001+0x10=1'
"$CTRPROF" report "$WORK/s1.count" "$WORK/s2.count" >/dev/null 2>"$WORK/err"
check_eq "report:merge-different-rates" "1 1" "$? $(wc -l <"$WORK/err")"
$MK "$WORK/s3.count" "${meta[@]}" -- 'ctrprof/heap:alloc:1\nab000001+0x20=2'
diff=$("$CTRPROF" report --sample alloc_objects --format folded --base "$WORK/s3.count" "$WORK/s1.count" 2>/dev/null | grep 'x20 ' | awk '{ print $NF }')
check_eq "report:base-subtracts" "$(python3 -c 'import math; print(round(5 / (1 - math.exp(-1 / 524288))))')" "$diff"

# Mutex and block profiles: contentions in 1/65536 units, delay in ns.
$MK "$WORK/m.count" "${meta[@]}" -- 'ctrprof/mutex:contentions\nab000001+0x30=196608' 'ctrprof/mutex:delay\nab000001+0x30=5000000'
check_eq "report:mutex-contentions" "3" "$("$CTRPROF" report --profile mutex --sample contentions --format folded "$WORK/m.count" 2>/dev/null | awk '{ print $NF }')"
check_eq "report:mutex-delay" "5000000" "$("$CTRPROF" report --profile mutex --format folded "$WORK/m.count" 2>/dev/null | awk '{ print $NF }')"

# Lost samples are reported.
$MK "$WORK/l.count" "${meta[@]}" -- 'ctrprof/health:lost:overflow=5' 'ctrprof/heap:alloc:8\nab000001+0x10=1'
"$CTRPROF" report "$WORK/l.count" >/dev/null 2>"$WORK/err"
grep -q 'warning: 5 samples were lost' "$WORK/err" && pass "report:lost-warning" || fail "report:lost-warning" "$(cat "$WORK/err")"

# Bad input: one line, exit 1 for files, 2 for usage; never a crash.
for f in "$FIX"/corrupt-*.count "$FIX/small.count" /nonexistent.count; do
    "$CTRPROF" report "$f" >/dev/null 2>"$WORK/err"
    rc=$?
    check_eq "report:bad-file:$(basename "$f")" "1 1" "$rc $(wc -l <"$WORK/err")"
done
: >"$WORK/empty.count"
"$CTRPROF" report "$WORK/empty.count" >/dev/null 2>&1
check_eq "report:bad-file:empty" 1 $?
for args in "--bogus $P" "--sample nope $P" "--profile cpu $P" "--format svg $P" "" "--profile mutex --sample inuse_space $P"; do
    "$CTRPROF" report $args >/dev/null 2>"$WORK/err"
    check_eq "report:usage:${args%% /*}" "2" "$?"
done
