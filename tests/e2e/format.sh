#!/usr/bin/env bash
# The profile's scheme, Ctrprof-Format 4 (issue 23; docs/SCHEMA.md): each bucket names its
# stack once (a ditto of an earlier bucket's outer frames where they share them), its
# other values are 32-byte ctrprof/<kind>:<id> counters; a heap bucket is a site, with
# unbiased objects and bytes; its free record names its first lifetime class, counted only
# there. Version 1, 2 and 3 files still report, and the same.
source "$(dirname "$0")/lib.sh"
PF="$TOP/tests/fixtures/profiles"

# canon: a `report --format raw` output with its samples in a fixed order
canon() {
    python3 -c '
import sys
blocks, cur = [], []
for line in sys.stdin.read().splitlines():
    if line.startswith("size ") or line.startswith("rate "):
        if cur: blocks.append("\n".join(cur))
        cur = [line]
    else:
        cur.append(line)
if cur: blocks.append("\n".join(cur))
print("\n".join(sorted(blocks)))'
}

# 1. A version-1 file (written by the shim before the stack table) still reports, and
#    reports what the version-2 file of the same run shape does.
"$CTRPROF" report --format raw "$PF/namestacks-v1.count" >"$WORK/v1.txt" 2>&1
check_eq "format:v1-reports" "rate 1, 65 samples" "$(head -1 "$WORK/v1.txt")"
"$CTRPROF" report --format raw "$PF/namestacks-v2.count" >"$WORK/v2.txt" 2>&1
if [ "$(canon <"$WORK/v1.txt")" = "$(canon <"$WORK/v2.txt")" ]; then
    pass "format:v1-and-v2-report-alike"
else
    fail "format:v1-and-v2-report-alike" "$(diff <(canon <"$WORK/v1.txt") <(canon <"$WORK/v2.txt") | head -5)"
fi
# 1b. A version-3 file (a heap bucket per site, values unbiased by the writer) of the same
#     run shape reports the same values per stack as the version-2 file (rate 1: exact).
"$CTRPROF" report --format raw "$PF/namestacks-v3.count" >"$WORK/v3.txt" 2>&1
persite() {
    python3 -c '
import sys, collections
tot = collections.defaultdict(lambda: [0.0] * 4)
cur, vals = None, None
def flush():
    if vals is not None:
        t = tot[tuple(cur)]
        for i in range(4): t[i] += vals[i]
for line in sys.stdin.read().splitlines()[1:]:
    if not line.startswith(" "):
        flush()
        kv = dict(w.split("=") for w in line.split() if "=" in w)
        vals = [float(kv[k]) for k in ("alloc_objects", "alloc_space", "inuse_objects", "inuse_space")]
        cur = []
    else:
        cur.append(line.strip())
flush()
print(len(tot), " ".join(sorted("/".join("%.0f" % x for x in v) for v in tot.values())))'
}
check_eq "format:v3-reports" "rate 1, 65 samples" "$(head -1 "$WORK/v3.txt")"
check_eq "format:v2-and-v3-report-alike" "$(persite <"$WORK/v2.txt")" "$(persite <"$WORK/v3.txt")"
check_eq "format:v3-dump-names" "65 65 64 64 64" "$("$CTRPROF" dump --json "$PF/namestacks-v3.count" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
h = [k.split("\n")[0] for k in c]
print(*(h.count("ctrprof/heap:" + n) for n in ("alloc_objects", "alloc_space", "peak_objects", "free_objects", "free_space")))')"
# 1c. A version-4 file of the same run shape (short per-site kinds, the first lifetime
#     class implied by the free record) reports the same per stack as the version-3 file,
#     and dump names the same values, each site's lifetime classes adding up to its frees.
"$CTRPROF" report --format raw "$PF/namestacks-v4.count" >"$WORK/v4.txt" 2>&1
check_eq "format:v4-reports" "rate 1, 65 samples" "$(head -1 "$WORK/v4.txt")"
check_eq "format:v3-and-v4-report-alike" "$(persite <"$WORK/v3.txt")" "$(persite <"$WORK/v4.txt")"
check_eq "format:v4-dump-names" "65 65 64 64 64 64" "$("$CTRPROF" dump --json "$PF/namestacks-v4.count" | python3 -c '
import json, sys, collections
c = json.load(sys.stdin)["counters"]
h = [k.split("\n")[0] for k in c]
fr, lf = collections.Counter(), collections.Counter()
for k, v in c.items():
    n, _, st = k.partition("\n")
    if n == "ctrprof/heap:free_objects": fr[st] += v
    if n.startswith("ctrprof/heap:life_objects:"): lf[st] += v
