#!/usr/bin/env bash
# Accuracy where ordinary glibc entry points go (issue 30), with tests/programs/accuracy.c:
# every allocating entry point accounted exactly once (reallocarray -> realloc@plt inside
# glibc), allocation sizes up to SIZE_MAX that leave sampling undisturbed, the profile
# published before exec (every exec function, single- and multi-threaded, both rates),
# failing execs that change nothing, and a pid that execs itself 150 times.
source "$(dirname "$0")/lib.sh"
P="$PROGS/accuracy"

# site_sum SAMPLE SITE FILE...: SAMPLE summed over the stacks through SITE
site_sum() {
    local sample=$1 site=$2
    shift 2
    for f in "$@"; do "$CTRPROF" report --sample "$sample" --format folded "$f"; done |
        awk -v s="$site" '{ n = split($1, fr, ";"); for (i = 1; i <= n; i++) if (fr[i] == s) { t += $NF; break } }
                          END { print t + 0 }'
}
# counter DIR NAME: NAME's value summed over the profiles in DIR (0 if none)
counter() {
    for f in "$1"/*.count; do [ -e "$f" ] && "$CTRPROF" dump "$f"; done |
        awk -v n="$2" '$2 == n { s += $1 } END { printf "%.0f\n", s }'
}
run() { # run DIR RATE ARGS...: the program under the shim, profiles into DIR
    local d=$1 r=$2
    shift 2
    rm -rf "$d" && mkdir -p "$d"
    CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$r LD_PRELOAD="$SHIM" "$P" "$@"
}

# 1. Each entry point once, at rate 1: 20,000 objects a site, all freed; glibc's
#    reallocarray jumps to realloc@plt, i.e. into our realloc hook (it was counted twice:
#    40,000 allocations, 20,000 in use). The grow site is a malloc and a reallocarray each.
d=$WORK/entry
run "$d" 1 entry >/dev/null
for s in site_reallocarray:20000 site_reallocarray_grow:40000 site_realloc:20000 \
    site_calloc:20000 site_memalign:20000 site_aligned_alloc:20000 site_posix_memalign:20000 \
    site_valloc:20000 site_pvalloc:20000 site_strdup:20000 site_cfree:20000; do
    name=${s%%:*}
    check_eq "accuracy:rate1-once-$name" "${s#*:} 0" \
        "$(site_sum alloc_objects "$name" "$d"/*.count) $(site_sum inuse_objects "$name" "$d"/*.count)"
done
check_eq "accuracy:rate1-once-unrelated-site" "1000 100" \
    "$(site_sum alloc_objects site_unrelated "$d"/*.count) $(site_sum inuse_objects site_unrelated "$d"/*.count)"
check_eq "accuracy:rate1-once-no-reentry-loss" 0 "$(counter "$d" ctrprof/health:lost:reentry)"

# 2. Failing allocations of sizes up to SIZE_MAX on every entry point (each twice: under a
#    signed countdown the second wrapped it positive, and sampling stopped). At rate 1,
#    everything after them is recorded exactly.
d=$WORK/huge1
out=$(run "$d" 1 huge 100)
check_eq "accuracy:huge-sizes-fail" "after 1300 mib 100" "$(echo $out)"
check_eq "accuracy:huge-rate1-after-exact" "1300 100" \
    "$(site_sum alloc_objects site_after "$d"/*.count) $(site_sum alloc_objects site_mib "$d"/*.count)"
# At the default rate (512 KiB), 2 GiB of 1 MiB objects after them: each is sampled with
# p = 1 - exp(-2) = 0.865, so the estimate of N = 2048 objects has a relative standard
# deviation of sqrt((1-p)/(N p)) = 0.87%: 5% is 5.7 sigma. (Sampling switched off
# estimated 0 B.)
d=$WORK/huge2
run "$d" 524288 huge 2048 >/dev/null
check_within "accuracy:huge-default-rate-2GiB-after" 2147483648 \
    "$(site_sum alloc_space site_mib "$d"/*.count)" 0.05

# 3. exec: 1,000 x 100 kB leaked, then exec. At rate 1 the file holds exactly those 1,000
#    objects in use, whatever the exec function, with or without other threads alive
#    (nothing published before was lost at exec: no file at all). `true` records nothing
#    (no file of its own); "self" execs this program, whose own file (10 objects) is a
#    second one. "vfork": the exec is in a vfork child sharing this process's memory,
#    which must leave this process's profile alone (it publishes at its own exit);
#    posix_spawn and system, likewise (glibc's child runs its internal execve).
for how in execve execv execvp execvpe execl execlp execle fexecve execveat self vfork posix_spawn system; do
    for threads in 0 2; do
        d=$WORK/exec-$how-$threads
        run "$d" 1 exec "$how" "$threads"
        # this program's files only: system's sh (dash runs `true` itself) has its own,
        # published at its _exit
        files=$(ls "$d" | grep -c '^ctrprof\.accuracy\..*\.count$')
        want_files=1
        [ "$how" = self ] && want_files=2
        check_eq "accuracy:exec-rate1-$how-threads$threads" "$want_files 1000" \
            "$files $(site_sum inuse_objects site_leak "$d"/ctrprof.accuracy.*.count)"
    done
done
d=$WORK/exec-self-2
check_eq "accuracy:exec-self-own-file" "10 1" \
    "$(site_sum inuse_objects site_child "$d"/*.count) $(for f in "$d"/*.count; do site_sum inuse_objects site_child "$f"; done | grep -c '^10$')"
# Default rate: each 100 kB object is sampled with p = 1 - exp(-100000/524288) = 0.174;
# 1,000 of them estimate 100 MB with a relative standard deviation of sqrt((1-p)/(N p)) =
# 6.9%: 30% is 4.3 sigma.
for how in execve execvp self; do
    for threads in 0 2; do
        d=$WORK/execd-$how-$threads
        run "$d" 524288 exec "$how" "$threads"
        check_within "accuracy:exec-default-rate-$how-threads$threads" 100000000 \
            "$(site_sum inuse_space site_leak "$d"/*.count)" 0.30
    done
done

# 4. A failing exec changes nothing: every exec function returns what glibc's returns
#    with the same errno, and profiling goes on (the leak after them is exact at rate 1).
want=$("$P" execfail)
d=$WORK/execfail
got=$(run "$d" 1 execfail)
check_eq "accuracy:exec-fail-results-and-errno" "$want" "$got"
check_eq "accuracy:exec-fail-profiling-goes-on" 1000 "$(site_sum inuse_objects site_leak "$d"/*.count)"

# 5. One pid, 151 images (a program that re-execs itself 150 times, each leaking one
#    object): 151 files, every object in one of them, and nothing on stderr (past 100
#    generations each printed "File exists; not profiling").
d=$WORK/reexec
err=$(run "$d" 1 reexec 0 150 2>&1 >/dev/null)
check_eq "accuracy:reexec-150-files" "151 151" \
    "$(ls "$d" | grep -c '\.count$') $(site_sum inuse_objects site_gen "$d"/*.count)"
check_eq "accuracy:reexec-150-stderr-empty (and 151 files)" "151|" "$(ls "$d" | grep -c '\.count$')|$err"
# A directory no file can be made in is said once for the whole tree of images, not by
# each of them.
d=$WORK/reexec-bad
err=$(CTRPROF_DIR="$WORK/no-such-dir" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$P" reexec 0 5 2>&1 >/dev/null)
check_eq "accuracy:reexec-unusable-dir-said-once" 1 "$(grep -c 'no-such-dir' <<<"$err")"

# 6. Thin sites (tests/programs/thinsites.c): 20,000 sites of one 64-byte object each,
#    the even ones kept. At rate 64 a site is sampled with p = 1 - e^-1 = 0.632, and a
#    sample weighs 1/p = 1.582 objects; the file holds whole objects, and a plain floor a
#    site read each sample as 1 (12,650 of 20,000: -37%). The estimate of N objects has a
#    relative standard deviation of sqrt((1-p)/(N p)): 0.54% for 20,000 (4% is 7 sigma),
#    0.76% for the 10,000 in use (4% is 5 sigma); the rounding offset of each site adds
#    sqrt(N/12)/N (0.2%, 0.29%). At rate 1, exact.
P2="$PROGS/thinsites"
d=$WORK/thin1
rm -rf "$d" && mkdir -p "$d"
CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$P2" 20000 64 >/dev/null
check_eq "accuracy:thin-sites-rate-1-exact" "20000 10000 1280000" \
    "$(site_sum alloc_objects thin "$d"/*.count) $(site_sum inuse_objects thin "$d"/*.count) $(site_sum alloc_space thin "$d"/*.count)"
d=$WORK/thin64
rm -rf "$d" && mkdir -p "$d"
CTRPROF_DIR="$d" CTRPROF_MEM_RATE=64 LD_PRELOAD="$SHIM" "$P2" 20000 64 >/dev/null
check_within "accuracy:thin-sites-rate-64-alloc-objects" 20000 "$(site_sum alloc_objects thin "$d"/*.count)" 0.04
check_within "accuracy:thin-sites-rate-64-alloc-space" 1280000 "$(site_sum alloc_space thin "$d"/*.count)" 0.04
check_within "accuracy:thin-sites-rate-64-inuse-objects" 10000 "$(site_sum inuse_objects thin "$d"/*.count)" 0.04
check_within "accuracy:thin-sites-rate-64-inuse-space" 640000 "$(site_sum inuse_space thin "$d"/*.count)" 0.04
