#!/usr/bin/env python3
"""Report speed on a big profile (issue 5): a synthetic 100k-bucket heap profile whose
stacks are 32 frames deep, every frame a real address in real binaries on this machine
(libc, python3, libstdc++, sqlite), so symbolization does real work. Times, medians of
REPS runs, in the same run:

  ctrprof report --format top       end to end: read, merge, unbias, symbolize, print
  ctrprof report --format pprof     the same, writing a gzipped profile.proto
  go tool pprof -top                on that pprof file (already symbolized)

    python3 bench/report_bench.py --build build [--buckets 100000] [--reps 3] [--md]
"""
import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "e2e"))
import mkprofile  # noqa: E402  (the counter-file writer the report tests use)


def fnv32(b):
    h = 2166136261
    for c in b:
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    return m.group(1) if m else "-"


def function_ranges(path):
    """(start, size) of every defined function (dynamic and static symbols)."""
    out = set()
    for flag in ("-D", ""):
        r = subprocess.run(["nm", "--defined-only", "-S"] + ([flag] if flag else []) + [path],
                           capture_output=True, text=True).stdout
        for line in r.splitlines():
            f = line.split()
            if len(f) == 4 and f[2] in "tTwW" and int(f[1], 16) > 8:
                out.add((int(f[0], 16), int(f[1], 16)))
    return sorted(out)


def functions(path):
    """ELF virtual addresses inside defined functions (dynamic and static symbols)."""
    return sorted({start + min(size // 2, 0x40) for start, size in function_ranges(path)})


def modules():
    cands = ["/lib/x86_64-linux-gnu/libc.so.6", os.path.realpath("/usr/bin/python3"),
             "/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libsqlite3.so.0",
             os.path.realpath("/usr/bin/sqlite3")]
    mods = []
    for p in cands:
        p = os.path.realpath(p)
        if os.path.exists(p):
            fs = functions(p)
            if fs:
                bid = build_id(p)
                mods.append((p, bid, fnv32(p.encode() + b"\0" + bid.encode()), fs))
    return mods


def write_distinct_profile(path, nframes, depth=4, seed=2):
    """nframes distinct return addresses, each used by exactly one frame of one stack:
    what symbolization costs when nothing repeats."""
    rnd = random.Random(seed)
    mods = modules()
    addrs = []
    for p, bid, mid, _ in mods:
        for start, size in function_ranges(p):
            for off in range(1, size, 9):
                addrs.append("%08x+0x%x" % (mid, start + off))
    rnd.shuffle(addrs)
    addrs = addrs[:nframes]
    meta = ("TimeBegin: 2026-01-01T00:00:00Z\nTimeEnd: 2026-01-08T00:00:00Z\nProgram: bench\n"
            "Version: ctrprof-0.1.0\nGOOS: linux\nGOARCH: amd64\nCtrprof-Format: 1\nMemRate: 524288\n"
            "MutexFraction: 1\nBlockRate: 10000\nUnwind: libunwind\nDepth: 64\n\n").encode()
    counters = [("ctrprof/module:%08x:%s:%s" % (mid, bid, p), 1) for p, bid, mid, _ in mods]
    for i in range(0, len(addrs) - depth + 1, depth):
        counters.append(("ctrprof/heap:alloc:64\n" + "\n".join(addrs[i:i + depth]), 1))
    mkprofile.write_file(path, meta, [(n.encode(), v) for n, v in counters])
    return len(addrs)


def write_profile(path, nb, depth, seed=1):
    rnd = random.Random(seed)
    mods = modules()
    pool = []
    for _, _, mid, fs in mods:
        for a in rnd.sample(fs, min(len(fs), 6000)):
            pool.append("%08x+0x%x" % (mid, a))
    meta = ("TimeBegin: 2026-01-01T00:00:00Z\nTimeEnd: 2026-01-08T00:00:00Z\nProgram: bench\n"
            "Version: ctrprof-0.1.0\nGOOS: linux\nGOARCH: amd64\nCtrprof-Format: 1\nMemRate: 524288\n"
            "MutexFraction: 1\nBlockRate: 10000\nUnwind: libunwind\nDepth: 64\n\n").encode()
    counters = [("ctrprof/module:%08x:%s:%s" % (mid, bid, p), 1) for p, bid, mid, _ in mods]
    roots = pool[:200]  # stacks share their outer frames, as real ones do
    seen = set()
    while len(seen) < nb:
        size = rnd.choice((16, 24, 32, 48, 64, 128, 256, 1024, 4096, 65536))
        frames = [rnd.choice(pool) for _ in range(depth - 4)] + rnd.sample(roots, 4)
        name = "ctrprof/heap:alloc:%d\n%s" % (size, "\n".join(frames))
        if name in seen:
            continue  # a name appears once in a counter file
        seen.add(name)
        counters.append((name, rnd.randint(1, 50)))
        if len(seen) % 3 == 0:
            counters.append((name.replace(":alloc:", ":free:", 1), 1))
    size = mkprofile.write_file(path, meta, [(n.encode(), v) for n, v in counters])
    return len(mods), len(pool), size


def timed(cmd, env=None):
    t0 = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.decode(errors="replace").strip()[-300:]))
    return dt


def run(build, nb=100000, depth=32, reps=3):
    work = tempfile.mkdtemp(prefix="ctrprof-report-bench-")
    try:
        prof = os.path.join(work, "big.count")
        nmods, npool, size = write_profile(prof, nb, depth)
        ctr = os.path.join(TOP, build, "ctrprof")
        pb = os.path.join(work, "big.pb.gz")
        env = dict(os.environ, HOME=work)
        top, pp, go, rawb = [], [], [], []
        have_go = shutil.which("go") is not None
        for _ in range(reps):
            top.append(timed([ctr, "report", "--sample", "alloc_space", "--format", "top", prof]))
            pp.append(timed([ctr, "report", "--format", "pprof", "-o", pb, prof]))
            rawb.append(timed([ctr, "report", "--format", "raw", prof]))
            if have_go:
                go.append(timed(["go", "tool", "pprof", "-top", "-sample_index=alloc_space", pb], env=env))
        # symbolization alone: 100k distinct frames, top (symbolized) minus raw (not)
        dprof = os.path.join(work, "distinct.count")
        ndist = write_distinct_profile(dprof, 100000)
        dtop, draw = [], []
        for _ in range(reps):
            dtop.append(timed([ctr, "report", "--format", "top", dprof]))
            draw.append(timed([ctr, "report", "--format", "raw", dprof]))
        res = {"buckets": nb, "depth": depth, "modules": nmods, "addresses": npool,
               "distinct": ndist, "dtop": statistics.median(dtop), "draw": statistics.median(draw),
               "file_mb": size / 2**20, "pb_mb": os.path.getsize(pb) / 2**20,
               "top": statistics.median(top), "pprof": statistics.median(pp), "rawbig": statistics.median(rawb),
               "go": statistics.median(go) if go else None}
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)


