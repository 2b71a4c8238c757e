#!/usr/bin/env bash
# Packed profiles (issue 23's file size): `ctrprof pack` and the packing `ctrprof run` does
# when its program is done. A packed profile is one zstd frame that unpacks to the very
# counter file (so Go's parser reads it after `zstd -d`), every command reads it as it reads
# the file, nothing is ever lost: a file a process still maps, a file that is not a whole
# counter file, a name already taken are left as they are, each with one line saying so;
# a damaged packed file is one line of error, never other counts.
source "$(dirname "$0")/lib.sh"

A="$WORK/a/ns.count"
mkdir -p "$WORK/a" "$WORK/b"
# a rate-1 profile of many stacks (16,384 sites): the shape whose file is large
CTRPROF_MEM_RATE=1 CTRPROF_FILE="$A" LD_PRELOAD="$SHIM" "$PROGS/namestacks" 2 16384 >/dev/null
[ -s "$A" ] || { fail "pack:setup" "no profile written"; exit 0; }
raw=$(stat -c %s "$A")

# --keep: both there; the packed one is a fifth or less (a tenth on the large shapes:
# BENCHMARKS.md), and unpacks to the same bytes
out=$("$CTRPROF" pack --keep "$A" 2>&1)
rc=$?
check_eq "pack:keep:status" "0" "$rc"
[ -f "$A" ] && [ -f "$A.zst" ] && pass "pack:keep:both-there" || fail "pack:keep:both-there" "$(ls "$WORK/a")"
grep -q "^$A (.*) -> $A.zst (.*)$" <<<"$out" && pass "pack:says-sizes" || fail "pack:says-sizes" "$out"
packed=$(stat -c %s "$A.zst")
[ "$packed" -gt 0 ] && [ $((packed * 5)) -le "$raw" ] && pass "pack:a-fifth-or-less" ||
    fail "pack:a-fifth-or-less" "$raw bytes -> $packed"
if command -v zstd >/dev/null 2>&1; then
    zstd -q -d -c "$A.zst" | cmp -s - "$A" && pass "pack:zstd-d-gives-the-file" ||
        fail "pack:zstd-d-gives-the-file" "the unpacked bytes differ"
else
    skip "pack:zstd-d-gives-the-file" "no zstd command (apt-get install zstd)"
fi

# every reader takes it as it takes the file
for f in "" "--format=folded" "--sample=alloc_objects --format=raw" "--format=lifetimes"; do
    # shellcheck disable=SC2086
    r1=$("$CTRPROF" report $f "$A" 2>&1)
    s1=$?
    # shellcheck disable=SC2086
    r2=$("$CTRPROF" report $f "$A.zst" 2>&1)
    s2=$?
    n="pack:report-same:${f:-top}"
    if [ -n "$r1" ] && [ "$r1" = "$r2" ] && [ "$s1 $s2" = "0 0" ] && ! grep -q "^ctrprof:" <<<"$r1"; then pass "$n"; else
        fail "$n" "status $s1 $s2: $(diff <(echo "$r1") <(echo "$r2") | head -5)"; fi
done
d1=$("$CTRPROF" dump "$A" 2>&1)
d2=$("$CTRPROF" dump "$A.zst" 2>&1)
[ -n "$d1" ] && [ "$d1" = "$d2" ] && pass "pack:dump-same" || fail "pack:dump-same" "$(diff <(echo "$d1") <(echo "$d2") | head -3)"
t2=$("$CTRPROF" top --once --interval 1 "$A.zst" 2>&1)
grep -q "namestacks\|alloc\|inuse" <<<"$t2" && ! grep -q "^ctrprof:" <<<"$t2" && pass "pack:top-reads-it" ||
    fail "pack:top-reads-it" "$(head -3 <<<"$t2")"

# a directory with both (after --keep) counts the profile once: the counter file is read
rdir=$("$CTRPROF" report "$WORK/a" 2>"$WORK/dir.err")
check_eq "pack:dir-counts-once" "$("$CTRPROF" report "$A" 2>/dev/null)" "$rdir"
check_eq "pack:dir-says-which" "ctrprof: $A.zst: skipped: a packed copy of the profile beside it (that one is read)" \
    "$(cat "$WORK/dir.err")"

