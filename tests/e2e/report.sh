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
out=$("$CTRPROF" report --format folded "$P" 2>&1)
check_absent "report:folded-inuse-other-is-gone" $? "$out" ';main;outer;inl [0-9]+$' ';other '
check_eq "report:alloc-objects" "1000" "$("$CTRPROF" report --sample alloc_objects --format folded "$P" | grep ';outer;inl ' | awk '{ print $NF }')"

top=$("$CTRPROF" report "$P")
grep -q '^Type: inuse_space$' <<<"$top" && grep -Eq '^ +976\.56kB +[0-9.]+% +[0-9.]+% +976\.56kB +[0-9.]+%  inl$' <<<"$top" &&
    pass "report:top-flat-cum" || fail "report:top-flat-cum" "$(head -6 <<<"$top")"
tree=$("$CTRPROF" report --format tree "$P")
grep -A2 '| outer$' <<<"$tree" | grep -q '976.56kB   inl' && pass "report:tree-callees" || fail "report:tree-callees" "$(grep -B3 -A3 '| outer$' <<<"$tree")"

# go tool pprof reads our pprof file and agrees with our numbers.
"$CTRPROF" report --format pprof -o "$WORK/p.pb.gz" "$P"
check_eq "report:pprof-status" 0 $?
if command -v go >/dev/null; then
    gtop=$(HOME="$WORK" go tool pprof -top -sample_index=alloc_space -unit=B "$WORK/p.pb.gz" 2>&1)
    check_eq "report:pprof-inl" "1000000B" "$(awk '$NF == "(inline)" && $(NF-1) == "inl" { print $1 }' <<<"$gtop")"
    check_eq "report:pprof-other" "32000B" "$(awk '$NF == "other" { print $1 }' <<<"$gtop")"
    ours_total=$(awk '{ s += $NF } END { print s }' <<<"$folded")
    check_eq "report:pprof-total" "${ours_total}B" "$(sed -n 's/.* of \([0-9]*B\) total.*/\1/p' <<<"$gtop")"
    for si in inuse_space inuse_objects alloc_objects; do
        t=$(HOME="$WORK" go tool pprof -top -sample_index=$si "$WORK/p.pb.gz" 2>&1 | sed -n 's/.* of \([0-9.a-zA-Z]*\) total.*/\1/p')
        [ -n "$t" ] && pass "report:pprof-sample-$si" || fail "report:pprof-sample-$si" "go tool pprof found no total"
    done
else
    skip "report:go-pprof" "go is not installed (scripts/deps.sh)"
fi

# flame: a self-contained page carrying the frames
"$CTRPROF" report --format flame -o "$WORK/f.html" "$P"
rc=$?
html=$(cat "$WORK/f.html" 2>&1)
grep -q '"outer"' <<<"$html" && pass "report:flame-carries-outer" || fail "report:flame-carries-outer" "$(head -c 300 <<<"$html")"
check_absent "report:flame-self-contained" "$rc" "$html" '"inl"' 'src="http'

# Exact unbiasing on a synthetic profile: 100 samples of 1024 bytes at rate 524288 stand
# for 100/(1-exp(-1024/524288)) objects; 3 of them freed.
meta=('Ctrprof-Format: 1' 'MemRate: 524288' 'MutexFraction: 1' 'BlockRate: 10000')
$MK "$WORK/s1.count" "${meta[@]}" -- 'ctrprof/heap:alloc:1024\nab000001+0x10=100' \
    'ctrprof/heap:free:1024\nab000001+0x10=3' 'ctrprof/heap:alloc:1\nab000001+0x20=7'
