#!/usr/bin/env bash
# Every stack a program runs on (issue 25), with tests/programs/stacks.c: a makecontext
# coroutine on a 64 KiB heap stack, a handler on an alternate signal stack of
# sysconf(_SC_MINSIGSTKSZ) + 5 KiB (guard page below), PTHREAD_STACK_MIN threads (glibc's
# guard page) that allocate, contend, fork, and exit the process.
#  1. No crash, under every CTRPROF_UNWIND, at rate 1 and at the default rate (1 MiB
#     blocks, each sampled), with mutex and block profiling on.
#  2. The profiler's use of those stacks stays within its stated bound (core/ownstack.h:
#     CP_APP_STACK_BOUND, and CP_APP_STACK_BOUND_LIBUNWIND for libunwind on a thread's own
#     stack): the program reports how deep each stack went (painted first), and how deep
#     each side of a fork and an exit() went below their frames.
#  3. At rate 1 each site's allocations are counted exactly, at its own site; the
#     default walker walks them all itself (no fallback to libunwind), through the signal
#     frame to main; CTRPROF_UNWIND=check agrees with libunwind on >= 99% of them.
source "$(dirname "$0")/lib.sh"

N=1000
counter_sum() {
    for f in "$1"/*.count; do [ -e "$f" ] && "$CTRPROF" dump "$f"; done |
        awk -v n="$2" '$2 == n { s += $1 } END { print s + 0 }'
}
BOUND=$(awk '/#define CP_APP_STACK_BOUND / { print $3 }' "$TOP/core/ownstack.h")
BOUND_LU=$(awk '/#define CP_APP_STACK_BOUND_LIBUNWIND / { print $3 }' "$TOP/core/ownstack.h")
# Every run binds the program's symbols at start (LD_BIND_NOW): a first call through a lazy
# PLT entry on the small thread runs the dynamic linker's resolver, which saves the whole
# register state there (XSAVE: ~1 KiB on an AVX2 machine, ~2.7 KiB with AVX-512). In the
# bare run that was the thread's deepest point, so the difference measured below depended
# on the CPU and not on the profiler (AVX-512: +3.3 KiB, AVX2: +4.9 KiB for the same code).
# The shim itself is linked -z now (layers.sh checks), so this hides none of its calls.
export LD_BIND_NOW=1
if readelf -d "$SHIM" | grep -q 'FLAGS.*BIND_NOW'; then
    pass "stacks:shim-binds-now"
else
    fail "stacks:shim-binds-now" "$(readelf -d "$SHIM" | grep FLAGS)"
fi
# The shim's static TLS comes out of every thread's stack (glibc carves it from the top of
# the stack block, a PTHREAD_STACK_MIN thread's too): a few words, not buffers (the
# unwinder's 3.2 KiB cache of the last walk sat there; now from a pool: core/unwind.c).
tls=$(readelf -lW "$SHIM" | awk '$1 == "TLS" { print $6 }')
[ -n "$tls" ] && tls=$((tls))
if [ -n "$tls" ] && [ "$tls" -le 256 ]; then
    pass "stacks:shim-static-tls ($tls bytes)"
else
    fail "stacks:shim-static-tls" "${tls:-no TLS segment} bytes, at most 256"
fi
base=$("$PROGS/stacks" $N 64 2>&1 >/dev/null)
alt0=$(sed -n 's/.*alternate stack: \([0-9]*\) of.*/\1/p' <<<"$base")
thr0=$(sed -n 's/.*small thread: \([0-9]*\) of.*/\1/p' <<<"$base")
# depths below a starting frame: each side of a fork, and exit() (with its sampled
# allocation just before) on a PTHREAD_STACK_MIN thread
depths() { sed -n 's/.*fork child: \([0-9]*\) bytes.*/\1/p; s/.*fork parent: \([0-9]*\) bytes.*/\1/p; s/.*exit: \([0-9]*\) bytes.*/\1/p' <<<"$1" | paste -sd' ' -; }
read -r fc0 fp0 ex0 <<<"$(depths "$base")"

for unwind in cfi fp libunwind check; do
    for rate in 1 default; do
        d="$WORK/$unwind-$rate"
        mkdir -p "$d"
        size=64
        envs=(CTRPROF_DIR="$d" CTRPROF_UNWIND=$unwind CTRPROF_MUTEX_FRACTION=1 CTRPROF_BLOCK_RATE=1)
        if [ $rate = 1 ]; then envs+=(CTRPROF_MEM_RATE=1); else size=1048576; fi
        out=$(cd "$WORK" && env "${envs[@]}" LD_PRELOAD="$SHIM" "$PROGS/stacks" $N $size 2>&1)
        rc=$?
        check_eq "stacks:runs ($unwind, rate $rate)" 0 "$rc"
        alt=$(sed -n 's/.*alternate stack: \([0-9]*\) of.*/\1/p' <<<"$out")
        thr=$(sed -n 's/.*small thread: \([0-9]*\) of.*/\1/p' <<<"$out")
        tb=$BOUND
        case $unwind in libunwind | check) tb=$BOUND_LU ;; esac
        if [ -n "$alt" ] && [ -n "$thr" ] && [ $((alt - alt0)) -le "$BOUND" ] &&
            [ $((thr - thr0)) -le "$tb" ]; then
            pass "stacks:within-bound ($unwind, rate $rate: +$((alt - alt0)) alternate, bound $BOUND; +$((thr - thr0)) thread, bound $tb)"
        else
            fail "stacks:within-bound ($unwind, rate $rate)" "alternate $alt (without the shim $alt0, bound $BOUND), thread $thr (without $thr0, bound $tb): $out"
        fi
        # the fork and exit paths (issue 25): within CP_APP_STACK_BOUND of the bare run's
        # depths, whatever the unwinder (the walks these paths make run on the
        # profiler's own stack; the exit thread's sampled allocation uses tb)
        read -r fc fp ex <<<"$(depths "$out")"
        if [ -n "$fc" ] && [ -n "$fp" ] && [ -n "$ex" ] && [ "$fc0" -gt 0 ] && [ "$ex0" -gt 0 ] &&
            [ $((fc - fc0)) -le "$BOUND" ] && [ $((fp - fp0)) -le "$BOUND" ] && [ $((ex - ex0)) -le "$tb" ]; then
            pass "stacks:fork-exit-within-bound ($unwind, rate $rate: fork child +$((fc - fc0)), parent +$((fp - fp0)), exit +$((ex - ex0)))"
        else
            fail "stacks:fork-exit-within-bound ($unwind, rate $rate)" "fork child $fc (bare $fc0), parent $fp (bare $fp0), exit $ex (bare $ex0); bounds $BOUND, $tb"
        fi
    done
