#!/usr/bin/env bash
# Cache lines (docs/ARCHITECTURE.md, "Cache lines"; base/line.h): every global the hot
# hooks read is on a line that nothing written at the flusher's pace shares. Read from
# the shim the build made: the data symbols the hot functions' instructions address
# (objdump), each of which must be
#   - in the .cp_read_mostly section (CP_READ_MOSTLY), which starts and ends on a 64-byte
#     boundary, or
#   - an object that fills its lines alone (base/line.h's cp_line_*, 64-byte aligned, a
#     size that is a multiple of 64), or
#   - on the list below, each with why it may share a line.
# Session 37 found heaptime.c's epoch (bumped by the flusher at every new peak) on the
# line of cp_ht_on and cp_cycle: a quarter of cp_event_alloc's samples on perl.
. "$(dirname "$0")/lib.sh"

if ! command -v objdump >/dev/null || ! command -v nm >/dev/null || ! command -v readelf >/dev/null; then
    skip lines:hot-reads "no objdump, nm or readelf (binutils)"
    exit 0
fi

out=$(python3 - "$SHIM" <<'PY'
import re, subprocess, sys
so = sys.argv[1]
# the functions an event or an uncontended lock runs (LTO's suffixes: .part.0, ...)
HOT = set("""malloc free calloc realloc sampled cp_event_alloc cp_event_free_ptr cp_unwind_cfi
cp_stack_capture_from wc_verify move_states account_done free_record malloc_slow free_slow
realloc_slow record_free_ptr cp_sample_next pthread_mutex_lock pthread_mutex_unlock
pthread_cond_signal pthread_cond_broadcast""".split())
# written where they are read, rarely, or per design (why each may share a line)
SHARED_OK = {
    "cp_lost_n": "loss counters: written only when an event is lost",
    "cp_ring_kick": "the flusher's wake-up word: written when a ring passes half full",
    "cp_ring_consumer_sleeping": "read only when a ring passes half full",
    "early": "the pre-constructor table: used before the engine is up",
    "early_n": "the pre-constructor table's count: used before the engine is up",
    "n_fallbacks": "written only when the CFI walk falls back",
    "wc_pool": "taken once a thread (its walk cache)",
    "pool": "dlsym's early blocks: before the real functions are known",
    "resolving": "start-up only",
}
secs = {}
for l in subprocess.run(["readelf", "-SW", so], capture_output=True, text=True).stdout.splitlines():
    m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", l)
    if m:
        secs[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
rm = secs.get(".cp_read_mostly")
syms = []
for l in subprocess.run(["nm", "-S", so], capture_output=True, text=True).stdout.splitlines():
    p = l.split()
    if len(p) == 4 and p[2] in "dDbB":
        syms.append((int(p[0], 16), int(p[1], 16), p[3]))
syms.sort()
refs = {}
cur = None
dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", so], capture_output=True, text=True).stdout
for l in dis.splitlines():
    m = re.match(r"^[0-9a-f]+ <([^>]*)>:$", l)
    if m:
        cur = m.group(1).split("@")[0].split(".")[0]
        continue
    if cur in HOT:
        m = re.search(r"# ([0-9a-f]+) <", l)
        if m:
            a = int(m.group(1), 16)
            for sa, sz, n in syms:
                if sa <= a < sa + max(sz, 1):
                    refs.setdefault((sa, sz, n), set()).add(cur)
bad = []
if not rm:
    bad.append("no .cp_read_mostly section")
elif rm[0] % 64 or rm[1] % 64:
    bad.append(".cp_read_mostly at %#x, %d bytes: not whole lines" % rm)
for (sa, sz, n), fns in sorted(refs.items()):
    base = n.split(".")[0]
    if rm and rm[0] <= sa < rm[0] + rm[1]:
        continue
    if sa % 64 == 0 and sz >= 64 and sz % 64 == 0:
        continue
    if base in SHARED_OK:
        continue
    bad.append("%s (%d bytes at %#x, read by %s)" % (n, sz, sa, ",".join(sorted(fns))))
print("refs=%d" % len(refs))
print("bad=" + "; ".join(bad))
PY
)
refs=$(sed -n 's/^refs=//p' <<<"$out")
bad=$(sed -n 's/^bad=//p' <<<"$out")
if [ "${refs:-0}" -lt 20 ]; then
    fail lines:hot-reads "found only ${refs:-0} globals read by the hot functions (the scan is broken): $out"
else
    check_eq "lines:hot-reads ($refs globals)" "" "$bad"
fi
