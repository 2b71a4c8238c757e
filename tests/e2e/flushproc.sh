#!/usr/bin/env bash
# The flusher process (core/flushproc.c): at rate 1 a single-threaded program's events are
# drained by a process of ours that shares its memory and descriptors, not by a thread
# (CTRPROF_FLUSHER=auto; =process at any rate; =inline never). Seen from the program
# (tests/programs/flushproc.c): still one thread, no child it can wait for; its profile
# the same as the inline one's; a SIGKILL loses nothing; a reader of its pipe sees the end
# when it dies, not a flush interval later; exec and fork leave no copy behind.
. "$(dirname "$0")/lib.sh"

P="$PROGS/flushproc"
run() { # dir env... -- args: the program under the shim
    local d=$1
    shift
    rm -rf "$d" && mkdir -p "$d"
    (cd "$WORK" && env CTRPROF_DIR="$d" LD_PRELOAD="$SHIM" "$@" 2>&1)
}

# one thread, a ctrprof-flush child at rate 1 (none inline, none at the default rate; with
# CTRPROF_FLUSHER=process at a rate that samples some of the 1,000), and
# wait(NULL) says ECHILD at once (the process ends with no signal to the program: a wait
# without __WALL does not see it)
got="rate1=$(run "$WORK/i1" CTRPROF_MEM_RATE=1 "$P" info 1000)"
got="$got inline=$(run "$WORK/i2" CTRPROF_MEM_RATE=1 CTRPROF_FLUSHER=inline "$P" info 1000)"
got="$got default=$(run "$WORK/i3" "$P" info 1000)"
got="$got process=$(run "$WORK/i4" CTRPROF_FLUSHER=process CTRPROF_MEM_RATE=4096 "$P" info 1000)"
check_eq flushproc:one-thread-no-waitable-child \
    "rate1=threads=1 helpers=1 echild=1 inline=threads=1 helpers=0 echild=1 default=threads=1 helpers=0 echild=1 process=threads=1 helpers=1 echild=1" \
    "$got"
check_eq flushproc:rate1-exact "1000" "$(site "$WORK/i1" made_here)"

