#!/usr/bin/env bash
# The heap over time (issue 21), against tests/programs/heapphases, which knows its own
# truth: the peak per site, temporary objects per site, lifetimes, the timeline (a point
# in each phase), at rate 1 exactly and at the default rate within bounds; a SIGKILLed
# process keeps its last published peak; a file from before these counters still reports
# and says in one line that it has no peak, timeline or lifetimes.
source "$(dirname "$0")/lib.sh"
P="$PROGS/heapphases"
FLUSH=50   # CTRPROF_FLUSH_MS (base/options.c); each phase lasts PHASE ms = 20 intervals
PHASE=1000

# sitev FILE SITE ARGS...: report ARGS --format folded, summed over stacks ending in SITE
sitev() {
    local f=$1 s=$2
    shift 2
    "$CTRPROF" report "$@" --format folded "$f" 2>/dev/null |
        awk -v k="$s" '{ n = split($1, a, ";"); if (a[n] == k) t += $NF } END { print t + 0 }'
}
# counter FILE NAME-REGEX: the value of the (first) counter whose name matches
counter() {
    "$CTRPROF" dump "$1" | awk -v n="$2" '$2 ~ n { print $1; exit }'
}

# ---- 1. rate 1, single-threaded: everything exact --------------------------------------
d=$WORK/r1
mkdir -p "$d"
out=$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=$FLUSH LD_PRELOAD="$SHIM" "$P" 1 $PHASE)
f=$(ls "$d"/*.count 2>/dev/null | head -1)
check_eq "heaptime:rate1-profile" yes "$([ -n "$f" ] && echo yes || echo no)"
f=${f:-/nonexistent}
phase() { echo "$out" | awk -v p="$1" '$2 == p { print $3 }'; }

# the peak per site: every peak_a and peak_b object, the one ticker object of the first
# tick after the growth (heapphases.c), nothing of the later phases
check_eq "heaptime:rate1-peak-objects" "4000 1000 1 0 0 0" \
    "$(for s in peak_a peak_b ticker temp_fast temp_slow keep_live; do sitev "$f" $s --profile=peak --sample=inuse_objects; done | xargs)"
check_eq "heaptime:rate1-peak-space" "4000000 16000000" \
    "$(sitev "$f" peak_a --profile=peak) $(sitev "$f" peak_b --profile=peak --sample=inuse_space)"
# the header: the peak's size (the program allocates nothing else) and its time, inside
# the grow phase (the engine's clock starts a little before main's)
hdr=$("$CTRPROF" report --profile=peak "$f" | head -1)
check_eq "heaptime:rate1-peak-bytes-counter" 20000016 "$(counter "$f" '^ctrprof/heap-peak:[0-9]+:bytes$')"
ms=$(counter "$f" '^ctrprof/heap-peak:[0-9]+:ms$')
if [ -n "$ms" ] && [ "$ms" -ge "$(phase grow)" ] && [ "$ms" -le "$(($(phase free) + 5))" ]; then
    pass "heaptime:rate1-peak-time-in-grow-phase"
else
    fail "heaptime:rate1-peak-time-in-grow-phase" "peak at ${ms:-?} ms, grow phase $(phase grow)..$(phase free) ms"
fi
case "$hdr" in
"Peak: 19.07MB in use at "*" s after start (pid "*) pass "heaptime:rate1-peak-header" ;;
*) fail "heaptime:rate1-peak-header" "[$hdr]" ;;
esac
# every format of the peak profile
check_cmd "heaptime:rate1-peak-tree" sh -c "'$CTRPROF' report --profile=peak --format=tree '$f' | grep -q '^Peak: 19.07MB'"
check_cmd "heaptime:rate1-peak-raw" sh -c "'$CTRPROF' report --profile=peak --format=raw '$f' | grep -q 'size 16000: .* inuse_objects=1000 inuse_space=16000000'"
check_cmd "heaptime:rate1-peak-flame" sh -c "'$CTRPROF' report --profile=peak --format=flame '$f' | grep -q 'title:\"Peak: 19.07MB'"
if command -v go >/dev/null 2>&1; then
    "$CTRPROF" report --profile=peak --format=pprof -o "$WORK/peak.pb.gz" "$f"
    check_cmd "heaptime:rate1-peak-pprof" sh -c "go tool pprof -raw '$WORK/peak.pb.gz' 2>/dev/null | grep -q 'Peak: 19.07MB'"
else
    echo "SKIP heaptime:rate1-peak-pprof: no go tool pprof"
fi

# temporary objects (freed within --temp-under of their allocation), exact per site at
# boundaries that hold under any load: nanosleep bounds lifetimes from below (temp_slow
# >= 20 ms, the peak sites >= PHASE = 1 s), and temp_fast's microseconds and temp_slow's
# 20 ms stay under 1 s. (A single-threaded process publishes each event on its own
# thread, so a lifetime includes that work: under a heavy load a temp_fast object passed
# 10 ms, a 20 ms temp_slow 100 ms.)
check_eq "heaptime:rate1-temp-10ms" "0 0 0" \
    "$(for s in temp_slow peak_a keep_live; do sitev "$f" $s --sample=temp_objects --temp-under=10ms; done | xargs)"
check_eq "heaptime:rate1-temp-1s" "5000 20 0 0 0" \
    "$(for s in temp_fast temp_slow peak_a peak_b keep_live; do sitev "$f" $s --sample=temp_objects --temp-under=1s; done | xargs)"
check_eq "heaptime:rate1-temp-space" "320000 2560" \
    "$(sitev "$f" temp_fast --sample=temp_space --temp-under=1s) $(sitev "$f" temp_slow --sample=temp_space --temp-under=1s)"
err=$("$CTRPROF" report --temp-under=2ms "$f" 2>&1 >/dev/null)
check_eq "heaptime:temp-under-not-a-decade" "2 1" "$? $(echo "$err" | grep -c 'wants a decade boundary')"

# lifetimes: per site, objects per class, still live, the median class
lt=$("$CTRPROF" report --format=lifetimes "$f")
check_eq "heaptime:lifetimes-status" "0" "$?"
lrow() { echo "$lt" | awk -v s="$1" '$NF == s { $NF = ""; print }' | xargs; }
check_eq "heaptime:lifetimes-header" "# lt1us 1us 10us 100us 1ms 10ms 100ms 1s 10s live median site" \
    "$(echo "$lt" | sed -n 2p)"
check_eq "heaptime:lifetimes-keep-live" "0 0 0 0 0 0 0 0 0 300 live" "$(lrow keep_live)"
# temp_slow: 10 ms to 1 s (20 ms unloaded); peak_b: 1 s and over (a phase is 1 s)
check_eq "heaptime:lifetimes-temp-slow" "20 0" \
    "$(lrow temp_slow | awk '{ print $6 + $7, $1 + $2 + $3 + $4 + $5 + $8 + $9 + $10 }')"
check_eq "heaptime:lifetimes-peak-b" "1000 0" \
    "$(lrow peak_b | awk '{ print $8 + $9, $1 + $2 + $3 + $4 + $5 + $6 + $7 + $10 }')"
# --temp-under=1us counts exactly the lifetimes' first class (under 1 us), and the default
# (1ms) the first four
check_eq "heaptime:temp-under-1us-is-first-class" "$(lrow temp_fast | cut -d' ' -f1)" \
    "$(sitev "$f" temp_fast --sample=temp_objects --temp-under=1us)"
check_eq "heaptime:temp-under-default-1ms" "$(lrow temp_fast | awk '{ print $1 + $2 + $3 + $4 }')" \
    "$(sitev "$f" temp_fast --sample=temp_objects)"

# the timeline: a point inside each phase, with that phase's heap
tl=$("$CTRPROF" report --format=timeline "$f")
check_eq "heaptime:timeline-status" "0" "$?"
check_eq "heaptime:timeline-header" "# seconds heap_inuse_bytes rss_bytes alloc_bytes_per_second pid" \
    "$(echo "$tl" | head -1)"
# inphase FROM TO HEAP: points strictly inside (FROM + 1 interval, TO) ms with that heap
# (or 16 bytes more: a ticker object, heapphases.c)
inphase() {
    echo "$tl" | awk -v a="$1" -v b="$2" -v h="$3" -v fl=$FLUSH \
        'NR > 1 && $1 * 1000 > a + fl && $1 * 1000 < b && ($2 == h || $2 == h + 16) { n++ } END { print n + 0 }'
}
grow=$(inphase "$(phase grow)" "$(phase free)" 20000000)
free0=$(inphase "$(phase free)" "$(phase churn)" 0)
hold=$(inphase "$(phase hold)" "$(phase end)" 600000)
check_eq "heaptime:timeline-point-each-phase" "yes yes yes" \
    "$([ "$grow" -ge 1 ] && echo yes || echo "no($grow)") $([ "$free0" -ge 1 ] && echo yes || echo "no($free0)") $([ "$hold" -ge 1 ] && echo yes || echo "no($hold)")"
# (RSS at the points that show the whole peak: its 20 MB are written, so resident)
rss=$(echo "$tl" | awk 'NR > 1 && $2 >= 20000000 && $3 > m { m = $3 } END { print m + 0 }')
check_eq "heaptime:timeline-rss-holds-the-peak" yes "$([ "${rss:-0}" -ge 20000000 ] && echo yes || echo "no(${rss:-none})")"

# the flame page's timeline chart, drawn by a real browser (as flame.sh): heap and RSS
# lines, the peak marked and stated, hovering (driven by #tlat=SECONDS) shows a point
CHROMIUM=$(command -v chromium || command -v chromium-browser)
if [ -z "$CHROMIUM" ]; then
    echo "SKIP heaptime:flame-timeline: chromium is not installed (scripts/deps.sh installs it)"
else
    "$CTRPROF" report --profile=peak --format=flame -o "$WORK/peak.html" "$f" 2>/dev/null
    render() {
        HOME="$WORK" timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
            --user-data-dir="$WORK/chrome" --virtual-time-budget=3000 --window-size=1200,500 \
            --dump-dom "file://$WORK/peak.html#$1" 2>/dev/null
    }
    mid() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (a + b) / 2000 }'; }
    dom=$(render "tlat=$(mid "$(phase grow)" "$(phase free)")")
    npts=$(grep -o '<polyline class="heap"[^>]*points="[^"]*"' <<<"$dom" | sed 's/.*points="//' | wc -w)
    check_eq "heaptime:flame-timeline-heap-line" yes "$([ "$npts" -ge 10 ] && echo yes || echo "no($npts points)")"
    check_eq "heaptime:flame-timeline-rss-line" 1 "$(grep -c '<polyline class="rss"[^>]*points="[0-9]' <<<"$dom")"
    check_eq "heaptime:flame-timeline-peak-marked" "1 1" \
        "$(grep -c '<line class="peak" x1="[0-9]' <<<"$dom") $(grep -c 'peak <span[^>]*>[^<]*</span> 19.07MB at' <<<"$dom")"
    check_eq "heaptime:flame-timeline-hover-grow" "heap 19.07MB" \
        "$(grep -o 'id="tip"[^>]*>[^<]*' <<<"$dom" | grep -o 'heap [0-9.]*[kMG]*B')"
    dom=$(render "tlat=$(mid "$(phase free)" "$(phase churn)")")
    hv=$(grep -o 'id="tip"[^>]*>[^<]*' <<<"$dom" | grep -o 'heap [0-9.]*[kMG]*B')
    check_eq "heaptime:flame-timeline-hover-free" yes "$([ "$hv" = "heap 0B" ] || [ "$hv" = "heap 16B" ] && echo yes || echo "no($hv)")"
    mkdir -p "$TOP/$B/artifacts"
    HOME="$WORK" timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$WORK/chrome" --virtual-time-budget=3000 --window-size=1200,400 \
        --screenshot="$TOP/$B/artifacts/heaptime-flame.png" "file://$WORK/peak.html" >/dev/null 2>&1
fi

# ---- 2. the default rate: a 200 MiB site within 12% ------------------------------------
# 200 objects of 1 MiB, each sampled with p = 1 - exp(-2): the estimate's relative standard
# deviation is sqrt((1-p)/(200 p)) = 2.8%, so 12% is 4.3 sigma
d=$WORK/dflt
mkdir -p "$d"
CTRPROF_DIR="$d" LD_PRELOAD="$SHIM" "$P" 1 50 0 200 >/dev/null
f=$(ls "$d"/*.count 2>/dev/null | head -1)
f=${f:-/nonexistent}
check_within "heaptime:default-rate-peak-200MiB-site" 209715200 "$(sitev "$f" big_site --profile=peak)" 0.12
check_within "heaptime:default-rate-peak-total" 229715216 "$(counter "$f" '^ctrprof/heap-peak:[0-9]+:bytes$')" 0.12
check_eq "heaptime:default-rate-peak-after-free" 0 "$(sitev "$f" big_site)"

# ---- 3. SIGKILL in the hold phase keeps the last published peak ------------------------
d=$WORK/kill
mkdir -p "$d"
# (an inner shell waits for it, so the "Killed" notice goes to its standard error, here
# dropped, and not the driver's)
bash -c '"$@" >/dev/null; exit $?' _ env CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 \
    CTRPROF_FLUSH_MS=$FLUSH LD_PRELOAD="$SHIM" "$P" 1 200 1 2>/dev/null
check_eq "heaptime:sigkill-was-killed" 137 "$?"
f=$(ls "$d"/*.count 2>/dev/null | head -1)
f=${f:-/nonexistent}
check_eq "heaptime:sigkill-keeps-peak" "4000 1000" \
    "$(sitev "$f" peak_a --profile=peak --sample=inuse_objects) $(sitev "$f" peak_b --profile=peak --sample=inuse_objects)"
check_eq "heaptime:sigkill-keeps-peak-bytes" 20000016 "$(counter "$f" '^ctrprof/heap-peak:[0-9]+:bytes$')"

# ---- 3b. SIGKILL: a site's lifetime classes are in the file at every event, as its free
#      count is (Ctrprof-Format 4 implies a site's first class from its free record, so a
#      class published later than the frees would read as the first). lifekill's one site
#      frees 100 objects at once, then 100 after 200 ms, and kills itself; the interval is
#      a minute, so nothing but the per-event publication can have put them there.
d=$WORK/lifekill
mkdir -p "$d"
bash -c '"$@" >/dev/null; exit $?' _ env CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 \
    CTRPROF_FLUSH_MS=60000 LD_PRELOAD="$SHIM" "$PROGS/lifekill" 100 2>/dev/null
check_eq "heaptime:lifekill-was-killed" 137 "$?"
f=$(ls "$d"/*.count 2>/dev/null | head -1)
check_eq "heaptime:sigkill-keeps-lifetime-classes" "alloc=200 free=200 under100ms=100 over100ms=100" \
    "$("$CTRPROF" dump --json "${f:-/nonexistent}" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
v = lambda p: sum(x for k, x in c.items() if k.split("\n")[0].startswith(p))
slow = sum(v("ctrprof/heap:life_objects:" + k) for k in ("100ms", "1s", "10s"))
print("alloc=%d free=%d under100ms=%d over100ms=%d" % (v("ctrprof/heap:alloc_objects"),
      v("ctrprof/heap:free_objects"), v("ctrprof/heap:life_objects:") - slow, slow))')"

# ---- 3c. a producer hands its objects to a consumer thread that frees them: each free is
#      on the consumer's ring, often drained before its allocation on the producer's
#      (resolve.c's pending frees); every free still has its lifetime class at rate 1
#      (until session 21, 994,561 of 1,000,000 such frees went unclassed)
d=$WORK/handoff
mkdir -p "$d"
N=200000
out=$(CTRPROF_DIR="$d" CTRPROF_MEM_RATE=1 timeout 120 env LD_PRELOAD="$SHIM" "$PROGS/handoff" $N)
check_eq "heaptime:handoff-runs" "0 ok" "$? $out"
f=$(ls "$d"/*.count 2>/dev/null | head -1)
check_eq "heaptime:handoff-every-free-classed" "made_here $N 0 $N" \
    "$("$CTRPROF" report --format=lifetimes "${f:-/nonexistent}" 2>/dev/null | awk '!/^#/ && $NF == "made_here" {
        s = 0; for (i = 1; i <= 9; i++) s += $i; print $NF, s, $10 }') $(sitev "${f:-/nonexistent}" made_here --sample=alloc_objects)"

# ---- 4. a file two processes shared: each adds its own peak; the header says it is a sum
d=$WORK/shared
mkdir -p "$d"
for i in 1 2; do
    CTRPROF_FILE="$d/shared.count" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=$FLUSH LD_PRELOAD="$SHIM" "$P" 1 60 >/dev/null
done
check_eq "heaptime:shared-file-peak-summed" "8000 2000" \
    "$(sitev "$d/shared.count" peak_a --profile=peak --sample=inuse_objects) $(sitev "$d/shared.count" peak_b --profile=peak --sample=inuse_objects)"
case "$("$CTRPROF" report --profile=peak "$d/shared.count" 2>/dev/null | head -1)" in
"Peak: the sum of 2 processes' own peaks, 38.15MB (not simultaneous"*) pass "heaptime:shared-file-header-says-sum" ;;
*) fail "heaptime:shared-file-header-says-sum" "$("$CTRPROF" report --profile=peak "$d/shared.count" 2>&1 | head -1)" ;;
esac
check_eq "heaptime:shared-file-two-timelines" 2 \
    "$("$CTRPROF" report --format=timeline "$d/shared.count" | awk 'NR > 1 { print $5 }' | sort -u | wc -l)"

# ---- 5. CTRPROF_HEAP_TIME=0: the profile as before, without these counters
d=$WORK/off
mkdir -p "$d"
CTRPROF_DIR="$d" CTRPROF_HEAP_TIME=0 CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=$FLUSH LD_PRELOAD="$SHIM" "$P" 1 20 >/dev/null
f=$(ls "$d"/*.count 2>/dev/null | head -1)
f=${f:-/nonexistent}
check_eq "heaptime:off-no-counters" "0 4000" \
    "$("$CTRPROF" dump "$f" | grep -c 'heap:peak\|heap:life\|heap-peak\|timeline') $(sitev "$f" peak_a --sample=alloc_objects)"

# ---- 6. a file from before these counters ----------------------------------------------
old="$TOP/tests/fixtures/pre-heaptime.count"
check_cmd "heaptime:old-file-reports" sh -c "'$CTRPROF' report '$old' | grep -q '^Type: inuse_space'"
for v in "--profile=peak:peak" "--format=timeline:timeline" "--format=lifetimes:object lifetimes" \
    "--sample=temp_objects:object lifetimes"; do
    # (the symbolizer's warnings about the fixture's program, which is not this build's,
    # are not what is checked)
    "$CTRPROF" report "${v%%:*}" "$old" >/dev/null 2>"$WORK/err"
    rc=$?
    err=$(grep -v '^ctrprof: warning: .*unsymbolized$' "$WORK/err")
    check_eq "heaptime:old-file-says-no-${v%%:*}" "1 1 1" \
        "$rc $(echo "$err" | wc -l) $(echo "$err" | grep -c "no ${v#*:} in this profile")"
done