def markdown(r):
    s = ("A synthetic heap profile of %d buckets, %d frames each, drawn from %d distinct function "
         "addresses in %d real binaries of this machine; the counter file is %.0f MiB, the pprof "
         "file %.1f MiB. Medians.\n\n" % (r["buckets"], r["depth"], r["addresses"], r["modules"],
                                          r["file_mb"], r["pb_mb"]))
    s += "| step | seconds |\n|---|---:|\n"
    s += "| `ctrprof report --format top` (read, unbias, symbolize, print) | %.2f |\n" % r["top"]
    s += "| `ctrprof report --format pprof` (the same, writing profile.proto) | %.2f |\n" % r["pprof"]
    s += "| `ctrprof report --format raw` (read and print, no symbolization) | %.2f |\n" % r["rawbig"]
    if r["go"] is not None:
        s += "| `go tool pprof -top` on that file | %.2f |\n" % r["go"]
    s += ("| %d distinct frames (4 per stack, none repeated): `--format top` | %.2f |\n"
          "| the same, `--format raw` (no symbolization) | %.2f |\n"
          "| symbolizing %d distinct frames (the difference) | %.2f |\n"
          % (r["distinct"], r["dtop"], r["draw"], r["distinct"], r["dtop"] - r["draw"]))
    if r["go"] is not None:
        s += "\nctrprof's top / pprof's top on the big profile: **%.2f**\n" % (r["top"] / r["go"])
    else:
        s += "\n(go is not installed: no pprof comparison)\n"
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--buckets", type=int, default=100000)
    ap.add_argument("--depth", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--md", action="store_true")
    a = ap.parse_args()
    r = run(a.build, a.buckets, a.depth, a.reps)
    print(markdown(r) if a.md else r)


if __name__ == "__main__":
    sys.exit(main())
