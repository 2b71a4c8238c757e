#!/usr/bin/env python3
"""The program shapes of issue 23, each bare, under ctrprof at its default settings, at
rate 1 and (for the heap shapes) under heaptrack and under `ctrprof run --rate 1`, as a
user compares the two wrappers: heaptrack's file is compressed by the time it exits,
and so is ctrprof's profile when `ctrprof run` is done (its packing in the wall time,
its packed profile the size); the lock-heavy ones also with mutex and block profiling
off. Runs of one repetition are interleaved, in an order that rotates,
so that drifts in machine load hit every configuration alike; ratios are to the bare run
of the same repetitions.

  deepstacks    (a) 262,144 distinct allocation stacks, 22 frames deep, 33.6 M allocations
  churn         (b) 20 M short-lived small objects from 128 stacks (a bignum's temporaries;
                the source allocates 40 M from 256, of which gcc -O2 elides half)
  sizes_mt      (c) two threads, two allocation stacks, random sizes 1..8192
  thread_churn  (d) 20,000 threads created and retired, two alive at a time
  bigheap       100,000 live objects of 2-6 KiB (~400 MB), replaced twice over: the live
                map's memory on a heap of KiB-sized objects
  namechurn     (b) 10 M small objects freed a few allocations later, from 343 stacks
                whose three inner call sites change at every allocation (no two
                consecutive stacks alike)
  namestacks    (a) 262,144 distinct stacks ~27 frames deep, each allocated 8 times, in
                8 passes over all of them: every lookup of a stack is cold
  workqueue     (e) a thread pool: 4 workers on one mutex+condvar queue, 2 M tasks
  mutex_mt      (e) 4 threads on two mutexes, short and long critical sections
  perl, sqlite3, node  real single-threaded programs (bench/workloads/): a hash and
                strings, rows and indexes (in memory), JSON strings kept (skipped,
                visibly, if absent)
  xz -T2, zstd -T2  (e) real multi-threaded Debian programs (skipped, visibly, if absent)
  db_bench      (e) RocksDB's db_bench (rocksdb-tools): fillrandom, 4 writer threads,
                200,000 puts (skipped, visibly, if absent)

Reported per run: wall seconds; the peak resident set of the whole process tree, sampled
every 0.01 s and summed over the processes (heaptrack's interpreter counted with the
program; the members looked up every 0.1 s), never below the largest single process's
own peak (/usr/bin/time's %M); the bytes of the profile on disk. Per row the medians; per
profiler the overhead ratio to bare and, where heaptrack ran, ctrprof's overhead
(time - bare) as a fraction of heaptrack's.

    python3 bench/shapes.py --build build [--reps 3] [--only deepstacks,churn] [--timeout S]

Nothing here asserts a timing: it measures and publishes (bench/bench.py puts the table in
BENCHMARKS.md).
"""
import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HEAP, LOCK = "heap", "lock"


class Shape:
    def __init__(self, name, kind, argv, need=None):
        self.name, self.kind, self.argv, self.need = name, kind, argv, need


def shapes(build, work):
    p = lambda n: os.path.join(TOP, build, "progs", n)  # noqa: E731
    w = lambda n: os.path.join(TOP, "bench", "workloads", n)  # noqa: E731
    data = os.path.join(work, "data.bin")
    return [
        Shape("deepstacks", HEAP, [p("deepstacks")]),
        Shape("churn", HEAP, [p("churn")]),
        Shape("sizes_mt", HEAP, [p("sizes_mt")]),
        Shape("thread_churn", HEAP, [p("thread_churn")]),
        Shape("bigheap", HEAP, [p("bigheap")]),
        Shape("namechurn", HEAP, [p("namechurn")]),
        Shape("namestacks", HEAP, [p("namestacks")]),
        # real single-threaded programs (bench/rate1.sh times them with more profilers;
        # here their memory and profile size against heaptrack's too)
        Shape("perl", HEAP, ["perl", w("perl.pl")], need="perl"),
        Shape("sqlite3", HEAP, ["sqlite3", ":memory:", ".read " + w("sqlite.sql")], need="sqlite3"),
        Shape("node", HEAP, ["node", w("node.js")], need="node"),
        Shape("workqueue", LOCK, [p("workqueue")]),
        Shape("mutex_mt", LOCK, [p("mutex_mt"), "2000000", "4"]),
        # -1: 3 MiB blocks, so that two threads have blocks to share (-6's are 24 MiB)
        Shape("xz -T2", LOCK, ["xz", "-T2", "-1", "-c", data], need="xz"),
        Shape("zstd -T2", LOCK, ["zstd", "-T2", "-10", "-c", data], need="zstd"),
        # a database under a concurrent load: RocksDB's writers queue on the DB mutex and
        # its write-group condition variables (~5,700 contentions and ~17,000 blocking
        # waits a run at fraction 1 and block rate 1 ns); a fill starts from an empty DB
        Shape("db_bench fillrandom", LOCK,
              ["db_bench", "--benchmarks=fillrandom", "--threads=4", "--num=50000",
               "--value_size=100", "--compression_type=none", "--db=" + os.path.join(work, "rocksdb")],
              need="db_bench"),
    ]


