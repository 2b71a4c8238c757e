#!/usr/bin/env bash
# When a profile is empty or missing, `ctrprof run` and `ctrprof report` say why (issue
# 24): a statically linked program, a setuid one, one with an allocator of its own, a
# wrapper that clears the environment, a missing or unusable output directory, and a
# program that simply allocated too little. The program always runs, with its own exit
# status.
source "$(dirname "$0")/lib.sh"

# run_why NAME ARGS...: `ctrprof run --dir $WORK/NAME -- ARGS`; stderr's ctrprof lines in
# $msg, the program's status in $rc
run_why() {
    local name=$1
    shift
    rm -rf "$WORK/$name"
    "$CTRPROF" run --dir "$WORK/$name" -- "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
    msg=$(grep '^ctrprof: ' "$WORK/$name.err")
}
has() { grep -q -- "$2" <<<"$msg" && pass "$1" || fail "$1" "no [$2] in: $msg"; }

# A statically linked program: said before it runs, and again at the end.
printf 'int main(void) { return 3; }\n' >"$WORK/st.c"
if cc -static -o "$WORK/static3" "$WORK/st.c" 2>/dev/null; then
    run_why static "$WORK/static3"
    check_eq "why:static:runs" 3 "$rc"
    has "why:static:said" "static3 is statically linked (it has no dynamic loader): LD_PRELOAD cannot reach it"
    check_eq "why:static:said-before-and-after" 2 "$(grep -c 'statically linked' <<<"$msg")"
else
    skip "why:static" "cc -static failed (no static libc installed)"
fi

# A setuid program (a copy of a test program owned by nobody): the loader runs it in
# secure mode and drops LD_PRELOAD.
if [ "$(id -u)" = 0 ]; then
    cp "$PROGS/limits" "$WORK/suidprog" && chown nobody "$WORK/suidprog" && chmod 4755 "$WORK/suidprog"
    run_why suid "$WORK/suidprog" as
    check_eq "why:setuid:runs" 0 "$rc"
    has "why:setuid:said" "suidprog is setuid (it runs as nobody): the dynamic loader ignores LD_PRELOAD"
    has "why:setuid:no-profile" "no profile: suidprog is setuid"
else
    skip "why:setuid" "needs root to make a setuid copy owned by another user"
fi

# An allocator of its own: 64 MiB from mmap, while its mutex is profiled. At a rate of
# 1 GiB: the ~4.3 KB it allocates through malloc (stdio's buffer) drew a heap sample at
# the default rate in ~0.8% of runs, and then there is nothing to explain (a CI run of
# session 33 failed so); at 1 GiB, ~4e-6 of runs.
CTRPROF_MEM_RATE=1073741824 run_why own "$PROGS/ownalloc"
check_eq "why:own-allocator:runs" "0 67107840" "$rc $(cat "$WORK/own.out")"
has "why:own-allocator:said" "it appears to allocate outside malloc (its own allocator"
has "why:own-allocator:figure" "ownalloc allocated only [1-9][0-9]* bytes through malloc"
f=$(ls "$WORK"/own/ctrprof.ownalloc.*.count*)
"$CTRPROF" report "$f" >/dev/null 2>"$WORK/own.report"
grep -q 'the heap profile is empty: ownalloc allocated only .* through malloc .* appears to allocate outside malloc' \
    "$WORK/own.report" && pass "why:own-allocator:report-says" || fail "why:own-allocator:report-says" "$(cat "$WORK/own.report")"

# The same with --no-pack: the notes read from the counter file itself (packed, they come
# from the parse that checked the file before packing it: tools/run.c's pack_new)
rm -rf "$WORK/ownnp"
CTRPROF_MEM_RATE=1073741824 "$CTRPROF" run --no-pack --dir "$WORK/ownnp" -- "$PROGS/ownalloc" \
    >/dev/null 2>"$WORK/ownnp.err"
