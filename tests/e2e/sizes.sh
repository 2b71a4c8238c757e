#!/usr/bin/env bash
# A heap bucket is an allocation site, not a (site, size) pair (issue 23 item 3;
# docs/SCHEMA.md, Ctrprof-Format 3): a site of many sizes is one bucket at any rate; each
# sample is unbiased with its own size, so rate 1 stays exact and sampled estimates stay
# unbiased; the peak, lifetime and pprof views of a mixed-size site agree with the truth.
# Programs: bench/progs/sizes_mt (two threads, two sites, random sizes 1..8192) and
# tests/programs/mixedsizes.c (its own truth printed).
source "$(dirname "$0")/lib.sh"
M="$PROGS/mixedsizes"

# sitev FILE SITE ARGS...: the report's value (ARGS: --sample, --profile, ...) summed over
# the stacks whose innermost function is SITE
sitev() {
    local f=$1 s=$2
    shift 2
    "$CTRPROF" report "$@" --format folded "$f" 2>/dev/null |
        awk -v k="$s" '{ n = split($1, a, ";"); if (a[n] == k) t += $NF } END { printf "%.0f\n", t }'
}
# within_sd NAME TRUTH GOT SD K: |GOT - TRUTH| <= K standard deviations
within_sd() {
    if awk -v t="$2" -v g="$3" -v s="$4" -v k="$5" 'BEGIN { d = g - t; if (d < 0) d = -d; exit !(d <= k * s) }'; then
        pass "$1 ($3 for $2, sd $4)"
    else
        fail "$1" "got $3 for a truth of $2: more than $5 standard deviations ($4) off"
    fi
}

