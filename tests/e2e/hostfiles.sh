#!/usr/bin/env bash
# The profile's file and mappings against programs that manage their own descriptors,
# files and limits (issues 26 and 29): the program's files stay byte for byte its own,
# the profile still reads with everything recorded, and a profile truncated under the
# program ends profiling into it, never the program.
source "$(dirname "$0")/lib.sh"


# 1. A daemon's close-everything start-up (tests/programs/daemon_fds.c): the program and
# its forked child each check their own 1 MiB file mid-run, and the test compares both
# files with a bare run's after the processes are gone (the old shim grew the program's
# file at exit, after its own check). Every way of closing, one and two threads, rate 1
# (the profile grows by megabytes after the close) and the default rate.
mkdir -p "$WORK/bare"
(cd "$WORK/bare" && "$PROGS/daemon_fds" loop 1 "$WORK/bare/data" >/dev/null)
for how in loop range from; do
    for threads in 1 2; do
        for rate in 1 524288; do
            n="hostfiles:daemon-fds:$how:t$threads:rate-$rate"
            d="$WORK/d-$how-$threads-$rate"
            mkdir -p "$d/prof"
            # sh writes its pid and execs (env, then the program) keeping it: the parent's pid
            out=$(cd "$d" && CTRPROF_DIR="$d/prof" CTRPROF_MEM_RATE=$rate sh -c \
                'echo $$ >"$1"; shift; exec env LD_PRELOAD="$0" "$@"' "$SHIM" "$d/pid" \
                "$PROGS/daemon_fds" "$how" "$threads" "$d/data" 2>"$d/err")
            rc=$?
            check_eq "$n:runs" "0 ok" "$rc $out"
            cmp -s "$WORK/bare/data" "$d/data" && cmp -s "$WORK/bare/data.child" "$d/data.child" &&
                pass "$n:files-untouched" ||
                fail "$n:files-untouched" "$(ls -l "$d/data" "$d/data.child" | awk '{ print $5, $9 }' | tr '\n' ' ')"
            check_eq "$n:nothing-said (and ran)" "0 ok|" "$rc $out|$(cat "$d/err")"
            # the parent's and the child's profiles, with everything recorded
            # (not "the lower pid": pids wrap)
            parent="$d/prof/ctrprof.daemon_fds.$(cat "$d/pid").count"
            child="$d/prof/$(cd "$d/prof" && ls | grep -vxF "$(basename "$parent")" | head -1)"
            for f in "$d"/prof/*.count; do
                check_cmd "$n:profile-reads:$(basename "$f")" "$CTRPROF" dump "$f"
            done
            if [ "$rate" = 1 ]; then
                check_eq "$n:parent-exact" "2008 $((6040 * threads))" "$(site "$parent" phase1) $(site "$parent" phase2)"
                check_eq "$n:child-exact" "$((6040 * threads))" "$(site "$child" phase2)"
            else
                # phase2 allocates 105,677,960 bytes a thread after the close, 82% of it in
                # 2 MiB objects (each sampled with p > 0.98) and 18.6 MB in small ones (~35
                # samples): the estimate's standard deviation is ~3.5%; 15% is > 4 sigma
                got=$(site "$parent" phase2 alloc_space)
                within $((105677960 * threads)) "$got" 0.15 && pass "$n:parent-after-close" ||
                    fail "$n:parent-after-close" "phase2 bytes: expected ~$((105677960 * threads)), got $got"
            fi
        done
    done
done

# start_grow DIR RATE: starts `truncated grow` under the shim in the background ($pid),
# waits until it is between its phases with phase 1 in its profile (rate 1: all 3020
# allocations; else the 20 4 MiB ones, each sampled with p = 1 - e^-8: at least one),
# whose path goes in $f ("" if that never happened). (At rate 1 the flusher creates the
# file a moment after the first sample; a file truncated while it is being created is
# just created.)
grow_ready() {
    local d=$1 rate=$2 n
    f=
    grep -q ready "$d/out" 2>/dev/null || return 1
    f=$(ls "$d"/prof/ctrprof.truncated.*.count 2>/dev/null | head -1)
    [ -n "$f" ] || return 1
    n=$(site "$f" phase1)
    if [ "$rate" = 1 ]; then [ "$n" = 3020 ]; else [ "$n" -gt 0 ]; fi || { f=; return 1; }
}
start_grow() {
    local d=$1 rate=$2 how=${3:-grow} launch=()
    # (inherited: SIGBUS blocked by whoever execs it, as a service manager can leave it)
    [ "$how" = inherited ] && how=grow launch=(python3 -c 'import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGBUS]); os.execv(sys.argv[1], sys.argv[1:])')
    mkdir -p "$d/prof" "$d/rt" && chmod 700 "$d/rt"
    (cd "$d" && XDG_RUNTIME_DIR="$d/rt" CTRPROF_DIR="$d/prof" CTRPROF_MEM_RATE=$rate CTRPROF_FLUSH_MS=100 LD_PRELOAD="$SHIM" \
        exec "${launch[@]}" "$PROGS/truncated" "$how" "$d/go" >"$d/out" 2>"$d/err") &
    pid=$!
    wait_until 30 grow_ready "$d" "$rate"
}

# 2. The profile truncated under the running program (truncate -s 0), then thousands of
# new counters: every store into the mapping would be a SIGBUS. The program finishes as
# bare, and the profiler says once that profiling into the file has stopped.
# Also with SIGBUS blocked in the program's one thread, by the program (grow-blocked) or
# by whoever exec'd it (inherited): its own events are flushed inline, on that thread,
# and a fault with SIGBUS blocked would end it (exit 135 before the flush opened SIGBUS).
# And a program that blocks SIGBUS and exits right after the truncation (exit-blocked;
# exit-blocked-threads: with a second thread, so the profiler has its flusher): the
# exit's flush is the first store after it, on the exiting thread (135 at both rates
# before every store of a program's thread opened SIGBUS: core/flusher.c).
for how in grow grow-blocked inherited exit-blocked exit-blocked-threads; do
for rate in 1 524288; do
    n="hostfiles:truncated:rate-$rate"
    [ "$how" = grow ] || n="hostfiles:truncated-$how:rate-$rate"
    d="$WORK/t-$how-$rate"
    start_grow "$d" $rate $how
    if [ -n "$f" ]; then
        truncate -s 0 "$f"
        pass "$n:profile-was-there"
    else
        fail "$n:profile-was-there" "no profile in $d/prof before the truncation"
    fi
    touch "$d/go"
    wait "$pid"
    check_eq "$n:runs-on" "0 ready ok" "$? $(tr '\n' ' ' <"$d/out" | sed 's/ $//')"
    check_eq "$n:says-so-once" "1" "$(grep -c '^ctrprof: .*truncated under the program' "$d/err")"
    check_eq "$n:says-nothing-else" "1" "$(grep -c . "$d/err")"
    # (the line, said by the process itself, made its tree's marker: gone with it, also
    # when the exit's own flush said it: preload/treesaid.c, shim.c)
    check_eq "$n:tree-markers-removed" "" "$(ls -A "$d"/rt/ctrprof-said-* 2>&1)"
done
done

# 2b. The profile replaced under the running program (moved away, another file put at its
# path, as log rotation or a careless script would): growth stops for good, the file now
# at the path is never touched, the moved profile still reads with what came before, the
# loss is counted there and said once.
for rate in 1 524288; do
    n="hostfiles:replaced:rate-$rate"
    d="$WORK/r-$rate"
    start_grow "$d" $rate
    if [ -n "$f" ]; then
        mv "$f" "$d/moved.count"
        printf 'the program'"'"'s own file\n' >"$f"
    fi
    touch "$d/go"
    wait "$pid"
    check_eq "$n:runs-on" "0 ready ok" "$? $(tr '\n' ' ' <"$d/out" | sed 's/ $//')"
    check_eq "$n:new-file-untouched" "the program's own file" "$(cat "$f" 2>&1)"
    check_eq "$n:says-so-once" "1" "$(grep -c "^ctrprof: .*no longer leads to the file" "$d/err")"
    check_eq "$n:says-nothing-else" "1" "$(grep -c . "$d/err")"
    lost=$("$CTRPROF" dump "$d/moved.count" | awk '$2 == "ctrprof/health:lost:nbucket" { print $1 }')
    [ "${lost:-0}" -gt 0 ] && pass "$n:loss-counted ($lost)" || fail "$n:loss-counted" "lost:nbucket [$lost]"
    got=$("$CTRPROF" report --sample alloc_objects --format folded "$d/moved.count" 2>/dev/null |
        awk '{ n = split($1, a, ";"); if (a[n] == "phase1") s += $2 } END { printf "%.0f\n", s }')
    if [ "$rate" = 1 ]; then
        check_eq "$n:before-kept" "3020" "$got"
    else
        [ "$got" -gt 0 ] && pass "$n:before-kept" || fail "$n:before-kept" "phase1: $got"
    fi
done

# 3. The program's own SIGBUS: its handler runs for a fault in its own mapping, sigaction
# and signal report what it set (the shim keeps a handler of its own underneath), and with
# the default action it dies of SIGBUS as bare.
want=$("$PROGS/truncated" own)
for rate in 1 524288; do
    got=$(CTRPROF_DIR="$WORK" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$PROGS/truncated" own)
    check_eq "hostfiles:own-sigbus-handler:rate-$rate" "$want" "$got"
    { (CTRPROF_DIR="$WORK" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$PROGS/truncated" die) >/dev/null 2>&1; } 2>/dev/null
    check_eq "hostfiles:own-sigbus-default-kills:rate-$rate" "135" "$?"
done
check_eq "hostfiles:own-sigbus-handler:bare" "ok 101 1" "$want"

# 4. Address space and locked memory (tests/programs/limits.c). Under ulimit -v the
# program maps as many 256 MiB regions as without the profiler (the profile's 4 GiB
# reservation once left it 6 of 22); an unprivileged mlockall(MCL_CURRENT|MCL_FUTURE)
# under the default 8 MiB RLIMIT_MEMLOCK succeeds as it does bare (~9 MiB mapped at
# start once made it fail, even with sampling off; at rate 1, ~57 MiB reserved up front
# until the tables were mapped in steps: the kernel compares the whole address space,
# VmSize, with RLIMIT_MEMLOCK). ulimit -v and mlockall at rates 0, 1 and the default (the
# slack is half a region). tests/e2e/mlock.sh locks a program's memory in more detail.
base_kb=$(awk '/VmSize/ { print $2 }' /proc/self/status)
lim=$((22 * 262144 + 131072 + base_kb + 4096))
want=$(bash -c "ulimit -v $lim; '$PROGS/limits' as")
for rate in 0 1 524288; do
    got=$(cd "$WORK" && bash -c "ulimit -v $lim; CTRPROF_DIR='$WORK' CTRPROF_MEM_RATE=$rate LD_PRELOAD='$SHIM' '$PROGS/limits' as")
    check_eq "hostfiles:ulimit-v-regions:rate-$rate" "$want" "$got"
done
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    mkdir -p "$WORK/ml" && chmod 777 "$WORK/ml" && chmod 755 "$WORK"
    asnobody() { (cd "$WORK/ml" && setpriv --reuid=nobody --regid=nogroup --clear-groups env "$@"); }
    check_eq "hostfiles:mlockall:bare" "mlockall ok" "$(asnobody "$PROGS/limits" mlock 2>&1)"
    for rate in 0 1 524288; do
        check_eq "hostfiles:mlockall:rate-$rate" "mlockall ok" \
            "$(asnobody CTRPROF_DIR="$WORK/ml" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$PROGS/limits" mlock 2>&1)"
    done
else
    skip "hostfiles:mlockall" "needs root to run the program as nobody (setpriv)"
fi

# 4b. The profiler's own memory under RLIMIT_AS ("cannot map profiler memory", core/log.h's
# memory key). `ulimit -v` that low stops bash itself from loading, so tests/programs/
# aslimit sets the limit for a C program only, found by measurement: the lowest at which
# the profiled tree runs as bare with the shim loaded, then up in 16 KiB steps to the
# first where that line is said (about 3.1 MiB here). The tree: a program that forks a
# child and two children that exec a new image (each image's start-up meets the same
# limit). Said exactly once for the tree (no line said twice), the program's output and
# exit status as bare, and every file any of the launcher's runs left reads with dump.
# Both rates.
want=$("$PROGS/aslimit" tree 2>/dev/null; echo "status $?")
for rate in 1 524288; do
    d="$WORK/aslimit-$rate" && mkdir -p "$d"
    got=$(cd "$d" && CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$rate "$PROGS/aslimit" run "$SHIM" 2>"$d.err")
    if ! grep -q '^limit found' <<<"$got"; then
        fail "hostfiles:aslimit-memory:rate-$rate" "$(tail -2 <<<"$got" | paste -sd' ') $(cat "$d.err")"
        continue
    fi
    err=$(sed -n 's/^err: //p' <<<"$got")
    check_eq "hostfiles:aslimit-memory-said-once:rate-$rate ($(cat "$d.err"))" "1 0" \
        "$(grep -c '^ctrprof: cannot map profiler memory' <<<"$err") $(grep '^ctrprof: ' <<<"$err" | sort | uniq -d | wc -l)"
    check_eq "hostfiles:aslimit-memory-as-bare:rate-$rate" "$want" \
        "$(sed -n 's/^out: //p' <<<"$got"; sed -n 's/^status /status /p' <<<"$got")"
    bad=0 n=0
    for f in "$d"/*.count; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        "$CTRPROF" dump "$f" >/dev/null 2>&1 || bad=$((bad + 1))
    done
    check_eq "hostfiles:aslimit-files-read:rate-$rate ($n files)" 0 "$bad"
done

# 5. A file system that cannot fallocate (ext2 without extents: the kernel refuses
# fallocate on block-mapped files, as vfat and NFSv3 do), on a loop-mounted image: the
# profile grows by stores into a sparse file. Roomy, the program runs as bare and the
# profile reads with everything (rate 1: exact); full (64 KiB left), the
# program runs as bare all the same, the profile that was written reads, and one
# line says profiling into it stopped.
img="$WORK/ext2.img" mnt="$WORK/ext2"
trap 'umount "$mnt" 2>/dev/null; rm -rf "$WORK"' EXIT
ext2_up() { # SIZE_MIB FREE_KIB: a fresh image, mounted at $mnt, FREE_KIB (or all) left
    umount "$mnt" 2>/dev/null
    rm -f "$img" && truncate -s "${1}M" "$img" && mke2fs -q -t ext2 -O ^extents -m 0 -F "$img" &&
        mkdir -p "$mnt" && timeout 20 mount -o loop "$img" "$mnt" 2>/dev/null || return 1
    mkdir -p "$mnt/prof" && touch "$mnt/go"
    if [ -n "${2:-}" ]; then
        local avail=$(df -k --output=avail "$mnt" | tail -1)
        dd if=/dev/zero of="$mnt/filler" bs=1k count=$((avail - $2)) status=none 2>/dev/null
        sync
    fi
}
if ! command -v mke2fs >/dev/null || [ "$(id -u)" != 0 ]; then
    echo "SKIP hostfiles:no-fallocate: needs root and mke2fs to loop-mount an ext2 image"
elif ! ext2_up 32; then
    echo "SKIP hostfiles:no-fallocate: a loop mount of an ext2 image failed here (no loop devices?)"
elif fallocate -l 64k "$mnt/probe" 2>/dev/null; then
    echo "SKIP hostfiles:no-fallocate: this kernel's ext2 allocates with fallocate after all"
else
    touch "$WORK/go-now" # phase 2 right after phase 1: nothing is done to the file between
    for rate in 1 524288; do
        n="hostfiles:no-fallocate:roomy:rate-$rate"
        ext2_up 32
        out=$(cd "$mnt" && CTRPROF_DIR="$mnt/prof" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$PROGS/truncated" grow "$WORK/go-now" 2>"$WORK/nf.err")
        rc=$?
        check_eq "$n:runs" "0 ready ok" "$rc $(echo $out)"
        check_eq "$n:nothing-said (and ran)" "0 ready ok|" "$rc $(echo $out)|$(cat "$WORK/nf.err")"
        f=$(ls "$mnt"/prof/*.count 2>/dev/null | head -1)
        check_cmd "$n:profile-reads" "$CTRPROF" dump "$f"
        if [ "$rate" = 1 ]; then
            check_eq "$n:exact" "3020" "$(site "$f" phase1)"
        else
            [ "$(site "$f" phase1 alloc_space)" -gt 0 ] && pass "$n:sampled" || fail "$n:sampled" "no phase1 samples in $f"
        fi
        n="hostfiles:no-fallocate:full:rate-$rate"
        ext2_up 16 64
        out=$(cd "$mnt" && CTRPROF_DIR="$mnt/prof" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$PROGS/truncated" grow "$WORK/go-now" 2>"$WORK/nf.err")
        check_eq "$n:runs" "0 ready ok" "$? $(echo $out)"
        said=$(grep -c . "$WORK/nf.err")
        nroom=$(grep -c '^ctrprof: .*no room for a page' "$WORK/nf.err")
        if [ "$said" = 1 ] && [ "$nroom" = 1 ]; then
            pass "$n:said-once"
        else
            fail "$n:said-once" "$said lines: $(head -c 300 "$WORK/nf.err")"
        fi
        f=$(ls "$mnt"/prof/*.count 2>/dev/null | head -1)
        if [ -n "$f" ]; then
            check_cmd "$n:profile-reads" "$CTRPROF" dump "$f"
        else
            pass "$n:profile-reads (no profile: the file system had no room for one)"
        fi
    done
    umount "$mnt"
fi

# 6. A program at its descriptor limit (tests/programs/fdlimit.c: RLIMIT_NOFILE 32, every
# descriptor taken, then 4,096 distinct stacks). The profile holds no descriptor, so the
# program gets as many as bare; the file grows (or is first created) by opening its path,
# which the limit refuses: the samples wait in memory and go in once a descriptor is free
# (the old shim lost them, or, with no file yet, stopped profiling: "File exists").
# stay: still at the limit at exit: what did not get in is counted lost and said.
# (Inline flushing, CTRPROF_FLUSHER=inline: at rate 1 a single-threaded program's events
# would otherwise be drained by the flusher process at its own pace, and what is said
# depends on whether a drain came before the exit; flushproc.sh runs recover under it.)
lost_nbucket() { "$CTRPROF" dump "$1" | awk '$2 == "ctrprof/health:lost:nbucket" { print $1 }'; }
leaf_stacks() {
    "$CTRPROF" report --sample alloc_objects --format folded "$1" 2>/dev/null |
        awk '/;leaf / { n++; if ($2 != 1) odd++ } END { printf "%d %d\n", n, odd }'
}
for first in file nofile; do
    for threads in 1 2; do
        for mode in stay recover kill; do
            want=$("$PROGS/fdlimit" "$mode" "$threads" "$first" 2>&1)
            for rate in 1 64; do
                n="hostfiles:fdlimit:$mode:$first:t$threads:rate-$rate"
                d="$WORK/fdl-$mode-$first-$threads-$rate"
                mkdir -p "$d"
                got=$(cd "$d" && CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$rate CTRPROF_FLUSH_MS=100 \
                    CTRPROF_FLUSHER=inline LD_PRELOAD="$SHIM" "$PROGS/fdlimit" "$mode" "$threads" \
                    "$first" 2>"$d.err")
                check_eq "$n:output-as-bare" "$want" "$got"
                f=$(ls "$d"/*.count 2>/dev/null | head -1)
                waitsaid=$(grep -c "for now (Too many open files)" "$d.err")
                if [ "$mode" = stay ]; then
                    # at the limit to the end: the first wait said, then the loss
                    lines=$(grep -c . "$d.err")
                    check_eq "$n:said-wait-then-lost ($(head -c 400 "$d.err" | tr "\n" "|"))" "1 2" "$waitsaid $lines"
                    if [ "$first" = nofile ]; then
                        check_eq "$n:no-profile" "" "$f"
                        continue
                    fi
                    read -r stacks odd <<<"$(leaf_stacks "$f")"
                    lost=$(lost_nbucket "$f")
                    # (at rate 64 a sample weighs 1.58 objects: 1 or 2 in the file)
                    [ "$stacks" -lt 4096 ] && [ "$lost" -gt 0 ] &&
                        { [ "$rate" != 1 ] || { [ "$odd" = 0 ] && [ $((stacks + lost)) -ge 4096 ]; }; } &&
                        pass "$n:loss-counted" ||
                        fail "$n:loss-counted" "leaf stacks $stacks (odd $odd), lost:nbucket $lost"
                    continue
                fi
                # recover, kill: nothing lost; at rate 1 every stack once. (kill: the
                # samples got in while the program ran.) t2's thread may close its files
                # before the flusher's first flush: nothing to say then.
                [ -n "$f" ] || { fail "$n:profile" "no profile ($(head -c 300 "$d.err" | tr "\n" "|"))"; continue; }
                check_eq "$n:nothing-lost" "0" "$(lost_nbucket "$f")"
                said=$(grep -vc "for now (Too many open files)" "$d.err")
                if [ "$threads" = 1 ]; then
                    check_eq "$n:said-wait-only ($(head -c 300 "$d.err" | tr "\n" "|"))" "1 0" "$waitsaid $said"
                else
                    check_eq "$n:said-nothing-else ($(head -c 300 "$d.err" | tr "\n" "|"))" "0" "$said"
                fi
                read -r stacks odd <<<"$(leaf_stacks "$f")"
                if [ "$rate" = 1 ]; then
                    check_eq "$n:exact" "4096 0 10" "$stacks $odd $( [ "$mode" = kill ] && site "$f" after || echo 10)"
                else
                    # each stack drawn with p = 1 - e^-(64..70)/64 (0.63-0.67): ~2,650, sd ~31
                    [ "$stacks" -gt 2400 ] && [ "$stacks" -lt 2900 ] && pass "$n:sampled" ||
                        fail "$n:sampled" "leaf stacks $stacks"
                fi
            done
        done
    done
done

# The heap over time at the limit (fdlimit lives: 4,096 sites, each with an object in use at
# the peak and frees in two lifetime classes, the second 30 ms after the first): its
# counters (the peak's, the classes', the timeline's) wait as the sites' own do, and go in
# once the program closes its files. The old shim gave them up for good: no site in the
# peak profile, every free in the first class (4,097 lost:nbucket).
for first in file nofile; do
    for threads in 1 2; do
        want=$("$PROGS/fdlimit" lives "$threads" "$first" 2>&1)
        for rate in 1 64; do
            n="hostfiles:fdlimit:lives:$first:t$threads:rate-$rate"
            d="$WORK/fdl-lives-$first-$threads-$rate"
            mkdir -p "$d"
            got=$(cd "$d" && CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$rate CTRPROF_FLUSH_MS=100 \
                LD_PRELOAD="$SHIM" "$PROGS/fdlimit" lives "$threads" "$first" 2>"$d.err")
            check_eq "$n:output-as-bare" "$want" "$got"
            f=$(ls "$d"/*.count 2>/dev/null | head -1)
            [ -n "$f" ] || { fail "$n:profile" "no profile ($(head -c 300 "$d.err" | tr "\n" "|"))"; continue; }
            check_eq "$n:nothing-lost" "0" "$(lost_nbucket "$f")"
            check_eq "$n:said-nothing-else ($(head -c 300 "$d.err" | tr "\n" "|"))" "0" \
                "$(grep -vc "for now (Too many open files)" "$d.err")"
            # (2 KiB objects: sampled with p = 1 - e^-32 at rate 64, each weighing 1)
            check_eq "$n:peak-has-every-site" "4096 0" "$("$CTRPROF" report --profile peak \
                --sample inuse_objects --format folded "$f" 2>/dev/null |
                awk '/;leaf / { n++; if ($2 != 1) odd++ } END { printf "%d %d\n", n, odd }')"
            # lt1us 1us 10us 100us 1ms | 10ms 100ms 1s 10s | live: 8,192 freed, the kept
            # ones (at least) 10 ms or more (an immediate free whose thread waited for the
            # flusher's room may be late too), none live
            check_eq "$n:lifetimes" "8192 yes 0" "$("$CTRPROF" report --format lifetimes "$f" \
                2>/dev/null | awk '$NF == "leaf" { l = $6 + $7 + $8 + $9
                    print $1 + $2 + $3 + $4 + $5 + l, (l >= 4096 && l < 4096 + 64 ? "yes" : "no:" l), $10 }')"
        done
    done
done

# sites_and_big NAME FILE RATE SITE BIG SITES: the profile FILE of a program that made
# SITES distinct stacks through SITE and 64 blocks of 1 MiB at BIG after the event under
# test: exact at rate 1; at the default rate BIG's 64 MiB, each block sampled with
# p = 1 - e^-2 = 0.86 (sd 4.9%), within 25%
sites_and_big() {
    local n=$1 f=$2 rate=$3 leaf=$4 big=$5 sites=$6 got
    if [ "$rate" = 1 ]; then
        check_eq "$n:exact" "$sites 64" "$(site "$f" "$leaf") $(site "$f" "$big")"
    else
        got=$(site "$f" "$big" alloc_space)
        within 67108864 "$got" 0.25 && pass "$n:sampled" ||
            fail "$n:sampled" "$big: expected ~67108864 bytes, got $got"
    fi
}

# 7. A program that locks itself in a directory (tests/programs/jailed.c: chroot by name
# or as a raw system call, then 2,000 sites and 64 MiB): the profile, outside the jail,
# grows and is created by its path, which leads nowhere from inside. The shim makes the
# file, and a megabyte of room in it, just before the chroot (the old shim: at the
# default rate nothing was sampled before, and the file could not be created in the jail,
# "not profiling"; at rate 1 the sites past the file's first 16 KiB were lost). And one
# that mounts a private tmpfs over the profile's directory in a mount namespace of its
# own (tmpfs, tmpfs-raw: preload/paths.c): the old shim made the file in the tmpfs, which
# went with the namespace: no profile at all, and nothing said. The same for one that
# enters another process's such namespace (setns).
if [ "$(id -u)" != 0 ]; then
    skip "hostfiles:chroot" "chroot needs root"
else
    for how in name raw tmpfs tmpfs-raw setns; do
        for rate in 1 524288; do
            n="hostfiles:chroot:$how:rate-$rate"
            d="$WORK/jail-$how-$rate"
            mkdir -p "$d/jail" "$d/prof"
            over="$d/jail"
            [ "${how#tmpfs}" != "$how" ] || [ "$how" = setns ] && over="$d/prof"
            got=$(cd "$d" && CTRPROF_DIR="$d/prof" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" \
                "$PROGS/jailed" "$over" "$how" 2>"$d/err")
            check_eq "$n:runs (and says nothing)" "ok|" "$got|$(cat "$d/err")"
            f=$(ls "$d"/prof/*.count 2>/dev/null | head -1)
            [ -n "$f" ] || { fail "$n:profile" "none in $d/prof"; continue; }
            check_eq "$n:jail-untouched" "" "$(ls -A "$d/jail")"
            sites_and_big "$n" "$f" "$rate" jail_site jail_big 2000
        done
    done
fi

# 7b. A daemon that drops root (tests/programs/dropuid.c: setuid, setresuid, the raw
# system call or setfsuid to nobody, then 2,000 sites and 64 MiB), its profile in a directory only
# root may write: the file is made, and a megabyte of room in it, just before the drop
# (the old shim: nothing was sampled before, and nobody could not make the file, "not
# profiling"; a file made before could not grow, its path refused to nobody). A server
# that takes another user for a while (seteuid, 30,000 sites: past the room, then back to
# root): the counters the file could not grow for wait and go in once it may again. And a
# root that drops its capabilities (capset), its profile in a directory of nobody's, which
# it may then no longer write in (the old shim: "not profiling").
if [ "$(id -u)" != 0 ]; then
    skip "hostfiles:drop-root" "setuid needs root"
else
    for how in setuid setresuid raw setfsuid seteuid-back caps; do
        for rate in 1 524288; do
            n="hostfiles:drop-root:$how:rate-$rate"
            d="$WORK/drop-$how-$rate"
            mkdir -p "$d/prof" && chmod 0755 "$d" "$d/prof"
            sites=2000
            [ "$how" = seteuid-back ] && sites=30000
            [ "$how" = caps ] && chown nobody "$d/prof"
            got=$(cd "$d" && CTRPROF_DIR="$d/prof" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" \
                "$PROGS/dropuid" "$(id -u nobody)" "$how" "$sites" 2>"$d/err")
            if [ "$how" = seteuid-back ] && [ "$rate" = 1 ]; then
                # (the wait is said: the file could not grow while the process was nobody)
                check_eq "$n:runs (says the wait)" "ok|1" "$got|$(grep -c '^ctrprof: ' "$d/err")"
            else
                check_eq "$n:runs (and says nothing)" "ok|" "$got|$(cat "$d/err")"
            fi
            f=$(ls "$d"/prof/*.count 2>/dev/null | head -1)
            [ -n "$f" ] || { fail "$n:profile" "none in $d/prof"; continue; }
            sites_and_big "$n" "$f" "$rate" drop_site drop_big "$sites"
        done
    done
fi

# 8. No /proc (a chroot or mount namespace without it: here an empty tmpfs over /proc in a
# mount namespace of the test's own). The program's own path came from /proc/self/exe
# only: without it the profile named the program "" and the report left every frame of
# the program unsymbolized ("?: module not found"). Now it is the path the program was
# executed by (AT_EXECFN), made absolute. RSS cannot be read: the timeline says "-".
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
    skip "hostfiles:no-proc" "a mount namespace needs root and unshare"
else
    noproc() { unshare -m sh -c 'mount -t tmpfs none /proc && cd "$0" && exec "$@"' "$@"; }
    want=$(noproc / "$PROGS/stacks" 200 100 2>/dev/null; echo "rc=$?")
    for how in absolute relative; do
        for rate in 1 4096; do
            n="hostfiles:no-proc:$how:rate-$rate"
            d="$WORK/noproc-$how-$rate"
            mkdir -p "$d"
            dir=/ prog=$PROGS/stacks
            [ $how = absolute ] || { dir=$PROGS; prog=./stacks; }
            got=$(noproc "$dir" env CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" \
                "$prog" 200 100 2>"$d.err"; echo "rc=$?")
            check_eq "$n:as-bare" "$want" "$got"
            # (the program's own, not its fork child's: the lowest pid)
            f=$(cd "$d" && ls ctrprof.stacks.*.count 2>/dev/null | sort -t. -k3,3n | head -1)
            [ -n "$f" ] || { fail "$n:profile" "none in $d"; continue; }
            f=$d/$f
            check_eq "$n:program-named" "1" \
                "$("$CTRPROF" dump "$f" | grep -c "ctrprof/module:[^ ]*:$TOP/$B/progs/stacks\$")"
            if [ $rate = 1 ]; then
                check_eq "$n:symbolized-exact" "200 200" \
                    "$(site "$f" alloc_in_coroutine) $(site "$f" alloc_in_handler)"
            else
                check_eq "$n:symbolized" "" "$("$CTRPROF" report "$f" 2>&1 | grep -F 'module not found')"
            fi
            check_eq "$n:rss-not-known" "-" \
                "$("$CTRPROF" report --format timeline "$f" 2>/dev/null | awk 'NR == 2 { print $3 }')"
        done
    done
fi

# 9. A program whose descriptor 2 becomes one of its own files (tests/programs/stderrfile.c:
# it closes fd 2, or fd 2 was closed when it started, and opens its data file, which takes
# number 2), then lowers RLIMIT_FSIZE so that the profile cannot be made: the profiler
# has a line to say ("File too large"). Until session 29 the line went into the data file.
# The old shim's line, written past the limit the program had just set, killed it
# (SIGXFSZ, status 153) before it could land. Now a line goes to fd 2 only while fd 2 is
# the file it was at start or a stream the program put there (base/log.h); with fd 2 left
# alone (keep) it is said on standard error, as before, unless standard error is a
# regular file the line would take past the limit (full: 16 KiB in it already, appended
# to), where it would kill the program too.
"$PROGS/stderrfile" keep "$WORK/sf-bare" >/dev/null 2>&1
head -c 16384 /dev/zero >"$WORK/sf-full"
for rate in 1 524288; do
    for mode in close closed keep full; do
        n="hostfiles:stderr-file:$mode:rate-$rate"
        d="$WORK/sf-$mode-$rate"
        mkdir -p "$d/prof"
        redir=""
        [ $mode = closed ] && redir="2>&-"
        [ $mode = full ] && cp "$WORK/sf-full" "$d/err" && redir="2>>\"$d/err\""
        out=$(cd "$d" && CTRPROF_DIR="$d/prof" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" \
            sh -c "exec \"\$0\" \"\$@\" $redir" "$PROGS/stderrfile" ${mode/full/keep} "$d/data" \
            2>>"$d/err")
        check_eq "$n:runs" "0 ok" "$? $out"
        cmp -s "$WORK/sf-bare" "$d/data" && pass "$n:file-untouched" ||
            fail "$n:file-untouched" "$(diff "$WORK/sf-bare" "$d/data" | head -3 | tr '\n' ' ')"
        said=$(grep -c "File too large" "$d/err")
        case $mode in
        keep) check_eq "$n:said-on-stderr" "1" "$said" ;;
        full) check_cmd "$n:stderr-untouched" cmp -s "$WORK/sf-full" "$d/err" ;;
        *) check_eq "$n:nothing-on-stderr" "0" "$said" ;;
        esac
    done
done
# ... and standard error a pipe: whose reader has gone (gone: the line raised SIGPIPE,
# status 141 on the old shim), or full, its reader waiting for the program to end
# (fullpipe: the line blocked the program for good; here until the timeout, 124).
for rate in 1 524288; do
    for mode in gone fullpipe; do
        n="hostfiles:stderr-pipe:$mode:rate-$rate"
        d="$WORK/sp-$mode-$rate"
        mkdir -p "$d/prof"
        reader='cat >/dev/null'
        [ $mode = gone ] && reader=true
        [ $mode = fullpipe ] && reader='while [ ! -e "$0.done" ]; do sleep 0.05; done; cat >/dev/null'
        got=$(cd "$d" && CTRPROF_DIR="$d/prof" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" timeout 20 \
            bash -c '"$0" "$1" "$2" 2>&1 >"$2.out" | sh -c "$3" "$2"; echo "${PIPESTATUS[0]}"' \
            "$PROGS/stderrfile" $mode "$d/data" "$reader")
        check_eq "$n:runs" "0 ok" "$got $(cat "$d/data.out" 2>/dev/null)"
    done
done
# ... and a background job on a terminal under `stty tostop` (tests/e2e/bgjob.py: an
# interactive bash on a pty of its own): the line stopped the job (SIGTTOU; the shell's
# wait said 150 on the old shim); now it is written with SIGTTOU blocked, which the
# kernel lets through.
if ! command -v python3 >/dev/null || ! python3 -c 'import pty' 2>/dev/null; then
    skip "hostfiles:stderr-tty-background" "python3 with its pty module is needed"
else
    d="$WORK/bgjob"
    mkdir -p "$d"
    got=$(timeout 60 python3 "$TOP/tests/e2e/bgjob.py" "$SHIM" "$PROGS/stderrfile" "$d")
    check_eq "hostfiles:stderr-tty-background" "job=0 ok" "$got $(cat "$d/out" 2>/dev/null)"
fi