done

# 1b. The legacy SIGSTKSZ, 8 KiB, with libunwind (issue 25's second crash) and the
# default walker: the kernel's signal frame takes 3.4 KiB of it on an AVX-512 machine.
for unwind in cfi libunwind; do
    d="$WORK/alt8-$unwind" && mkdir -p "$d"
    out=$(cd "$WORK" && CTRPROF_DIR="$d" CTRPROF_UNWIND=$unwind CTRPROF_MEM_RATE=1 \
        LD_PRELOAD="$SHIM" "$PROGS/stacks" 200 64 8192 2>&1)
    check_eq "stacks:8k-alternate-stack ($unwind)" 0 "$?"
done

# 1c. With ASLR off (gdb, setarch -R) the program's mmap'd alternate stack lies close
# below the main stack: it must still be taken for another stack, so that libunwind runs
# on the walk stack, not in place (it overran the alternate stack, every run, while the
# main thread's window was 1 GiB; core/stack.c, main_span).
if setarch -R true 2>/dev/null; then
    for unwind in libunwind check; do
        d="$WORK/noaslr-$unwind" && mkdir -p "$d"
        (cd "$WORK" && setarch -R env CTRPROF_DIR="$d" CTRPROF_UNWIND=$unwind CTRPROF_MEM_RATE=1 \
            LD_PRELOAD="$SHIM" "$PROGS/stacks" 200 64 >/dev/null 2>&1)
        check_eq "stacks:no-aslr-alternate-stack ($unwind)" 0 "$?"
    done
else
    skip "stacks:no-aslr-alternate-stack" "setarch -R refused here (personality(ADDR_NO_RANDOMIZE))"
fi

