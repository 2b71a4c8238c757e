#!/usr/bin/env python3
"""ctrprof benchmarks (issue 7): overhead and accuracy next to the profilers people use.

Every workload runs under every profiler configuration, repeated, with the runs of one
repetition interleaved (baseline, then each profiler, in an order that rotates per
repetition) so that drifts in machine load hit all configurations alike. Each profiler is
compared with the baseline it is paired with, measured in the same run:

    ctrprof (default rate), ctrprof rate 1, heaptrack, DHAT  vs  glibc with no profiler
    tcmalloc + HEAPPROFILE                                    vs  tcmalloc alone
    jemalloc + prof:true,lg_prof_sample:19                    vs  jemalloc alone

Reported: median wall time, its ratio to the paired baseline, the max-RSS ratio, the size
of the profile on disk; the per-call hot-path instruction counts from callgrind (which
are repeatable on a shared, noisy machine, unlike seconds); and the accuracy of ctrprof's
estimated total allocated bytes at the default rate against the exact total from its
rate-1 run. Nothing here asserts a timing: it measures and publishes.

    python3 bench/bench.py --build build [--reps 5] [--quick] [--only sqlite,python]
"""
import argparse
import datetime
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIR = "/usr/lib/x86_64-linux-gnu"


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, **kw)


def version_of(cmd):
    r = sh(cmd + " 2>&1 | head -1")
    return r.stdout.strip() or "unknown"


class Workload:
    def __init__(self, name, argv, setup=None, quick_argv=None, stdin=None):
        self.name, self.argv, self.setup, self.quick_argv, self.stdin = name, argv, setup, quick_argv, stdin


def workloads(build, work, quick):
    progs = os.path.join(TOP, build, "progs")
    wl = os.path.join(TOP, "bench", "workloads")
    big_c = os.path.join(work, "big.c")

    def gen_c():
        with open(big_c, "w") as f:
            subprocess.run([sys.executable, os.path.join(wl, "gen_c.py"), "120" if quick else "450"],
                           stdout=f, check=True)

    all_wl = [
        Workload("sqlite3", ["sqlite3", os.path.join(work, "db.sqlite")],
                 setup=lambda: os.path.exists(os.path.join(work, "db.sqlite")) and os.remove(os.path.join(work, "db.sqlite")),
                 stdin=os.path.join(wl, "sqlite.sql")),
        Workload("python3", ["/usr/bin/python3", os.path.join(wl, "python.py")]),
        Workload("gcc -O2", ["gcc", "-O2", "-c", big_c, "-o", os.path.join(work, "big.o")], setup=gen_c),
        Workload("perl", ["perl", os.path.join(wl, "perl.pl")]),
        Workload("git", ["sh", os.path.join(wl, "git.sh"), os.path.join(work, "repo")]),
        Workload("xz (control)", ["sh", "-c", f"head -c 40000000 /dev/zero | tr '\\0' 'a' | xz -T2 -6 | wc -c"]),
        Workload("alloc_mt", [os.path.join(progs, "alloc_mt"), "20000000", "2"],
                 quick_argv=[os.path.join(progs, "alloc_mt"), "2000000", "2"]),
        Workload("mutex_mt", [os.path.join(progs, "mutex_mt"), "2000000", "4"]),
        # locks in a real server: memcached's worker threads under 4 loopback clients
        # (the client and the shell run under the profiler too, alike in every pairing)
        Workload("memcached", ["bash", os.path.join(TOP, "tests", "compat", "memcached.sh"), work, "15000"]),
    ]
    if quick:
        return [w for w in all_wl if w.name in ("alloc_mt", "python3")]
    return all_wl


class Config:
    def __init__(self, name, baseline, env=None, prefix=None, available=True, why="", slow=False):
        self.name, self.baseline, self.env, self.prefix = name, baseline, env or {}, prefix or []
        self.available, self.why, self.slow = available, why, slow