# the same profile as the inline one's, with the flusher process (auto) or thread: every
# count of deferred.c (reallocs, an address freed and allocated again 40,000 times, a
# second thread that frees what main allocated alone). While the process has one thread
# the live table is the flusher's (core/live.h's cp_live_deferred: the program's thread
# records by address); from the program's first pthread_create on each thread keeps it
# again (the process stops there, the flusher thread takes over). Only the thread's
# 10,000 objects are live at the end.
for k in inline auto thread; do
    run "$WORK/d-$k" CTRPROF_MEM_RATE=1 CTRPROF_FLUSHER=$k "$PROGS/deferred" 40000 >/dev/null
    for s in alloc_objects alloc_space inuse_objects inuse_space; do
        "$CTRPROF" report --format=folded --sample=$s "$WORK/d-$k"/*.count >"$WORK/d-$k.$s" 2>&1
    done
done
for k in auto thread; do
    bad=
    for s in alloc_objects alloc_space inuse_objects inuse_space; do
        cmp -s "$WORK/d-inline.$s" "$WORK/d-$k.$s" || bad="$bad $s"
    done
    check_eq flushproc:same-profile-as-inline:$k \
        "differ: alone-live=0 by-thread=10000 again=40000 grown=13334" \
        "differ:$bad alone-live=$(awk '/_alone/ { s += $NF } END { print s + 0 }' "$WORK/d-$k.inuse_objects") by-thread=$(site "$WORK/d-$k" made_by_thread inuse_objects) again=$(site "$WORK/d-$k" again_alone) grown=$(site "$WORK/d-$k" grown_alone)"
done

# SIGKILL with a flush interval of an hour: only the process's last drain can publish
# what the rings held (a flusher thread would lose them all)
(run "$WORK/k" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=3600000 "$P" kill 200000 >/dev/null) 2>/dev/null
check_eq flushproc:sigkill-loses-nothing "200000" "$(site "$WORK/k" made_here)"

# the killed program's pipe ends at once for its reader: the process holds the program's
# descriptor table until it ends, and it is woken by the program's death, not by its
# interval (an hour here). Bare, the same pipeline takes ~0.1 s.
rm -rf "$WORK/p" && mkdir -p "$WORK/p"
t0=$(date +%s%N)
out=$(cd "$WORK" && CTRPROF_DIR="$WORK/p" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=3600000 LD_PRELOAD="$SHIM" \
    timeout 20 "$P" pipe 200000 2>/dev/null | cat)
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq flushproc:pipe-ends-with-the-program "x fast 200000" \
    "$out $([ "$ms" -lt 3000 ] && echo fast || echo "slow(${ms}ms)") $(site "$WORK/p" made_here)"

# exec: the old image's process is stopped and reaped before the new image starts (it
# would hold the old descriptor table, close-on-exec descriptors included); the new image
# has its own (and adds its 10 to the same file: the same pid)
got=$(run "$WORK/e" CTRPROF_MEM_RATE=1 "$P" exec 5000)
check_eq flushproc:exec-leaves-none "threads=1 helpers=1 echild=1 5010" \
    "$got $(site "$WORK/e" made_here | head -1)"

# fork: the child flushes its own events inline (as a fork child has no flusher thread
# either), the parent's process goes on; both profiles exact
got=$(run "$WORK/f" CTRPROF_MEM_RATE=1 "$P" fork 30000)
check_eq flushproc:fork-exact "ok 60000 30000" \
    "$got $(site "$WORK/f" made_here) $(site "$WORK/f" made_in_child)"

# a user namespace at rate 1: the process is not a thread, so unshare(CLONE_NEWUSER) works
if unshare -U true 2>/dev/null; then
    got=$(run "$WORK/u" CTRPROF_MEM_RATE=1 unshare -U sh -c 'id -u')
    check_eq flushproc:unshare-U "65534" "$got"
else
    skip flushproc:unshare-U "unshare -U (a user namespace) is not allowed here"
fi

# a program at its descriptor limit (hostfiles.sh's fdlimit, recover: RLIMIT_NOFILE 32,
# every descriptor taken, 4,096 stacks, then the files closed): the process shares the
# program's descriptor table, so it waits for a free descriptor as the program's own
# thread would; nothing lost, every stack once
d="$WORK/fdl"
rm -rf "$d" && mkdir -p "$d"
want=$("$PROGS/fdlimit" recover 1 file 2>&1)
got=$(cd "$d" && CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=100 LD_PRELOAD="$SHIM" \
    "$PROGS/fdlimit" recover 1 file 2>/dev/null)
f=$(ls "$d"/*.count 2>/dev/null | head -1)
lost=$("$CTRPROF" dump "$f" 2>/dev/null | awk '$2 == "ctrprof/health:lost:nbucket" { print $1 }')
stacks=$("$CTRPROF" report --sample alloc_objects --format folded "$f" 2>/dev/null |
    awk '/;leaf / { n++ } END { print n + 0 }')
check_eq flushproc:fdlimit-recover "$want lost=0 stacks=4096" "$got lost=${lost:-none} stacks=$stacks"

# a single-threaded program that blocks SIGBUS, sandboxes itself with an allow-list (no
# wait4, no munmap) and has its profile truncated under it (sandbox.sh's sandtrunc alone,
# inline there): the flusher process is outside the filter, stores into the file, finds
# the truncation and says it; at exit it is waited for without a system call the filter
# may forbid. The program runs as bare.
trunc_ready() { grep -q '^ready' "$1/out" 2>/dev/null && ls "$1"/prof/*.count >/dev/null 2>&1; }
for how in alone alone-mask; do
    d="$WORK/trunc-$how"
    mkdir -p "$d/prof"
    (cd "$d" && CTRPROF_DIR="$d/prof" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" \
        exec "$PROGS/sandtrunc" "$how" "$d/go" >"$d/out" 2>"$d/err") &
    pid=$!
    if wait_until 30 trunc_ready "$d"; then
        helpers=$(ps -eo ppid=,comm= | awk -v p="$pid" '$1 == p && $2 == "ctrprof-flush"' | wc -l)
        truncate -s 0 "$d"/prof/*.count
    else
        helpers=none
    fi
    touch "$d/go"
    wait "$pid"
    check_eq "flushproc:sandboxed-truncated:$how" "0 ready ok helpers=1 said=1" \
        "$? $(sed 's/^ready .*/ready/' "$d/out" | tr '\n' ' ' | sed 's/ $//') helpers=$helpers said=$(grep -c 'truncated under the program' "$d/err")"
done
