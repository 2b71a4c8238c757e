#!/bin/bash
# rounds.sh N "COMMAND" NAME=ENV... — paired rounds for one command under several
# configurations: each round runs every configuration once, in an order rotated from round
# to round, under `perf stat -e task-clock,context-switches`; prints, per configuration,
# the median over rounds of its CPU (task-clock) and context switches divided by the
# first configuration's in the same round (the baseline, e.g. bare=X=1).
#   bench/rounds.sh 15 "taskset -c 1 build/progs/workqueue" bare=X=1 \
#       defaults=LD_PRELOAD=build/libctrprof.so \
#       off="CTRPROF_MUTEX_FRACTION=0 CTRPROF_BLOCK_RATE=0 LD_PRELOAD=build/libctrprof.so"
# ENV is a space-separated list of VAR=value words (no quoting inside).
set -u
N=$1; shift; CMD=$1; shift
names=(); envs=()
for s in "$@"; do names+=("${s%%=*}"); envs+=("${s#*=}"); done
k=${#names[@]}
out=$(mktemp); trap 'rm -f "$out"' EXIT
for ((r = 0; r < N; r++)); do
    for ((j = 0; j < k; j++)); do
        i=$(((j + r) % k))
        # shellcheck disable=SC2086 # ENV and CMD are word lists
        res=$(env ${envs[$i]} perf stat -x, -e task-clock,context-switches $CMD 2>&1 >/dev/null |
            awk -F, '/task-clock/ { t = $1 } /context-switches/ { c = $1 } END { print t, c }')
        echo "$r ${names[$i]} $res" >>"$out"
    done
done
python3 - "$out" "${names[@]}" <<'PY'
import sys, statistics as st
f, names = sys.argv[1], sys.argv[2:]
d = {}
for l in open(f):
    r, n, t, c = l.split()
    d.setdefault(int(r), {})[n] = (float(t), float(c))
base = names[0]
for n in names:
    ct = [d[r][n][0] / d[r][base][0] for r in d]
    cs = [d[r][n][1] / d[r][base][1] for r in d]
    print(f"{n:12s} rounds {len(d)} cpu/{base} median {st.median(ct):.3f} (min {min(ct):.3f} max {max(ct):.3f}) "
          f"ctxsw/{base} {st.median(cs):.3f}  cpu median {st.median([d[r][n][0] for r in d]):.0f} ms "
          f"ctxsw {st.median([d[r][n][1] for r in d]):.0f}")
PY
