#!/usr/bin/env bash
# Faults and hostile paths (issue 8): whatever happens to the counter file, the program
# runs on with the same output and status, and the profiler says so in one line.
#   - a full file system (a small tmpfs): no SIGBUS from a store into a file hole
#   - a file size limit (ulimit -f): no SIGXFSZ
#   - an address-space limit (ulimit -v): the file's mappings are sized to the file (a few
#     times its size), not the format's 4 GiB, so a program under ulimit -v is profiled
#   - a symlink, a FIFO, a directory, another user's file planted at the profile path,
#     in a world-writable sticky directory: never followed, never clobbered
#   - a directory the user cannot write (run as nobody)
#   - files are created 0600 whatever the umask (0777 too; not under a seccomp filter,
#     which may forbid fchmod: sandbox.sh)
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
# Thousands of distinct stacks at rate 1: a profile of several MiB, grown page by page.
SCRIPT='import json, collections
d = collections.Counter(str(i % 997) for i in range(200000))
print(json.dumps(sorted(d.items())[:5]), len(d))'
want=$($PY -c "$SCRIPT")

# run_under NAME ENV... : runs the script under the shim with the given environment,
# leaves stdout in $out, status in $rc, the profiler's lines in $msgs
run_under() {
    local name=$1
    shift
    out=$(cd "$WORK" && timeout 60 env "$@" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" $PY -c "$SCRIPT" 2>"$WORK/$name.err")
    rc=$?
    msgs=$(grep -c '^ctrprof: ' "$WORK/$name.err")
}
same() { [ "$out" = "$want" ] && echo same || echo differs; }

# 1. A full file system. Without blocks reserved up front the first store into a hole of
# the mapped file is a SIGBUS in the program.
mkdir -p "$WORK/full"
if mount -t tmpfs -o size=192k tmpfs "$WORK/full" 2>"$WORK/mount.err"; then
    run_under full CTRPROF_DIR="$WORK/full"
    check_eq "faults:full-fs:runs-on" "0 same" "$rc $(same)"
    check_eq "faults:full-fs:says-so-once" "1" "$msgs"
    grep -q 'cannot add a counter (No space left on device)' "$WORK/full.err" && pass "faults:full-fs:message" ||
        fail "faults:full-fs:message" "$(cat "$WORK/full.err")"
    f=$(ls "$WORK"/full/ctrprof.python3.*.count)
    check_cmd "faults:full-fs:file-reads" "$CTRPROF" report "$f"
    # what did fit is still a valid profile, lost samples counted
    lost=$("$CTRPROF" dump "$f" | awk '$2 == "ctrprof/health:lost:nbucket" { print $1 }')
    [ "${lost:-0}" -gt 0 ] && pass "faults:full-fs:lost-counted ($lost)" ||
        fail "faults:full-fs:lost-counted" "lost:nbucket is [${lost}]"
    umount "$WORK/full"
else
    fail "faults:full-fs" "cannot mount a tmpfs to fill (needs root): $(cat "$WORK/mount.err")"
fi

# 2. A file size limit: the kernel's SIGXFSZ would kill the program (sqlite3 keeps the
# default action; python3 ignores the signal).
Q="create table t(a,b); with recursive c(x) as (select 1 union all select x+1 from c where x<50000)
insert into t select x, hex(randomblob(8)) from c; create index i on t(b); select count(*), sum(a) from t;"
mkdir -p "$WORK/fsize"
out=$(cd "$WORK" && ulimit -f 64 && CTRPROF_DIR="$WORK/fsize" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" \
    sqlite3 :memory: "$Q" 2>"$WORK/fsize.err")
rc=$?
check_eq "faults:ulimit-f:runs-on" "0 50000|1250025000" "$rc $out"
check_eq "faults:ulimit-f:says-so-once" "1" "$(grep -c '^ctrprof: ' "$WORK/fsize.err")"
check_cmd "faults:ulimit-f:file-reads" "$CTRPROF" dump "$(ls "$WORK"/fsize/ctrprof.sqlite3.*.count)"

# 3. An address-space limit of ~1 GB (the 4 GiB reservation of earlier versions did not
# fit: profiling was off). The profile is made, at rate 1, with nothing said.
mkdir -p "$WORK/as"
out=$(cd "$WORK" && ulimit -v 1000000 && timeout 60 env CTRPROF_DIR="$WORK/as" CTRPROF_MEM_RATE=1 \
    LD_PRELOAD="$SHIM" $PY -c "$SCRIPT" 2>"$WORK/as.err")
rc=$?
check_eq "faults:ulimit-v:runs-on" "0 same" "$rc $(same)"
check_eq "faults:ulimit-v:says-nothing (and runs)" "0 same 0" "$rc $(same) $(grep -c '^ctrprof: ' "$WORK/as.err")"
n=$("$CTRPROF" dump "$(ls "$WORK"/as/ctrprof.python3.*.count)" | awk '$2 == "ctrprof/health:samples:heap" { print $1 }')
[ "${n:-0}" -gt 1000 ] && pass "faults:ulimit-v:profiled ($n samples)" ||
    fail "faults:ulimit-v:profiled" "heap samples: [${n:-}] $(cat "$WORK/as.err")"

# 4. Hostile paths in a world-writable sticky directory, named by CTRPROF_FILE.
pub="$WORK/pub"
mkdir -p "$pub" && chmod 1777 "$pub"
ln -s "$WORK/target" "$pub/link.count"
run_under link CTRPROF_FILE="$pub/link.count"
check_eq "faults:symlink:runs-on-says-once" "0 same 1" "$rc $(same) $msgs"
[ ! -e "$WORK/target" ] && pass "faults:symlink:not-followed" || fail "faults:symlink:not-followed" "target created"
grep -q 'not a regular file' "$WORK/link.err" && pass "faults:symlink:message" || fail "faults:symlink:message" "$(cat "$WORK/link.err")"

mkfifo "$pub/fifo.count"
run_under fifo CTRPROF_FILE="$pub/fifo.count"
check_eq "faults:fifo:runs-on-says-once" "0 same 1" "$rc $(same) $msgs"

mkdir "$pub/dir.count"
run_under dir CTRPROF_FILE="$pub/dir.count"
check_eq "faults:directory:runs-on-says-once" "0 same 1" "$rc $(same) $msgs"

if [ "$(id -u)" -eq 0 ]; then
    # another user's file, planted where our profile goes: neither read nor written
    head -c 16384 /dev/urandom >"$pub/planted.count"
    chown nobody:nogroup "$pub/planted.count" && chmod 0666 "$pub/planted.count"
    cp "$pub/planted.count" "$WORK/planted.orig"
    run_under planted CTRPROF_FILE="$pub/planted.count"
    check_eq "faults:others-file:runs-on-says-once" "0 same 1" "$rc $(same) $msgs"
    cmp -s "$pub/planted.count" "$WORK/planted.orig" && pass "faults:others-file:untouched" ||
        fail "faults:others-file:untouched" "the planted file changed"
    grep -q 'belongs to another user' "$WORK/planted.err" && pass "faults:others-file:message" ||
        fail "faults:others-file:message" "$(cat "$WORK/planted.err")"

    # a directory owned by someone else that we (nobody) cannot write into
    nb="$WORK/nb" && mkdir -p "$nb/ro" && chmod 0755 "$WORK" "$nb" "$nb/ro"
    out=$(cd "$nb" && timeout 60 setpriv --reuid=nobody --regid=nogroup --clear-groups env CTRPROF_DIR="$nb/ro" \
        LD_PRELOAD="$SHIM" $PY -c "$SCRIPT" 2>"$WORK/nb.err")
    rc=$?
    check_eq "faults:others-dir:runs-on-says-once" "0 same 1" "$rc $(same) $(grep -c '^ctrprof: ' "$WORK/nb.err")"
    grep -q 'Permission denied' "$WORK/nb.err" && pass "faults:others-dir:message" ||
        fail "faults:others-dir:message" "$(cat "$WORK/nb.err")"
    # and a file nobody does create is nobody's, 0600
    chmod 1777 "$nb/ro"
    (cd "$nb" && umask 000 && setpriv --reuid=nobody --regid=nogroup --clear-groups env CTRPROF_DIR="$nb/ro" \
        CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" $PY -c 'print(1)' >/dev/null 2>&1)
    check_eq "faults:created-0600-owned" "600 nobody" "$(stat -c '%a %U' "$nb"/ro/ctrprof.python3.*.count 2>&1)"
else
    fail "faults:others" "needs root to plant another user's file and to run as nobody"
fi

# 5. umask 000 still gives a private file. (Rate 1 here and above: at the default rate
# python3's start-up draws ~3 samples, none in ~4% of runs, and a process that records
# nothing writes no file -- which made these checks fail now and then.)
mkdir -p "$WORK/um"
(cd "$WORK" && umask 000 && CTRPROF_DIR="$WORK/um" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" $PY -c 'print(1)' >/dev/null)
check_eq "faults:umask-0-still-0600" "600" "$(stat -c '%a' "$WORK"/um/ctrprof.python3.*.count)"

# 5b. A umask that takes the owner's own bits (a daemon's umask 0277; 0777 around a
# bind): the file was made 0600 & ~umask, 0400 or 0000: at 0000 its owner's `ctrprof
# report` skipped it ("Permission denied"), and at 0400 it could not grow past its first
# page (growth opens the path again for writing), so every sample that needed a new
# counter was lost, said as "the profile's path no longer leads to the file". 0600 now
# (and the script's thousands of stacks in it), and the
# once-per-tree marker directory (preload/treesaid.c) 0700, not a 0000 one that stayed in
# the runtime dir and kept every later process of its owner from using it. As nobody
# (root reads any mode).
if [ "$(id -u)" = 0 ]; then
    # the allocations the script makes at rate 1 (python3's, not pymalloc's), as nobody
    total_objects() {
        setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTRPROF" report --format folded \
            --sample alloc_objects "$1" 2>/dev/null | awk '{ s += $NF } END { printf "%.0f\n", s }'
    }
    d="$WORK/umo-ref" && mkdir -p "$d" && chmod 1777 "$d"
    (cd "$WORK" && umask 022 && setpriv --reuid=nobody --regid=nogroup --clear-groups env \
        CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" $PY -c "$SCRIPT" >/dev/null)
    ref=$(total_objects "$d")
    [ "$ref" -gt 1000 ] && pass "faults:umask-022:reference" ||
        fail "faults:umask-022:reference" "expected over 1,000 allocations at rate 1, got $ref"
    for um in 0777 0277; do
        n="faults:umask-$um"
        d="$WORK/umo-$um" && mkdir -p "$d/prof" "$d/run" && chmod 1777 "$d/prof" "$d/run" && chmod 0755 "$d"
        (cd "$d" && umask "$um" && setpriv --reuid=nobody --regid=nogroup --clear-groups env \
            CTRPROF_DIR="$d/prof" XDG_RUNTIME_DIR="$d/run" CTRPROF_FLUSH_MS=bogus CTRPROF_MEM_RATE=1 \
            LD_PRELOAD="$SHIM" $PY -c "$SCRIPT" >/dev/null 2>"$d/err")
        check_eq "$n:file-0600" "600" "$(stat -c '%a' "$d"/prof/ctrprof.python3.*.count 2>&1)"
        rep=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTRPROF" report --format folded \
            "$d/prof" 2>&1)
        check_eq "$n:owner-reads-it" "0 0" "$? $(grep -c 'Permission denied\|no profile' <<<"$rep")"
        check_eq "$n:tree-dir-0700" "700" "$(stat -c '%a' "$d"/run/ctrprof-said-* 2>&1)"
        check_eq "$n:one-line-the-options-once" "1 1" \
            "$(grep -c '^ctrprof: ' "$d/err") $(grep -c '^ctrprof: CTRPROF_FLUSH_MS=bogus' "$d/err")"
        got=$(total_objects "$d/prof")
        within "$ref" "$got" 0.1 && pass "$n:every-allocation" ||
            fail "$n:every-allocation" "expected ~$ref allocations (umask 022), got $got"
    done
else
    skip "faults:umask-owner-bits" "needs root to run as nobody (root reads a file of any mode)"
fi

# A profile appears whole (its header page written) or not at all: a process killed while
# the profiler creates its file (libkillwrite.so: SIGKILL at the first pwrite into the
# directory, where the header goes) leaves no .count file, not an empty one that every
# reader rejects (it was open(O_CREAT) and then the header; now an O_TMPFILE linked
# under the name once written, cfile.c). Without the killer the same run leaves a file.
cc -g -O1 -shared -fPIC -o "$WORK/libkillwrite.so" "$TOP/tests/programs/killwrite/libkillwrite.c" -ldl
for rate in 1 524288; do
    d="$WORK/kw-$rate" && mkdir -p "$d/ok" "$d/killed"
    (cd "$WORK" && CTRPROF_DIR="$d/ok" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM $WORK/libkillwrite.so" \
        "$PROGS/demo" >/dev/null 2>&1)
    (cd "$WORK" && KILLWRITE_DIR="$d/killed" CTRPROF_DIR="$d/killed" CTRPROF_MEM_RATE=$rate \
        LD_PRELOAD="$SHIM $WORK/libkillwrite.so" "$PROGS/demo" >/dev/null 2>&1) 2>/dev/null
    rc=$?
    check_eq "faults:killed-while-creating:rate-$rate" "137 1 0" \
        "$rc $(ls "$d/ok" | grep -c '\.count$') $(ls "$d/killed" | grep -c '\.count$')"
done
