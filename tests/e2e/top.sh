#!/usr/bin/env bash
# ctrprof top as a person uses it (issue 22): --once against a live program, then the
# full-screen view in a tmux pane read with capture-pane while the program runs: the values
# move, keys switch the profile, a corrupt file is one line, an exited process stays
# visible, q quits. Every process started here is killed on exit.
source "$(dirname "$0")/lib.sh"

PIDS=()
TMUX_SOCK="$WORK/tmux.sock"
cleanup() {
    command -v tmux >/dev/null && tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# the live program runs until $WORK/livectl/stop exists (tests/programs/serve_live.c)
mkdir -p "$WORK/live" "$WORK/livectl"
(cd "$WORK" && CTRPROF_DIR="$WORK/live" CTRPROF_MEM_RATE=1 CTRPROF_FLUSH_MS=100 LD_PRELOAD="$SHIM" \
    exec "$PROGS/serve_live" "$WORK/livectl") &
LIVE=$!
PIDS+=("$LIVE")
# handshake: the live program's allocation site is in its published file
live_site_published() {
    "$CTRPROF" report --sample alloc_space --format folded "$WORK/live" 2>/dev/null | grep -q live_alloc
}
wait_until 30 live_site_published && pass top:live-published || fail top:live-published "no live_alloc in $WORK/live"

# --once: one screen, the change over one interval; the live program's allocation site on
# top, allocating (a positive change), its process running
"$CTRPROF" top --once --interval 1 --sample alloc_space "$WORK/live" >"$WORK/once.txt" 2>"$WORK/once.err"
row=$(awk '/function$/ {getline; print; exit}' "$WORK/once.txt")
check_eq top:once-top-site live_alloc "$(echo "$row" | awk '{print $NF}')"
if echo "$row" | awk '{exit !($(NF-1) ~ /^\+[0-9.]+(kB|MB)\/s$/)}'; then pass top:once-change-positive; else
    fail top:once-change-positive "top row: [$row]"; fi
check_eq top:once-running 1 "$(grep -c '^  running  *serve_live ' "$WORK/once.txt")"

# A file's row: one file alone is the merged profile (its total, not loaded again); of two,
# each row is what top says of that file alone (two programs at rate 1, finished)
mkdir -p "$WORK/st"
CTRPROF_FILE="$WORK/st/ctrprof.demo.1.count" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/demo" >/dev/null
CTRPROF_FILE="$WORK/st/ctrprof.namestacks.2.count" CTRPROF_MEM_RATE=1 LD_PRELOAD="$SHIM" "$PROGS/namestacks" 2 64 >/dev/null
filerow() { # top's row value of the file whose path ends in $2, from files $1...
    local want=$1
    shift
    "$CTRPROF" top --once --interval 0.1 --sample alloc_space "$@" 2>/dev/null | awk -v w="$want" '$NF ~ w"$" {print $(NF-2); exit}'
}
tot=$("$CTRPROF" top --once --interval 0.1 --sample alloc_space "$WORK/st/ctrprof.demo.1.count" 2>/dev/null |
    sed -n 's/.*; total \([^ ]*\) .*/\1/p')
check_eq top:one-file-row-is-the-total "$tot" "$(filerow demo.1.count "$WORK/st/ctrprof.demo.1.count")"
check_eq top:two-files-rows-alone \
    "$(filerow demo.1.count "$WORK/st/ctrprof.demo.1.count") $(filerow namestacks.2.count "$WORK/st/ctrprof.namestacks.2.count")" \
    "$(filerow demo.1.count "$WORK/st") $(filerow namestacks.2.count "$WORK/st")"

if ! command -v tmux >/dev/null; then
    skip "top:tmux" "tmux is not installed (scripts/deps.sh)"
    exit 0
fi
head -c 20000 /dev/urandom >"$WORK/live/ctrprof.bad.1.count"
tmux -S "$TMUX_SOCK" new-session -d -x 160 -y 40 \
    "$CTRPROF top --interval 1 --sample alloc_space $WORK/live"
cap() { tmux -S "$TMUX_SOCK" capture-pane -p >"$1"; }
site_value() { awk '$NF == "live_alloc" {print $1; exit}' "$1"; }
# each screen is waited for by what it shows (top's refresh is the handshake)
top_site_is_live() { cap "$1"; [ "$(awk '/function$/ {getline; print $NF; exit}' "$1")" = live_alloc ]; }
wait_until 15 top_site_is_live "$WORK/s1"
value_moved() { cap "$WORK/s2"; [ -n "$(site_value "$WORK/s2")" ] && [ "$(site_value "$WORK/s2")" != "$(site_value "$WORK/s1")" ]; }
wait_until 15 value_moved
check_eq top:tmux-site live_alloc "$(awk '/function$/ {getline; print $NF; exit}' "$WORK/s1")"
v1=$(site_value "$WORK/s1")
v2=$(site_value "$WORK/s2")
if [ -n "$v1" ] && [ -n "$v2" ] && [ "$v1" != "$v2" ]; then pass top:tmux-values-move; else
    fail top:tmux-values-move "live_alloc's alloc_space on two screens 2 s apart: [$v1] [$v2]"; fi
check_eq top:tmux-corrupt-one-line 1 "$(grep -c '! .*ctrprof.bad.1.count: ' "$WORK/s2")"
tmux -S "$TMUX_SOCK" send-keys m
shows() { cap "$1"; grep -q -- "$2" "$1"; }
wait_until 10 shows "$WORK/s3" '^ctrprof top - mutex delay'
check_eq top:tmux-key-mutex 1 "$(grep -c '^ctrprof top - mutex delay' "$WORK/s3")"
tmux -S "$TMUX_SOCK" send-keys h
touch "$WORK/livectl/stop"
wait "$LIVE"
wait_until 15 shows "$WORK/s4" '^  exited  *serve_live '
check_eq top:tmux-exited-stays 1 "$(grep -c '^  exited  *serve_live ' "$WORK/s4")"
check_eq top:tmux-exited-site live_alloc "$(awk '/function$/ {getline; print $NF; exit}' "$WORK/s4")"
tmux -S "$TMUX_SOCK" send-keys q
gone=no
no_session() { ! tmux -S "$TMUX_SOCK" has-session 2>/dev/null; }
wait_until 10 no_session && gone=yes
check_eq top:tmux-q-quits yes "$gone"
