#!/usr/bin/env bash
# Inline publishing (core/flusher.c, "who flushes"): a single-threaded process publishes
# its buckets' counters at each event, and its health and heap-over-time counters once a
# flush interval (CTRPROF_FLUSH_MS, here a minute, so that everything after the first
# flush is still put off when the process forks or ends). At rate 1 the file must still
# be exact when the processes end: nothing put off is lost at _exit, and nothing the
# parent had not published yet when it forked is counted twice by a child sharing its
# file (fork, or _Fork, which no atfork handler sees: core/newproc.h).
source "$(dirname "$0")/lib.sh"

N=5000
P="$PROGS/forkcount"

# sitev FILE SITE REPORT-ARGS...: the folded total of the stacks whose leaf is SITE
sitev() {
    local f=$1 s=$2
    shift 2
    "$CTRPROF" report "$@" --format folded "$f" 2>/dev/null |
        awk -v k="$s" '{ n = split($1, a, ";"); if (a[n] == k) t += $NF } END { print t + 0 }'
}
# total FILE REPORT-ARGS...: the folded total of every stack
total() {
    local f=$1
    shift
    "$CTRPROF" report "$@" --format folded "$f" 2>/dev/null | awk '{ t += $NF } END { print t + 0 }'
}
# counter FILE NAME: a counter's value (0 if absent)
counter() {
    "$CTRPROF" dump "$1" | awk -v n="$2" '$2 == n { v = $1 } END { print v + 0 }'
}

