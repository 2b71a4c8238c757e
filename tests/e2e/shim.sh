#!/usr/bin/env bash
# The preload shim (issue 4): exported symbols, exact return values and errno, rate-1
# exactness against valgrind, sampling accuracy at the default rate, bad environment
# values, ctrprof run, AT_SECURE, and CTRPROF_MEM_RATE=0.
source "$(dirname "$0")/lib.sh"

# heap_totals FILE: "<allocs> <frees>" summed over every heap counter
heap_totals() {
    "$CTRPROF" dump --json "$1" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
a = sum(v for k, v in c.items() if k.startswith("ctrprof/heap:alloc_objects\n"))
f = sum(v for k, v in c.items() if k.startswith("ctrprof/heap:free_objects\n"))
print(a, f)'
}

# counter_sum DIR NAME: NAME's value summed over the profiles in DIR (0 if none)
counter_sum() {
    for f in "$1"/*.count; do [ -e "$f" ] && "$CTRPROF" dump "$f"; done |
        awk -v n="$2" '$2 == n { s += $1 } END { printf "%.0f\n", s }'
}

# 1. Only the interposed names are exported.
got=$(nm -D --defined-only "$SHIM" | awk '{ print $3 }' | sort | tr '\n' ' ')
# (the expected names, one a line: tests/e2e/exported-symbols.txt)
check_eq "shim:exported-symbols" "$(sort "$TOP/tests/e2e/exported-symbols.txt" | tr '\n' ' ')" "$got"
# The same names from a clang build (the project builds with gcc or clang): clang ignores
# gcc's symver attribute, and its build exported the condition-variable hooks under
# their C names (cp_hook_cond_wait ...), interposing nothing, until session 28 gave it
# the assembler's directives (preload/pthread.c). Its old-ABI waits are profiled.
if command -v clang >/dev/null; then
    if make -s -C "$TOP" -j2 CC=clang B="$WORK/clang" "$WORK/clang/libctrprof.so" \
        >"$WORK/clang.log" 2>&1; then
        got=$(nm -D --defined-only "$WORK/clang/libctrprof.so" | awk '{ print $3 }' | sort | tr '\n' ' ')
        check_eq "shim:clang-build:exported-symbols" \
            "$(sort "$TOP/tests/e2e/exported-symbols.txt" | tr '\n' ' ')" "$got"
        mkdir -p "$WORK/clang-p"
        CTRPROF_DIR="$WORK/clang-p" CTRPROF_BLOCK_RATE=1 LD_PRELOAD="$WORK/clang/libctrprof.so" \
            "$PROGS/waitvariants" >"$WORK/clang-wv.out" 2>&1
        got="rc=$? $(grep -c BAD "$WORK/clang-wv.out") $("$CTRPROF" report --profile block \
            --format folded "$WORK/clang-p" | grep -o 'wait_old_cond_[a-z]*' | sort -u | tr '\n' ' ')"
        check_eq "shim:clang-build:old-abi-waits-profiled" "rc=0 0 wait_old_cond_timedwait wait_old_cond_wait " "$got"
    else
        fail "shim:clang-build" "$(tail -5 "$WORK/clang.log")"
    fi
else
    skip "shim:clang-build" "clang is not installed"
fi

# 2. Return values and errno exactly as glibc's, on every path (rate 1 samples all).
want=$("$PROGS/shim_check")
check_eq "shim:check-program-passes-bare (and ran its checks)" "0 0 yes" \
    "$? $(grep -c BAD <<<"$want") $([ "$(grep -c ' ok ' <<<"$want")" -ge 10 ] && echo yes)"
for rate in 1 524288; do
    got=$(cd "$WORK" && CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$PROGS/shim_check")
    check_eq "shim:errno-and-results-rate-$rate" "$want" "$got"
done

# 3. Rate 1: the allocations recorded equal valgrind memcheck's "total heap usage".
printf 'create table t(a, b);\ninsert into t values (1, 2), (3, 4);\nselect a + b from t;\n' >"$WORK/q.sql"
mkdir -p "$WORK/r1"
(cd "$WORK" && CTRPROF_DIR="$WORK/r1" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" sqlite3 <q.sql >/dev/null)
ours=$(heap_totals "$WORK"/r1/ctrprof.sqlite3.*.count | cut -d' ' -f1)
vg=$(cd "$WORK" && valgrind sqlite3 <q.sql 2>&1 >/dev/null | sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' | tr -d ,)
check_eq "shim:rate1-sqlite3-allocs-equal-valgrind" "$vg" "$ours"

# 4. Default rate: unbiased per-site estimates within 10% for sites allocating >= 1 GiB.
# Bound: a site of N objects of s bytes, each sampled with p = 1-exp(-s/524288), has a
# relative standard deviation of sqrt((1-p)/(N p)): 2.3% for 1 KiB x 2^20, 2.0% for
# 256 KiB x 4096, ~3% for the mixed site: 10% is at least 3.3 sigma for each site.
mkdir -p "$WORK/r2"
mixed=$(cd "$WORK" && CTRPROF_DIR="$WORK/r2" LD_PRELOAD="$SHIM" "$PROGS/sites")
"$CTRPROF" report --sample alloc_space --format folded "$WORK"/r2/*.count >"$WORK/sites.folded"
for site in site_small:1073741824 site_big:1073741824 site_mixed:$mixed; do
    name=${site%%:*} total=${site#*:}
    got=$(awk -v f="$name" '{ n = split($1, a, ";"); if (a[n] == f) s += $2 } END { printf "%.0f\n", s }' "$WORK/sites.folded")
    check_within "shim:default-rate-estimate-$name" "$total" "$got" 0.10
done

# 4a. No phantom sample: a thread's first countdown is drawn, so a process allocating a
# few KiB is rarely sampled at all. seq 3 allocates B bytes (measured at rate 1); 40 runs
# at the default rate expect m = 40*B/524288 samples (Poisson, ~2); allow m + 5 sqrt(m) + 3.
# (The main thread's first allocation was once always sampled: 40 samples here.)
mkdir -p "$WORK/ph1" "$WORK/ph"
(cd "$WORK" && CTRPROF_DIR="$WORK/ph1" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" seq 3 >/dev/null)
bytes=$("$CTRPROF" report --sample alloc_space --format folded "$WORK"/ph1/*.count | awk '{ s += $NF } END { printf "%.0f\n", s }')
for i in $(seq 40); do (cd "$WORK" && CTRPROF_DIR="$WORK/ph" LD_PRELOAD="$SHIM" seq 3 >/dev/null); done
n=0
for f in "$WORK"/ph/*.count; do
    k=$("$CTRPROF" dump "$f" | awk '$2 == "ctrprof/health:samples:heap" { print $1 }')
    n=$((n + ${k:-0}))
done
if awk -v n="$n" -v b="$bytes" 'BEGIN { m = 40 * b / 524288; exit !(b > 0 && n <= m + 5 * sqrt(m) + 3) }'; then
    pass "shim:no-phantom-first-sample"
else
    fail "shim:no-phantom-first-sample" "$n heap samples in 40 runs of seq 3 allocating $bytes bytes each"
fi

# 4b. Every way out publishes everything (rate 1, exact): quick_exit, exit() from a
# second thread while main waits, and allocations made by an atexit handler after main
# returned. Per site: alloc_objects and inuse_objects.
# (exit_group: syscall(2) with SYS_exit_group, and abort: neither runs an exit handler;
# published as _exit is since session 28, before which the flusher's last interval was
# lost with the process)
for m in quick_exit:3 thread:4 atexit:5 exit_group:6 abort:134; do
    mode=${m%%:*} status=${m#*:}
    rm -rf "$WORK/ex" && mkdir -p "$WORK/ex"
    (cd "$WORK" && CTRPROF_DIR="$WORK/ex" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" timeout 20 "$PROGS/exits" "$mode")
    rc=$?
    got="rc=$rc"
    for s in alloc_objects inuse_objects; do
        "$CTRPROF" report --sample $s --format folded "$WORK"/ex/*.count >"$WORK/ex.folded" 2>"$WORK/ex.err"
        for site in site_kept site_freed site_late; do
            v=$(awk -v f="$site" '{ n = split($1, a, ";"); for (i = n; i > 0 && a[i] != f; i--); if (i) s += $2 } END { printf "%.0f\n", s }' "$WORK/ex.folded")
            got="$got $s:$site=$v"
        done
    done
    late_a=0; late_i=0
    [ "$mode" = atexit ] && late_a=3 && late_i=3
    check_eq "shim:exit-path:$mode" "rc=$status alloc_objects:site_kept=7 alloc_objects:site_freed=5 alloc_objects:site_late=$late_a inuse_objects:site_kept=7 inuse_objects:site_freed=0 inuse_objects:site_late=$late_i" "$got"
done

# 4b'. Threads racing to exit: main and 4 threads call exit() (or quick_exit) at once,
# after the threads made site_freed's 20 objects. Two threads that exit at once run the
# handlers between them, and the one that finds none left ends the process while the
# other may still be in the final flush: until session 29 the threads' objects were
# lost in ~1 run of 4 (and the whole profile when the file was not made yet). The handler
# allocates site_late_one's 3 objects one at a time and says each ("L") once made: the
# process may end in between, bare too; the profile holds no more than were made.
for mode in race quick_race; do
    bad=""
    for i in 1 2 3 4 5 6 7 8 9 10; do
        rm -rf "$WORK/ex" && mkdir -p "$WORK/ex"
        said=$(cd "$WORK" && CTRPROF_DIR="$WORK/ex" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" timeout 20 "$PROGS/exits" "$mode")
        rc=$?
        got="rc=$rc"
        case $rc in 10 | 11 | 12 | 13 | 14) got="rc=ok" ;; esac
        "$CTRPROF" report --sample alloc_objects --format folded "$WORK"/ex/*.count >"$WORK/ex.folded" 2>"$WORK/ex.err"
        for site in site_kept site_freed site_late_one; do
            v=$(awk -v f="$site" '{ n = split($1, a, ";"); for (i = n; i > 0 && a[i] != f; i--); if (i) s += $2 } END { printf "%.0f\n", s }' "$WORK/ex.folded")
            [ $site = site_late_one ] && { [ "$v" -le $((${#said} + 1)) ] && v=ok || v="$v (said ${#said})"; }
            got="$got $site=$v"
        done
        [ "$got" = "rc=ok site_kept=7 site_freed=20 site_late_one=ok" ] || bad="$bad [run $i: $got]"
    done
    check_eq "shim:exit-race:$mode" "" "$bad"
done

# 4b''. A signal handler that ends the program with exit() or quick_exit() (a daemon's
# SIGTERM handler): tests/programs/sigexit (SIGALRM every 137 us while main allocates,
# exit(7) at the third). At rate 1 the signal often lands in the profiler's code, holding
# the flush lock, and the final flush waited on it for ever: until session 29 half the
# runs hung. 20 runs each, as bare: status 7, at once.
for mode in exit quick; do
    got=""
    for i in $(seq 20); do
        (cd "$WORK" && CTRPROF_DIR="$WORK/ex" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" timeout 5 "$PROGS/sigexit" $mode)
        got="$got $?"
    done
    check_eq "shim:exit-from-signal-handler:$mode" "$(printf ' 7%.0s' $(seq 20))" "$got"
done

# 4c. Frees after the profiler's final flush (the destructor of a library finalised after
# ours) are still published: 4 objects allocated from main, freed there, none in use.
cc -g -O1 -shared -fPIC -o "$WORK/liblate.so" "$TOP/tests/programs/late/liblate.c"
cc -g -O1 -o "$WORK/latemain" "$TOP/tests/programs/late/latemain.c" -L"$WORK" -llate -Wl,-rpath,"$WORK"
rm -rf "$WORK/late" && mkdir -p "$WORK/late"
(cd "$WORK" && CTRPROF_DIR="$WORK/late" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" ./latemain)
got=""
for s in alloc_objects inuse_objects; do
    v=$("$CTRPROF" report --sample $s --format folded "$WORK"/late/*.count |
        awk '{ n = split($1, a, ";"); if (a[n] == "late_keep") s += $2 } END { printf "%.0f\n", s }')
    got="$got $s=$v"
done
check_eq "shim:frees-after-final-flush" " alloc_objects=4 inuse_objects=0" "$got"

# 4d. A process whose first sample comes after the final flush (files are created when a
# process first records something): `true` allocates nothing; a library preloaded after
# the shim allocates 4321 bytes in its destructor. Its file must exist and hold it.
cc -g -O1 -shared -fPIC -o "$WORK/libfirstlate.so" "$TOP/tests/programs/late/libfirstlate.c"
rm -rf "$WORK/late2" && mkdir -p "$WORK/late2"
(cd "$WORK" && CTRPROF_DIR="$WORK/late2" CTRPROF_MEM_RATE=1 CTRPROF_MUTEX_FRACTION=0 \
    LD_PRELOAD="$SHIM $WORK/libfirstlate.so" /bin/true)
got=$(ls "$WORK"/late2/*.count >/dev/null 2>&1 &&
    echo "$(counter_sum "$WORK/late2" ctrprof/heap:alloc_objects) $(counter_sum "$WORK/late2" ctrprof/heap:alloc_space)")
check_eq "shim:first-sample-after-final-flush" "1 4321" "${got:-no file}"

# 5. Bad environment values: one warning line naming the variable, defaults, same output.
for bad in CTRPROF_MEM_RATE=abc CTRPROF_MEM_RATE=-5 CTRPROF_MEM_RATE=99999999999999999999999 \
    CTRPROF_DEPTH=0 CTRPROF_FLUSH_MS= CTRPROF_UNWIND=magic CTRPROF_DEBUG=yes; do
    var=${bad%%=*}
    out=$(cd "$WORK" && env "$bad" CTRPROF_DIR="$WORK" LD_PRELOAD="$SHIM" "$PROGS/shim_check" 2>"$WORK/err")
    rc=$?
    lines=$(grep -c "ctrprof: $var" "$WORK/err")
    check_eq "shim:bad-env:$bad" "0 1 same" "$rc $lines $([ "$out" = "$want" ] && echo same || echo differs)"
done

# 6. An unwritable profile directory: the program runs on, the profiler says so once.
out=$(CTRPROF_DIR=/sys LD_PRELOAD="$SHIM" "$PROGS/shim_check" 2>"$WORK/err")
check_eq "shim:unwritable-dir" "0 1 same" "$? $(grep -c '^ctrprof: ' "$WORK/err") $([ "$out" = "$want" ] && echo same || echo differs)"

# 7. CTRPROF_MEM_RATE=0: no heap counters at all. A process that records nothing creates
# no file: with the mutex and block profiles off as well, none is left behind; and at the
# default rate only the processes that drew a sample have one (40 runs of seq 3: each file
# holds a sample).
mkdir -p "$WORK/r3" "$WORK/r3b" "$WORK/r3c"
(cd "$WORK" && CTRPROF_DIR="$WORK/r3" CTRPROF_MEM_RATE=0 LD_PRELOAD="$SHIM" "$PROGS/shim_check" >/dev/null)
tot="0 0"
for f in "$WORK"/r3/*.count; do [ -f "$f" ] && tot=$(heap_totals "$f"); done
check_eq "shim:rate-0-records-nothing" "0 0" "$tot"
out=$(cd "$WORK" && CTRPROF_DIR="$WORK/r3b" CTRPROF_MEM_RATE=0 CTRPROF_MUTEX_FRACTION=0 CTRPROF_BLOCK_RATE=0 \
    LD_PRELOAD="$SHIM" "$PROGS/shim_check")
check_eq "shim:nothing-recorded-no-file (the program ran as bare)" "0 same 0" \
    "$? $([ "$out" = "$want" ] && echo same || echo differs) $(ls "$WORK/r3b" | wc -l)"
(cd "$WORK" && CTRPROF_DIR="$WORK/r3c" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" seq 3 >/dev/null)
check_eq "shim:recorded-one-file" 1 "$(ls "$WORK/r3c" | wc -l)"
empty=0
for f in "$WORK"/ph/*.count; do
    [ -f "$f" ] || continue
    k=$("$CTRPROF" dump "$f" | awk '$2 == "ctrprof/health:samples:heap" { print $1 }')
    [ "${k:-0}" -gt 0 ] || empty=$((empty + 1))
done
check_eq "shim:no-empty-files ($(ls "$WORK/ph" | wc -l) of 40 runs sampled)" 0 "$empty"
# The file is created when the process first has something to publish, which can be after
# it changed directory: CTRPROF_DIR (default ".") is the directory at start-up.
mkdir -p "$WORK/cd-start" "$WORK/cd-elsewhere"
(cd "$WORK/cd-start" && CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" /usr/bin/python3 -c \
    "import os; os.chdir('$WORK/cd-elsewhere'); x = [bytearray(1000) for i in range(100)]")
check_eq "shim:dir-is-the-start-directory" "1 0" \
    "$(ls "$WORK/cd-start" | grep -c '\.count$') $(ls "$WORK/cd-elsewhere" | grep -c '\.count$')"
# A relative CTRPROF_DIR or CTRPROF_FILE names the same place for children started in
# another directory (make -C, a script that cd's): python3 runs in cd-elsewhere, where
# "rel" does not exist.
mkdir -p "$WORK/cd-start/rel" && rm -f "$WORK"/cd-start/rel/* "$WORK"/cd-start/shared.count
(cd "$WORK/cd-start" && CTRPROF_DIR=rel CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" \
    sh -c "cd '$WORK/cd-elsewhere' && /usr/bin/python3 -c 'x = [bytearray(1000) for i in range(10)]'" 2>&1)
(cd "$WORK/cd-start" && CTRPROF_FILE=shared.count CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" \
    sh -c "cd '$WORK/cd-elsewhere' && /usr/bin/python3 -c 'x = [bytearray(1000) for i in range(10)]'" 2>&1)
got="$(ls "$WORK/cd-start/rel" | grep -c '^ctrprof\.python3\.') $(ls "$WORK/cd-elsewhere" | grep -c '\.count$')"
got+=" $("$CTRPROF" dump "$WORK/cd-start/shared.count" | grep -c 'ctrprof/process:python3')"
check_eq "shim:relative-dir-and-file-for-children" "1 0 1" "$got"
# ... but a bad value (empty: warned about, the default used) is passed on as it was
got=$(cd "$WORK/cd-start" && CTRPROF_DIR= LD_PRELOAD="$SHIM" sh -c 'env | grep "^CTRPROF_DIR="' 2>/dev/null)
check_eq "shim:bad-dir-passed-on-unchanged" "CTRPROF_DIR=" "$got"

# 8. ctrprof run: options become the environment; the exit status passes through.
mkdir -p "$WORK/r4"
"$CTRPROF" run --rate 1 --dir "$WORK/r4" -- "$PROGS/shim_check" >/dev/null 2>"$WORK/err"
check_eq "shim:run-status" 0 $?
grep -q "^ctrprof: profile in $WORK/r4/ctrprof.shim_check.[0-9]*.count" "$WORK/err" && pass "shim:run-says-where" ||
    fail "shim:run-says-where" "$(cat "$WORK/err")"
check_eq "shim:run-rate-in-meta" "MemRate: 1" "$("$CTRPROF" dump "$WORK"/r4/*.count* | grep '^MemRate:')"
"$CTRPROF" run --dir "$WORK/r4" -- sh -c 'exit 7' 2>/dev/null
check_eq "shim:run-exit-status" 7 $?
"$CTRPROF" run --dir "$WORK/r4" -- sh -c 'kill -TERM $$' 2>/dev/null
check_eq "shim:run-signal-status" 143 $?
"$CTRPROF" run --bogus -- true 2>/dev/null
check_eq "shim:run-bad-flag" 2 $?
"$CTRPROF" run --rate x -- true 2>/dev/null
check_eq "shim:run-bad-value" 2 $?

# 9. AT_SECURE (setgid): nothing written, output unchanged.
mkdir -p "$WORK/r5" && chmod 777 "$WORK/r5"
cp "$PROGS/shim_check" "$WORK/sgid_check"
if chgrp nogroup "$WORK/sgid_check" 2>/dev/null && chmod g+s "$WORK/sgid_check"; then
    out=$(CTRPROF_DIR="$WORK/r5" LD_PRELOAD="$SHIM" "$WORK/sgid_check" 2>/dev/null)
    check_eq "shim:at-secure-output" "$want" "$out"
    check_eq "shim:at-secure-writes-nothing" 0 "$(ls "$WORK/r5" | wc -l)"
else
    fail "shim:at-secure" "could not make a setgid copy (chgrp nogroup)"
fi

# 10. Frame pointers as the unwinder give the same leaf functions as libunwind.
mkdir -p "$WORK/r6"
(cd "$WORK" && CTRPROF_DIR="$WORK/r6" CTRPROF_UNWIND=fp LD_PRELOAD="$SHIM" "$PROGS/sites" >/dev/null)
"$CTRPROF" report --sample alloc_objects --format top "$WORK"/r6/*.count >"$WORK/fp.top"
grep -q ' site_small$' "$WORK/fp.top" && grep -q ' site_big$' "$WORK/fp.top" &&
    pass "shim:fp-unwind-finds-sites" || fail "shim:fp-unwind-finds-sites" "$(head -8 "$WORK/fp.top")"

# 11. The default unwinder (our CFI walker, core/unwind.c) against libunwind on real
# programs: CTRPROF_UNWIND=check walks every sampled stack both ways and counts stacks that
# differ (ctrprof/health:unwind-differs) and stacks the walker handed to libunwind
# (unwind-fallbacks). Rate 1 where it is quick, 64 bytes for the larger programs.
python3 "$TOP/bench/workloads/gen_c.py" 20 >"$WORK/small.c"
mkdir -p "$WORK/uc"
(
    cd "$WORK" && export CTRPROF_DIR="$WORK/uc" CTRPROF_UNWIND=check LD_PRELOAD="$SHIM"
    CTRPROF_MEM_RATE=1 /usr/bin/python3 -c 'import json; [json.dumps({"a": [i] * 9}) for i in range(3000)]'
    CTRPROF_MEM_RATE=1 perl -e 'my %h; $h{"k$_"} = [$_] for 1 .. 20000; print scalar(keys %h), "\n"'
    CTRPROF_MEM_RATE=1 sqlite3 <q.sql
    CTRPROF_MEM_RATE=64 gcc -O2 -c small.c -o small.o
    CTRPROF_MEM_RATE=64 git -C "$TOP" log --stat -n 20
) >/dev/null 2>&1
checked=$(counter_sum "$WORK/uc" ctrprof/health:unwind-checked)
differs=$(counter_sum "$WORK/uc" ctrprof/health:unwind-differs)
fallbacks=$(counter_sum "$WORK/uc" ctrprof/health:unwind-fallbacks)
progs=$(ls "$WORK"/uc | sed 's/^ctrprof\.\([^.]*\)\..*/\1/' | sort -u | tr '\n' ' ')
if [ "$checked" -gt 20000 ] && [ "$differs" -eq 0 ] && [ $((fallbacks * 100)) -le "$checked" ]; then
    pass "shim:cfi-unwind-equals-libunwind ($checked stacks from $progs; $fallbacks fell back)"
else
    fail "shim:cfi-unwind-equals-libunwind" "$checked stacks, $differs differ, $fallbacks fell back ($progs)"
fi

# 11b. libunwind is loaded only when a walk needs it (core/stack.c), by the flusher: a
# process that never needs it does not map it (nor liblzma); CTRPROF_UNWIND=libunwind
# maps it from the start. sigalloc nocfi allocates in a signal handler through a frame
# whose CFA is a DWARF expression, where the CFI walker gives up: the first such stack is
# walked by frame pointers (unwind-fp-fallbacks), the flusher loads libunwind, and the
# later ones go through the signal frame to main. A single-threaded process has no
# flusher at any rate until the first fallback starts it (at rate 1 too, though its
# inline flushes come in batches). The handshake, not a time: after its first signal
# sigalloc waits on its standard input (a fifo) until the profile says libunwind is
# loaded (ctrprof/health:libunwind-loaded, published by the flusher once its walks can
# run), so exactly 1 of the 20 stacks goes by frame pointers (without the wait, most do).
maps=$(LD_PRELOAD="$SHIM" CTRPROF_DIR="$WORK" cat /proc/self/maps)
maps_lu=$(LD_PRELOAD="$SHIM" CTRPROF_DIR="$WORK" CTRPROF_UNWIND=libunwind cat /proc/self/maps)
# (the shim must be in the first listing, or its absence of libunwind says nothing)
if grep -q libctrprof <<<"$maps" && ! grep -q 'libunwind\|liblzma' <<<"$maps" && grep -q libunwind <<<"$maps_lu"; then
    pass "shim:libunwind-not-loaded-unless-needed"
else
    fail "shim:libunwind-not-loaded-unless-needed" "default: $(grep -c 'libunwind\|liblzma' <<<"$maps") mappings; CTRPROF_UNWIND=libunwind: $(grep -c libunwind <<<"$maps_lu")"
fi
libunwind_loaded() { [ "$(counter_sum "$1" ctrprof/health:libunwind-loaded)" -ge 1 ]; }
for spec in "1 100" "65536 1048576"; do
    read -r sa_rate sa_size <<<"$spec"
    rm -rf "$WORK/sa" "$WORK/sa-go" && mkdir -p "$WORK/sa" && mkfifo "$WORK/sa-go"
    (cd "$WORK" && exec env CTRPROF_DIR="$WORK/sa" CTRPROF_MEM_RATE=$sa_rate CTRPROF_FLUSH_MS=10 \
        LD_PRELOAD="$SHIM" "$PROGS/sigalloc" 20 "$sa_size" nocfi <"$WORK/sa-go") &
    sa_pid=$!
    exec 7<>"$WORK/sa-go" # (read-write: opening never blocks, the program's open returns)
    loaded=no
    wait_until 30 libunwind_loaded "$WORK/sa" && loaded=yes
    echo go >&7
    wait "$sa_pid"
    st=$?
    exec 7>&- # (only now: the program may not have opened the fifo before the go)
    fb=$(counter_sum "$WORK/sa" ctrprof/health:unwind-fallbacks)
    fpfb=$(counter_sum "$WORK/sa" ctrprof/health:unwind-fp-fallbacks)
    lu=$(counter_sum "$WORK/sa" ctrprof/health:libunwind-loaded)
    deep=$("$CTRPROF" report --sample alloc_objects --format folded "$WORK"/sa/*.count |
        awk '/;main;.*;handler;.*alloc_free / { s += $NF } END { printf "%.0f\n", s }')
    check_eq "shim:libunwind-loaded-on-first-fallback (rate $sa_rate: status, loaded before the go, libunwind-loaded, fallbacks, by frame pointers, through the signal frame to main)" \
        "0 yes 1 20 1 19" "$st $loaded $lu $fb $fpfb $deep"
done

# 11c. Without that frame the walker goes through the signal frame to main by itself
# (issue 25): nothing falls back, libunwind is never wanted.
rm -rf "$WORK/sb" && mkdir -p "$WORK/sb"
(cd "$WORK" && CTRPROF_DIR="$WORK/sb" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/sigalloc" 20 100)
fb=$(counter_sum "$WORK/sb" ctrprof/health:unwind-fallbacks)
fpfb=$(counter_sum "$WORK/sb" ctrprof/health:unwind-fp-fallbacks)
deep=$("$CTRPROF" report --sample alloc_objects --format folded "$WORK"/sb/*.count |
    awk '/;main;.*;handler;alloc_free / { s += $NF } END { printf "%.0f\n", s }')
check_eq "shim:cfi-walks-signal-frames (fallbacks, fp fallbacks, through to main)" "0 0 20" "$fb $fpfb $deep"
# 11d. Code in no loaded object (a JIT's; tests/programs/jitstubs.c) is walked by its frame
# pointer (core/unwind.c), as libunwind's own fallback walks it, without libunwind and the
# loader's lock libunwind takes in every such walk (until session 31 each of these stacks
# fell back, and libunwind was loaded). Stubs that keep a frame pointer: every stack goes
# through the stub to main. Stubs that do not: nothing falls back either, every
# allocation is counted (the frame pointer is main's then: the walk goes on above it).
# asm: a function of the program itself that no FDE covers (hand-written code; V8's
# builtins in node, 41% of node's sampled stacks): the same, through it to main.
# badfp: stubs whose rbp points at two words that are no frame, the second a stack
# address: the guess reads it where a return address would be, and the walk ends at the
# stub (session 33: every stack had that stack address as its outermost frame).
for mode in fp nofp badfp asm; do
    rm -rf "$WORK/jit" && mkdir -p "$WORK/jit"
    out=$(cd "$WORK" && CTRPROF_DIR="$WORK/jit" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/jitstubs" $mode 200 10)
    fb=$(counter_sum "$WORK/jit" ctrprof/health:unwind-fallbacks)
    lu=$(counter_sum "$WORK/jit" ctrprof/health:libunwind-loaded)
    "$CTRPROF" report --sample alloc_objects --format folded "$WORK"/jit/*.count >"$WORK/jit.folded" 2>&1
    all=$(awk '/;alloc_one / { s += $NF } END { printf "%.0f\n", s }' "$WORK/jit.folded")
    deep=$(awk '/;main;[^;]*;alloc_one / { s += $NF } END { printf "%.0f\n", s }' "$WORK/jit.folded")
    if [ $mode = badfp ]; then
        two=$(awk '/;alloc_one / { split($1, f, ";"); if (length(f) == 2) s += $NF } END { printf "%.0f\n", s }' "$WORK/jit.folded")
        check_eq "shim:jit-frames-by-frame-pointer:badfp (output, fallbacks, libunwind loaded, counted, ending at the stub)" \
            "done 0 0 2000 2000" "$out $fb $lu $all $two"
    elif [ $mode != nofp ]; then
        check_eq "shim:jit-frames-by-frame-pointer:$mode (output, fallbacks, libunwind loaded, counted, through the stub to main)" \
            "done 0 0 2000 2000" "$out $fb $lu $all $deep"
    else
        check_eq "shim:jit-frames-by-frame-pointer:nofp (output, fallbacks, libunwind loaded, counted)" \
            "done 0 0 2000" "$out $fb $lu $all"
    fi
done
# 11e. A program whose segments are not contiguous (linked with a max-page-size of 2 MiB
# and separate-code, as Debian's node is): glibc's _dl_find_object gives its extent as its
# text segment alone, without its .eh_frame_hdr, which the walker then found out of
# bounds (core/unwind.c, main_segment). Until session 31 every stack through such a
# program's frames went to libunwind (node at rate 1: 763,000 fallbacks in 763,000
# samples, 0.85 s against 0.55 s now; bare 0.26). PIE and not.
for pie in -pie -no-pie; do
    n="shim:split-segments-walked$pie"
    if cc -g -O1 -fno-omit-frame-pointer $pie -Wl,-z,max-page-size=0x200000 -Wl,-z,separate-code \
        -o "$WORK/jitstubs$pie" "$TOP/tests/programs/jitstubs.c"; then
        rm -rf "$WORK/jit" && mkdir -p "$WORK/jit"
        out=$(cd "$WORK" && CTRPROF_DIR="$WORK/jit" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$WORK/jitstubs$pie" fp 200 10)
        fb=$(counter_sum "$WORK/jit" ctrprof/health:unwind-fallbacks)
        lu=$(counter_sum "$WORK/jit" ctrprof/health:libunwind-loaded)
        deep=$("$CTRPROF" report --sample alloc_objects --format folded "$WORK"/jit/*.count 2>&1 |
            awk '/;main;[^;]*;alloc_one / { s += $NF } END { printf "%.0f\n", s }')
        check_eq "$n (output, fallbacks, libunwind loaded, through the stub to main)" "done 0 0 2000" "$out $fb $lu $deep"
    else
        fail "$n" "cannot link with -z max-page-size=0x200000 -z separate-code"
    fi
done
# ... and so does the frame-pointer walk (CTRPROF_UNWIND=fp), from a handler on an
# alternate signal stack (sigalloc alt: SIGALRMs interrupting spin_until) to the thread's
# own stack: each of the 20 stacks goes on past the handler into the interrupted loop and
# its callers (the CFI walk, for reference, reaches main).
for u in fp cfi; do
    rm -rf "$WORK/sc" && mkdir -p "$WORK/sc"
    (cd "$WORK" && CTRPROF_DIR="$WORK/sc" CTRPROF_MEM_RATE=1 CTRPROF_UNWIND=$u LD_PRELOAD="$SHIM" "$PROGS/sigalloc" 20 100 alt)
    deep=$("$CTRPROF" report --sample alloc_objects --format folded "$WORK"/sc/*.count |
        awk '/__libc_start_call_main;.*spin_until;.*;handler;alloc_free / { s += $NF } END { print s + 0 }')
    check_eq "shim:$u-walks-altstack-signal-frames (through to the interrupted code)" "20" "$deep"
done

# 12. No allocation inside a lock hook: behind the shim, an allocator that holds a mutex
# around every call (as jemalloc does); heap profiling off, every blocked wait recorded, so
# each new thread's first stack is captured while its thread holds the allocator's mutex.
# Anything the capture allocates waits on that mutex forever (the first stack of a thread
# once asked pthread_getattr_np for its bounds, which allocates: 1 run in 10 of compat's
# alloc_mt with jemalloc hung). 40 threads in 10 rounds, 5 runs, 60 s each.
cc -g -O1 -shared -fPIC -o "$WORK/liblockalloc.so" "$TOP/tests/programs/lockalloc/liblockalloc.c" -ldl -lpthread
cc -g -O1 -o "$WORK/lockalloc_main" "$TOP/tests/programs/lockalloc/lockalloc_main.c" -lpthread
mkdir -p "$WORK/la"
got=""
for i in 1 2 3 4 5; do
    out=$(cd "$WORK" && CTRPROF_DIR="$WORK/la" CTRPROF_MEM_RATE=0 CTRPROF_BLOCK_RATE=1 \
        LD_PRELOAD="$SHIM $WORK/liblockalloc.so" timeout -k 5 60 "$WORK/lockalloc_main" 2>&1)
    got+="$? $out;"
done
blocks=$(counter_sum "$WORK/la" ctrprof/health:samples:block)
check_eq "shim:no-allocation-in-lock-hooks" "0 done;0 done;0 done;0 done;0 done; blocks>0=1" "$got blocks>0=$((blocks > 0))"
# The same with libunwind as the unwinder: loaded with dlopen, it allocates a thread's
# thread-local storage at that thread's first walk, so a lock hook uses it only on a
# thread that has walked with it from a heap sample (stack.h, CP_UNWIND_NOALLOC); every
# run hung before that.
got=""
for i in 1 2 3; do
    out=$(cd "$WORK" && CTRPROF_DIR="$WORK/la" CTRPROF_MEM_RATE=0 CTRPROF_BLOCK_RATE=1 CTRPROF_UNWIND=libunwind \
        LD_PRELOAD="$SHIM $WORK/liblockalloc.so" timeout -k 5 60 "$WORK/lockalloc_main" 2>&1)
    got+="$? $out;"
done
check_eq "shim:no-allocation-in-lock-hooks:libunwind" "0 done;0 done;0 done;" "$got"

# 13. Who flushes (core/flusher.c): a single-threaded process has no flusher thread (glibc
# takes its multi-threaded paths for good once there is a second thread); each event is
# published by the thread that records it, so a SIGKILL right after a sample loses
# nothing. The thread comes with the program's first pthread_create, and at a heap event
# after glibc made a thread of its own (a SIGEV_THREAD timer's helper); not at rate 1,
# nor when a single-threaded program's events come fast at the default rate (issue 29:
# it would stop being single-threaded; sigfork.sh).
F="$PROGS/flusher"
fl() { (cd "$WORK" && CTRPROF_DIR="$WORK/fl" LD_PRELOAD="$SHIM" "$@" 2>&1); }
rm -rf "$WORK/fl" && mkdir -p "$WORK/fl"
got="start=$(fl "$F" start) rate1=$(CTRPROF_MEM_RATE=1 fl "$F" start)"
check_eq "shim:flusher-thread-only-when-wanted" "start=1 rate1=1" "$got"
rm -rf "$WORK/fl" && mkdir -p "$WORK/fl"
got=$(fl "$F" kill 2>/dev/null)
# (the 8 MiB sample: a small one stands for about the rate, 512 KiB, of bytes)
kept=$(counter_sum "$WORK/fl" ctrprof/heap:alloc_space)
check_eq "shim:sigkill-after-sample-loses-nothing" "threads=1 samples>=1" "threads=$got samples>=$((kept >= 8388608))"
got="create=$(fl "$F" create) fast=$(fl "$F" fast) timer=$(fl "$F" timer)"
check_eq "shim:flusher-thread-starts" "create=1 2 fast=1 1 timer=2 3" "$got"
# CTRPROF_FLUSHER=thread (ctrprof run --flusher thread): a single-threaded program gets the
# profiler's thread at its first heap event, at any rate (the accounting on another core:
# BENCHMARKS.md, session 31), and its rate-1 profile is the one its own thread publishes
# by default; a call that needs the thread alone (unshare -U) still has it so (preload/
# alone.c); a bad value is one line, and the default.
got="default=$(CTRPROF_FLUSHER=thread fl "$F" fast) rate1=$(CTRPROF_FLUSHER=thread CTRPROF_MEM_RATE=1 fl "$F" fast)"
check_eq "shim:flusher-option-thread" "default=1 2 rate1=1 2" "$got"
for k in auto thread; do
    rm -rf "$WORK/flx-$k" && mkdir -p "$WORK/flx-$k"
    (cd "$WORK" && CTRPROF_FLUSHER=$k CTRPROF_MEM_RATE=1 CTRPROF_DIR="$WORK/flx-$k" LD_PRELOAD="$SHIM" \
        "$PROGS/namechurn" 1 >/dev/null 2>&1)
    "$CTRPROF" report --format=folded --sample=alloc_objects "$WORK/flx-$k"/*.count >"$WORK/flx-$k.folded" 2>&1
done
tot=$(awk '{ s += $NF } END { print s + 0 }' "$WORK/flx-thread.folded")
cmp -s "$WORK/flx-auto.folded" "$WORK/flx-thread.folded" && [ "$tot" = 1000001 ] &&
    pass "shim:flusher-option-thread-exact" ||
    fail "shim:flusher-option-thread-exact" "$tot allocations; $(diff "$WORK/flx-auto.folded" "$WORK/flx-thread.folded" | head -3)"
if unshare -U true 2>/dev/null; then
    got=$(cd "$WORK" && CTRPROF_FLUSHER=thread CTRPROF_MEM_RATE=1 CTRPROF_DIR="$WORK/fl" LD_PRELOAD="$SHIM" \
        unshare -U sh -c 'id -u' 2>&1)
    check_eq "shim:flusher-option-thread-unshare-U" "65534" "$got"
else
    skip "shim:flusher-option-thread-unshare-U" "unshare -U (a user namespace) is not allowed here"
fi
got=$(CTRPROF_FLUSHER=yes fl "$F" fast)
check_eq "shim:flusher-option-bad" "ctrprof: CTRPROF_FLUSHER=yes is not auto, thread, process or inline; using the default|1 1" \
    "$(tr '\n' '|' <<<"$got" | sed 's/|$//')"
got=$("$CTRPROF" run --flusher always -- true 2>&1)
check_eq "shim:flusher-option-run-bad" "2 ctrprof: run: --flusher takes auto, thread, process or inline, not 'always'" "$? $got"

# A plugin that allocates 64 x 1 MiB (kept) and is dlclosed before the flusher names its
# frames (a second thread is alive, so the allocating thread does not publish): its module
# is registered in the dlclose hook, so the site has its name, not a bare address.
cc -g -O1 -shared -fPIC -o "$WORK/libplugin.so" "$TOP/tests/programs/plugin/libplugin.c"
cc -g -O1 -pthread -o "$WORK/plugin_main" "$TOP/tests/programs/plugin/plugin_main.c" -ldl
for rate in 1 524288; do
    rm -rf "$WORK/pl" && mkdir -p "$WORK/pl"
    out=$(CTRPROF_DIR="$WORK/pl" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$WORK/plugin_main" "$WORK/libplugin.so")
    check_eq "shim:dlclosed-plugin-runs:rate-$rate" "ok" "$out"
    got=$("$CTRPROF" report --sample inuse_space --format folded "$WORK"/pl/*.count 2>/dev/null |
        awk '{ n = split($1, a, ";"); if (a[n] == "plugin_site") s += $2 } END { printf "%.0f\n", s }')
    # rate 1: exact; default: 64 objects of 1 MiB, each sampled with p = 1 - e^-2 = 0.86:
    # sd = 1 MiB * sqrt(64 * (1 - p) / p) = 4.9% of 64 MiB; 25% is 5 sigma
    if [ "$rate" = 1 ]; then
        check_eq "shim:dlclosed-plugin-named:rate-$rate" "67108864" "$got"
    else
        check_within "shim:dlclosed-plugin-named:rate-$rate" 67108864 "$got" 0.25
    fi
done

# RTLD_DEEPBIND (tests/programs/deepbind/): a plugin whose calls bind to libc's malloc
# and free past the shim unless it rewrites them (preload/deepbind.c). The program keeps
# 500 objects the plugin frees; the plugin allocates 1000, half freed by the program: at
# rate 1 every one counted and none left in use (the old shim: deep_site missing, the
# program's 500 in use for ever). libownalloc.so, loaded the same way, keeps its own
# malloc ("own 200"). By name through the program's RUNPATH (glibc looks there only for
# a call from the program: dlopen's hook must not become the caller); GOTs read-only
# (-z now: RELRO) or lazy, and -fno-plt (GLOB_DAT slots). dlmopen: said, runs as bare.
DB="$WORK/deepbind"
mkdir -p "$DB"
cc -g -O1 -shared -fPIC -o "$DB/libownalloc.so" "$TOP/tests/programs/deepbind/libownalloc.c"
cc -g -O1 -o "$DB/deep_main" "$TOP/tests/programs/deepbind/deep_main.c" -ldl \
    -Wl,--enable-new-dtags,-rpath,"$DB"
db_site() { # FILE SAMPLE SITE
    "$CTRPROF" report --sample "$2" --format folded "$1" 2>/dev/null |
        awk -v k="$3" '{ n = split($1, a, ";"); if (a[n] == k) s += $2 } END { printf "%.0f\n", s }'
}
for build in "relro -Wl,-z,relro,-z,now" "noplt -fno-plt -Wl,-z,relro,-z,now" "lazy -Wl,-z,lazy"; do
    set -- $build
    bname=$1
    shift
    cc -g -O1 -shared -fPIC "$@" -o "$DB/libdeep.so" "$TOP/tests/programs/deepbind/libdeep.c"
    for mode in now lazy name dlmopen; do
        [ "$bname" != relro ] && [ "$mode" = dlmopen ] && continue
        want=$("$DB/deep_main" "$DB" "$mode")
        for rate in 1 524288; do
            n="shim:deepbind:$bname:$mode:rate-$rate"
            rm -rf "$DB/p" && mkdir -p "$DB/p"
            got=$(CTRPROF_DIR="$DB/p" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$DB/deep_main" "$DB" "$mode" 2>"$DB/err")
            check_eq "$n:runs-as-bare" "ok own 200|$want" "$got|$want"
            f=$(ls "$DB"/p/*.count 2>/dev/null | head -1)
            if [ "$mode" = dlmopen ]; then
                check_eq "$n:said-once" "1 1" "$(grep -c . "$DB/err") $(grep -c 'dlmopen into another namespace' "$DB/err")"
                continue
            fi
            check_eq "$n:nothing-said" "" "$(cat "$DB/err")"
            if [ "$rate" = 1 ]; then
                got="deep_site $(db_site "$f" alloc_objects deep_site)/$(db_site "$f" inuse_objects deep_site)"
                got="$got main_keep $(db_site "$f" alloc_objects main_keep)/$(db_site "$f" inuse_objects main_keep)"
                got="$got own_site $(db_site "$f" alloc_objects own_site)"
                check_eq "$n:exact" "deep_site 1000/0 main_keep 500/0 own_site 0" "$got"
            else
                # 1.5 MB from deep_site (1000..1999 bytes): ~3 samples at 512 KiB; freed
                check_eq "$n:none-in-use" "0 0" \
                    "$(db_site "$f" inuse_space deep_site) $(db_site "$f" inuse_space main_keep)"
            fi
        done
    done
done

# A DEEPBIND plugin that registers itself from its constructor (tests/programs/deepbind/
# reg_main.c, libreg.c): the program never calls dlsym after the load. "flusher": its
# functions are called 400 ms after the load in a multi-threaded program; the flusher
# rewrites the plugin's calls after its next flush (the old shim never did: reg_site
# missing). "thread": called on a thread made after the load (pthread_create catches up).
cc -g -O1 -shared -fPIC -o "$DB/libreg.so" "$TOP/tests/programs/deepbind/libreg.c"
cc -g -O1 -rdynamic -o "$DB/reg_main" "$TOP/tests/programs/deepbind/reg_main.c" -ldl -pthread
for mode in thread flusher; do
    n="shim:deepbind-registered:$mode"
    rm -rf "$DB/p" && mkdir -p "$DB/p"
    got=$(CTRPROF_DIR="$DB/p" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=50 LD_PRELOAD="$SHIM" \
        "$DB/reg_main" "$DB" $mode 2>"$DB/err")
    check_eq "$n:runs-as-bare (says nothing)" "ok|" "$got|$(cat "$DB/err")"
    f=$(ls "$DB"/p/*.count 2>/dev/null | head -1)
    check_eq "$n:exact" "1000/0" "$(db_site "$f" alloc_objects reg_site)/$(db_site "$f" inuse_objects reg_site)"
done

# 14. A thread that allocates inside a dl_iterate_phdr callback (holding the loader's
# lock) while the flusher needs that lock (tests/programs/loaderlock.c: generated code
# whose frames no loaded object holds, so the flusher loads libunwind and reads the loaded
# objects again). At rate 1 the thread's ring fills and it waits for the flusher, which
# waits for it: the program hung for good (3 runs of 3). Session 26: a thread that has
# waited 2 s for a flusher that drained nothing drops what finds its ring full (counted
# lost:overflow, said once) until the flusher drains again; that lost ~116,000 events of
# alloc's 2 s run. Now a thread whose ring stays full while the flusher drains nothing
# for 10 ms flushes itself when no flush is under way (the flusher's libunwind load is
# outside the flush lock): nothing is lost, and every pass of the callback is counted.
# "fork": the callback forks instead, and its atfork handler waited for the flush lock
# held by a flush reading the loaded objects again for that frame: now no object is read
# again for a frame no object holds (glibc's lock-free _dl_find_object says so).
# "plugins": the same fork, while 200 newly dlopen'ed plugins allocate: the flush read all
# the objects again for each one's first frame (it hung, most runs); now it registers the one
# object _dl_find_object names, and the plugin's frames are named all the same.
LL="$WORK/loaderlock-plugins"
mkdir -p "$LL"
cc -g -O1 -shared -fPIC -o "$LL/libplugin-1.so" "$TOP/tests/programs/plugin/libplugin.c"
for i in $(seq 2 200); do cp "$LL/libplugin-1.so" "$LL/libplugin-$i.so"; done
for mode in alloc fork plugins; do
margs=($mode)
[ $mode = plugins ] && margs+=("$LL" 200)
want=$("$PROGS/loaderlock" "${margs[@]}"; echo "rc=$?")
for rate in 1 64; do
    n="shim:loader-lock:$mode:rate-$rate"
    d="$WORK/loaderlock-$mode-$rate"
    mkdir -p "$d"
    got=$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" timeout 30 "$PROGS/loaderlock" "${margs[@]}" 2>"$d.err"
        echo "rc=$?")
    check_eq "$n:not-hung" "$want" "$got"
    said=$(grep -c 'drained nothing for 2 s' "$d.err")
    others=$(grep -vc 'drained nothing for 2 s' "$d.err")
    check_eq "$n:said-at-most-once ($(head -c 300 "$d.err" | tr '\n' '|'))" "yes 0" \
        "$([ "$said" -le 1 ] && echo yes || echo "no:$said") $others"
    f=$(ls "$d"/*.count 2>/dev/null | head -1)
    [ -n "$f" ] || { fail "$n:profile" "none in $d"; continue; }
    # what was dropped is counted: the callback's site plus what was lost is every event
    lost=$("$CTRPROF" dump "$f" | awk '$2 == "ctrprof/health:lost:overflow" { print $1 }')
    [ "$said" = 0 ] && [ "${lost:-0}" != 0 ] && fail "$n:lost-said" "lost ${lost} unsaid" || pass "$n:lost-said"
    if [ $mode = alloc ]; then # (nothing lost; at rate 1 each pass's 20,000 per object)
        check_eq "$n:nothing-lost" "0 0" "${lost:-0} $said"
        if [ $rate = 1 ]; then
            site=$(db_site "$f" alloc_objects each_object)
            check_eq "$n:every-pass-counted" "yes" \
                "$([ "$site" -gt 0 ] && [ $((site % 20000)) = 0 ] && echo yes || echo "no:$site")"
        fi
    fi
    if [ $mode = plugins ] && [ $rate = 1 ]; then # (every plugin's block, named)
        check_eq "$n:plugins-named" "1000" "$(db_site "$f" alloc_objects plugin_site)"
    fi
done
done

# A C++ program's uncaught exception: std::terminate calls abort through the PLT, so the
# abort hook publishes first (tests/programs/cxxterminate.cc; its 50 blocks were lost with
# the flusher's last interval before session 28)
if [ -x "$PROGS/cxxterminate" ]; then
    rm -rf "$WORK/term" && mkdir -p "$WORK/term"
    (cd "$WORK" && CTRPROF_DIR="$WORK/term" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" timeout 20 \
        "$PROGS/cxxterminate" 2>/dev/null)
    rc=$?
    check_eq "shim:exit-path:cxx-terminate" "rc=134 50" "rc=$rc $("$CTRPROF" report --sample \
        alloc_objects --format top "$WORK/term" 2>/dev/null | awk '$NF == "site_kept" { print $1 }')"
else
    skip "shim:exit-path:cxx-terminate" "$PROGS/cxxterminate was not built (no C++ compiler)"
fi

# 15. Two copies of the shim in one process (another build's libctrprof.so, by another
# path: the loader maps both): LD_PRELOAD naming two, or /etc/ld.so.preload's and `ctrprof
# run`'s. Until session 28 both profiled every process, each into a file of its own, and
# a report over the directory counted everything twice. The copy the calls reach first
# profiles; the other steps aside and says so once for the process tree (preload/
# company.c, cp_shim_copy_ahead). At rate 1: the program's output as bare, one profile per process, its
# site exact; a shell running it twice: the line said once, the same profiles as with
# one copy.
mkdir -p "$WORK/copy"
cp "$SHIM" "$WORK/copy/libctrprof.so"
want=$("$PROGS/sites" | md5sum)
# (every allocation of the run: one copy's total; a second copy's profile has the same
# allocations again, at the first copy's slow path)
total() { "$CTRPROF" report --sample alloc_objects --format top "$1" 2>/dev/null |
    awk '/^Showing nodes/ { print $(NF - 1) }'; }
mkdir -p "$WORK/one-copy"
(cd "$WORK" && CTRPROF_DIR="$WORK/one-copy" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/sites" >/dev/null)
one=$(total "$WORK/one-copy")
for order in first second; do
    n="shim:two-copies:ours-$order"
    d="$WORK/two-$order"
    mkdir -p "$d"
    pre="$SHIM $WORK/copy/libctrprof.so"
    ahead=$SHIM
    [ $order = second ] && pre="$WORK/copy/libctrprof.so $SHIM" && ahead="$WORK/copy/libctrprof.so"
    got=$(cd "$WORK" && CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 LD_PRELOAD="$pre" "$PROGS/sites" 2>"$d.err" |
        md5sum)
    check_eq "$n:as-bare" "$want" "$got"
    check_eq "$n:one-profile" "1" "$(ls "$d"/ctrprof.sites.*.count 2>/dev/null | wc -l)"
    check_eq "$n:exact" "1048576 $one" "$("$CTRPROF" report --sample alloc_objects --format top "$d" 2>/dev/null |
        awk '$NF == "site_small" { print $1 }') $(total "$d")"
    check_eq "$n:said-once" "1 1" "$(grep -c 'another copy of the profiler' "$d.err") $(grep -c \
        "another copy of the profiler, $ahead, is loaded ahead" "$d.err")"
    d="$WORK/two-tree-$order"
    mkdir -p "$d" "$d.one"
    # (rate 1: at the default rate whether each process of the tree made a file at all was
    # chance, 16 objects of 64 bytes, and the two runs' lists differed now and then)
    CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 LD_PRELOAD="$pre" \
        sh -c "'$PROGS/thinsites' 16 64 >/dev/null; '$PROGS/thinsites' 16 64 >/dev/null" 2>"$d.err"
    CTRPROF_DIR="$d.one" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" \
        sh -c "'$PROGS/thinsites' 16 64 >/dev/null; '$PROGS/thinsites' 16 64 >/dev/null"
    check_eq "$n:tree:said-once" "1" "$(grep -c 'another copy of the profiler' "$d.err")"
    check_eq "$n:tree:profiles-as-one-copy" "$(ls "$d.one" | sed 's/\.[0-9]*\.count$//' | sort | tr '\n' ' ')" \
        "$(ls "$d" | sed 's/\.[0-9]*\.count$//' | sort | tr '\n' ' ')"
done