# 1. sizes_mt at the default rate: two sites of random sizes make two heap buckets (it
#    made ~18,800 from ~26,000 samples when a bucket was a (stack, size) pair), however
#    many samples; the report shows each site once.
f="$WORK/mt.count"
CTRPROF_FILE="$f" LD_PRELOAD="$SHIM" "$PROGS/sizes_mt" 1000000 >/dev/null
samples=$("$CTRPROF" dump "$f" | awk '$2 == "ctrprof/health:samples:heap" { print $1 }')
sites=$("$CTRPROF" report --sample alloc_objects --format folded "$f" 2>/dev/null | grep -c 'worker')
records=$("$CTRPROF" dump --raw --json "$f" | python3 -c '
import json, sys
print(sum(1 for k in json.load(sys.stdin)["counters"] if k.startswith("ctrprof/heap:")))')
# (the two sites; printf's buffer, or a thread's start-up allocation, may make a third
# or fourth with a small chance at this rate)
if [ "${samples:-0}" -gt 1000 ] && [ "$sites" = 2 ] && [ "$records" -ge 2 ] && [ "$records" -le 4 ]; then
    pass "sizes:mt-default-rate-one-bucket-a-site ($samples samples, $records heap records, $sites sites)"
else
    fail "sizes:mt-default-rate-one-bucket-a-site" "$samples samples: $records heap records, $sites sites in the report (want 2)"
fi

# 2. Rate 1: a site of 20,000 objects of sizes 16 .. 1 MiB (every 4th kept): its four
#    values exact.
d="$WORK/r1" && mkdir -p "$d"
truth=$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$M" stats 20000 1 | awk '{ print $2, $3, $4, $5 }')
got=$(for s in alloc_objects alloc_space inuse_objects inuse_space; do sitev "$d"/*.count site_mixed --sample $s; done | xargs)
check_eq "sizes:rate1-mixed-site-exact" "$truth" "$got"

# 3. Sampled: the same site of 100,000 objects, its estimates against the truth within 5
#    standard deviations of each estimate (the program computes them from its own sizes:
#    an object of s bytes stands for 1/p objects and s/p bytes, p = 1 - exp(-s/rate)). At
#    4096 all four are tight (objects: sd ~1.5%); at the default rate the bytes are (~0.6%)
#    and the objects are not (most objects are far smaller than the rate: sd ~17%).
for rate in 4096 524288; do
    d="$WORK/r$rate" && mkdir -p "$d"
    out=$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=$rate LD_PRELOAD="$SHIM" "$M" stats 100000 $rate)
    read -r _ t0 t1 t2 t3 _ s0 s1 s2 s3 <<<"$out"
    k=0
    for s in alloc_objects alloc_space inuse_objects inuse_space; do
        eval "t=\$t$k sd=\$s$k"
        within_sd "sizes:rate$rate-mixed-site-$s" "$t" "$(sitev "$d"/*.count site_mixed --sample $s)" "$sd" 5
        k=$((k + 1))
    done
done

# 4. The heap over time of mixed-size sites at rate 1: site_peak's 2,000 objects all live
#    at the process's peak (site_churn's, each freed at once, none); lifetimes: every
#    object of both sites freed within 10 s, none of site_peak's (kept 30 ms) within 10 ms.
d="$WORK/ph" && mkdir -p "$d"
read -r _ cn cb _ pn pb <<<"$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$M" phases 2000)"
f=$(ls "$d"/*.count | head -1)
check_eq "sizes:rate1-peak-mixed-site" "$pn $pb 0 0" \
    "$(sitev "$f" site_peak --profile=peak --sample=inuse_objects) $(sitev "$f" site_peak --profile=peak --sample=inuse_space) $(sitev "$f" site_churn --profile=peak --sample=inuse_objects) $(sitev "$f" site_churn --profile=peak --sample=inuse_space)"
check_eq "sizes:rate1-temp-mixed-sites" "$cn $cb $pn $pb" \
    "$(sitev "$f" site_churn --sample=temp_objects --temp-under=10s) $(sitev "$f" site_churn --sample=temp_space --temp-under=10s) $(sitev "$f" site_peak --sample=temp_objects --temp-under=10s) $(sitev "$f" site_peak --sample=temp_space --temp-under=10s)"
check_eq "sizes:rate1-temp-under-10ms-mixed-site" "0 0" \
    "$(sitev "$f" site_peak --sample=temp_objects --temp-under=10ms) $(sitev "$f" site_peak --sample=temp_space --temp-under=10ms)"
check_eq "sizes:rate1-lifetimes-mixed-site" "$pn" \
    "$("$CTRPROF" report --format lifetimes "$f" 2>/dev/null | awk '$NF == "site_peak" { for (i = 1; i <= 10; i++) s += $i } END { print s + 0 }')"

# The timeline's last point (published at exit) has the bytes allocated since start: at
# rate 1 every site's alloc_space, mixed ones included, exactly.
check_eq "sizes:rate1-timeline-alloc-mixed-sites" \
    "$("$CTRPROF" report --sample alloc_space --format raw "$f" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^alloc_space=/) { split($i, a, "="); s += a[2] } } END { printf "%.0f\n", s }')" \
    "$("$CTRPROF" dump "$f" | awk '$2 ~ /^ctrprof\/timeline:[0-9]+:[0-9]+:alloc$/ { split($2, a, ":"); if (a[3] + 0 >= last) { last = a[3] + 0; v = $1 } } END { print v + 0 }')"

# 5. pprof's "bytes" label of a mixed-size site is its average object size (Go's pprof
#    gives its buckets of mixed sizes the same); Go's own reader reads the profile.
"$CTRPROF" report --format pprof -o "$WORK/ph.pb.gz" "$f"
if command -v go >/dev/null 2>&1; then
    got=$(timeout 120 go tool pprof -raw "$WORK/ph.pb.gz" 2>/dev/null | awk '
        /^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+:/ { n = $1; b = $2; getline; if ($0 ~ /bytes:/) { gsub(/[^0-9]/, "", $0); print n, b, $0 } }' |
        awk -v n="$cn" '$1 == n { print $3 - int($2 / $1 + 0.5) }' | head -1)
    check_eq "sizes:pprof-bytes-label-is-the-average" "0" "${got:-no sample of $cn objects}"
else
    skip "sizes:pprof-bytes-label-is-the-average" "go is not installed"
fi
