#!/usr/bin/env bash
# C++ names that fit on a screen (issue 27): a real C++ program (tests/programs/
# cxx_names.cc, compiled here with g++) allocating through std::vector<std::string>::
# emplace_back, an overloaded pair, two instantiations of one template, an operator and a
# lambda, profiled at rate 1. By default every view shows short names (no return type,
# template arguments or parameters) except where two functions would print alike;
# --demangle=full and templates; the whole name in the flame page's tooltip data and in
# pprof's Function.system_name.
source "$(dirname "$0")/lib.sh"
export LC_ALL=C
if ! command -v g++ >/dev/null; then
    skip "names" "g++ is not installed"
    exit 0
fi
g++ -g -O0 -o "$WORK/cxx_names" "$TOP/tests/programs/cxx_names.cc"
mkdir -p "$WORK/p"
(cd "$WORK" && CTRPROF_DIR="$WORK/p" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" ./cxx_names)
P=$(ls "$WORK"/p/ctrprof.cxx_names.*.count)
rep() { "$CTRPROF" report --sample alloc_space "$@" "$P" 2>/dev/null; }
# the leaf frame of the stack allocating SIZE bytes, in a folded report
leaf() { awk -v n="$1" '$NF == n { sub(/ [0-9]+$/, ""); k = split($0, f, ";"); print f[k] }'; }

folded=$(rep --format folded)
check_eq "names:folded:emplace_back" "1" \
    "$(grep -c ';main;std::vector::emplace_back;std::allocator_traits::construct;.*;operator new 6300$' <<<"$folded")"
check_eq "names:folded:overloads-keep-parameters" "app::fill(int)|app::fill(double)" \
    "$(leaf 1001 <<<"$folded")|$(leaf 2002 <<<"$folded")"
check_eq "names:folded:instantiations-keep-template-arguments" "app::blk<1>|app::blk<2>" \
    "$(leaf 3001 <<<"$folded")|$(leaf 3002 <<<"$folded")"
check_eq "names:folded:operator-and-lambda" "app::Sink::operator<<|main::{lambda(int)#1}::operator()" \
    "$(leaf 4004 <<<"$folded")|$(leaf 5005 <<<"$folded")"
check_eq "names:folded:longest-frame-under-60" "1" \
    "$(tr ';' '\n' <<<"$folded" | sed 's/ [0-9]*$//' | awk '{ if (length($0) > m) m = length($0) } END { print (m > 0 && m < 60) }')"

top=$(rep)
grep -Eq '^ +0B +0\.00% +[0-9.]+% +6\.15kB +[0-9.]+%  std::vector::emplace_back$' <<<"$top" &&
    pass "names:top:emplace_back" || fail "names:top:emplace_back" "$(grep emplace <<<"$top" | head -c 300)"
grep -Eq '^ +1001B .*  app::fill\(int\)$' <<<"$top" && grep -Eq '^ +1\.96kB .*  app::fill\(double\)$' <<<"$top" &&
    pass "names:top:overloads" || fail "names:top:overloads" "$(grep fill <<<"$top")"
check_eq "names:top:longest-line-under-100" "1" "$(awk '{ if (length($0) > m) m = length($0) } END { print (m < 100) }' <<<"$top")"
tree=$(rep --format tree)
grep -B1 '| std::vector::emplace_back$' <<<"$tree" | grep -q '6.15kB   main$' &&
    grep -A1 '| std::vector::emplace_back$' <<<"$tree" | grep -q '6.15kB   std::allocator_traits::construct$' &&
    pass "names:tree:emplace_back" || fail "names:tree:emplace_back" "$(grep -B2 -A2 '| std::vector::emplace_back' <<<"$tree" | head -c 600)"

# --demangle=full: the whole names, the same stacks and values
full=$(rep --format folded --demangle=full)
E='std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >& std::vector<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >, std::allocator<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > > >::emplace_back<char const (&) [63]>(char const (&) [63])'
check_eq "names:full:emplace_back" "1" "$(grep -cF ";main;$E;" <<<"$full")"
check_eq "names:full:same-values" "$(awk '{ print $NF }' <<<"$folded" | sort -n | paste -sd' ')" \
    "$(awk '{ print $NF }' <<<"$full" | sort -n | paste -sd' ')"
check_eq "names:full:blk" "void* app::blk<1>()" "$(leaf 3001 <<<"$full")"
tmpl=$(rep --format folded --demangle=templates)
check_eq "names:templates:emplace_back" "1" \
    "$(grep -cF ';main;std::vector<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >, std::allocator<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > > >::emplace_back<char const (&) [63]>;' <<<"$tmpl")"
"$CTRPROF" report --demangle=bogus "$P" >/dev/null 2>&1
check_eq "names:bad-mode" 2 $?

# every whole name of the full report, exactly: pprof's system_name and the flame tooltip
fullnames=$(tr ';' '\n' <<<"$full" | sed 's/ [0-9]*$//' | sort -u)
"$CTRPROF" report --format pprof -o "$WORK/p.pb.gz" "$P"
funcs=$(python3 "$TOP/tests/e2e/pbfuncs.py" "$WORK/p.pb.gz")
check_eq "names:pprof:system_name-is-whole" "$fullnames" "$(cut -f2 <<<"$funcs" | sort -u)"
check_eq "names:pprof:name-is-short" "$(tr ';' '\n' <<<"$folded" | sed 's/ [0-9]*$//' | sort -u)" "$(cut -f1 <<<"$funcs" | sort -u)"
check_eq "names:pprof:emplace_back" "std::vector::emplace_back	$E" "$(grep -F "::emplace_back<char const (&) [63]>(" <<<"$funcs")"
if command -v go >/dev/null; then
    raw=$(HOME="$WORK" go tool pprof -raw "$WORK/p.pb.gz" 2>&1)
    grep -qF "($E)" <<<"$raw" && pass "names:pprof:go-reads-system_name" || fail "names:pprof:go-reads-system_name" "$(grep emplace <<<"$raw" | head -c 300)"
else
    skip "names:pprof:go-reads-system_name" "go is not installed (scripts/deps.sh)"
fi
"$CTRPROF" report --format flame -o "$WORK/f.html" "$P"
nodes=$(python3 "$TOP/tests/e2e/flamenodes.py" "$WORK/f.html")
check_eq "names:flame:tooltip-is-whole" "$(printf 'all\n%s\n' "$fullnames" | sort -u)" "$(cut -f2 <<<"$nodes" | sort -u)"
check_eq "names:flame:emplace_back" "std::vector::emplace_back	$E" "$(grep -F "::emplace_back<char const (&) [63]>(" <<<"$nodes" | cut -f1,2)"
grep -q "tip.textContent=(n\[3\]||n\[0\])" "$WORK/f.html" && pass "names:flame:tooltip-uses-whole" ||
    fail "names:flame:tooltip-uses-whole" "the page's tooltip does not read the whole name"
