#!/usr/bin/env bash
# `ctrprof dump` against every Go-written fixture: --json must equal the fixture's meta and
# counters exactly (uint64 values compared as Python ints, which are exact); every corrupt
# or hostile input exits 1 with one line on stderr naming the file; bad usage exits 2.
source "$(dirname "$0")/lib.sh"

for j in "$FIX"/*.json; do
    n=$(basename "$j" .json)
    f="$FIX/$n.count"
    outcome=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["go_parser"]["outcome"])' "$j")
    "$CTRPROF" dump --json "$f" >"$WORK/out.json" 2>"$WORK/err"
    rc=$?
    if [ "$outcome" = ok ]; then
        res=$(python3 - "$j" "$WORK/out.json" <<'PY'
import json, sys
exp = json.load(open(sys.argv[1]))
try:
    got = json.load(open(sys.argv[2]))
except Exception as e:
    print("output is not JSON: %s" % e); sys.exit()
if got.get("meta") != exp["meta"]:
    print("meta differs: %r vs %r" % (got.get("meta"), exp["meta"])); sys.exit()
gc, ec = got.get("counters", {}), exp["counters"]
diff = [k for k in set(gc) | set(ec) if gc.get(k) != ec.get(k)]
if diff:
    k = sorted(diff)[0]
    print("%d counters differ, e.g. %r: expected %r, got %r" % (len(diff), k[:60], ec.get(k), gc.get(k)))
else:
    print("same")
PY
)
        check_eq "dump:$n:json-equals-fixture" "0 same" "$rc $res"
    else
        # Go errors, hangs or panics: we give a clear error (exit 1, one line) for each.
        lines=$(wc -l <"$WORK/err")
        check_eq "dump:$n:rejected" "1 1" "$rc $lines"
        grep -q "^ctrprof: $f: " "$WORK/err" || fail "dump:$n:message" "$(cat "$WORK/err")"
    fi
done

# Text output shows stack frames one per line.
"$CTRPROF" dump "$FIX/stack.count" >"$WORK/stack.txt"
check_eq "dump:text:status" 0 $?
grep -q '^ *[0-9]* ctrprof/stack:maxlen$' "$WORK/stack.txt" && grep -q '^ \{20,\}example.com/ctrprof/deep.f0:+0,+0x0$' "$WORK/stack.txt" &&
    pass "dump:text:frames-one-per-line" || fail "dump:text:frames-one-per-line" "$(head -20 "$WORK/stack.txt")"

# Hostile and broken inputs: exit 1, exactly one line.
: >"$WORK/empty.count"
head -c 20000 /dev/urandom >"$WORK/random.count"
mkdir "$WORK/dir.count"
mkfifo "$WORK/fifo.count"
ln -s "$FIX/small.count" "$WORK/link.count"
for bad in empty random dir fifo missing; do
    timeout 10 "$CTRPROF" dump "$WORK/$bad.count" >/dev/null 2>"$WORK/err"
    rc=$?
    check_eq "dump:bad-input:$bad" "1 1" "$rc $(wc -l <"$WORK/err")"
done
# A symlink to a valid file is fine for reading (only the writer refuses to follow).
check_cmd "dump:reads-through-symlink" "$CTRPROF" dump "$WORK/link.count"
"$CTRPROF" dump --bogus "$FIX/small.count" >/dev/null 2>&1
check_eq "dump:bad-flag" 2 $?
"$CTRPROF" dump >/dev/null 2>&1
check_eq "dump:no-file" 2 $?
# a directory: dump is one file's bytes; one line says so and points at report
"$CTRPROF" dump "$WORK" >/dev/null 2>"$WORK/err"
check_eq "dump:directory" "1 1 1" "$? $(wc -l <"$WORK/err") $(grep -c 'ctrprof report' "$WORK/err")"
