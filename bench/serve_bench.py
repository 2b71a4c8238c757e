#!/usr/bin/env python3
"""ctrprof serve on big heap profiles (issue 22): the synthetic profiles of
bench/report_bench.py (real return addresses in real binaries, 32 frames a stack) at 10k
and 100k buckets. For each, a fresh `ctrprof serve` on loopback, then, timed from the
client (urllib):

  first   GET /debug/pprof/heap   read, merge, unbias, symbolize, encode, gzip
  cached  GET /debug/pprof/heap   the same files again: read and hash them, answer from
                                  the response cache
  first   GET /metrics            per-file sums, and the merged, symbolized profiles
  cached  GET /metrics

and the server's memory afterwards (VmHWM, the peak resident set, and VmRSS).

    python3 bench/serve_bench.py --build build [--buckets 10000,100000] [--md]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_bench  # noqa: E402


def get(url):
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=600) as r:
        body = r.read()
        if r.status != 200:
            raise RuntimeError("%s: HTTP %d" % (url, r.status))
    return time.monotonic() - t0, len(body)


def mem(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                out[k] = int(v.split()[0]) / 1024.0  # MiB
    return out


def one(build, nb, work):
    prof = os.path.join(work, "p%d.count" % nb)
    _, _, size = report_bench.write_profile(prof, nb, 32)
    ctr = os.path.join(TOP, build, "ctrprof")
    srv = subprocess.Popen([ctr, "serve", "--listen", "127.0.0.1:0", prof], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        url = srv.stdout.readline().strip()
        if not url:
            raise RuntimeError("ctrprof serve printed no URL")
        idle = mem(srv.pid)["VmRSS"]
        h1, hn = get(url + "debug/pprof/heap")
        h2, _ = get(url + "debug/pprof/heap")
        m1, mn = get(url + "metrics")
        m2, _ = get(url + "metrics")
        m = mem(srv.pid)
        return {"buckets": nb, "file_mb": size / 2**20, "pb_mb": hn / 2**20, "metrics_kb": mn / 1024,
                "heap_first": h1, "heap_cached": h2, "metrics_first": m1, "metrics_cached": m2,
                "idle_mb": idle, "hwm_mb": m["VmHWM"], "rss_mb": m["VmRSS"]}
    finally:
        srv.terminate()
        srv.wait(timeout=30)


def run(build, sizes=(10000, 100000)):
    work = tempfile.mkdtemp(prefix="ctrprof-serve-bench-")
    try:
        return [one(build, nb, work) for nb in sizes]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def markdown(rows):
    s = ("`ctrprof serve` on the synthetic heap profiles of the report benchmark (32 frames a "
         "stack), one server per profile, one request each, timed by the client on loopback.\n\n")
    s += ("| buckets | counter file | heap: first | heap: cached | /metrics: first | /metrics: cached "
          "| server memory: idle / peak / after |\n|---:|---:|---:|---:|---:|---:|---:|\n")
    for r in rows:
        s += ("| %d | %.1f MiB | %.2f s | %.3f s | %.2f s | %.3f s | %.1f / %.1f / %.1f MiB |\n" %
              (r["buckets"], r["file_mb"], r["heap_first"], r["heap_cached"], r["metrics_first"],
               r["metrics_cached"], r["idle_mb"], r["hwm_mb"], r["rss_mb"]))
    s += ("\nA cached request still reads and hashes every file (that is how it knows nothing "
          "changed); what it saves is validating, merging, symbolizing and encoding. A first "
          "/metrics sums each file's counters in one pass and builds the three merged profiles, "
          "symbolized, for its top sites (the heap one again: the cache keeps responses, not "
          "profiles).\n")
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--buckets", default="10000,100000")
    ap.add_argument("--md", action="store_true")
    a = ap.parse_args()
    rows = run(a.build, [int(x) for x in a.buckets.split(",")])
    print(markdown(rows) if a.md else rows)


if __name__ == "__main__":
    sys.exit(main())
