#!/usr/bin/env bash
# ctrprof serve with real clients (issue 22): go tool pprof, curl, promtool and a real
# Prometheus server against a profile made by a program under the shim; then hostile
# clients (path traversal, a 64 KiB header, a body, 500 connections, a slowloris trickle).
# All traffic goes to 127.0.0.1; every process started here is killed on exit.
source "$(dirname "$0")/lib.sh"

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v curl >/dev/null; then
    skip "serve" "curl is not installed (scripts/deps.sh)"
    exit 0
fi

# A finished program's profile at rate 1: exact values, nothing moves.
mkdir -p "$WORK/rt" "$WORK/dir"
(cd "$WORK" && CTRPROF_DIR="$WORK/rt" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/report_target" >/dev/null)
F=$(ls "$WORK"/rt/*.count | head -1)
cp "$F" "$WORK/dir/ctrprof.a.1.count"

# start_serve LOG ARGS...: starts ctrprof serve on a free port, sets URL and SPID
start_serve() {
    local log=$1
    shift
    "$CTRPROF" serve --listen 127.0.0.1:0 "$@" >"$log.url" 2>"$log" &
    SPID=$!
    PIDS+=("$SPID")
    URL=
    wait_until 10 url_printed "$log"
}
url_printed() { URL=$(head -1 "$1.url" 2>/dev/null); [ -n "$URL" ]; }
start_serve "$WORK/serve.log" --timeout 3 "$F" "$WORK/dir"
if [ -z "$URL" ]; then
    fail serve:starts "no URL printed: $(tail -3 "$WORK/serve.log")"
    exit 0
fi
pass serve:starts
URL0=$URL
SPID0=$SPID

code() { curl -s --path-as-is -o "$WORK/body" -w '%{http_code}' --max-time 10 "$@"; }
# the server's open ?seconds= windows (between a delta's two snapshots), from /metrics
windows() { curl -s --max-time 10 "${URL}metrics" | awk '/^ctrprof_serve_delta_windows / {print $2}'; }
window_open() { [ "$(windows)" = 1 ]; }
# in_window SECONDS OUT ACTION...: a ?seconds=SECONDS allocs delta into OUT (in the
# background), ACTION run once its window is seen open; true when the window was still
# open after ACTION returned (so the delta's second snapshot comes after it, by
# construction), false when it never opened or had closed already (a loaded machine: try
# a longer window)
in_window() {
    local secs=$1 out=$2 still
    shift 2
    curl -s -o "$out" --max-time $((secs + 60)) "${URL}debug/pprof/allocs?seconds=$secs" &
    local d=$!
    if ! wait_until 20 window_open; then wait "$d"; return 1; fi
    "$@"
    still=$(windows)
    wait "$d"
    [ "$still" = 1 ]
}
# flat SAMPLE FUNCTION PROFILE: go tool pprof's flat value of FUNCTION
flat() {
    HOME="$WORK/home" GOCACHE="$WORK/gocache" PPROF_TMPDIR="$WORK/pprof" \
        go tool pprof -top -sample_index="$1" "$3" 2>/dev/null | awk -v f="$2" '$6 == f {print $1; exit}'
}

# 1. the profile is exactly what `ctrprof report --format pprof` writes for the same files
"$CTRPROF" report --format pprof -o "$WORK/report.pb.gz" "$F" "$WORK/dir/ctrprof.a.1.count"
check_eq serve:heap-status 200 "$(code "${URL}debug/pprof/heap")"
if cmp -s "$WORK/body" "$WORK/report.pb.gz"; then pass serve:heap-is-report-pprof; else
    fail serve:heap-is-report-pprof "the served profile differs from ctrprof report --format pprof"; fi
code "${URL}debug/pprof/heap?debug=1" >/dev/null
"$CTRPROF" report --format top "$F" "$WORK/dir/ctrprof.a.1.count" >"$WORK/top.txt"
if cmp -s "$WORK/body" "$WORK/top.txt"; then pass serve:debug1-is-top; else
    fail serve:debug1-is-top "?debug=1 differs from ctrprof report --format top"; fi

# 2. go tool pprof fetches it over HTTP and agrees with ctrprof report (top function, flat)
if command -v go >/dev/null; then
    mkdir -p "$WORK/home" "$WORK/gocache" "$WORK/pprof"
    HOME="$WORK/home" GOCACHE="$WORK/gocache" GOFLAGS=-mod=mod GOPROXY=off PPROF_TMPDIR="$WORK/pprof" \
        go tool pprof -top "${URL}debug/pprof/heap" >"$WORK/gotop.txt" 2>&1
    got=$(awk '/flat%/ {getline; sub(/ \(inline\)$/, ""); print $1, $6; exit}' "$WORK/gotop.txt")
    want=$(awk '/flat%/ {getline; print $1, $6; exit}' "$WORK/top.txt")
    if [ -n "$want" ] && [ "$got" = "$want" ]; then pass serve:go-pprof-top; else
        fail serve:go-pprof-top "go tool pprof [$got], ctrprof report [$want]: $(head -3 "$WORK/gotop.txt")"; fi
    # /allocs is the heap profile opening on alloc_space, as Go's handler serves it
    HOME="$WORK/home" GOCACHE="$WORK/gocache" GOFLAGS=-mod=mod GOPROXY=off PPROF_TMPDIR="$WORK/pprof" \
        go tool pprof -top "${URL}debug/pprof/allocs" >"$WORK/goallocs.txt" 2>&1
    check_eq serve:allocs-opens-on-alloc-space "Type: alloc_space" "$(grep -m1 '^Type:' "$WORK/goallocs.txt")"
    HOME="$WORK/home" GOCACHE="$WORK/gocache" GOFLAGS=-mod=mod GOPROXY=off PPROF_TMPDIR="$WORK/pprof" \
        go tool pprof -top "${URL}debug/pprof/heap" >"$WORK/goheap.txt" 2>&1
    check_eq serve:heap-opens-on-inuse-space "Type: inuse_space" "$(grep -m1 '^Type:' "$WORK/goheap.txt")"
else
    skip "serve:go-pprof-top" "go is not installed (scripts/deps.sh)"
fi

# 3. /metrics: valid exposition format, and the numbers of the files
check_eq serve:metrics-status 200 "$(code "${URL}metrics")"
cp "$WORK/body" "$WORK/metrics.txt"
if command -v promtool >/dev/null; then
    check_cmd serve:metrics-promtool sh -c "promtool check metrics < '$WORK/metrics.txt'"
else
    skip "serve:metrics-promtool" "promtool is not installed (Debian prometheus, scripts/deps.sh)"
fi
samples=$("$CTRPROF" dump "$F" | awk '$2 == "ctrprof/health:samples:heap" {print $1; exit}')
check_eq serve:metrics-alloc-objects "$((samples * 2))" \
    "$(awk '/^ctrprof_all_heap_alloc_objects_total / {print $2}' "$WORK/metrics.txt")"
topfn=$(awk '/flat%/ {getline; print $6; exit}' "$WORK/top.txt")
check_eq serve:metrics-top-site "$topfn" \
    "$(grep '^ctrprof_site_heap_inuse_bytes{' "$WORK/metrics.txt" | head -1 | sed 's/.*function="\([^"]*\)".*/\1/')"
# --metrics-top 1: one site and "(other)" with the rest, per sample type
start_serve "$WORK/serve1.log" --metrics-top 1 "$F"
curl -s --max-time 10 "${URL}metrics" >"$WORK/metrics1.txt"
kill "$SPID"
check_eq serve:metrics-top-bounded "2 $topfn" \
    "$(grep -c '^ctrprof_site_heap_alloc_bytes_total{' "$WORK/metrics1.txt") $(grep '^ctrprof_site_heap_alloc_bytes_total{' "$WORK/metrics1.txt" | head -1 | sed 's/.*function="\([^"]*\)".*/\1/')"
URL=$URL0
SPID=$SPID0

# per-file totals are the report's, unbiased: a profile at MemRate 4096 with mutex and
# block samples (tests/programs/contention.c, and report_target for heap samples that
# are there at any rate, sharing one file), against the sums of `report --format raw`
mkdir -p "$WORK/c"
F2="$WORK/c/shared.count"
for prog in contention report_target; do
    (cd "$WORK" && CTRPROF_FILE="$F2" CTRPROF_MEM_RATE=4096 CTRPROF_MUTEX_FRACTION=1 CTRPROF_BLOCK_RATE=1 \
        LD_PRELOAD="$SHIM" timeout 120 "$PROGS/$prog" >/dev/null)
done
rawsum() { "$CTRPROF" report --profile "$1" --format raw "$F2" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { s += $2 } END { printf "%.0f", s }'; }
start_serve "$WORK/serve2.log" "$F2"
curl -s --max-time 20 "${URL}metrics" >"$WORK/metrics2.txt"
kill "$SPID"
metric() { awk -v n="$1" '$1 ~ "^"n"{" { printf "%.0f", $2 * '"${2:-1}"' }' "$WORK/metrics2.txt"; }
for pair in "heap alloc_space ctrprof_heap_alloc_bytes_total 1" "heap inuse_space ctrprof_heap_inuse_bytes 1" \
    "mutex delay ctrprof_mutex_delay_seconds_total 1e9" "block contentions ctrprof_block_contentions_total 1"; do
    set -- $pair
    want=$(rawsum "$1" "$2")
    got=$(metric "$3" "$4")
    if [ "${want:-0}" -gt 0 ] && within "$want" "$got" 0.001; then pass "serve:metrics-file-$1-$2"; else
        fail "serve:metrics-file-$1-$2" "report says $want, /metrics $got"; fi
done
URL=$URL0
SPID=$SPID0

# Object counts by Go's rule (truncated after unbiasing, as every view of ctrprof report):
# one sample of 524288 bytes at rate 524288 stands for 1.58 objects, served as 1
python3 "$TOP/tests/e2e/mkprofile.py" "$WORK/g.count" 'Ctrprof-Format: 1' 'MemRate: 524288' \
    'MutexFraction: 1' 'BlockRate: 10000' -- 'ctrprof/heap:alloc:524288\nab000001+0x40=1'
start_serve "$WORK/serve-g.log" "$WORK/g.count"
curl -s --max-time 10 "${URL}metrics" >"$WORK/metrics-g.txt"
kill "$SPID"
check_eq "serve:objects-truncated-as-go (all, file)" "1 1" \
    "$(awk '/^ctrprof_all_heap_alloc_objects_total / {print $2}' "$WORK/metrics-g.txt") $(awk '/^ctrprof_heap_inuse_objects\{/ {print $2}' "$WORK/metrics-g.txt")"
URL=$URL0
SPID=$SPID0

# 4. a directory is listed again per request: a new process's file appears
cp "$F" "$WORK/dir/ctrprof.b.2.count"
code "${URL}metrics" >/dev/null
check_eq serve:dir-relisted 3 "$(awk '/^ctrprof_serve_files / {print $2}' "$WORK/body")"
rm -f "$WORK/dir/ctrprof.b.2.count"
code "${URL}metrics" >/dev/null
check_eq serve:file-gone 2 "$(awk '/^ctrprof_serve_files / {print $2}' "$WORK/body")"

pprof_total() { # FILE SAMPLE: the "Showing nodes accounting for X" total of go tool pprof
    HOME="$WORK/home" GOCACHE="$WORK/gocache" PPROF_TMPDIR="$WORK/pprof" \
        go tool pprof -top -sample_index="$2" "$1" 2>/dev/null | awk '/of .* total/ {print $(NF-1); exit}'
}
# a corrupt and a truncated file in the directory: skipped, counted, said once
head -c 20000 /dev/urandom >"$WORK/dir/ctrprof.bad.8.count"
head -c 16000 "$F" >"$WORK/dir/ctrprof.short.9.count" # cut mid-page
code "${URL}metrics" >/dev/null
c1=$(awk '/^ctrprof_serve_unreadable_files / {print $2}' "$WORK/body")
check_eq serve:corrupt-skipped "200 2 2" "$(code "${URL}metrics") $c1 $(awk '/^ctrprof_serve_files / {print $2}' "$WORK/body")"
check_eq serve:corrupt-said-once "1 1" "$(grep -c 'ctrprof.bad.8.count' "$WORK/serve.log") $(grep -c 'ctrprof.short.9.count' "$WORK/serve.log")"
rm -f "$WORK/dir/ctrprof.bad.8.count" "$WORK/dir/ctrprof.short.9.count"

# a live program: its file appears in an empty directory, is read while it is being
# written (every request answered), and its counters move. It runs until told to stop
# ($WORK/livectl/stop), and allocates a burst on SIGUSR1 (tests/programs/serve_live.c).
mkdir -p "$WORK/live" "$WORK/livectl"
start_serve "$WORK/serve-live.log" "$WORK/live"
(cd "$WORK" && CTRPROF_DIR="$WORK/live" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=100 LD_PRELOAD="$SHIM" \
    exec "$PROGS/serve_live" "$WORK/livectl") &
LIVE=$!
PIDS+=("$LIVE")
codes=
vals=
# one round of requests; done once the allocation count has risen twice from a non-zero
# value (the program's flusher publishes every 100 ms)
live_round() {
    codes="$codes $(code "${URL}debug/pprof/heap")"
    codes="$codes $(code "${URL}metrics")"
    vals="$vals $(awk '/^ctrprof_all_heap_alloc_objects_total / {print $2}' "$WORK/body")"
    echo $vals | awk '{ up = 0; for (i = 2; i <= NF; i++) up += $(i-1) > 0 && $i > $(i-1); exit !(up >= 2) }'
}
wait_until 60 live_round
check_eq "serve:live-all-answered (and asked)" "|yes" \
    "$(echo $codes | tr ' ' '\n' | grep -v '^200$' | sort | uniq -c | tr '\n' ' ')|$([ "$(echo $codes | wc -w)" -ge 4 ] && echo yes)"
if echo $vals | awk '{ up = 0; for (i = 2; i <= NF; i++) { if ($i < $(i-1)) exit 1; if ($i > $(i-1)) up++ } exit !(up >= 2) }'; then
    pass serve:live-counters-move; else fail serve:live-counters-move "alloc objects over time: $vals"; fi
check_eq serve:live-top-site live_alloc \
    "$(grep '^ctrprof_site_heap_inuse_bytes{' "$WORK/body" | head -1 | sed 's/.*function="\([^"]*\)".*/\1/')"
# a delta over a live program: exactly the burst of 500 allocations the program made (on
# SIGUSR1) and published inside the window, not the one before it, whatever else it
# allocated meanwhile
if command -v go >/dev/null; then
    bursts=0
    burst_published() { [ "$(site "$(ls "$WORK"/live/*.count | head -1)" burst_alloc)" = "$((bursts * 500))" ]; }
    burst() {
        bursts=$((bursts + 1))
        kill -USR1 "$LIVE"
        wait_until 30 test -e "$WORK/livectl/burst.$bursts" && wait_until 30 burst_published
    }
    burst # before any window
    inside=no
    for secs in 3 15; do
        if in_window $secs "$WORK/delta-live.pb.gz" burst; then inside=yes; break; fi
    done
    if [ $inside = yes ]; then
        check_eq serve:live-delta-exact 500 "$(flat alloc_objects burst_alloc "$WORK/delta-live.pb.gz")"
    else
        fail serve:live-delta-exact "no ?seconds= window stayed open over a burst (bursts $bursts, file: $(site "$(ls "$WORK"/live/*.count | head -1)" burst_alloc))"
    fi
else
    skip serve:live-delta-exact "go is not installed (scripts/deps.sh)"
fi
touch "$WORK/livectl/stop"
wait "$LIVE"
check_eq serve:live-exits 0 $?
kill "$SPID"
URL=$URL0
SPID=$SPID0

# a program rebuilt in place (a new build-id at the same path) is symbolized from its new
# file while the server, and its symbolizer, live on
if command -v cc >/dev/null; then
    mkdir -p "$WORK/rb/prof"
    printf '%s\n' '#include <stdlib.h>' '#include <string.h>' \
        '__attribute__((noinline)) void *NAME(size_t n) { void *p = malloc(n); memset(p, 1, n); return p; }' \
        'int main(void) { for (int i = 0; i < 100; i++) NAME(4096 + V); return 0; }' >"$WORK/rb/p.c"
    start_serve "$WORK/serve-rb.log" "$WORK/rb/prof"
    for v in 1 2; do
        cc -g -O1 -fno-omit-frame-pointer -DNAME=alloc_v$v -DV=$v -o "$WORK/rb/prog" "$WORK/rb/p.c"
        (cd "$WORK" && CTRPROF_DIR="$WORK/rb/prof" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$WORK/rb/prog")
        code "${URL}debug/pprof/heap?debug=1" >/dev/null
        cp "$WORK/body" "$WORK/rb/top$v.txt"
    done
    kill "$SPID"
    check_eq serve:rebuilt-in-place "1 1" "$(grep -c ' alloc_v1$' "$WORK/rb/top2.txt") $(grep -c ' alloc_v2$' "$WORK/rb/top2.txt")"
    URL=$URL0
    SPID=$SPID0
fi

# 5. ?seconds=N: the delta over the next N seconds (Go's semantics). Nothing changes: empty;
# a process appears meanwhile: exactly its profile.
if command -v go >/dev/null; then
    code "${URL}debug/pprof/allocs?seconds=1" >/dev/null
    check_eq serve:delta-unchanged 0 "$(pprof_total "$WORK/body" alloc_space)"
    # the new file is copied in once the window is seen open, and seen still open after
    appear() { cp "$F" "$WORK/dir/ctrprof.c.3.count"; }
    inside=no
    for secs in 2 15; do
        rm -f "$WORK/dir/ctrprof.c.3.count" # (gone before the window opens)
        if in_window $secs "$WORK/delta-new.pb.gz" appear; then inside=yes; break; fi
    done
    "$CTRPROF" report --format pprof -o "$WORK/one.pb.gz" "$F"
    if [ $inside = yes ]; then
        check_eq serve:delta-new-process "$(pprof_total "$WORK/one.pb.gz" alloc_space)" \
            "$(pprof_total "$WORK/delta-new.pb.gz" alloc_space)"
    else
        fail serve:delta-new-process "no ?seconds= window stayed open over the copy"
    fi
    rm -f "$WORK/dir/ctrprof.c.3.count"
fi
check_eq serve:seconds-invalid 400 "$(code "${URL}debug/pprof/mutex?seconds=-1")"
check_eq serve:seconds-with-debug 400 "$(code "${URL}debug/pprof/block?seconds=1&debug=1")"

# 6. hostile requests
check_eq serve:traversal-dots 404 "$(code "${URL}debug/pprof/../../etc/passwd")"
check_eq serve:traversal-encoded 404 "$(code "${URL}debug/pprof/%2e%2e/%2e%2e/etc/passwd")"
check_eq serve:traversal-no-file "404 0" "$(code "${URL}debug/pprof/../../etc/passwd") $(grep -c 'root:' "$WORK/body")"
head -c 65536 /dev/zero | tr '\0' a >"$WORK/big"
check_eq serve:huge-header 431 "$(code -H "X-Big: $(cat "$WORK/big")" "${URL}metrics")"
check_eq serve:no-body 405 "$(code --data-binary @"$WORK/big" "${URL}metrics")"
check_eq serve:get-with-body 413 "$(code -X GET --data-binary @"$WORK/big" "${URL}metrics")"

# 500 connections at once: refused beyond the limit, the server stays up. The handshake:
# the server has closed all but at most --max-conns (64) of them (it closes the excess at
# accept), so it has seen them all; its thread count is read then, while it holds the rest.
python3 - "$URL" "$SPID" >"$WORK/flood.txt" 2>&1 <<'EOF'
import select, socket, sys, time
from urllib.parse import urlparse
u = urlparse(sys.argv[1])
socks = []
for i in range(500):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((u.hostname, u.port))
        socks.append(s)
    except OSError:
        s.close()
closed = set()
deadline = time.time() + 30
while len(closed) < len(socks) - 64 and time.time() < deadline:
    r, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.5)
    for s in r:
        try:
            if s.recv(1) == b"":
                closed.add(s)
        except OSError:
            closed.add(s)
threads = [l.split()[1] for l in open("/proc/%s/status" % sys.argv[2]) if l.startswith("Threads:")][0]
for s in socks:
    s.close()
print("opened", len(socks), "held", len(socks) - len(closed), "threads", threads)
EOF
if kill -0 "$SPID" 2>/dev/null && [ "$(code "${URL}metrics")" = 200 ]; then pass serve:flood-500; else
    fail serve:flood-500 "server down or not answering after 500 connections: $(cat "$WORK/flood.txt")"; fi
# bounded: one thread per connection, at most --max-conns (64) of them, plus a few of its own
threads=$(awk '/threads/ {print $6}' "$WORK/flood.txt")
held=$(awk '/threads/ {print $4}' "$WORK/flood.txt")
# (held: the connections still open when the count was read, 1..64: it counted while
# the server held some)
if [ -n "$threads" ] && [ "$threads" -le 72 ] && [ "${held:-0}" -ge 1 ] && [ "$held" -le 64 ]; then
    pass "serve:flood-bounded ($(cat "$WORK/flood.txt"))"; else
    fail serve:flood-bounded "expected at most 72 threads, 1..64 connections held: $(cat "$WORK/flood.txt")"; fi

# a slowloris trickle (a header byte per second): others are answered meanwhile, and the
# server drops it on its timeout (--timeout 3), although libmicrohttpd's idle timer alone
# would never fire
python3 - "$URL" "$WORK/slow.started" >"$WORK/slow.txt" 2>&1 <<'EOF' &
import socket, sys, time
from urllib.parse import urlparse
u = urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
s.sendall(b"X")
open(sys.argv[2], "w").close()  # the handshake: the trickle has begun
t0 = time.time()
while time.time() - t0 < 15:
    try:
        s.sendall(b"X")
        s.settimeout(1)
        if s.recv(1) == b"":
            break
    except socket.timeout:
        continue
    except OSError:
        break
print("dropped after %.0f s" % (time.time() - t0))
EOF
SLOW=$!
PIDS+=("$SLOW")
wait_until 10 test -e "$WORK/slow.started"
check_eq serve:slowloris-others-answered 200 "$(code --max-time 3 "${URL}metrics")"
wait "$SLOW"
secs=$(awk '/dropped after/ {print $3}' "$WORK/slow.txt")
if [ -n "$secs" ] && [ "$secs" -ge 2 ] && [ "$secs" -le 6 ]; then pass serve:slowloris-dropped; else
    fail serve:slowloris-dropped "expected the trickle dropped after ~3 s, got: $(cat "$WORK/slow.txt")"; fi

# 7. a real Prometheus server scrapes it
if command -v prometheus >/dev/null; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    target=${URL#http://}
    target=${target%/}
    cat >"$WORK/prom.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ctrprof
    static_configs:
      - targets: ['$target']
EOF
    prometheus --config.file="$WORK/prom.yml" --storage.tsdb.path="$WORK/tsdb" \
        --web.listen-address="127.0.0.1:$port" >"$WORK/prom.log" 2>&1 &
    PIDS+=($!)
    val=
    scraped() {
        val=$(curl -s --max-time 2 "http://127.0.0.1:$port/api/v1/query?query=ctrprof_all_heap_alloc_objects_total" |
            python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null)
        [ -n "$val" ]
    }
    wait_until 30 scraped
    check_eq serve:prometheus-scrape "$((samples * 2))" "$val"
else
    skip "serve:prometheus-scrape" "prometheus is not installed (Debian prometheus, scripts/deps.sh)"
fi

# 8. SIGTERM ends it cleanly
kill -TERM "$SPID"
rc=timeout
gone() { ! kill -0 "$1" 2>/dev/null; }
if wait_until 10 gone "$SPID"; then wait "$SPID"; rc=$?; fi
check_eq serve:sigterm 0 "$rc"