def make_data(path, mib=24):
    """Compressible, not trivial: lines of words from a small vocabulary, seeded."""
    import random
    rnd = random.Random(1)
    words = ["%s%d" % (w, i) for i, w in enumerate("alpha beta gamma delta mutex block heap stack "
                                                      "thread churn ring bucket size class".split())]
    with open(path, "w") as f:
        n = 0
        while n < mib << 20:
            line = " ".join(rnd.choice(words) for _ in range(12)) + " %d\n" % rnd.randrange(1 << 30)
            f.write(line)
            n += len(line)


def configs(build, kind):
    shim = os.path.join(TOP, build, "libctrprof.so")
    cs = [("bare", {}, []),
          ("ctrprof", {"LD_PRELOAD": shim, "CTRPROF_DIR": "{out}"}, []),
          ("ctrprof rate=1", {"LD_PRELOAD": shim, "CTRPROF_DIR": "{out}", "CTRPROF_MEM_RATE": "1"}, [])]
    if kind == HEAP:
        cs.append(("heaptrack", {}, ["heaptrack", "-o", "{out}/ht"]))
        cs.append(("ctrprof run rate=1", {}, [os.path.join(TOP, build, "ctrprof"), "run", "--rate", "1",
                                              "--dir", "{out}", "--"]))
    else:
        cs.append(("ctrprof mutex+block off", {"LD_PRELOAD": shim, "CTRPROF_DIR": "{out}",
                                               "CTRPROF_MUTEX_FRACTION": "0", "CTRPROF_BLOCK_RATE": "0"}, []))
    return cs


PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def read_small(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1024)
    finally:
        os.close(fd)