# without --keep the counter file goes; a packed file alone in a directory is read
cp "$A" "$WORK/b/ctrprof.ns.1.count"
"$CTRPROF" pack "$WORK/b/ctrprof.ns.1.count" >/dev/null 2>&1
check_eq "pack:removes-the-file" "ctrprof.ns.1.count.zst" "$(ls "$WORK/b")"
check_eq "pack:dir-of-packed" "$("$CTRPROF" report "$A" 2>/dev/null)" "$("$CTRPROF" report "$WORK/b" 2>/dev/null)"

# the packed file keeps the profile's mode, as gzip's and zstd's do: under umask 0777 it
# was made 0000 (its owner's report: "Permission denied")
mkdir -p "$WORK/um" && cp "$A" "$WORK/um/ctrprof.ns.1.count" && chmod 0600 "$WORK/um/ctrprof.ns.1.count"
(umask 0777 && "$CTRPROF" pack "$WORK/um/ctrprof.ns.1.count" >/dev/null 2>&1)
check_eq "pack:keeps-the-mode-whatever-the-umask" "600" "$(stat -c %a "$WORK/um/ctrprof.ns.1.count.zst" 2>&1)"

# left as they are, one line each, status 1: packed already; the packed name taken
err=$("$CTRPROF" pack "$WORK/b/ctrprof.ns.1.count.zst" 2>&1 >/dev/null)
rc=$?
[ $rc = 1 ] && grep -q "packed already" <<<"$err" && pass "pack:packed-already" || fail "pack:packed-already" "$rc $err"
cp "$A" "$WORK/b/ctrprof.ns.1.count"
before=$(md5sum <"$WORK/b/ctrprof.ns.1.count.zst")
err=$("$CTRPROF" pack "$WORK/b/ctrprof.ns.1.count" 2>&1 >/dev/null)
rc=$?
[ $rc = 1 ] && grep -q "exists already" <<<"$err" && [ -f "$WORK/b/ctrprof.ns.1.count" ] &&
    [ "$before" = "$(md5sum <"$WORK/b/ctrprof.ns.1.count.zst")" ] && pass "pack:name-taken" ||
    fail "pack:name-taken" "$rc $err"
rm -f "$WORK/b/ctrprof.ns.1.count"

# not a whole counter file: left as it is
head -c 20000 "$A" >"$WORK/b/cut.count"
err=$("$CTRPROF" pack "$WORK/b/cut.count" 2>&1 >/dev/null)
rc=$?
[ $rc = 1 ] && [ "$(wc -l <<<"$err")" = 1 ] && grep -q "left as it is" <<<"$err" && [ -f "$WORK/b/cut.count" ] &&
    [ ! -e "$WORK/b/cut.count.zst" ] && pass "pack:corrupt-left-alone" || fail "pack:corrupt-left-alone" "$rc $err"
rm -f "$WORK/b/cut.count"
err=$("$CTRPROF" pack --level 20 "$A" 2>&1)
check_eq "pack:bad-level" "2 ctrprof: pack: --level takes 1 to 19, not '20'" "$? $err"