def configs(build, quick):
    shim = os.path.join(TOP, build, "libctrprof.so")
    tc = os.path.join(LIBDIR, "libtcmalloc.so.4")
    je = os.path.join(LIBDIR, "libjemalloc.so.2")
    has_ht = shutil.which("heaptrack") is not None
    has_vg = shutil.which("valgrind") is not None
    cs = [
        Config("glibc", None),
        Config("ctrprof", "glibc", env={"LD_PRELOAD": shim, "CTRPROF_DIR": "{out}"},
               available=os.path.exists(shim), why="build/libctrprof.so not built"),
        Config("ctrprof rate=1", "glibc", env={"LD_PRELOAD": shim, "CTRPROF_DIR": "{out}", "CTRPROF_MEM_RATE": "1"},
               available=os.path.exists(shim), why="build/libctrprof.so not built"),
        Config("heaptrack", "glibc", prefix=["heaptrack", "-o", "{out}/ht"], available=has_ht,
               why="heaptrack not installed (apt-get install heaptrack)"),
        Config("tcmalloc", None, env={"LD_PRELOAD": tc}, available=os.path.exists(tc),
               why="libgoogle-perftools4 not installed"),
        # HEAPPROFILE records every allocation; dumps are limited to one at exit so that
        # what is measured is the tracking, not gigabytes of periodic dumps
        Config("tcmalloc+HEAPPROFILE", "tcmalloc", env={"LD_PRELOAD": tc, "HEAPPROFILE": "{out}/hp",
                                                        "HEAP_PROFILE_ALLOCATION_INTERVAL": "1099511627776",
                                                        "HEAP_PROFILE_INUSE_INTERVAL": "1099511627776"},
               available=os.path.exists(tc), why="libgoogle-perftools4 not installed"),
        Config("jemalloc", None, env={"LD_PRELOAD": je}, available=os.path.exists(je), why="libjemalloc2 not installed"),
        Config("jemalloc+prof", "jemalloc",
               env={"LD_PRELOAD": je, "MALLOC_CONF": "prof:true,lg_prof_sample:19,prof_final:true,prof_prefix:{out}/jeprof"},
               available=os.path.exists(je), why="libjemalloc2 not installed"),
        Config("DHAT", "glibc", prefix=["valgrind", "--tool=dhat", "--dhat-out-file={out}/dhat.json"],
               available=has_vg, why="valgrind not installed", slow=True),
    ]
    if quick:
        cs = [c for c in cs if c.name in ("glibc", "ctrprof", "ctrprof rate=1")]
    if os.path.exists(je) and not quick:
        # Debian's jemalloc is built with profiling only if prof:true is accepted quietly.
        r = subprocess.run(["true"], env=dict(os.environ, LD_PRELOAD=je, MALLOC_CONF="prof:true"),
                           capture_output=True, text=True)
        if "Invalid conf" in r.stderr:
            for c in cs:
                if c.name == "jemalloc+prof":
                    c.available, c.why = False, "Debian's jemalloc is built without profiling"
    return cs


def run_once(w, c, work, quick, timeout):
    out = tempfile.mkdtemp(dir=work, prefix="out-")
    env = dict(os.environ)
    for k, v in c.env.items():
        env[k] = v.replace("{out}", out)
    argv = [a.replace("{out}", out) for a in c.prefix] + (w.quick_argv if quick and w.quick_argv else w.argv)
    tfile = os.path.join(out, ".time")
    if w.setup:
        w.setup()
    stdin = open(w.stdin) if w.stdin else subprocess.DEVNULL
    try:
        r = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tfile] + argv, env=env, stdin=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, cwd=work)
    except subprocess.TimeoutExpired:
        return None, "timed out after %ds" % timeout, out
    finally:
        if w.stdin:
            stdin.close()
    if r.returncode != 0:
        return None, "exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace").strip().splitlines()[-1:] or ""), out
    with open(tfile) as f:
        secs, rss = f.read().split()[-2:]
    os.remove(tfile)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    return (float(secs), int(rss), size), None, out


