#!/usr/bin/env bash
# The allocations made before the shim's constructor (issue 27): libraries initialised
# before libctrprof.so -- libstdc++ (its emergency exception pool) and a library of the
# program's own with a static initialiser that allocates, frees and reallocs -- are
# recorded once the engine is up (preload/early.c), so a C++ program at rate 1 records
# exactly what valgrind memcheck's "total heap usage" counts.
source "$(dirname "$0")/lib.sh"
for tool in g++ valgrind; do
    if ! command -v $tool >/dev/null; then
        skip "early" "$tool is not installed"
        exit 0
    fi
done
g++ -g -O0 -shared -fPIC -o "$WORK/libearly.so" "$TOP/tests/programs/early/early_lib.cc"
g++ -g -O0 -o "$WORK/early_main" "$TOP/tests/programs/early/early_main.cc" -L"$WORK" -learly -Wl,-rpath,"$WORK"
vg=$(valgrind "$WORK/early_main" 2>&1 | sed -n 's/.*total heap usage: \([0-9,]*\) allocs, [0-9,]* frees, \([0-9,]*\) bytes allocated.*/\1 \2/p' | tr -d ,)
if [ -z "$vg" ]; then
    fail "early:valgrind" "valgrind printed no total heap usage"
    exit 0
fi
mkdir -p "$WORK/p"
(cd "$WORK" && CTRPROF_DIR="$WORK/p" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" ./early_main)
check_eq "early:runs" 0 $?
P=$(ls "$WORK"/p/ctrprof.early_main.*.count)
sum() { "$CTRPROF" report --sample "$1" --format folded "$P" 2>/dev/null | awk '{ s += $NF } END { printf "%.0f\n", s }'; }
check_eq "early:rate-1-equals-valgrind-allocs" "${vg% *}" "$(sum alloc_objects)"
check_eq "early:rate-1-equals-valgrind-bytes" "${vg#* }" "$(sum alloc_space)"
# the library's initialiser: its frame, under a truncated stack (the rest is gone); the
# block freed and the one realloc'd away before the constructor are not in use
alloc=$("$CTRPROF" report --sample alloc_space --format folded "$P" 2>/dev/null)
inuse=$("$CTRPROF" report --sample inuse_space --format folded "$P" 2>/dev/null)
check_eq "early:initialiser-frames" "(truncated stack);Init::Init 1111|(truncated stack);Init::Init 2222|(truncated stack);Init::Init 3333" \
    "$(grep 'Init::Init [0-9]*$' <<<"$alloc" | sort | paste -sd'|')"
check_eq "early:freed-before-start-not-in-use" "(truncated stack);Init::Init 3333" \
    "$(grep 'Init::Init [0-9]*$' <<<"$inuse" | paste -sd'|')"

# More early allocations than early.c keeps (64) are said once per process tree (core/
# log.h's "early"), not once per image: a library initialiser making 100, in a program
# that execs itself once (the second image makes 100 early allocations of its own).
cat >"$WORK/early_many.c" <<'CEOF'
#include <stdlib.h>
__attribute__((constructor)) static void many(void)
{
    for (int i = 0; i < 100; i++)
        free(malloc(24));
}
CEOF
cat >"$WORK/early_exec.c" <<'CEOF'
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    if (argc > 1)
        return 0;
    pid_t p = fork();
    if (p == 0) {
        execl("/proc/self/exe", argv[0], "again", (char *)0);
        _exit(127);
    }
    int st;
    return p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
CEOF
gcc -shared -fPIC -o "$WORK/libearlymany.so" "$WORK/early_many.c" &&
    gcc -o "$WORK/early_exec" "$WORK/early_exec.c" -Wl,--no-as-needed -L"$WORK" -learlymany -Wl,-rpath,"$WORK"
mkdir -p "$WORK/pm"
out=$(cd "$WORK" && CTRPROF_DIR="$WORK/pm" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" ./early_exec 2>&1)
check_eq "early:many-runs" 0 $?
check_eq "early:many-profiled (two images, two files)" 2 "$(ls "$WORK"/pm/ctrprof.early_exec.*.count 2>/dev/null | wc -l)"
check_eq "early:many-said-once-per-tree" 1 "$(grep -c 'allocations made before the profiler started' <<<"$out")"
# the same at the default rate (early.c keeps and replays whatever the rate)
mkdir -p "$WORK/pmd"
out=$(cd "$WORK" && CTRPROF_DIR="$WORK/pmd" LD_PRELOAD="$SHIM" ./early_exec 2>&1)
check_eq "early:many-said-once-per-tree-rate-524288" "0 1" "$? $(grep -c 'allocations made before the profiler started' <<<"$out")"