exp=$(python3 -c 'import math
s = 1 / (1 - math.exp(-1024 / 524288)); t = 1 / (1 - math.exp(-1 / 524288))
print(int(100 * 1024 * s), int(97 * 1024 * s), int(100 * s), int(7 * t))')
got="$("$CTRPROF" report --sample alloc_space --format folded "$WORK/s1.count" 2>/dev/null | grep 'x10 ' | awk '{ print $NF }') \
$("$CTRPROF" report --sample inuse_space --format folded "$WORK/s1.count" 2>/dev/null | grep 'x10 ' | awk '{ print $NF }') \
$("$CTRPROF" report --sample alloc_objects --format folded "$WORK/s1.count" 2>/dev/null | grep 'x10 ' | awk '{ print $NF }') \
$("$CTRPROF" report --sample alloc_objects --format folded "$WORK/s1.count" 2>/dev/null | grep 'x20 ' | awk '{ print $NF }')"
check_eq "report:unbiasing-exact" "$exp" "$(echo $got)"
# Object counts are whole numbers by Go's rule everywhere (runtime/pprof truncates after
# unbiasing): one sample of 524288 bytes at rate 524288 stands for 1/(1-1/e) = 1.58
# objects, shown as 1 (not 2 rounded, nor 1.58) in folded, top, tree, flame and pprof (serve: serve.sh).
$MK "$WORK/g.count" "${meta[@]}" -- 'ctrprof/heap:alloc:524288\nab000001+0x40=1'
gf=$("$CTRPROF" report --sample alloc_objects --format folded "$WORK/g.count" 2>/dev/null | awk '{ print $NF }')
gt=$("$CTRPROF" report --sample alloc_objects --format top "$WORK/g.count" 2>/dev/null | awk '$NF ~ /0x40$/ { print $1 }')
gb=$("$CTRPROF" report --sample alloc_space --format folded "$WORK/g.count" 2>/dev/null | awk '{ print $NF }')
check_eq "report:objects-truncated-as-go (folded top; bytes)" \
    "1 1; $(python3 -c 'import math; print(int(524288 / (1 - math.exp(-1))))')" "$gf $gt; $gb"
# the tree view and the flame page's data (alloc_objects is the first of its four values)
gtr=$("$CTRPROF" report --sample alloc_objects --format tree "$WORK/g.count" 2>/dev/null | awk '$NF ~ /0x40$/ { print $1; exit }')
"$CTRPROF" report --format flame -o "$WORK/g.html" "$WORK/g.count" 2>/dev/null
gfl=$(grep -o '\["?+0x40",\[[0-9.e+-]*' "$WORK/g.html" | sed 's/.*\[//')
check_eq "report:objects-truncated-as-go (tree flame)" "1 1" "${gtr:-none} ${gfl:-none}"
if command -v go >/dev/null; then
    "$CTRPROF" report --format pprof -o "$WORK/g.pb.gz" "$WORK/g.count" 2>/dev/null
    gp=$(HOME="$WORK" go tool pprof -raw "$WORK/g.pb.gz" 2>/dev/null | awk '/^Samples:/ { s = 1; next } s && /^ +[0-9]/ { sub(/:$/, "", $4); print $1, $2, $3, $4; exit }')
    check_eq "report:objects-truncated-as-go:pprof (alloc_objects alloc_space inuse_objects inuse_space)" \
        "1 $gb 1 $gb" "$gp"
else
    skip "report:objects-truncated-as-go:pprof" "go is not installed (scripts/deps.sh)"
fi
# the missing module is named once and its frames are kept as module+offset
"$CTRPROF" report "$WORK/s1.count" >/dev/null 2>"$WORK/err"
check_eq "report:unknown-module-frames" 0 $?

# Merging: the same file twice doubles; a different rate is an error; --base subtracts.
two=$("$CTRPROF" report --sample alloc_objects --format folded "$WORK/s1.count" "$WORK/s1.count" 2>/dev/null | grep 'x20 ' | awk '{ print $NF }')
check_eq "report:merge-sums" "$(python3 -c 'import math; print(int(14 / (1 - math.exp(-1 / 524288))))')" "$two"
$MK "$WORK/s2.count" 'Ctrprof-Format: 1' 'MemRate: 4096' -- 'ctrprof/heap:alloc:8\nab000001+0x10=1'
# different rates: not merged, a section per (program, rate); these have no Program
out=$("$CTRPROF" report "$WORK/s1.count" "$WORK/s2.count" 2>"$WORK/err")
check_eq "report:different-rates-grouped" "0 0 == ? (MemRate 4096): 1 file ==|== ? (MemRate 524288): 1 file ==" \
    "$? $(wc -l <"$WORK/err") $(grep '^==' <<<"$out" | paste -sd'|')"
$MK "$WORK/s3.count" "${meta[@]}" -- 'ctrprof/heap:alloc:1\nab000001+0x20=2'
diff=$("$CTRPROF" report --sample alloc_objects --format folded --base "$WORK/s3.count" "$WORK/s1.count" 2>/dev/null | grep 'x20 ' | awk '{ print $NF }')
check_eq "report:base-subtracts" "$(python3 -c 'import math; print(int(5 / (1 - math.exp(-1 / 524288))))')" "$diff"

# A directory: every profile in it (issue 27). Two runs of report_target at rate 1 and one
# of a copy named other_prog at rate 4096, per-process files; beside them a text file, a
# symlink to a profile, a subdirectory: each skipped with one line.
D="$WORK/dir"
mkdir -p "$D/sub"
cp "$PROGS/report_target" "$WORK/other_prog"
run_in() { (cd "$WORK" && env "$@" LD_PRELOAD="$SHIM" "$PROGS/report_target" >/dev/null); }
run_in CTRPROF_DIR="$D" CTRPROF_MEM_RATE=1
run_in CTRPROF_DIR="$D" CTRPROF_MEM_RATE=1
echo notes >"$D/notes.txt"
first=$(ls "$D"/ctrprof.report_target.*.count | head -1)
ln -s "$first" "$D/link.count"
pid1=$(basename "$first" | cut -d. -f3)
inl_objects() { grep ';outer;inl ' | awk '{ s += $NF } END { printf "%.0f\n", s }'; }
out=$("$CTRPROF" report --sample alloc_objects --format folded "$D" 2>"$WORK/err")
check_eq "report:dir:merges-every-profile" "0 2000" "$? $(inl_objects <<<"$out")"
check_eq "report:dir:skips-one-line-each" \
    "$D/link.count: skipped: a symbolic link (not followed)|$D/notes.txt: skipped: not a counter file|$D/sub: skipped: a directory (not descended into)" \
    "$(sed 's/^ctrprof: //; s/\(notes.txt: skipped: \).*\(not a counter file\).*/\1\2/' "$WORK/err" | paste -sd'|')"
out=$("$CTRPROF" report --sample alloc_objects --format folded --pid "$pid1" "$D" 2>/dev/null)
check_eq "report:dir:pid" "1000" "$(inl_objects <<<"$out")"
out=$("$CTRPROF" report --sample alloc_objects --format folded --pid "$pid1" "$first" 2>/dev/null)
check_eq "report:file:pid" "1000" "$(inl_objects <<<"$out")"
"$CTRPROF" report --program nope "$D" >/dev/null 2>"$WORK/err"
check_eq "report:dir:no-match" "1 ctrprof: report: no profile matches --program/--pid" "$? $(grep -v skipped "$WORK/err")"
# another program at another rate: a section per program, each exact at its own rate
(cd "$WORK" && CTRPROF_DIR="$D" CTRPROF_MEM_RATE=4096 LD_PRELOAD="$SHIM" ./other_prog >/dev/null)
out=$("$CTRPROF" report --sample alloc_objects "$D" 2>/dev/null)
check_eq "report:dir:grouped-sections" "== other_prog (MemRate 4096): 1 file ==|== report_target (MemRate 1): 2 files ==" \
    "$(grep '^==' <<<"$out" | paste -sd'|')"
check_eq "report:dir:grouped-section-exact" "2000" \
    "$(sed -n '/^== report_target/,/^==/p' <<<"$out" | awk '$NF == "inl" { print $1 }')"
out=$("$CTRPROF" report --sample alloc_objects --format folded "$D" 2>/dev/null)
check_eq "report:dir:grouped-folded-root" "2000" "$(grep '^\[report_target (MemRate 1)\];' <<<"$out" | inl_objects)"
check_eq "report:dir:grouped-folded-other" "1" "$(grep -c '^\[other_prog (MemRate 4096)\];.*;outer;inl ' <<<"$out")"
out=$("$CTRPROF" report --sample alloc_objects --format folded --program report_target "$D" 2>/dev/null)
check_eq "report:dir:program-picks" "2000 0" "$(inl_objects <<<"$out") $(grep -c '^\[' <<<"$out")"
"$CTRPROF" report --format flame -o "$WORK/g.html" "$D" 2>/dev/null
check_eq "report:dir:grouped-flame-roots" "[other_prog (MemRate 4096)] [report_target (MemRate 1)]" \
    "$(grep -o '"\[[a-z_]* (MemRate [0-9]*)\]"' "$WORK/g.html" | tr -d '"' | sort | paste -sd' ')"
"$CTRPROF" report --format pprof -o "$WORK/g.pb.gz" "$D" 2>"$WORK/err"
check_eq "report:dir:grouped-pprof-refused" "2 1" "$? $(grep -vc skipped "$WORK/err")"
# a shared file records which programs wrote it, not which process made each stack
S="$WORK/shared.count"
run_in CTRPROF_FILE="$S" CTRPROF_MEM_RATE=1
run_in CTRPROF_FILE="$S" CTRPROF_MEM_RATE=1
out=$("$CTRPROF" report --sample alloc_objects --format folded --program report_target "$S" 2>/dev/null)
check_eq "report:shared:program-all-of-it" "2000" "$(inl_objects <<<"$out")"
"$CTRPROF" report --pid "$pid1" "$S" >/dev/null 2>"$WORK/err"
check_eq "report:shared:pid-cannot-split" "1|$S: skipped: a shared file: its stacks are not recorded per process, so it cannot be split by --pid" \
    "$?|$(head -1 "$WORK/err" | sed 's/^ctrprof: //')"
(cd "$WORK" && CTRPROF_FILE="$S" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" ./other_prog >/dev/null)
"$CTRPROF" report --program report_target "$S" >/dev/null 2>"$WORK/err"
check_eq "report:shared:program-cannot-split" "1|$S: skipped: a shared file of programs other_prog,report_target: its stacks are not recorded per process, so it cannot be split by --program" \
    "$?|$(head -1 "$WORK/err" | sed 's/^ctrprof: //')"

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