def ctrprof_total_alloc(build, out):
    """Estimated total allocated bytes of a ctrprof profile (sum of the folded alloc_space)."""
    files = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".count")]
    if not files:
        return None
    r = subprocess.run([os.path.join(TOP, build, "ctrprof"), "report", "--sample", "alloc_space",
                        "--format", "folded"] + files, capture_output=True, text=True)
    if r.returncode != 0:
        return None
    total = 0
    for line in r.stdout.splitlines():
        parts = line.rsplit(" ", 1)
        if len(parts) == 2 and parts[1].isdigit():
            total += int(parts[1])
    return total


def callgrind_per_call(build, what, with_shim, n=100000, extra_env=None):
    """Instructions per call pair: (I(2n) - I(n)) / n, which cancels start-up and exit."""
    prog = os.path.join(TOP, build, "progs", "hotpath")
    shim = os.path.join(TOP, build, "libctrprof.so")
    counts = []
    for k in (n, 2 * n):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, CTRPROF_DIR=d, **(extra_env or {}))
            if with_shim:
                env["LD_PRELOAD"] = shim
            r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + d + "/cg.out",
                                prog, what, str(k)], env=env, capture_output=True, text=True, cwd=d)
            tot = None
            for line in r.stderr.splitlines():
                if "Collected :" in line:
                    tot = int(line.split()[-1])
            if tot is None:
                return None
            counts.append(tot)
    return (counts[1] - counts[0]) / n


