#!/usr/bin/env bash
# Programs that sandbox themselves with seccomp (issue 28): the program finishes with its
# output and exit status unchanged, and the profile holds what was recorded before the
# filter and, within the room made for it, after. tests/programs/sandboxed.c installs a
# deny-list (open/openat kill) or an OpenSSH-like allow-list (anything else kills), by
# prctl, by the seccomp system call, or with TSYNC (the flusher thread is filtered too).
source "$(dirname "$0")/lib.sh"


bare=$("$PROGS/sandboxed" allow syscall 2; echo "rc=$?")
check_eq "sandbox:bare-program-runs" "done rc=0" "$(echo $bare)"
for filter in deny allow; do
    for how in prctl syscall tsync; do
        for threads in 1 2; do
            for rate in 1 524288; do
                n="sandbox:$filter:$how:t$threads:rate-$rate"
                d="$WORK/$filter-$how-$threads-$rate"
                mkdir -p "$d"
                out=$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" \
                    "$PROGS/sandboxed" "$filter" "$how" "$threads" 2>"$d.err"; echo "rc=$?")
                check_eq "$n:runs" "done rc=0" "$(echo $out)"
                check_eq "$n:nothing-said (and ran)" "done rc=0|" "$(echo $out)|$(cat "$d.err")"
                f=$(ls "$d"/*.count 2>/dev/null | head -1)
                if [ -z "$f" ]; then
                    fail "$n:profile" "no profile in $d"
                    continue
                fi
                if [ "$rate" = 1 ]; then
                    got="$(site "$f" before alloc_objects) $(site "$f" after_small alloc_objects) $(site "$f" after_big alloc_objects)"
                    [ "$threads" = 2 ] && got="$got $(site "$f" after_thread alloc_objects) $(site "$f" thread_big alloc_objects)"
                    want="1004 500 4"
                    [ "$threads" = 2 ] && want="$want 300 4"
                    check_eq "$n:exact-before-and-after" "$want" "$got"
                else
                    # 4 x 16 MiB a site: each sampled with p = 1 - exp(-32), so all four
                    # but once in ~10^13 checks: a sample short was lost after the filter.
                    # (At 4 MiB, p = 1 - exp(-8): a site came up 3 of 4 once in ~750
                    # checks, and this driver has 20 of them: 2 of ~6 full suites under
                    # load showed it. Measured: 11 blocks unsampled of 37,200 in 3,400
                    # runs under load, 12.5 expected; none lost, health:lost all 0.)
                    for s in after_big $([ "$threads" = 2 ] && echo thread_big); do
                        got=$(site "$f" $s alloc_space)
                        within 67108864 "$got" 0.05 && pass "$n:after-filter-$s" ||
                            fail "$n:after-filter-$s" "expected ~67108864 bytes, got $got; health: $("$CTRPROF" dump "$f" | grep -a 'health:\(lost\|samples\)' | awk '{ printf "%s=%s ", $2, $1 }')"
                    done
                fi
            done
        done
    done
done

# More new sites after the filter than the room made for them (30,000 at rate 1, ~4 MB of
# counters against 1 MiB): the program is unchanged, the loss is counted in the file and
# said once, and what fit is there.
for filter in deny allow; do
    n="sandbox:$filter:overflow"
    d="$WORK/$filter-many"
    mkdir -p "$d"
    out=$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/sandboxed" "$filter" syscall many \
        2>"$d.err"; echo "rc=$?")
    check_eq "$n:runs" "done rc=0" "$(echo $out)"
    check_eq "$n:said-once" "1" "$(grep -c '^ctrprof: .*sandboxed itself' "$d.err")"
    check_eq "$n:nothing-else-said" "1" "$(grep -c . "$d.err")"
    f=$(ls "$d"/*.count | head -1)
    lost=$("$CTRPROF" dump "$f" | awk '$2 == "ctrprof/health:lost:nbucket" { print $1 }')
    [ "${lost:-0}" -gt 1000 ] && pass "$n:lost-counted ($lost)" || fail "$n:lost-counted" "lost:nbucket [$lost]"
    check_eq "$n:before-kept" "1004" "$(site "$f" before alloc_objects)"
    got=$(site "$f" after_many alloc_objects)
    [ "$got" -gt 1000 ] && [ "$got" -lt 30000 ] && pass "$n:what-fit ($got)" ||
        fail "$n:what-fit" "after_many: $got of 30000"
done

# A signal handler on an alternate stack allocates after the filter: its walk is on
# another stack, whose bounds the walker would ask the kernel for (sigaltstack,
# process_vm_readv: neither is in the allow-list). In a sandbox it walks by frame
# pointers instead; the program is unchanged and the handler's site counted.
for unwind in cfi libunwind; do
    for rate in 1 524288; do
        n="sandbox:allow:altstack:$unwind:rate-$rate"
        d="$WORK/alt-$unwind-$rate"
        mkdir -p "$d"
        out=$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$rate CTRPROF_UNWIND=$unwind LD_PRELOAD="$SHIM" \
            "$PROGS/sandboxed" allow syscall alt 2>"$d.err"; echo "rc=$?")
        check_eq "$n:runs" "done rc=0" "$(echo $out)"
        got=$(site "$(ls "$d"/*.count | head -1)" on_signal alloc_space)
        within 67108864 "$got" 0.05 && pass "$n:handler-counted" ||
            fail "$n:handler-counted" "expected ~67108864 bytes at on_signal, got $got"
    done
done

# A process that starts under a filter (inherited across exec: systemd's SystemCallFilter=,
# a container runtime) creates its file at start-up, while its own start-up shows that
# open is allowed, not lazily at a moment the filter may forbid it: `true` records nothing
# at the default rate, and still has a file when it starts under a filter (and none
# without one).
mkdir -p "$WORK/inh" "$WORK/noinh"
(cd "$WORK" && CTRPROF_DIR="$WORK/inh" LD_PRELOAD="$SHIM" "$PROGS/sandboxed" exec /bin/true)
check_eq "sandbox:inherited-filter:runs" "0" "$?"
check_eq "sandbox:inherited-filter:file-at-start" "1" "$(ls "$WORK"/inh/ctrprof.true.*.count 2>/dev/null | wc -l)"
# Such a process says its lines itself, without asking its tree (preload/treesaid.c: the
# marker directory's mkdir may be what the filter forbids): the line, and no directory
# (the bad value only in the image exec'd under the filter).
rt="$WORK/inh-rt" && mkdir -p "$rt" && chmod 700 "$rt"
err=$(cd "$WORK" && XDG_RUNTIME_DIR="$rt" CTRPROF_DIR="$WORK/inh" LD_PRELOAD="$SHIM" \
    "$PROGS/sandboxed" exec /usr/bin/env CTRPROF_FLUSH_MS=bogus /bin/true 2>&1)
check_eq "sandbox:inherited-filter:says-without-tree" "0 1 " \
    "$? $(grep -c '^ctrprof: CTRPROF_FLUSH_MS=bogus' <<<"$err") $(ls -A "$rt")"
(cd "$WORK" && CTRPROF_DIR="$WORK/noinh" LD_PRELOAD="$SHIM" /bin/true)
check_eq "sandbox:no-filter:no-file" "0" "$(ls "$WORK"/noinh | wc -l)"

# A multi-threaded program under an allow-list of what it uses (no rt_sigprocmask, no
# rt_sigqueueinfo: tests/programs/sandtrunc.c) whose profile is truncated (truncate -s 0)
# after the filter, while it allocates: the flusher's stores into the file fault, and
# must reach the shim's handler (issue 29). With TSYNC the filter binds the flusher too,
# which opened SIGBUS for good before it went in; without, the flusher is not bound and
# opens SIGBUS around each flush as ever (before the fix it did not after a filter: the
# program died of SIGBUS, exit 135, in both). The program runs as bare, the profiler
# says once that profiling into the file stopped, and the file left is what truncate
# left (ctrprof dump says so).
# Also a single-threaded program (no flusher: its one thread stores its events into the
# file) that blocks SIGBUS, as a daemon reading its signals from a signalfd does, then
# sandboxes itself (135 before: a store with SIGBUS blocked). alone: the list has no
# rt_sigprocmask, so the profiler may not open SIGBUS for its stores: it stores nothing
# more from that thread and says so once. alone-mask: the list has it (the shim ran the
# filter before it went in): SIGBUS is opened around each store, the first faults into
# the shim's handler, and the truncation is said, once.
trunc_ready() { grep -q '^ready' "$1/out" 2>/dev/null && ls "$1"/prof/*.count >/dev/null 2>&1; }
for how in tsync thread alone alone-mask; do
    threads=3 msg='^ctrprof: .*truncated under the program'
    [ $how = alone ] && msg='^ctrprof: SIGBUS is blocked on a thread of the program and its seccomp filter forbids'
    case $how in alone*) threads=1 ;; esac
    for rate in 1 524288; do
        n="sandbox:truncated:$how:rate-$rate"
        d="$WORK/trunc-$how-$rate"
        mkdir -p "$d/prof"
        (cd "$d" && CTRPROF_DIR="$d/prof" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" \
            exec "$PROGS/sandtrunc" "$how" "$d/go" >"$d/out" 2>"$d/err") &
        pid=$!
        # (the file is made before the filter goes in, and "ready" printed after it)
        if wait_until 30 trunc_ready "$d"; then
            # the premise: three threads, the program's two and the flusher (alone: one)
            check_eq "$n:threads" "$threads" "$(ls /proc/$pid/task | wc -l)"
            truncate -s 0 "$d"/prof/*.count
            pass "$n:profile-was-there"
        else
            fail "$n:profile-was-there" "no ready program with a profile in $d"
        fi
        touch "$d/go"
        wait "$pid"
        check_eq "$n:runs-as-bare" "0 ready ok" "$? $(sed 's/^ready .*/ready/' "$d/out" | tr '\n' ' ' | sed 's/ $//')"
        check_eq "$n:says-so-once" "1" "$(grep -c "$msg" "$d/err")"
        check_eq "$n:says-nothing-else" "1" "$(grep -c . "$d/err")"
        f=$(ls "$d"/prof/*.count | head -1)
        said=$("$CTRPROF" dump "$f" 2>&1 >/dev/null)
        check_eq "$n:dump-says-truncated" "1|ctrprof: $f: file too short (less than 16384 bytes): not a counter file: 0 bytes" \
            "$?|$said"
    done
done

# A SIGBUS sent (kill -BUS) to such a program (TSYNC, the same list) that has a handler of
# its own and blocks SIGBUS in both its threads: the flusher, with SIGBUS open for good,
# is the one thread the kernel can give it to, and may not queue it back (the list has no
# rt_sigqueueinfo: the process would die of SIGSYS, 159, as it did before sigbus.c looked
# at the filter). It carries out the program's disposition: the handler runs (bare, the
# signal stays pending: the one known difference under such a filter, preload/sigbus.c).
for rate in 1 524288; do
    n="sandbox:sent-sigbus:tsync:rate-$rate"
    d="$WORK/kill-$rate"
    mkdir -p "$d/prof"
    (cd "$d" && CTRPROF_DIR="$d/prof" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" \
        exec "$PROGS/sandtrunc" kill "$d/go" >"$d/out" 2>"$d/err") &
    pid=$!
    if wait_until 30 trunc_ready "$d"; then
        check_eq "$n:flusher-there" "3" "$(ls /proc/$pid/task | wc -l)"
        kill -BUS "$pid"
    else
        fail "$n:flusher-there" "no ready program in $d"
    fi
    touch "$d/go"
    wait "$pid"
    check_eq "$n:survives-handler-ran" "0 ready handled ok" "$? $(sed 's/^ready .*/ready/' "$d/out" | tr '\n' ' ' | sed 's/ $//')"
    # (its exit's flush would store on its main thread, SIGBUS blocked there, which the
    # list forbids unblocking: not made, and said; the flusher's flushes went on)
    check_eq "$n:said-only-exit-not-stored" "ctrprof: SIGBUS is blocked on a thread of the program and its seccomp filter forbids" \
        "$(cut -c1-84 "$d/err")"
done

# A TSYNC filter the kernel refuses (no instructions: EINVAL) after the shim read it as
# forbidding rt_sigprocmask and had the flusher open SIGBUS for good: asked back, the
# flusher blocks SIGBUS again between its flushes (with it left open, the flusher took
# every kill -BUS, and parked at exit). Seen in /proc: the one thread with signals
# blocked (the flusher) shows SIGBUS (bit 7) among them while the program waits.
flusher_bus_blocked() {
    local t m
    for t in /proc/$1/task/*; do
        m=$(awk '/^SigBlk/ { print $2 }' "$t/status" 2>/dev/null)
        [ -n "$m" ] && [ "$m" != 0000000000000000 ] && [ $(( 0x$m & 0x40 )) != 0 ] && return 0
    done
    return 1
}
for rate in 1 524288; do
    n="sandbox:refused-tsync:rate-$rate"
    d="$WORK/refused-$rate"
    mkdir -p "$d/prof"
    (cd "$d" && CTRPROF_DIR="$d/prof" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" \
        exec "$PROGS/sandtrunc" refused "$d/go" >"$d/out" 2>"$d/err") &
    pid=$!
    if wait_until 30 trunc_ready "$d"; then
        check_eq "$n:flusher-there" "3" "$(ls /proc/$pid/task | wc -l)"
        wait_until 10 flusher_bus_blocked $pid && pass "$n:flusher-blocks-sigbus-again" ||
            fail "$n:flusher-blocks-sigbus-again" "$(grep -h SigBlk /proc/$pid/task/*/status | tr '\n' ' ')"
    else
        fail "$n:flusher-there" "no ready program in $d"
    fi
    touch "$d/go"
    wait "$pid"
    check_eq "$n:runs" "0 ready ok" "$? $(sed 's/^ready .*/ready/' "$d/out" | tr '\n' ' ' | sed 's/ $//')"
done
