#!/usr/bin/env bash
# Header dependencies (issue 20): every compiled object (the shim's, the tool's, the unit
# tests', the fuzz targets'; the sanitizer trees use the same rules with another B) takes
# them from the compiler (-MMD -MP), so a changed header rebuilds exactly what includes it,
# and then exactly what links what was rebuilt. Read from `make -n -W HEADER` (nothing is
# compiled or touched) against an independent answer: `cc -MM` of each source.
#
# For each header, each command make would run must be explained (one of its .c inputs
# includes the header, or one of its .o/.a inputs is another command's output), and each
# object or unit test already built whose source includes the header must be rebuilt.
# Needs an up-to-date tree (make test and test-quick build it first); the fuzz tree is
# checked only when its targets are built and up to date (else a SKIP line).
source "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1

FUZZ_BIN=$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/\(.*\)\.c|build-fuzz/\1|')
targets=(all units)
if [ ! -d "$B/obj" ] || ! make -q B="$B" all units >/dev/null 2>&1; then
    skip "deps" "$B is not built or not up to date (make B=$B all units)"
    exit 0
fi
fuzz=0
# shellcheck disable=SC2086
if [ -d build-fuzz/obj ] && [ "$B" = build ] && make -q B="$B" $FUZZ_BIN >/dev/null 2>&1; then
    fuzz=1
    targets+=($FUZZ_BIN)
else
    skip "deps:fuzz" "build-fuzz is not built or not up to date with B=build (make build-fuzz/fuzz_...)"
fi

# the headers each source includes, by the compiler (-MG: a missing system header is no
# error), one "SOURCE HEADER..." line each
srcs=$(ls core/*.c cfile/*.c preload/*.c tools/*.c symbolize/*.c tests/unit/*.c tests/fuzz/*.c)
for s in $srcs; do
    echo "$s $(cc -MM -MG -D_GNU_SOURCE -Icore -Icfile -Itools -Isymbolize -Itests/unit "$s" 2>/dev/null |
        tr -d '\\\n' | cut -d: -f2-)"
done >"$WORK/mm"
includes() { awk -v s="$1" -v h="$2" '$1 == s { for (i = 2; i <= NF; i++) if ($i == h) f = 1 } END { exit !f }' "$WORK/mm"; }
[ "$(wc -l <"$WORK/mm")" -gt 50 ] && grep -q ' core/log\.h' "$WORK/mm" && pass "deps:cc-MM-works" ||
    fail "deps:cc-MM-works" "$(head -3 "$WORK/mm")"

# what was built: objects (to their sources) and unit tests
built=$( (find "$B/obj" -name '*.o'; [ $fuzz = 1 ] && find build-fuzz/obj -name '*.o'; ls "$B"/tests/test_* | grep -v '\.d$') | sort)

for h in core/log.h core/unwind.h core/prof.h cfile/cfile.h tools/views.h symbolize/symbolize.h; do
    # shellcheck disable=SC2068
    make -n -W "$h" B="$B" ${targets[@]} 2>/dev/null >"$WORK/cmds"
    # each command's output (-o X, or ar's archive) and its inputs
    awk '{ out = ""; in_ = ""
           for (i = 1; i <= NF; i++) {
               if ($i == "-o") out = $(i + 1)
               else if ($i == "rcs") out = $(i + 1)
               else if ($i ~ /\.(c|o|a)$/ && $(i - 1) != "-o" && $(i - 1) != "rcs") in_ = in_ " " $i
           }
           if (out != "") print out in_ }' "$WORK/cmds" >"$WORK/io"
    outs=" $(cut -d' ' -f1 "$WORK/io" | tr '\n' ' ')"
    extra=""
    while read -r out inputs; do
        why=""
        for i in $inputs; do
            case $i in
            *.c) includes "$i" "$h" && why=yes ;;
            *) [[ "$outs" == *" $i "* ]] && why=yes ;;
            esac
        done
        [ -n "$why" ] || extra+=" $out"
    done <"$WORK/io"
    missing=""
    for o in $built; do
        case $o in
        "$B"/tests/*) src=tests/unit/$(basename "$o").c ;;
        "$B"/obj/toolcore/*) src=${o#"$B"/obj/toolcore/} && src=${src%.o}.c ;;
        "$B"/obj/*) src=${o#"$B"/obj/} && src=${src%.o}.c ;;
        build-fuzz/obj/*) src=${o#build-fuzz/obj/} && src=${src%.o}.c ;;
        esac
        includes "$src" "$h" && [[ "$outs" != *" $o "* ]] && missing+=" $o"
    done
    n=$(grep -c . "$WORK/io")
    if [ "$n" -gt 0 ] && [ -z "$extra$missing" ]; then
        pass "deps:$h-rebuilds-exactly-its-includers ($n commands)"
    else
        fail "deps:$h-rebuilds-exactly-its-includers" "rebuilt without including it:${extra:- none}; includers not rebuilt:${missing:- none}"
    fi
done