print(*(h.count("ctrprof/heap:" + n) for n in ("alloc_objects", "alloc_space", "peak_objects", "free_objects", "free_space")),
      sum(1 for st in fr if fr[st] == lf[st] > 0))')"
# dump shows a version-1 file as it is stored
check_eq "format:v1-dump-as-stored" "$("$CTRPROF" dump --raw --json "$PF/namestacks-v1.count" | md5sum)" \
    "$("$CTRPROF" dump --json "$PF/namestacks-v1.count" | md5sum)"

# 2. A rate-1 run of 512 distinct stacks (depth 32), twice each: every bucket named once,
#    in a few frames and a ditto; the expanded stacks are whole and distinct.
LD_PRELOAD="$SHIM" CTRPROF_MEM_RATE=1 CTRPROF_FILE="$WORK/s.count" "$PROGS/namestacks" 2 512 >/dev/null
check_eq "format:writes-format-4" "Ctrprof-Format: 4" "$("$CTRPROF" dump "$WORK/s.count" | grep '^Ctrprof-Format')"
"$CTRPROF" dump --raw --json "$WORK/s.count" >"$WORK/raw.json"
"$CTRPROF" dump --json "$WORK/s.count" >"$WORK/exp.json"
res=$(python3 - "$WORK/raw.json" "$WORK/exp.json" <<'PY'
import json, re, sys
raw = json.load(open(sys.argv[1]))["counters"]
exp = json.load(open(sys.argv[2]))["counters"]
recs = [k for k in raw if k.split("\n")[0].startswith("ctrprof/heap:")]
fs = [k for k in raw if re.match(r"ctrprof/f[0-9u]?:", k)]
# bytes of names per bucket, both counters (format 1: ~2 x 560 for these stacks)
per = sum(len(k) for k in recs + fs) / max(len(recs), 1)
dots = [k for k in recs + fs if "." in k]
allocs = {k: v for k, v in exp.items() if k.startswith("ctrprof/heap:alloc_objects\n")}
frees = {k: v for k, v in exp.items() if k.startswith("ctrprof/heap:free_objects\n")}
deep = [k for k in allocs if k.count("\n") == 32 and "truncated" not in k]
# every frame expanded whole, module dittos ("+<offset>") included
bad = [l for k in allocs for l in k.split("\n")[1:] if not re.match(r"^[0-9a-f]{8}\+0x[0-9a-f]+$", l)]
mods = set(l.split("+")[0] for k in allocs for l in k.split("\n")[1:])
sys.stderr.write("bytes of names a bucket: %.1f\n" % per)
print("buckets=%d f=%d small=%d nodots=%d deep=%d frames=%d/%d allocs=%d frees=%d" % (
    len(recs), len(fs), per < 90, not dots, len(set(deep)), len(bad), len(mods),
    sum(allocs.values()), sum(frees.values())))
PY
)
check_eq "format:each-stack-once-in-few-bytes" \
    "buckets=513 f=512 small=1 nodots=1 deep=512 frames=0/2 allocs=1025 frees=1024" "$res"