if grep -q "allocated only [1-9][0-9]* bytes through malloc .* it appears to allocate outside malloc (its own allocator" "$WORK/ownnp.err" &&
    ls "$WORK"/ownnp/ctrprof.ownalloc.*.count >/dev/null 2>&1; then
    pass "why:own-allocator:unpacked-said"
else
    fail "why:own-allocator:unpacked-said" "$(ls "$WORK/ownnp"): $(cat "$WORK/ownnp.err")"
fi

# A wrapper that clears the environment: env -i runs its program without the shim.
run_why envi env -i "$PROGS/ownalloc"
check_eq "why:env-i:runs" 0 "$rc"
has "why:env-i:said" "exec'd a program with LD_PRELOAD cleared from its environment"

# Genuinely too little allocation at the default rate, with the figure.
# (true: seq 3 allocates ~30 KiB, which draws a sample in ~6% of runs)
run_why little true
check_eq "why:too-little:runs" "0" "$rc"
has "why:too-little:said" "true allocated .* through malloc, less than one sample at a rate of 512 KiB"
got=$(CTRPROF_MEM_RATE=1 "$CTRPROF" run --dir "$WORK/little1" -- seq 3 2>&1 >/dev/null)
check_absent "why:too-little:not-at-rate-1" $? "$got" '^ctrprof: profile in ' 'heap profile is empty'

# The output directory: a missing one is made (with its parents), an unusable one is an
# error before the program runs.
"$CTRPROF" run --dir "$WORK/made/a/b" -- true 2>/dev/null
check_eq "why:dir-created" "0 1" "$? $(ls "$WORK"/made/a/b/ctrprof.true.*.count* | wc -l)"
: >"$WORK/afile"
"$CTRPROF" run --dir "$WORK/afile" -- touch "$WORK/ran" 2>"$WORK/notdir.err"
check_eq "why:dir-not-a-directory" "2 no 1" "$? $([ -e "$WORK/ran" ] && echo ran || echo no) $(grep -c 'not a directory' "$WORK/notdir.err")"
"$CTRPROF" run --dir "$WORK/afile/sub" -- true 2>"$WORK/notdir2.err"
check_eq "why:dir-cannot-create" "2 1" "$? $(grep -c 'cannot create' "$WORK/notdir2.err")"
# --file in a directory that does not exist: made too, and the file is where run says
"$CTRPROF" run --rate 1 --file "$WORK/fmade/a/p.count" -- "$PROGS/demo" >/dev/null 2>"$WORK/fmade.err"
check_eq "why:file-dir-created" "0 yes 1 0" \
    "$? $([ -f "$WORK/fmade/a/p.count" ] && echo yes || echo no) $(grep -c "^ctrprof: profile in $WORK/fmade/a/p.count$" "$WORK/fmade.err") $(grep -c 'not profiling' "$WORK/fmade.err")"
"$CTRPROF" run --file "$WORK/afile/p.count" -- touch "$WORK/ran2" 2>"$WORK/fnotdir.err"
check_eq "why:file-dir-not-a-directory" "2 no 1" "$? $([ -e "$WORK/ran2" ] && echo ran || echo no) $(grep -c 'not a directory' "$WORK/fnotdir.err")"

# A parent that forks: how many children it started, and how many profiles came back
# (here 3 that allocate and report, and one that clears its environment).
run_why forks bash -c "for i in 1 2 3; do '$PROGS/limits' as >/dev/null; done; (env -i /bin/true)"
check_eq "why:forks:runs" 0 "$rc"
# Besides the 3 limits profiles, env (under the shim until it execs /bin/true without it)
# and bash's own subshell (a fork child: its own file, by pid) each leave one when one of
# their allocations was drawn at the default rate (now and then: CI saw 4 where 3 limits
# and no env profile were there), so the truth is every profile in the directory but the
# parent's own
others=$(($(ls "$WORK/forks" | grep -c '^ctrprof\..*\.count\(\.zst\)\?$') - 1))
check_eq "why:forks:limits-profiles" 3 "$(ls "$WORK/forks" | grep -c '^ctrprof\.limits\.')"
has "why:forks:counted" "bash forked 4 child processes; $others profiles of other processes in"