def tree_pids(root):
    """root and its descendants, from the parent ids in /proc/*/stat."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = read_small("/proc/%s/stat" % d)
                kids.setdefault(int(st[st.rindex(b")") + 2:].split()[1]), []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        q = todo.pop()
        out.append(q)
        todo.extend(kids.get(q, []))
    return out


_libc = ctypes.CDLL(None, use_errno=True)
SYS_KCMP, KCMP_VM = 312, 1  # x86-64


def same_memory(a, b):
    """Do processes a and b share one address space (kcmp KCMP_VM)? ctrprof's flusher
    process shares the program's (core/flushproc.c): its resident set is the program's,
    not more memory, and is counted once."""
    return _libc.syscall(SYS_KCMP, a, b, KCMP_VM, 0, 0) == 0


def rss_kib(pids):
    tot, counted = 0, []
    for q in pids:
        try:
            if any(same_memory(q, c) for c in counted):
                continue
            tot += int(read_small("/proc/%d/statm" % q).split()[1]) * PAGE_KIB
            counted.append(q)
        except (OSError, ValueError, IndexError):
            pass
    return tot


def run_once(argv, env_add, prefix, work, timeout, pack=None):
    out = tempfile.mkdtemp(dir=work, prefix="out-")
    env = dict(os.environ)
    for k, v in env_add.items():
        env[k] = v.replace("{out}", out)
    # /usr/bin/time's %M: the largest process's own peak (a child of python would count the
    # python it was forked from before its exec; time's children are forked from time)
    tfile = os.path.join(out, ".time")
    argv = ["/usr/bin/time", "-f", "%M", "-o", tfile] + [a.replace("{out}", out) for a in prefix] + argv
    peak = [0]
    errf = open(os.path.join(out, ".stderr"), "w+b")
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errf, cwd=work)
    except OSError as e:
        errf.close()
        shutil.rmtree(out, ignore_errors=True)
        return None, str(e)
    stop = threading.Event()
    killed = []

    def poll():
        # the tree's members are looked up every 0.1 s (a scan of /proc), their resident
        # sets read every 0.01 s: ~1% of a core. At 0.1 s heaptrack's peak on bigheap (its
        # interpreter's map full while the program still holds its heap, a moment near the
        # end of a 0.6 s run) could fall between two reads: 397 MiB in session 41's make
        # bench, where 0.01 s finds 510
        pids, k = [proc.pid], 0
        while not stop.wait(0.01):
            if k % 10 == 0 and k:
                pids = tree_pids(proc.pid)
            k += 1
            peak[0] = max(peak[0], rss_kib(pids))
            if time.monotonic() - t0 > timeout and not killed:
                killed.append(1)
                proc.kill()
    th = threading.Thread(target=poll, daemon=True)
    th.start()
    _, status, ru = os.wait4(proc.pid, 0)
    secs = time.monotonic() - t0
    # CPU: user + system of the whole tree (time waits for its child, which waits for its
    # own: heaptrack's interpreter included)
    cpu = ru.ru_utime + ru.ru_stime
    stop.set()
    th.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    errf.seek(0)
    err = errf.read()
    errf.close()
    os.remove(os.path.join(out, ".stderr"))
    if killed:
        shutil.rmtree(out, ignore_errors=True)
        return None, "timed out after %d s" % timeout
    try:
        with open(tfile) as f:
            maxrss = int(f.read().split()[-1])
        os.remove(tfile)
    except (OSError, ValueError, IndexError):
        maxrss = 0
    if proc.returncode != 0:
        shutil.rmtree(out, ignore_errors=True)
        return None, "exit %d: %s" % (proc.returncode, err.decode(errors="replace").strip()[-200:])
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    # ctrprof's profiles packed afterwards (`ctrprof pack DIR`, what `ctrprof run` does when
    # its program is done), timed apart from the run: heaptrack's file is zstd already
    packed, pack_s = None, None
    if pack:
        p0 = time.monotonic()
        subprocess.run(pack + [out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pack_s = time.monotonic() - p0
        packed = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    shutil.rmtree(out, ignore_errors=True)
    return (secs, peak[0], maxrss, size, packed, pack_s, cpu), None


def run(build, reps=3, only=None, timeout=300, log=print):
    work = tempfile.mkdtemp(prefix="ctrprof-shapes-")
    rows, skipped = [], []
    try:
        wl = shapes(build, work)
        if only:
            wl = [s for s in wl if s.name.split()[0] in only]
        if any(s.need in ("xz", "zstd") and shutil.which(s.need) for s in wl):
            make_data(os.path.join(work, "data.bin"))
        for s in wl:
            if s.need and not shutil.which(s.need):
                skipped.append("%s: %s not installed" % (s.name, s.need))
                log("SKIP %s: %s not installed" % (s.name, s.need))
                continue
            cs = configs(build, s.kind)
            if s.kind == HEAP and not shutil.which("heaptrack"):
                cs = [c for c in cs if c[0] != "heaptrack"]
                skipped.append("%s under heaptrack: heaptrack not installed (apt-get install heaptrack)" % s.name)
                log("SKIP %s heaptrack: heaptrack not installed" % s.name)
            res, err, byrep = {}, {}, {}
            for rep in range(reps):
                order = cs[rep % len(cs):] + cs[:rep % len(cs)]
                for name, env, prefix in order:
                    if name in err:
                        continue  # one failure (a timeout) is enough
                    pk = [os.path.join(TOP, build, "ctrprof"), "pack"] if "LD_PRELOAD" in env else None
                    m, e = run_once(s.argv, env, prefix, work, timeout, pk)
                    if e:
                        err[name] = e
                    else:
                        res.setdefault(name, []).append(m)
                        byrep.setdefault(rep, {})[name] = m
                log("  %s: repetition %d/%d done" % (s.name, rep + 1, reps))
            base = res.get("bare")
            bt = statistics.median(m[0] for m in base) if base else None
            brss = statistics.median(max(m[1], m[2]) for m in base) if base else None
            for name, _, _ in cs:
                ms = res.get(name)
                if not ms:
                    rows.append((s.name, name, None, None, None, None, None, None, None, None, None,
                                 None, err.get(name, "no run")))
                    continue
                t = statistics.median(m[0] for m in ms)
                rss = statistics.median(max(m[1], m[2]) for m in ms)
                size = statistics.median(m[3] for m in ms)
                packed = statistics.median(m[4] for m in ms) if ms[0][4] is not None else None
                pack_s = statistics.median(m[5] for m in ms) if ms[0][5] is not None else None
                cpu = statistics.median(m[6] for m in ms)
                vs_ht = vs_htc = None
                if name.startswith("ctrprof"):
                    vs_ht, vs_htc = paired_shares(byrep, name)
                rows.append((s.name, name, t, t / bt if bt else None, rss, rss / brss if brss else None,
                             size, packed, pack_s, vs_ht, cpu, vs_htc, None))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows, skipped


def paired_shares(byrep, name):
    """The configuration's overhead as a part of heaptrack's, wall and CPU: per repetition
    ((time - bare) / (heaptrack - bare), the three runs of one repetition made one after
    the other), then the median over the repetitions. This machine's speed drifts within
    minutes (BENCHMARKS.md, session 41: the same build's namechurn at rate 1 took 2.8-4.9 s
    of CPU over 8 runs in a row); a ratio of medians pairs runs minutes apart, a
    repetition's own runs share more of the drift (farm-bench's pairs, for the same
    reason). None where heaptrack or bare did not run, or was not slower."""
    out = []
    for i in (0, 6):
        v = []
        for runs in byrep.values():
            if name in runs and "bare" in runs and "heaptrack" in runs:
                b, h, c = runs["bare"][i], runs["heaptrack"][i], runs[name][i]
                if h > b:
                    v.append((c - b) / (h - b))
        out.append(statistics.median(v) if v else None)
    return out


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return "%d %s" % (n, unit) if unit == "B" else "%.1f %s" % (n, unit)
        n /= 1024.0
    return "%.1f TiB" % n


def markdown(result, reps):
    rows, skipped = result
    out = ["%d interleaved repetitions, medians. RSS: the peak of the whole process tree's summed "
           "resident set (heaptrack's interpreter included; processes that share one address space, as ctrprof's flusher process shares the program's, counted once), sampled every 0.01 s. \"of heaptrack's "
           "overhead\": (time - bare) / (heaptrack's time - bare) in each repetition, whose runs follow one another, and the median of those, in wall time and in CPU time (user + "
           "system of every process of the run: heaptrack's interpreter, which runs on another core, "
           "is counted in its CPU and not in its wall time). \"packed\": ctrprof's profile after "
           "`ctrprof pack` (what `ctrprof run` does when the program is done; heaptrack's file is "
           "zstd already), and the seconds that took, not counted in the wall time. "
           "\"ctrprof run rate=1\": the program under `ctrprof run --rate 1`, its packing counted "
           "in the wall time and CPU, its profile the packed one." % reps, "",
           "| shape | configuration | wall s | × bare | peak RSS | RSS × bare | profile | packed (s) | "
           "of heaptrack's overhead | CPU s | of heaptrack's CPU overhead |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (s, c, t, r, rss, rr, size, packed, pack_s, vh, cpu, vhc, err) in rows:
        if err:
            out.append("| %s | %s | — | — | — | — | — | — | — | — | failed: %s |" % (
                s, c, str(err).replace("|", "/")))
            continue
        out.append("| %s | %s | %.2f | %s | %s | %s | %s | %s | %s | %.2f | %s |" % (
            s, c, t, "%.3f" % r if r and c != "bare" else ("(baseline)" if c == "bare" else "—"),
            human(rss * 1024), "%.2f" % rr if rr and c != "bare" else "",
            human(size) if c != "bare" else "",
            "%s (%.2f)" % (human(packed), pack_s) if packed is not None else "",
            "%.2f" % vh if vh is not None else "", cpu, "%.2f" % vhc if vhc is not None else ""))
    goals = goal_lines(rows)
    if goals:
        out.append("")
        out.append("Issue 23's goal at rate 1, the two wrappers as a user runs them (`ctrprof run --rate 1` "
                   "against `heaptrack`): at most half of heaptrack's overhead, wall and CPU; a profile no "
                   "larger than heaptrack's file; a peak resident set below heaptrack's:")
        out.append("")
        out.extend(goals)
    if skipped:
        out.append("")
        out.extend("- SKIP " + x for x in skipped)
    return "\n".join(out) + "\n"


def goal_lines(rows):
    """Per heap shape, whether `ctrprof run --rate 1` met issue 23's goal against heaptrack in
    this run, with the figures."""
    by = {}
    for r in rows:
        by.setdefault(r[0], {})[r[1]] = r
    out = []
    for shape, cs in by.items():
        c, h = cs.get("ctrprof run rate=1"), cs.get("heaptrack")
        if not c or not h:
            continue
        if c[12] or h[12]:
            out.append("- %s: not measured (%s)" % (shape, c[12] or h[12]))
            continue
        vh, vhc, size, hsize, rss, hrss = c[9], c[11], c[6], h[6], c[4], h[4]
        ok = vh is not None and vhc is not None and vh <= 0.5 and vhc <= 0.5 and size <= hsize and rss < hrss
        out.append("- %s: %s (%s / %s of heaptrack's overhead; profile %s against %s; peak RSS %s against %s)" % (
            shape, "met" if ok else "NOT MET", "%.2f" % vh if vh is not None else "?",
            "%.2f" % vhc if vhc is not None else "?", human(size), human(hsize), human(rss * 1024),
            human(hrss * 1024)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--timeout", type=int, default=300)
    a = ap.parse_args()
    res = run(a.build, a.reps, a.only.split(",") if a.only else None, a.timeout)
    print()
    print(markdown(res, a.reps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