# 2b. The same run's per-site counters (format 4): each takes the format's smallest record
#     (a name of at most 16 bytes: 32 bytes), and a site has a lifetime counter only for
#     each class past its first (implied by its free record): as many as the sites' classes
#     less one each (a site whose first free went unclassed implies "not known", `fu`,
#     which readers do not show: every shown class of it is a counter), read back from
#     the expanded names; and a `lu` counter (lifetimes not
#     known, which readers do not show) only where frees went unclassed: at most as many
#     as ctrprof/health:life-unbracketed (a run of frees whose bracket held two classes:
#     glibc trimming the heap inside one of namestacks' last frees, ~50 us in the kernel
#     with no switch, left 15 so in one run of 3).
res=$(python3 - "$WORK/raw.json" "$WORK/exp.json" <<'PY'
import json, re, sys, collections
raw = json.load(open(sys.argv[1]))["counters"]
exp = json.load(open(sys.argv[2]))["counters"]
per = [k for k in raw if "\n" not in k and re.match(r"ctrprof/.+:[0-9a-f]+$", k) and
       not re.match(r"ctrprof/(health|process|note|module|timeline|heap-peak):", k)]
big = [k for k in per if len(k) > 16]
life = [k for k in per if re.match(r"ctrprof/(l[0-9u]|life:[a-z0-9]+):", k)]
cls = collections.Counter(k.split("\n", 1)[1] for k in exp if k.startswith("ctrprof/heap:life_objects:"))
implied = [k for k in raw if re.match(r"ctrprof/f[0-9]:", k)]  # a shown class implied, not a counter
lu = [k for k in life if k.startswith("ctrprof/lu:")]
unbr = raw.get("ctrprof/health:life-unbracketed", 0)
print("big=%d life=%d classes-past-first=%d unknown-ok=%d" % (len(big), len(life) - len(lu),
      sum(cls.values()) - len(implied), len(lu) <= unbr))
PY
)
case "$res" in
"big=0 life="*) want="${res#*life=}"; want="${want%% *}"
    check_eq "format:v4-site-counters-small-and-few" "big=0 life=$want classes-past-first=$want unknown-ok=1" "$res" ;;
*) fail "format:v4-site-counters-small-and-few" "$res" ;;
esac