# damaged packed files: one line of error, status 1
for how in cut flip tail; do
    z="$WORK/b/dmg-$how.count.zst"
    case $how in
    cut) head -c $((packed / 2)) "$A.zst" >"$z" ;;
    flip) # (the byte's complement: a fixed value left it as it was when it was that
        # value already, 1 run in 256, and the report read it: CI of session 28)
        cp "$A.zst" "$z" && b=$(od -An -tu1 -j $((packed / 2)) -N1 "$z") &&
            printf "\\x$(printf %02x $((b ^ 255)))" | dd of="$z" bs=1 seek=$((packed / 2)) conv=notrunc 2>/dev/null ;;
    tail) { cat "$A.zst"; echo junk; } >"$z" ;;
    esac
    out=$("$CTRPROF" report "$z" 2>&1)
    rc=$?
    [ $rc = 1 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q "not a packed profile that unpacks" <<<"$out" &&
        pass "pack:damaged:$how" || fail "pack:damaged:$how" "$rc $(head -3 <<<"$out")"
    rm -f "$z"
done

# busy NAME FILE TARGET: while serve_live writes FILE, `ctrprof pack TARGET` leaves FILE as it
# is, says which pid writes it, and exits 1; serve_live is stopped after
busy() {
    local name=$1 f=$2 target=$3 lp err rc
    rm -f "$WORK/ctl/stop"
    CTRPROF_FILE="$f" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=20 LD_PRELOAD="$SHIM" "$PROGS/serve_live" "$WORK/ctl" &
    lp=$!
    if wait_until 10 test -s "$f"; then
        err=$("$CTRPROF" pack "$target" 2>&1 >/dev/null)
        rc=$?
        [ $rc = 1 ] && grep -q "still written by pid $lp" <<<"$err" && [ -f "$f" ] && [ ! -e "$f.zst" ] &&
            pass "$name" || fail "$name" "$rc $err"
    else
        fail "$name" "serve_live wrote no profile"
    fi
    touch "$WORK/ctl/stop"
    wait $lp
}

# a file a process still writes is left as it is, and packed once it is done
mkdir -p "$WORK/ctl" "$WORK/live"
busy "pack:busy-left-alone" "$WORK/live/ctrprof.serve_live.1.count" "$WORK/live"
"$CTRPROF" pack "$WORK/live" >/dev/null 2>&1
check_eq "pack:done-then-packed" "0 ctrprof.serve_live.1.count.zst" "$? $(ls "$WORK/live")"

# A directory of many profiles is one batch (one look at who writes them before, one
# after: tools/holders.c): the one a process still writes is left and named with its
# writer, the 30 others packed; a file named twice is packed once.
mkdir -p "$WORK/many"
for k in $(seq 1 30); do cp "$A" "$WORK/many/ctrprof.ns.$k.count"; done
busy "pack:batch-leaves-the-busy-one" "$WORK/many/ctrprof.serve_live.99.count" "$WORK/many"
check_eq "pack:batch-packs-the-others" "30 1" \
    "$(ls "$WORK/many" | grep -c '^ctrprof\.ns\.[0-9]*\.count\.zst$') $(ls "$WORK/many" | grep -c '\.count$')"
cp "$A" "$WORK/many/twice.count"
out=$("$CTRPROF" pack "$WORK/many/twice.count" "$WORK/many/twice.count" 2>&1)
check_eq "pack:named-twice-packed-once" "1 yes no" \
    "$? $(grep -q 'twice.count: named again: packed once' <<<"$out" && echo yes) $([ -e "$WORK/many/twice.count" ] && echo yes || echo no)"

# A profile is mapped by its writer from the instant it has its name (cfile.c, "Never
# unmapped while named"): a process held right after the link (tests/interpose/slowlink.c,
# preloaded ahead of the shim) maps the new file already, and `ctrprof pack` leaves it.
# Until session 31 only the writer's descriptor showed it then, which moved to a high
# number before the mapping; a pack whose scan fell in that instant took the file from
# under a child that was making it (CI: run:running-child-kept, below).
if cc -shared -fPIC -O1 -o "$WORK/slowlink.so" "$TOP/tests/interpose/slowlink.c" -ldl; then
    mkdir -p "$WORK/held"
    rm -f "$WORK/held.go"
    SLOWLINK_GO="$WORK/held.go" CTRPROF_DIR="$WORK/held" CTRPROF_MEM_RATE=1 \
        LD_PRELOAD="$WORK/slowlink.so $SHIM" "$PROGS/namestacks" 1 64 >/dev/null &
    hp=$!
    if wait_until 10 sh -c "ls \"$WORK/held\"/ctrprof.namestacks.*.count >/dev/null 2>&1"; then
        hf=$(ls "$WORK/held"/ctrprof.namestacks.*.count | head -1)
        hi=$(stat -c %i "$hf")
        awk -v i="$hi" '$5 == i { found = 1 } END { exit !found }' "/proc/$hp/maps" &&
            pass "pack:named-file-mapped" || fail "pack:named-file-mapped" "pid $hp does not map inode $hi: $(grep -c . "/proc/$hp/maps") mappings"
        err=$("$CTRPROF" pack "$WORK/held" 2>&1 >/dev/null)
        grep -q "still written by pid $hp" <<<"$err" && [ -f "$hf" ] && [ ! -e "$hf.zst" ] &&
            pass "pack:named-file-left" || fail "pack:named-file-left" "$err"
    else
        fail "pack:named-file-mapped" "no profile appeared"
    fi
    touch "$WORK/held.go"
    wait $hp
    check_eq "pack:held-program-status" "0" "$?"
    "$CTRPROF" pack "$WORK/held" >/dev/null 2>&1
    check_cmd "pack:held-then-packed-reads" "$CTRPROF" dump "$(ls "$WORK/held"/*.count.zst 2>/dev/null | head -1)"
else
    fail "pack:named-file-mapped" "cannot build tests/interpose/slowlink.c"
fi

# the same on overlayfs, a container's file system (its /proc/PID/maps may name the layer's
# device and inode rather than those stat sees through the overlay)
mkdir -p "$WORK/ov/lower" "$WORK/ov/upper" "$WORK/ov/work" "$WORK/ov/merged"
if [ "$(id -u)" = 0 ] && mount -t overlay overlay -o "lowerdir=$WORK/ov/lower,upperdir=$WORK/ov/upper,workdir=$WORK/ov/work" \
    "$WORK/ov/merged" 2>/dev/null; then
    busy "pack:busy-on-overlayfs" "$WORK/ov/merged/ctrprof.serve_live.2.count" "$WORK/ov/merged/ctrprof.serve_live.2.count"
    umount "$WORK/ov/merged"
else
    skip "pack:busy-on-overlayfs" "needs root and an overlay mount"
fi

# ctrprof run: its --dir profiles packed when the program is done ...
R="$WORK/run"
mkdir -p "$R"
cp "$A" "$R/ctrprof.before.7.count" # another run's: not this one's to pack
err=$("$CTRPROF" run --rate 1 --dir "$R" -- "$PROGS/namestacks" 1 4096 2>&1 >/dev/null)
got=$(ls "$R" | sed 's/\.[0-9]*\.count/.PID.count/' | tr '\n' ' ')
check_eq "run:packs" "ctrprof.before.PID.count ctrprof.namestacks.PID.count.zst " "$got"
grep -q "profile in $R/ctrprof.namestacks.[0-9]*.count.zst" <<<"$err" && pass "run:says-packed-path" ||
    fail "run:says-packed-path" "$err"
# ... not with --no-pack, nor a --file (more runs add to it)
rm -f "$R"/*
"$CTRPROF" run --no-pack --rate 1 --dir "$R" -- "$PROGS/namestacks" 1 64 >/dev/null 2>&1
check_eq "run:no-pack" "1" "$(ls "$R" | grep -c '\.count$')"
"$CTRPROF" run --rate 1 --file "$R/shared.count" -- "$PROGS/namestacks" 1 64 >/dev/null 2>&1
[ -f "$R/shared.count" ] && [ ! -e "$R/shared.count.zst" ] && pass "run:file-not-packed" ||
    fail "run:file-not-packed" "$(ls "$R")"
# ... and a child still running when the program is done keeps its file, said once
rm -rf "$R"/* "$WORK/ctl"/*
err=$("$CTRPROF" run --dir "$R" -- sh -c "\"$PROGS/serve_live\" \"$WORK/ctl\" >/dev/null 2>&1 & echo \$! >\"$WORK/ctl/pid\"; \
while ! ls \"$R\"/ctrprof.serve_live.*.count >/dev/null 2>&1; do sleep 0.05; done" 2>&1 >/dev/null)
cpid=$(cat "$WORK/ctl/pid" 2>/dev/null)
grep -q "ctrprof.serve_live.$cpid.count not packed: still written by pid $cpid" <<<"$err" &&
    [ -f "$R/ctrprof.serve_live.$cpid.count" ] && pass "run:running-child-kept" || fail "run:running-child-kept" "$err"
touch "$WORK/ctl/stop"
wait_until 10 sh -c "! kill -0 $cpid 2>/dev/null" || kill "$cpid" 2>/dev/null
exit 0