def clock_reads(build):
    """bench/progs/tscstall's table: at rate 1 every heap event reads the TSC, and on a machine
    where rdtsc waits for the loads in flight a memory-bound program pays for it (BENCHMARKS.md,
    session 37): the rate-1 rows above are read with this beside them."""
    prog = os.path.join(TOP, build, "progs", "tscstall")
    try:
        r = subprocess.run([prog], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "tscstall failed: %s\n" % e
    if r.returncode != 0:
        return "tscstall failed (status %d): %s\n" % (r.returncode, r.stderr.strip()[:200])
    rows = [l.rsplit(None, 4) for l in r.stdout.splitlines() if l.strip()]
    out = ["Four overlapping pointer chases through 64 MiB, one clock read a step:", "",
           "| read | ns a step |", "|---|---:|"]
    out += ["| %s | %s |" % (row[0], row[1]) for row in rows if len(row) == 5]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    reps = 1 if args.quick else args.reps
    random.seed(args.seed)
    work = tempfile.mkdtemp(prefix="ctrprof-bench-")
    wls = workloads(args.build, work, args.quick)
    if args.only:
        keep = args.only.split(",")
        wls = [w for w in wls if w.name.split()[0] in keep]
    cs = configs(args.build, args.quick)
    for c in cs:
        if not c.available:
            print("skip %-22s %s" % (c.name, c.why))
    live = [c for c in cs if c.available]
    if args.quick and len(live) != len(cs):
        print("bench-quick needs every configuration it covers")
        return 1
    res = {}      # (workload, config) -> list of (secs, rss, size)
    errors = {}
    accuracy = {}
    for w in wls:
        for rep in range(reps):
            order = live[rep % len(live):] + live[:rep % len(live)]
            for c in order:
                if c.slow and rep > 0:
                    continue  # DHAT: one run is enough to show its cost
                m, err, out = run_once(w, c, work, args.quick, args.timeout if not c.slow else 2 * args.timeout)
                if err:
                    errors[(w.name, c.name)] = err
                else:
                    res.setdefault((w.name, c.name), []).append(m)
                    if rep == 0 and c.name.startswith("ctrprof"):
                        accuracy[(w.name, c.name)] = ctrprof_total_alloc(args.build, out)
                shutil.rmtree(out, ignore_errors=True)
            print("  %s: repetition %d/%d done" % (w.name, rep + 1, reps), flush=True)

    rows = []
    for w in wls:
        for c in live:
            ms = res.get((w.name, c.name))
            if not ms:
                rows.append((w.name, c.name, None, None, None, None, None, errors.get((w.name, c.name), "no run")))
                continue
            secs = statistics.median(m[0] for m in ms)
            rss = statistics.median(m[1] for m in ms)
            size = statistics.median(m[2] for m in ms)
            ratio = rss_ratio = None
            if c.baseline and res.get((w.name, c.baseline)):
                b = res[(w.name, c.baseline)]
                ratio = secs / max(statistics.median(m[0] for m in b), 1e-9)
                rss_ratio = rss / max(statistics.median(m[1] for m in b), 1)
            rows.append((w.name, c.name, secs, ratio, rss_ratio, size, len(ms), None))

    acc_rows = []
    for w in wls:
        est, exact = accuracy.get((w.name, "ctrprof")), accuracy.get((w.name, "ctrprof rate=1"))
        if est is not None and exact:
            acc_rows.append((w.name, est, exact, 100.0 * (est - exact) / exact))

    hot = []
    if shutil.which("valgrind") and not args.quick and os.path.exists(os.path.join(TOP, args.build, "libctrprof.so")):
        for what, base in (("malloc", "malloc+free pair"), ("lock", "lock+unlock pair"),
                           ("lockmt", "lock+unlock pair, program with a second thread")):
            g = callgrind_per_call(args.build, what, False)
            p = callgrind_per_call(args.build, what, True)
            hot.append((base, g, p))
        # rate 1: every pair sampled (a 7-frame stack), with each unwinder
        g = callgrind_per_call(args.build, "malloc", False)
        for unwind in ("cfi", "libunwind"):
            p = callgrind_per_call(args.build, "malloc", True,
                                   extra_env={"CTRPROF_MEM_RATE": "1", "CTRPROF_UNWIND": unwind})
            hot.append(("malloc+free pair at rate 1, CTRPROF_UNWIND=%s" % unwind, g, p))
        # the heap over time's share (issue 21): the same pairs with it switched off
        for rate, label in (("524288", "malloc+free pair"), ("1", "malloc+free pair at rate 1")):
            p = callgrind_per_call(args.build, "malloc", True,
                                   extra_env={"CTRPROF_MEM_RATE": rate, "CTRPROF_HEAP_TIME": "0"})
            hot.append(("%s, CTRPROF_HEAP_TIME=0 (peak, lifetimes, timeline off)" % label, g, p))

    lines = []
    lines.append("| workload | profiler | median s | × baseline | max RSS × | profile size | runs |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for (wn, cn, secs, ratio, rr, size, n, err) in rows:
        if err:
            lines.append("| %s | %s | — | — | — | — | failed: %s |" % (wn, cn, str(err).replace("|", "/")))
        else:
            lines.append("| %s | %s | %.2f | %s | %s | %s | %d |" % (
                wn, cn, secs, "%.3f" % ratio if ratio else "(baseline)", "%.2f" % rr if rr else "",
                human(size), n))
    table = "\n".join(lines)
    print()
    print(table)
    acc = ""
    if acc_rows:
        acc = "| workload | estimated alloc bytes (default rate) | exact (rate 1) | error |\n|---|---:|---:|---:|\n"
        acc += "\n".join("| %s | %d | %d | %+.2f%% |" % r for r in acc_rows)
        few = [r[0] for r in acc_rows if r[2] < 10 * 524288]
        if few:
            acc += ("\n\n(%s: fewer than 10 samples expected at the default rate of 524288 bytes, so "
                    "the error says nothing about the estimator.)" % ", ".join(few))
        print()
        print(acc)
    hot_t = ""
    if hot:
        hot_t = "| hot path | glibc instr/pair | with ctrprof | extra |\n|---|---:|---:|---:|\n"
        for (n, g, p) in hot:
            hot_t += "| %s | %s | %s | %s |\n" % (n, fmt(g), fmt(p), fmt(p - g) if g is not None and p is not None else "—")
        print()
        print(hot_t)

    micro = ""
    mbin = os.path.join(TOP, args.build, "bench_micro")
    if os.path.exists(mbin) and not args.quick:
        r = subprocess.run([mbin], capture_output=True, text=True)
        micro = r.stdout.strip() if r.returncode == 0 else "bench_micro failed: " + r.stderr.strip()
        print()
        print(micro)

    rep_md = serve_md = shapes_md = rate1_md = clock_md = ""
    if not args.quick and not args.only:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import report_bench
        try:
            rep_md = report_bench.markdown(report_bench.run(args.build))
        except Exception as e:  # a failed step is reported, not hidden
            rep_md = "report benchmark failed: %s\n" % e
        print()
        print(rep_md)
        import serve_bench
        try:
            serve_md = serve_bench.markdown(serve_bench.run(args.build))
        except Exception as e:  # a failed step is reported, not hidden
            serve_md = "serve benchmark failed: %s\n" % e
        print()
        print(serve_md)
        import shapes
        # (up to 5 repetitions: issue 23's goal is a share of 0.5 or less, and on this VM a
        # shape's share moves by 0.1 from one repetition to the next; BENCHMARKS.md, session 42)
        sreps = min(reps, 5)
        try:
            shapes_md = shapes.markdown(shapes.run(args.build, reps=sreps), sreps)
        except Exception as e:  # a failed step is reported, not hidden
            shapes_md = "shapes benchmark failed: %s\n" % e
        print()
        print(shapes_md)
        rate1_md = rate1(args.build, sreps)
        print()
        print(rate1_md)
        clock_md = clock_reads(args.build)
        print()
        print(clock_md)

    skipped = "\n".join("- %s: %s" % (c.name, c.why) for c in cs if not c.available)
    if not args.quick and not args.only:  # a partial run never overwrites the full record
        png = os.path.join(TOP, "bench", "overhead.png")
        chart(rows, png, work)
        machine = "%s; %d cores; %s" % (cpu_model(), os.cpu_count(), platform.platform())
        vers = [version_of("gcc --version"), version_of("ldd --version"), version_of("heaptrack --version"),
                version_of("valgrind --version"), version_of("sqlite3 --version"), version_of("python3 --version")]
        # the hand-written part (bench/instructions.sh, bench/rate1.sh) after the marker is kept
        mark = "<!-- hand:"
        kept = ""
        try:
            with open(os.path.join(TOP, "BENCHMARKS.md")) as f:
                old = f.read()
            if mark in old:
                kept = old[old.index(mark):]
        except OSError:
            pass
        with open(os.path.join(TOP, "BENCHMARKS.md"), "w") as f:
            f.write("# ctrprof benchmarks\n\nWritten by `make bench` (bench/bench.py) on %s.\n\n" %
                    datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"))
            f.write("Machine: %s. Versions: %s.\n\n" % (machine, "; ".join(vers)))
            f.write("%d interleaved repetitions; medians; ratios are to the paired baseline of the same run "
                    "(glibc for ctrprof, heaptrack and DHAT; tcmalloc and jemalloc alone for their "
                    "profilers). DHAT runs once. heaptrack does not follow exec'd children: on gcc -O2 "
                    "(the driver, not cc1), git and memcached (a shell) it profiles only the top process, "
                    "so those rows do not compare like with like; bench/rate1.sh compares ctrprof at rate 1 "
                    "with heaptrack on single processes.\n\n" % reps)
            f.write(table + "\n\n![overhead](bench/overhead.png)\n\n")
            if acc:
                f.write("## Accuracy\n\n" + acc + "\n\n")
            if hot_t:
                f.write("## Hot paths (callgrind, instructions per call pair)\n\n" + hot_t + "\n")
            if micro:
                f.write("## Engine and counter file (bench/micro.c, medians)\n\n" +
                        "".join("- " + l + "\n" for l in micro.splitlines()) + "\n")
            if rep_md:
                f.write("## Report on a big profile (bench/report_bench.py)\n\n" + rep_md + "\n")
            if serve_md:
                f.write("## Serving a big profile (bench/serve_bench.py)\n\n" + serve_md + "\n")
            if shapes_md:
                f.write("## Program shapes of issue 23 (bench/shapes.py, bench/progs/)\n\n" + shapes_md + "\n")
            if rate1_md:
                f.write("## Rate 1 against heaptrack on real single processes (bench/rate1.sh)\n\n" +
                        rate1_md + "\n")
            if clock_md:
                f.write("## What a clock read costs here (bench/progs/tscstall)\n\n" + clock_md + "\n")
            if skipped:
                f.write("## Not run\n\n" + skipped + "\n")
            if kept:
                f.write("\n" + kept)
        print("\nwrote BENCHMARKS.md and bench/overhead.png")
    shutil.rmtree(work, ignore_errors=True)
    missing = [r for r in rows if r[7]]
    if missing:
        print("\n%d rows failed" % len(missing))
        return 1
    return 0


def fmt(x):
    return "—" if x is None else "%.1f" % x


def rate1(build, reps, workloads=None):
    """bench/rate1.sh (every allocation recorded, against heaptrack, on sqlite3, python3,
    perl, gcc's cc1 and node run directly) as markdown: issue 23's goal is ctrprof's
    overhead at most half of heaptrack's (the share columns)."""
    if shutil.which("heaptrack") is None:
        return "Not run: heaptrack not installed (apt-get install heaptrack).\n"
    env = dict(os.environ)
    if workloads:
        env["WORKLOADS"] = workloads
    r = subprocess.run(["bash", os.path.join(TOP, "bench", "rate1.sh"), build, str(reps)],
                       capture_output=True, text=True, env=env, cwd=TOP)
    rows = [l.split() for l in r.stdout.splitlines()[1:] if len(l.split()) >= 8]
    if r.returncode != 0 or not rows:
        return "rate1.sh failed (status %d): %s\n" % (r.returncode, (r.stderr or r.stdout).strip()[-300:])
    out = ("%d interleaved repetitions, medians; seconds wall and CPU (user + system of every process: "
           "heaptrack's interpreter included, and ctrprof's flusher process); ctrprof-cfi is the default "
           "(the flusher process drains on the other core), ctrprof-inline CTRPROF_FLUSHER=inline (all on "
           "the program's thread), ctrprof-thread CTRPROF_FLUSHER=thread. Share: ctrprof's "
           "overhead over bare as a part of heaptrack's in each repetition (whose runs follow one "
           "another), and the median of those (the goal: 0.5 or less).\n\n" % reps)
    out += "| workload | profiler | wall s | × bare | CPU s | × bare | share of heaptrack's wall | of its CPU |\n"
    out += "|---|---|---:|---:|---:|---:|---:|---:|\n"
    for w in rows:
        share = ("", "") if w[1] in ("glibc", "heaptrack") else (w[6], w[7])
        out += "| %s | %s | %s | %s | %s | %s | %s | %s |\n" % (w[0], w[1], w[2], w[3], w[4], w[5], *share)
    return out


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return "%d %s" % (n, unit) if unit == "B" else "%.1f %s" % (n, unit)
        n /= 1024.0
    return "%.1f TiB" % n


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def chart(rows, png, work):
    if not shutil.which("gnuplot"):
        print("no gnuplot: chart not drawn (apt-get install gnuplot-nox)")
        return
    profs = []
    for r in rows:
        if r[3] and r[1] not in profs:
            profs.append(r[1])
    wls = []
    for r in rows:
        if r[0] not in wls:
            wls.append(r[0])
    dat = os.path.join(work, "chart.dat")
    with open(dat, "w") as f:
        f.write("workload " + " ".join('"%s"' % p for p in profs) + "\n")
        for w in wls:
            vals = []
            for p in profs:
                v = [r[3] for r in rows if r[0] == w and r[1] == p and r[3]]
                vals.append("%.3f" % v[0] if v else "NaN")
            f.write('"%s" %s\n' % (w, " ".join(vals)))
    gp = """set terminal pngcairo size 1200,600
set output '%s'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'wall time / paired baseline'
set logscale y
set yrange [0.8:*]
set grid ytics
set key outside right
set xtics rotate by -30
plot for [i=2:%d] '%s' using i:xtic(1) title columnheader(i)
""" % (png, len(profs) + 1, dat)
    r = subprocess.run(["gnuplot"], input=gp, text=True, capture_output=True)
    if r.returncode != 0:
        print("gnuplot failed: " + r.stderr.strip())


if __name__ == "__main__":
    sys.exit(main())