# 3. exact counts at rate 1, each at its site (every process's file: the forked child
# allocates once on the small thread too)
for unwind in cfi fp libunwind check; do
    folded=$("$CTRPROF" report --sample alloc_objects --format folded "$WORK/$unwind-1"/*.count 2>/dev/null)
    site() { awk -v s="$1" '{ n = split($1, f, ";"); if (f[n] == s) t += $NF } END { print t + 0 }' <<<"$folded"; }
    got="$(site alloc_in_coroutine) $(site alloc_in_handler) $(site alloc_on_small_thread)"
    check_eq "stacks:exact-counts-per-site ($unwind)" "$N $N $((2 * N + 3))" "$got"
done
folded=$("$CTRPROF" report --sample alloc_objects --format folded "$WORK/cfi-1"/*.count 2>/dev/null)
via=$(awk '/;main;.*;on_usr1;alloc_in_handler / { t += $NF } END { print t + 0 }' <<<"$folded")
co=$(awk '/;co_body;alloc_in_coroutine / { t += $NF } END { print t + 0 }' <<<"$folded")
check_eq "stacks:cfi-through-signal-frame-and-coroutine" "$N $N" "$via $co"
fb=$(counter_sum "$WORK/cfi-1" ctrprof/health:unwind-fallbacks)
check_eq "stacks:cfi-no-fallbacks (fallbacks, file written)" "0 yes" "$fb $(ls "$WORK/cfi-1"/*.count >/dev/null 2>&1 && echo yes)"
checked=$(counter_sum "$WORK/check-1" ctrprof/health:unwind-checked)
differs=$(counter_sum "$WORK/check-1" ctrprof/health:unwind-differs)
if [ "$checked" -ge $((4 * N)) ] && [ $((differs * 100)) -le "$checked" ]; then
    pass "stacks:check-agrees ($differs of $checked differ)"
else
    fail "stacks:check-agrees" "$differs of $checked differ"
fi

# 4. A coroutine's stack where process_vm_readv is refused (a seccomp filter: EPERM) and
# the process is sandboxed: its bounds come from the snapshot of /proc/self/maps taken
# before the filter went in (core/mapsnap.h), so every walk is the walker's own, at its
# own site, and none falls back (before: all 1000 fell back, by frame pointers, to no
# stack at all).
d="$WORK/cosandbox" && mkdir -p "$d"
out=$(cd "$WORK" && CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/cosandbox" $N 2>&1)
folded=$("$CTRPROF" report --sample alloc_objects --format folded "$d"/*.count 2>/dev/null)
co=$(awk '/;co_body;alloc_in_coroutine / { t += $NF } END { print t + 0 }' <<<"$folded")
fb=$(counter_sum "$d" ctrprof/health:unwind-fallbacks)
check_eq "stacks:coroutine-without-process_vm_readv (output, walked, fallbacks)" "ok $N $N 0" "$out $co $fb"

# 5. boost.context fibers on 8 KiB stacks (tests/programs/boost/fibers.cc; HOSTS: fiber
# stacks). boost's make_fcontext has no CFI, so a walk from a fiber needs libunwind, which
# must run on the walk stack: a protected fiber stack, mmap'd just below its thread's
# stack block, was taken for the thread's own (any frame under 1 GiB below a thread's
# descriptor was), libunwind ran in place and overran it (SIGSEGV at rate 1 and 64).
if [ ! -x "$PROGS/fibers" ]; then
    skip "stacks:boost-fibers" "no libboost-context-dev (scripts/deps.sh installs it)"
else
    # (threads of glibc's default stack, and of 256 KiB: the window is each thread's)
    for tstack in default 262144; do
    targs=(8192 200)
    [ $tstack = default ] || targs+=("$tstack")
    want=$("$PROGS/fibers" "${targs[@]}" 2>&1; echo "rc=$?")
    for rate in 1 64 524288; do
        n="stacks:boost-fibers:threads-$tstack:rate-$rate"
        d="$WORK/fibers-$tstack-$rate"
        mkdir -p "$d"
        got=$(cd "$WORK" && CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$PROGS/fibers" "${targs[@]}" 2>&1; echo "rc=$?")
        check_eq "$n:as-bare" "$want" "$got"
        if [ $rate = 1 ]; then
            f=$(ls "$d"/*.count 2>/dev/null | head -1)
            [ -n "$f" ] || { fail "$n:profile" "none in $d"; continue; }
            read -r _ h _ t <<<"$(head -1 <<<"$want")"
            # (C++ frames have spaces: the count is the last field, the leaf the last frame)
            leaf() { "$CTRPROF" report --sample alloc_objects --format folded "$f" 2>/dev/null |
                awk -v k="$1" '{ c = $NF; sub(/ [0-9]+$/, ""); n = split($0, a, ";")
                    if (a[n] == k) s += c } END { print s + 0 }'; }
            check_eq "$n:exact (fiber_hand, fiber_turn)" "$h $t" "$(leaf fiber_hand) $(leaf fiber_turn)"
        fi
    done
    done
fi