# 2c. Stacks enough for the chains' heads to outgrow the caches (16,384 heads and more:
#     events.c's CP_PREFETCH_HEADS), where the program's thread hashes each stack and the
#     record carries the hash to the flusher process (events.c's emit_place): every pass
#     after the first finds each stack's bucket by that hash (a wrong one would make
#     another bucket for it), each allocation counted once, at its own stack.
LD_PRELOAD="$SHIM" CTRPROF_MEM_RATE=1 CTRPROF_FILE="$WORK/hs.count" "$PROGS/namestacks" 3 32768 >/dev/null
res=$("$CTRPROF" dump --raw --json "$WORK/hs.count" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
recs = [v for k, v in c.items() if k.split("\n")[0].startswith("ctrprof/heap:")]
print("buckets=%d threes=%d allocs=%d" % (len(recs), sum(v == 3 for v in recs), sum(recs)))')
check_eq "format:hashed-stacks-found-again" "buckets=32769 threes=32768 allocs=98305" "$res"

# 3. Two processes sharing one file: ids never collide, the same stacks add up.
for i in 1 2; do
    LD_PRELOAD="$SHIM" CTRPROF_MEM_RATE=1 CTRPROF_FILE="$WORK/sh.count" "$PROGS/namestacks" 1 64 >/dev/null
done
res=$("$CTRPROF" dump --json "$WORK/sh.count" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
n = {k.split("\n", 1)[1]: v for k, v in c.items() if k.startswith("ctrprof/heap:alloc_objects\n")}
b = {k.split("\n", 1)[1]: v for k, v in c.items() if k.startswith("ctrprof/heap:alloc_space\n")}
# the sites of 16- and 24-byte objects (each of namestacks sites has one size)
a = [v for k, v in n.items() if b.get(k) in (16 * v, 24 * v)]
print(len(a), sorted(set(a)), c.get("ctrprof/ids"))')
check_eq "format:shared-file-adds-up" "19 [2] 130" "$res"

# 4. Hostile dittos: a base that is missing, itself, or newer ends the stack in
#    "truncated"; nothing hangs.
python3 "$TOP/tests/e2e/mkprofile.py" "$WORK/h.count" 'Ctrprof-Format: 2' 'MemRate: 1' -- \
    'ctrprof/heap:1:8\nab000001+0x10=1' 'ctrprof/heap:2:8\nab000001+0x20\n^1:0=1' \
    'ctrprof/heap:3:8\nab000001+0x30\n^9:0=1' 'ctrprof/heap:4:8\n^4:0=1' \
    'ctrprof/heap:5:8\nab000001+0x50\n^6:0=1' 'ctrprof/heap:6:8\nab000001+0x60\n^2:ff=1' \
    'ctrprof/f:2=1' >/dev/null
res=$(timeout 20 "$CTRPROF" dump --json "$WORK/h.count" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
print(" ".join(sorted(k.replace("\n", "/") + "=" + str(v) for k, v in c.items() if k.startswith("ctrprof/heap"))))')
check_eq "format:hostile-dittos" "$(printf '%s ' \
    'ctrprof/heap:alloc:8/ab000001+0x10=1' 'ctrprof/heap:alloc:8/ab000001+0x20/ab000001+0x10=1' \
    'ctrprof/heap:alloc:8/ab000001+0x30/truncated=1' 'ctrprof/heap:alloc:8/ab000001+0x50/truncated=1' \
    'ctrprof/heap:alloc:8/ab000001+0x60=1' 'ctrprof/heap:alloc:8/truncated=1' \
    'ctrprof/heap:free:8/ab000001+0x20/ab000001+0x10=1' | sed 's/ $//')" "$res"

# 5. Other per-bucket counters, ctrprof/<kind>:<id>, read as the format-1 names a writer
#    would have given them (<namespace><kind>[:<size>], then the stack); one of no bucket,
#    and counters of other namespaces that end in a hex-looking word, as they are.
python3 "$TOP/tests/e2e/mkprofile.py" "$WORK/k.count" 'Ctrprof-Format: 2' 'MemRate: 1' -- \
    'ctrprof/process:ab=1' 'ctrprof/ids=2' 'ctrprof/heap:1:64\nab000001+0x10\n+20=5' 'ctrprof/f:1=3' \
    'ctrprof/peak:1=2' 'ctrprof/life:lt1us:1=1' 'ctrprof/mutex:2\n^1:1=9' 'ctrprof/peak:2=4' \
    'ctrprof/peak:7=8' 'ctrprof/health:x:ab=6' >/dev/null
res=$("$CTRPROF" dump --json "$WORK/k.count" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
print(" ".join(sorted(k.replace("\n", "/") + "=" + str(v) for k, v in c.items())))')
check_eq "format:per-bucket-kinds" "$(printf '%s ' 'ctrprof/health:x:ab=6' \
    'ctrprof/heap:alloc:64/ab000001+0x10/ab000001+0x20=5' 'ctrprof/heap:free:64/ab000001+0x10/ab000001+0x20=3' \
    'ctrprof/heap:life:lt1us:64/ab000001+0x10/ab000001+0x20=1' 'ctrprof/heap:peak:64/ab000001+0x10/ab000001+0x20=2' \
    'ctrprof/ids=2' 'ctrprof/mutex:contentions/ab000001+0x20=9' 'ctrprof/mutex:peak/ab000001+0x20=4' \
    'ctrprof/peak:7=8' 'ctrprof/process:ab=1' | sed 's/ $//')" "$res"

# 5b. A reader of one profile type expands only that type's records (cp_names_parse_types),
#     but the others stay bases of its dittos: a mutex stack that is a heap record's frames,
#     a block stack that continues the mutex one.
python3 "$TOP/tests/e2e/mkprofile.py" "$WORK/k2.count" 'Ctrprof-Format: 2' 'MemRate: 1' 'MutexFraction: 1' \
    'BlockRate: 1' -- 'ctrprof/ids=3' 'ctrprof/heap:1:64\nab000001+0x10\n+20=5' \
    'ctrprof/mutex:2\n^1:1=196608' 'ctrprof/f:2=7000' 'ctrprof/block:3\nab000001+0x30\n^2:0=131072' \
    'ctrprof/f:3=5000' >/dev/null
check_eq "format:one-type-read-dittos-of-others" "?+0x20 3|?+0x20;?+0x30 2|?+0x20;?+0x10 5" \
    "$("$CTRPROF" report --profile mutex --sample contentions --format folded "$WORK/k2.count")|$(
        "$CTRPROF" report --profile block --sample contentions --format folded "$WORK/k2.count")|$(
        "$CTRPROF" report --profile heap --sample alloc_objects --format folded "$WORK/k2.count")"

# 5c. Two stacks of 301 frames that differ only in the outermost one stay apart (the
#     report keyed a sample by its first 4,200 bytes of text until session 44: the second
#     stack's 4 allocations went to the first's frames).
fr=$(python3 -c "print('\\\\n'.join('ab000001+0x%x' % (0x1000 + i) for i in range(300)))")
python3 "$TOP/tests/e2e/mkprofile.py" "$WORK/deep.count" 'Ctrprof-Format: 2' 'MemRate: 1' -- \
    "ctrprof/heap:1:8\\n${fr}\\nab000001+0xaaa=3" "ctrprof/heap:2:8\\n${fr}\\nab000001+0xbbb=4" >/dev/null
check_eq "format:deep-stacks-apart" "?+0xaaa 3|?+0xbbb 4" \
    "$("$CTRPROF" report --sample alloc_objects --format folded "$WORK/deep.count" |
        awk '{split($1, f, ";"); printf "%s%s %s", (NR > 1 ? "|" : ""), f[1], $NF}')"

# 6. Format 3: a site's bytes are its ab/fb/pb/lb counters where the writer wrote them (a
#    site that has had two sizes) and its objects times the record's size where it did
#    not; a format-2 file of the same names reads as sampled counts of one size.
spec=('ctrprof/ids=2' 'ctrprof/heap:1:1024\nab000001+0x10\n+20=100' 'ctrprof/f:1=40'
    'ctrprof/ab:1=900000' 'ctrprof/fb:1=300000' 'ctrprof/peak:1=7' 'ctrprof/pb:1=60000'
    'ctrprof/life:1us:1=30' 'ctrprof/lb:1us:1=250000' 'ctrprof/heap:2:16\nab000001+0x40\n^1:1=3'
    'ctrprof/f:2=1' 'ctrprof/peak:2=2' 'ctrprof/life:lt1us:2=1')
python3 "$TOP/tests/e2e/mkprofile.py" "$WORK/f3.count" 'Ctrprof-Format: 3' 'MemRate: 524288' -- "${spec[@]}" >/dev/null
python3 "$TOP/tests/e2e/mkprofile.py" "$WORK/f2.count" 'Ctrprof-Format: 2' 'MemRate: 524288' -- "${spec[@]}" >/dev/null
res=$("$CTRPROF" dump --json "$WORK/f3.count" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
print(" ".join(sorted(k.replace("\n", "/") + "=" + str(v) for k, v in c.items() if k.startswith("ctrprof/heap:"))))')
check_eq "format:v3-site-bytes-written-or-implied" "$(printf '%s ' \
    'ctrprof/heap:alloc_objects/ab000001+0x10/ab000001+0x20=100' 'ctrprof/heap:alloc_objects/ab000001+0x40/ab000001+0x20=3' \
    'ctrprof/heap:alloc_space/ab000001+0x10/ab000001+0x20=900000' 'ctrprof/heap:alloc_space/ab000001+0x40/ab000001+0x20=48' \
    'ctrprof/heap:free_objects/ab000001+0x10/ab000001+0x20=40' 'ctrprof/heap:free_objects/ab000001+0x40/ab000001+0x20=1' \
    'ctrprof/heap:free_space/ab000001+0x10/ab000001+0x20=300000' 'ctrprof/heap:free_space/ab000001+0x40/ab000001+0x20=16' \
    'ctrprof/heap:life_objects:1us/ab000001+0x10/ab000001+0x20=30' 'ctrprof/heap:life_objects:lt1us/ab000001+0x40/ab000001+0x20=1' \
    'ctrprof/heap:life_space:1us/ab000001+0x10/ab000001+0x20=250000' 'ctrprof/heap:life_space:lt1us/ab000001+0x40/ab000001+0x20=16' \
    'ctrprof/heap:peak_objects/ab000001+0x10/ab000001+0x20=7' 'ctrprof/heap:peak_objects/ab000001+0x40/ab000001+0x20=2' \
    'ctrprof/heap:peak_space/ab000001+0x10/ab000001+0x20=60000' 'ctrprof/heap:peak_space/ab000001+0x40/ab000001+0x20=32' | sed 's/ $//')" "$res"
# the report: no unbiasing of format-3 values (they are already), but of format 2's
check_eq "format:v3-report-takes-values-as-written" "103 900048 100" \
    "$("$CTRPROF" report --sample alloc_objects --format raw "$WORK/f3.count" 2>/dev/null | awk '/alloc_objects=/ { for (i = 1; i <= NF; i++) if ($i ~ /^alloc_objects=/) { split($i, a, "="); o += a[2] } } END { printf "%d ", o }')$("$CTRPROF" report --sample alloc_space --format raw "$WORK/f3.count" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^alloc_space=/) { split($i, a, "="); o += a[2] } } END { printf "%d ", o }')$("$CTRPROF" report --format raw "$WORK/f2.count" 2>/dev/null | awk '/^size 1024:/ { print $3 }')"

# 7. Format 4: a site's free record, ctrprof/f<class>:<id>, implies its first lifetime
#    class (the objects freed minus the other classes, the class "not known" (lu) among
#    them; bytes alike, each other class's bytes written (lb<c>) or its objects times the
#    record's size), never below 0; a free record without a class (ctrprof/f:<id>, the heap
#    over time off) implies none; the peak is ctrprof/p; other kinds read as they are.
spec=('ctrprof/ids=3' 'ctrprof/heap:1:1024\nab000001+0x10\n+20=100' 'ctrprof/f3:1=40'
    'ctrprof/ab:1=900000' 'ctrprof/fb:1=300000' 'ctrprof/p:1=7' 'ctrprof/pb:1=60000'
    'ctrprof/l0:1=5' 'ctrprof/lb0:1=4000' 'ctrprof/lu:1=2' 'ctrprof/heap:2:16\nab000001+0x40\n^1:1=3'
    'ctrprof/f0:2=1' 'ctrprof/l8:2=2' 'ctrprof/p:2=2' 'ctrprof/heap:3:8\nab000001+0x50=4'
    'ctrprof/f:3=4' 'ctrprof/l5:3=1' 'ctrprof/x:3=9')
python3 "$TOP/tests/e2e/mkprofile.py" "$WORK/f4.count" 'Ctrprof-Format: 4' 'MemRate: 524288' -- "${spec[@]}" >/dev/null
res=$("$CTRPROF" dump --json "$WORK/f4.count" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
print(" ".join(sorted(k.replace("\n", "/") + "=" + str(v) for k, v in c.items()
                      if k.startswith("ctrprof/heap:") and ("life" in k or "peak" in k or ":x\n" in k))))')
check_eq "format:v4-implied-class" "$(printf '%s ' \
    'ctrprof/heap:life_objects:100us/ab000001+0x10/ab000001+0x20=33' 'ctrprof/heap:life_objects:10ms/ab000001+0x50=1' \
    'ctrprof/heap:life_objects:10s/ab000001+0x40/ab000001+0x20=2' 'ctrprof/heap:life_objects:lt1us/ab000001+0x10/ab000001+0x20=5' \
    'ctrprof/heap:life_objects:lt1us/ab000001+0x40/ab000001+0x20=0' 'ctrprof/heap:life_space:100us/ab000001+0x10/ab000001+0x20=293952' \
    'ctrprof/heap:life_space:10ms/ab000001+0x50=8' 'ctrprof/heap:life_space:10s/ab000001+0x40/ab000001+0x20=32' \
    'ctrprof/heap:life_space:lt1us/ab000001+0x10/ab000001+0x20=4000' 'ctrprof/heap:life_space:lt1us/ab000001+0x40/ab000001+0x20=0' \
    'ctrprof/heap:peak_objects/ab000001+0x10/ab000001+0x20=7' 'ctrprof/heap:peak_objects/ab000001+0x40/ab000001+0x20=2' \
    'ctrprof/heap:peak_space/ab000001+0x10/ab000001+0x20=60000' 'ctrprof/heap:peak_space/ab000001+0x40/ab000001+0x20=32' \
    'ctrprof/heap:x/ab000001+0x50=9' | sed 's/ $//')" "$res"
# the same names in a format-3 file are not format 4's: f3 and l0 are other kinds there
python3 "$TOP/tests/e2e/mkprofile.py" "$WORK/f4as3.count" 'Ctrprof-Format: 3' 'MemRate: 1' -- \
    'ctrprof/ids=1' 'ctrprof/heap:1:8\nab000001+0x10=5' 'ctrprof/f3:1=4' 'ctrprof/l0:1=1' >/dev/null
check_eq "format:v4-kinds-only-in-v4" "ctrprof/heap:alloc_objects=5 ctrprof/heap:alloc_space=40 ctrprof/heap:f3=4 ctrprof/heap:l0=1" \
    "$("$CTRPROF" dump --json "$WORK/f4as3.count" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
print(" ".join(sorted(k.split("\n")[0] + "=" + str(v) for k, v in c.items() if k.startswith("ctrprof/heap:"))))')"