for how in fork _Fork; do
    # 1. A shared file (CTRPROF_FILE): the parent's and the child's counts add up in it
    n="inline:shared-$how"
    d="$WORK/shared-$how"
    mkdir -p "$d"
    out=$(cd "$d" && CTRPROF_FILE="$d/p.count" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=60000 \
        timeout 60 env LD_PRELOAD="$SHIM" "$P" $how $N)
    check_eq "$n:runs" "0 ok" "$? $out"
    f="$d/p.count"
    check_eq "$n:parent-allocs" $((2 * N)) "$(sitev "$f" parent_site --sample=alloc_objects)"
    check_eq "$n:child-allocs" $N "$(sitev "$f" child_site --sample=alloc_objects)"
    # every allocation of either process (the loader's and libc's too) once, in the
    # samples counter as in the buckets
    all=$(total "$f" --sample=alloc_objects)
    check_eq "$n:samples-counted-once" "$all" "$(counter "$f" ctrprof/health:samples:heap)"
    # every freed object's lifetime classed once (all under 10 s)
    check_eq "$n:parent-lifetimes" $((2 * N)) "$(sitev "$f" parent_site --sample=temp_objects --temp-under=10s)"
    check_eq "$n:child-lifetimes" $N "$(sitev "$f" child_site --sample=temp_objects --temp-under=10s)"

    # 2. A file each (CTRPROF_DIR): the child's is complete at its _exit
    n="inline:own-files-$how"
    d="$WORK/own-$how"
    mkdir -p "$d"
    out=$(cd "$d" && CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=60000 \
        timeout 60 env LD_PRELOAD="$SHIM" "$P" $how $N)
    check_eq "$n:runs" "0 ok" "$? $out"
    files=$(ls "$d"/*.count 2>/dev/null | wc -l)
    check_eq "$n:two-files" 2 "$files"
    for f in "$d"/*.count; do
        [ -f "$f" ] || continue
        c=$(sitev "$f" child_site --sample=alloc_objects)
        if [ "$c" = 0 ]; then
            who=parent
            check_eq "$n:$who-allocs" $((2 * N)) "$(sitev "$f" parent_site --sample=alloc_objects)"
            check_eq "$n:$who-lifetimes" $((2 * N)) "$(sitev "$f" parent_site --sample=temp_objects --temp-under=10s)"
        else
            who=child
            check_eq "$n:$who-allocs" $N "$c"
            check_eq "$n:$who-lifetimes" $N "$(sitev "$f" child_site --sample=temp_objects --temp-under=10s)"
        fi
        all=$(total "$f" --sample=alloc_objects)
        check_eq "$n:$who-samples" "$all" "$(counter "$f" ctrprof/health:samples:heap)"
    done
done

# 3. exec: what the process put off is published before its image is replaced
n="inline:exec"
d="$WORK/exec"
mkdir -p "$d"
(cd "$d" && CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=60000 \
    timeout 60 env LD_PRELOAD="$SHIM" "$P" exec $N)
check_eq "$n:runs" 0 "$?"
f=$(ls "$d"/ctrprof.forkcount.*.count 2>/dev/null | head -1)
f=${f:-/nonexistent}
check_eq "$n:allocs" $N "$(sitev "$f" parent_site --sample=alloc_objects)"
check_eq "$n:lifetimes" $N "$(sitev "$f" parent_site --sample=temp_objects --temp-under=10s)"
check_eq "$n:samples" "$(total "$f" --sample=alloc_objects)" "$(counter "$f" ctrprof/health:samples:heap)"

# 4. Two processes with the same pid (each pid 1 of its own pid namespace) and program,
# writing to the same directory: both choose ctrprof.samepid.1.count at start-up, the
# first to allocate creates it, and the second, finding the name taken when it comes to
# create its file, takes another (core/publish.c, cp_open_pending): each process's counts
# exact in a file of its own. The first's file takes its adds without a locked
# instruction (cp_cfile_add_sole), so a second writer in it would also lose increments.
n="inline:same-pid"
d="$WORK/samepid"
mkdir -p "$d"
if ! unshare -Urpf true 2>/dev/null; then
    skip "$n" "unshare -Urpf (an unprivileged pid namespace) is not allowed here"
else
    M=20000
    for w in a b; do
        (CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 timeout 120 unshare -Urpf \
            env LD_PRELOAD="$SHIM" "$PROGS/samepid" "$d/ready-$w" "$d/go-$w" $M) &
    done
    # both have chosen their names before either makes a file
    if ! wait_until 60 test -e "$d/ready-a" -a -e "$d/ready-b"; then
        fail "$n:started" "the two processes did not start"
    else
        touch "$d/go-a"
        # a's file exists (its first allocation made it) before b makes its own
        wait_until 60 test -e "$d/ctrprof.samepid.1.count"
        touch "$d/go-b"
        wait
        check_eq "$n:both-ran" "yes yes" \
            "$(for w in a b; do [ -e "$d/ready-$w.done" ] && echo yes || echo no; done | xargs)"
        files=$(ls "$d"/ctrprof.samepid.*.count 2>/dev/null | wc -l)
        check_eq "$n:two-files" 2 "$files"
        got=""
        for f in "$d"/ctrprof.samepid.*.count; do
            [ -f "$f" ] && got="$got $(sitev "$f" samepid_site --sample=alloc_objects)"
        done
        check_eq "$n:each-exact" " $M $M" "$got"
    fi
fi

# A single-threaded phase, then a second thread (tests/programs/directmix.c): alone, each
# event goes to its flush without the ring (core/flusher.c's cp_flush_direct; with
# nothing else waiting, flush_alone), and from pthread_create on through the rings and the
# flusher thread; objects made on the first path are freed on the second, by the thread
# that made them and by another, while main allocates beside it (blocks the other thread
# freed come back to main, and its rings may be drained first). At rate 1 every site is
# exact in objects and bytes (mixed_e: a site of 8 sizes), nothing is lost, and each
# site's lifetime classes hold every free, its live objects the rest: with small objects
# (the live table's fine map) and with every size x 64 (its wide map, core/shadow.h).
for run in "20000 1" "5000 64"; do
    read -r N X <<<"$run"
    n="inline:direct-then-rings:x$X"
    d="$WORK/directmix-$X"
    mkdir -p "$d"
    out=$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 timeout 120 env LD_PRELOAD="$SHIM" "$PROGS/directmix" $N $X)
    check_eq "$n:runs" "0 ok" "$? $out"
    f=$(ls "$d"/*.count 2>/dev/null | head -1)
    got=""
    for s in kept_a temp_b thread_c main_d mixed_e; do
        got="$got $s"
        for k in alloc_objects inuse_objects alloc_space inuse_space; do
            got="$got/$(sitev "$f" $s --sample=$k)"
        done
    done
    check_eq "$n:exact" \
        " kept_a/$N/0/$((N * 48 * X))/0 temp_b/$N/0/$((N * 24 * X))/0 thread_c/$N/$((N / 2))/$((N * 40 * X))/$((N / 2 * 40 * X)) main_d/$N/0/$((N * 56 * X))/0 mixed_e/$N/0/$((N * 72 * X))/0" \
        "$got"
    check_eq "$n:nothing-lost" 0 \
        "$("$CTRPROF" dump "$f" | awk '$2 ~ /^ctrprof\/health:lost:/ { t += $1 } END { print t + 0 }')"
    # (the lifetimes view: the classes' counts, then live, the median class and the site)
    check_eq "$n:lifetimes-hold-every-object" \
        "kept_a $N 0 main_d $N 0 mixed_e $N 0 temp_b $N 0 thread_c $((N / 2)) $((N / 2))" \
        "$("$CTRPROF" report --format=lifetimes "$f" 2>/dev/null | awk '!/^#/ && $NF ~ /^(kept_a|temp_b|thread_c|main_d|mixed_e)$/ {
            s = 0; for (i = 1; i <= 9; i++) s += $i; print $NF, s, $10 }' | sort | xargs)"
done
