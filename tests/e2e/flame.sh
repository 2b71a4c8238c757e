#!/usr/bin/env bash
# The flame graph (issue 5) rendered by a real browser: Debian's chromium, headless,
# loads the page from --format flame and we read the DOM it drew. The view is driven
# through the URL fragment (sample type, search, zoom), as a user's link would. A
# screenshot is kept in $B/artifacts/flame.png.
source "$(dirname "$0")/lib.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser)
if [ -z "$CHROMIUM" ]; then
    skip "flame" "chromium is not installed (scripts/deps.sh installs it)"
    exit 0
fi
mkdir -p "$WORK/rt"
(cd "$WORK" && CTRPROF_DIR="$WORK/rt" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/report_target" >/dev/null)
"$CTRPROF" report --format flame -o "$WORK/f.html" "$WORK"/rt/ctrprof.report_target.*.count
written=$?
check_eq "flame:written" 0 $written

# render FRAGMENT: the DOM after the page's script ran
render() {
    HOME="$WORK" timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$WORK/chrome" --virtual-time-budget=3000 --window-size=1200,500 \
        --dump-dom "file://$WORK/f.html#$1" 2>/dev/null
}
frames() { grep -o '<div class="f[^"]*" data-name="[^"]*"' | sed 's/.*data-name="//; s/"$//' | sort | tr '\n' ' '; }

dom=$(render "")
render_rc=$?
# default sample inuse_space: other() freed everything, so it is not drawn
f=" $(frames <<<"$dom")"
for want in all main outer inl; do
    grep -q " $want " <<<"$f" && pass "flame:default-draws-$want" || fail "flame:default-draws-$want" "$f"
done
check_absent "flame:default-no-freed-other" $render_rc "$f" ' inl ' ' other '
grep -q 'inuse_space total' <<<"$dom" && pass "flame:title" || fail "flame:title" "$(grep -o 'id="title">[^<]*' <<<"$dom")"
# inl carries 976.56kB of inuse_space; the root spans the chart
w_all=$(grep -o 'data-name="all" style="[^"]*width: [0-9.]*px' <<<"$dom" | sed 's/.*width: //; s/px//')
w_inl=$(grep -o 'data-name="inl" style="[^"]*width: [0-9.]*px' <<<"$dom" | sed 's/.*width: //; s/px//')
awk -v a="$w_all" -v i="$w_inl" 'BEGIN { exit !(a > 1000 && i / a > 0.9 && i / a <= 1) }' &&
    pass "flame:widths" || fail "flame:widths" "all=$w_all inl=$w_inl"

dom=$(render "sample=alloc_space")
frames <<<"$dom" | grep -q ' other ' && pass "flame:sample-alloc_space-shows-other" ||
    fail "flame:sample-alloc_space-shows-other" "$(frames <<<"$dom")"

# search + zoom: only outer and inl are drawn, inl highlighted, its share stated
dom=$(render "search=%5Einl%24&zoom=outer")
check_eq "flame:zoom" "inl outer " "$(frames <<<"$dom")"
grep -q '<div class="f hit" data-name="inl"' <<<"$dom" && pass "flame:search-highlights" ||
    fail "flame:search-highlights" "inl not marked"
check_eq "flame:search-share" "matched 976.56kB" "$(grep -o 'id="match">matched [0-9.]*kB' <<<"$dom" | sed 's/.*">//')"

# no network: the page loads nothing (no src/href to anything but itself)
check_absent "flame:self-contained" "$written" "$(cat "$WORK/f.html" 2>&1)" '"outer"' '(src|href)="(https?:)?//'

# The first screen of a 1366x768 window: a profile whose heavy path is 17 frames deep and
# whose one thin stack is 65 (too thin to draw) gets a chart as tall as the rows drawn,
# root on top, the heavy path's frames all within the first 700 px of the chart.
mkdir -p "$WORK/deep"
(cd "$WORK" && CTRPROF_DIR="$WORK/deep" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/flame_deep")
"$CTRPROF" report --format flame -o "$WORK/deep.html" "$WORK"/deep/*.count
dom=$(HOME="$WORK" timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$WORK/chrome" --virtual-time-budget=3000 --window-size=1366,768 \
    --dump-dom "file://$WORK/deep.html" 2>/dev/null)
height=$(grep -o 'id="chart" style="height: [0-9]*px' <<<"$dom" | grep -o '[0-9]*')
tops=$(grep -o 'data-name="[^"]*" style="[^"]*top: [0-9]*px' <<<"$dom" | sed 's/data-name="\([^"]*\)".*top: \([0-9]*\)px/\2 \1/')
rows=$(awk '{ print $1 / 17 }' <<<"$tops" | sort -un | wc -l)
check_eq "flame:first-screen:root-on-top" "0 all" "$(grep ' all$' <<<"$tops")"
deepest_shallow=$(awk '$2 == "shallow" { if ($1 > m) m = $1 } END { print m + 0 }' <<<"$tops")
check_eq "flame:first-screen:chart-as-tall-as-its-rows" "$((rows * 17))" "${height:-none}"
if [ "${height:-9999}" -le 700 ] && [ "$rows" -ge 15 ] && [ "$deepest_shallow" -gt 0 ] &&
    [ $((deepest_shallow + 17)) -le "${height:-0}" ]; then
    pass "flame:first-screen:heavy-path-within-700px ($rows rows, ${height}px)"
else
    fail "flame:first-screen:heavy-path-within-700px" "chart ${height:-?}px, $rows rows, deepest shallow() row at ${deepest_shallow}px"
fi

mkdir -p "$TOP/$B/artifacts"
rm -f "$TOP/$B/artifacts/flame.png"
HOME="$WORK" timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$WORK/chrome" --virtual-time-budget=3000 --window-size=1200,400 \
    --screenshot="$TOP/$B/artifacts/flame.png" "file://$WORK/f.html#sample=alloc_space" >/dev/null 2>&1
[ "$(head -c 8 "$TOP/$B/artifacts/flame.png" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] &&
    pass "flame:screenshot ($B/artifacts/flame.png)" || fail "flame:screenshot" "no PNG written"
