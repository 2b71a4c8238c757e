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
# Needs an up-to-date tree (make test and test-quick build it first); the fuzz tree and the
# sanitizer trees ($B-asan, $B-tsan) are checked only when built and up to date (else a
# SKIP line each).
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
srcs=$(ls base/*.c core/*.c cfile/*.c preload/*.c tools/*.c symbolize/*.c tests/unit/*.c tests/fuzz/*.c)
for s in $srcs; do
    echo "$s $(cc -MM -MG -D_GNU_SOURCE -Ibase -Icore -Icfile -Itools -Isymbolize -Itests/unit "$s" 2>/dev/null |
        tr -d '\\\n' | cut -d: -f2-)"
done >"$WORK/mm"
includes() { awk -v s="$1" -v h="$2" '$1 == s { for (i = 2; i <= NF; i++) if ($i == h) f = 1 } END { exit !f }' "$WORK/mm"; }
[ "$(wc -l <"$WORK/mm")" -gt 50 ] && grep -q ' base/log\.h' "$WORK/mm" && pass "deps:cc-MM-works" ||
    fail "deps:cc-MM-works" "$(head -3 "$WORK/mm")"

# check_tree LABEL TREE MAKEVAR...: for each header, `make -n -W HEADER MAKEVAR...
# ${targets[@]}` against the includers among what TREE holds (objects, unit tests; and
# build-fuzz's objects when $fuzz is 1)
check_tree() {
    local label=$1 tree=$2 h o src n extra missing out inputs why i outs built mrc
    shift 2
    built=$( (find "$tree/obj" -name '*.o'; [ $fuzz = 1 ] && find build-fuzz/obj -name '*.o'; ls "$tree"/tests/test_* | grep -v '\.d$') | sort)
    for h in base/log.h core/unwind.h core/prof.h cfile/cfile.h tools/views.h symbolize/symbolize.h; do
        make -n -W "$h" "$@" "${targets[@]}" 2>/dev/null >"$WORK/cmds"
        mrc=$?
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
            "$tree"/tests/*) src=tests/unit/$(basename "$o").c ;;
            "$tree"/obj/toolcore/*) src=${o#"$tree"/obj/toolcore/} && src=${src%.o}.c ;;
            "$tree"/obj/*) src=${o#"$tree"/obj/} && src=${src%.o}.c ;;
            build-fuzz/obj/*) src=${o#build-fuzz/obj/} && src=${src%.o}.c ;;
            esac
            includes "$src" "$h" && [[ "$outs" != *" $o "* ]] && missing+=" $o"
        done
        n=$(grep -c . "$WORK/io")
        # (a header no object of the tree includes rebuilds nothing: exact too, as the
        # includers check says; make -n must have worked)
        if [ "$mrc" = 0 ] && [ -z "$extra$missing" ]; then
            pass "deps:$label:$h-rebuilds-exactly-its-includers ($n commands)"
        else
            fail "deps:$label:$h-rebuilds-exactly-its-includers" "make -n status $mrc; rebuilt without including it:${extra:- none}; includers not rebuilt:${missing:- none}"
        fi
    done
}
check_tree "$B" "$B" B="$B"

# the sanitizer trees of make test (the unit tests; under ASan the ctrprof command too, for
# toolsan.sh), each with its own flags
fuzz=0
for san in asan tsan; do
    targets=(units)
    [ $san = asan ] && targets+=("$B-asan/ctrprof")
    flags=$(make -s --no-print-directory --eval='print-san: ; @echo $('"${san^^}"')' print-san 2>/dev/null)
    if [ -d "$B-$san/obj" ] && [ -n "$flags" ] && make -q B="$B-$san" SAN="$flags" OPT=-O1 "${targets[@]}" >/dev/null 2>&1; then
        check_tree "$B-$san" "$B-$san" B="$B-$san" SAN="$flags" OPT=-O1
    else
        skip "deps:$B-$san" "$B-$san is not built or not up to date (make test builds it)"
    fi
done
