#!/usr/bin/env python3
"""Measure rewind against its targets and the peer simulators, in one run, on one machine.

What it runs (each RUNS times unless said otherwise; the median loop wall time is used):
  1. M/M/c (lambda 90/s, c 10, mean service 0.1 s, seed 42): the hand-written Rust loop
     over a binary heap (../shared/peers/ceiling, built here) and `rewind bench --model
     mmc`, alternating run by run. Target: rewind >= 0.7x its customers/s.
  2. `rewind bench --model overload --runs RUNS` (bench/overload.yaml against M/M/c in the
     same process). Targets: events/s >= 0.5x M/M/c's events/s; peak RSS <= 64 MiB.
  3. `rewind bench --model replicas --runs RUNS` (bench/replicas-1000.yaml against
     bench/replicas-10.yaml in the same process). Target: 1,000-replica events/s >= 0.5x
     10-replica events/s.
  4. `rewind bench --model incident --runs RUNS` (incidents/leaky-batch-loop.yaml) and
     SimPy's leaky-pool model (../shared/peers/leaky_pool_simpy.py) with the flagship's
     parameters where it has them. Target: rewind >= 60x SimPy's requests/s.
  5. SimPy and Ciw on M/M/c, for context (pip install -r bench/requirements.txt).
Peak RSS: `/usr/bin/time -f %M` of each process (every peer, every rewind invocation),
and for rewind also the per-model VmHWM that `rewind bench` reports (reset before each
replay of a model). Prints Markdown tables: every figure, every ratio and its target.

Usage: python3 bench/compare.py [--runs 5] [--quick] [--horizon 100000] [--peers DIR]
                                [--json FILE] [--no-build] [--rewind BIN]
  --quick: a smoke run of the whole pipeline in well under a minute: one run, short
  horizons, the incident models at --scale 0.05. Its figures are not measurements.
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The flagship's query latency: lognormal with p50 4 ms and p99 40 ms. SimPy's model
# draws exponential query times, so it gets the lognormal's mean.
Z99 = 2.3263478740408408
FLAGSHIP_QUERY_MEAN_S = 0.004 * math.exp((math.log(10.0) / Z99) ** 2 / 2)


def run_timed(cmd):
    """Run cmd; return (last JSON line of stdout, peak RSS in KiB from /usr/bin/time)."""
    timed = os.path.exists("/usr/bin/time")
    full = (["/usr/bin/time", "-f", "RSS_KIB=%M"] + cmd) if timed else cmd
    r = subprocess.run(full, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    rss = None
    for line in r.stderr.splitlines():
        if line.startswith("RSS_KIB="):
            rss = int(line.split("=", 1)[1])
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    return lines, rss


def summarise(samples, customers_key):
    """Median of single-run samples of one program."""
    walls = [s["sim_loop_wall_s"] for s in samples]
    wall = statistics.median(walls)
    first = samples[0]
    return {
        "wall_s": wall,
        "min_s": min(walls),
        "max_s": max(walls),
        "events": first.get("events"),
        "customers": first[customers_key],
        "events_per_s": first["events"] / wall if first.get("events") else None,
        "customers_per_s": first[customers_key] / wall,
        "runs": len(samples),
    }


def from_bench_line(line, process_rss):
    """A `rewind bench` JSON line (already a median of its runs) as a row."""
    return {
        "wall_s": line["sim_loop_wall_s"],
        "min_s": line["sim_loop_wall_min_s"],
        "max_s": line["sim_loop_wall_max_s"],
        "events": line["events"],
        "customers": line["customers"],
        "events_per_s": line["events_per_s"],
        "customers_per_s": line["customers_per_s"],
        # rewind resets VmHWM before each replay, and Linux takes the ru_maxrss that
        # /usr/bin/time reads from the same high-water mark: the process figure is only
        # the peak since the last reset. The per-model VmHWM is the one to read.
        "model_rss_kib": line.get("peak_rss_kib"),
        "time_rss_kib": process_rss,
        "runs": line["runs"],
        "line": line,
    }


def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib else "-"


def millions(x):
    if x is None:
        return "-"
    return f"{x / 1e6:.2f} M" if x >= 1e5 else f"{x / 1e3:.1f} k"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 run, short horizons, incident models at --scale 0.05")
    ap.add_argument("--horizon", type=int, default=100000, help="M/M/c simulated seconds")
    ap.add_argument("--short-horizon", type=int, default=10000,
                    help="M/M/c horizon for Ciw, which keeps every record in memory")
    ap.add_argument("--peers", default=os.path.join(ROOT, "..", "shared", "peers"))
    ap.add_argument("--json", default=None, help="also write every result to this file")
    ap.add_argument("--rewind", default=None,
                    help="the rewind binary to measure (default: target/release/rewind, built here)")
    ap.add_argument("--no-build", action="store_true",
                    help="use the binaries already built (target/release/rewind, target/peers)")
    args = ap.parse_args()
    peers = os.path.abspath(args.peers)
    scale = 1.0
    if args.quick:
        args.runs, args.horizon, args.short_horizon, scale = 1, 2000, 500, 0.05
    runs = max(1, args.runs)
    slow_runs = max(1, runs // 2)  # SimPy and Ciw take minutes per run
    started = time.time()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    if not args.no_build and not args.rewind:
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    rewind = os.path.abspath(args.rewind or os.path.join(ROOT, "target", "release", "rewind"))
    target = os.path.join(ROOT, "target", "peers")
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=os.path.join(peers, "ceiling"),
                       check=True, env=env)
    handwritten = os.path.join(target, "release", "mmc")
    h = str(args.horizon)
    scale_args = ["--scale", str(scale)] if scale != 1.0 else []

    def log(msg):
        print(f"[{time.time() - started:6.0f} s] {msg}", file=sys.stderr, flush=True)

    # 1. M/M/c: the hand-written loop and rewind, alternating.
    log(f"M/M/c, {h} s: hand-written loop and rewind, {runs} runs each, alternating")
    hw, rw, hw_rss, rw_rss, rw_model_rss = [], [], [], [], []
    for _ in range(runs):
        lines, rss = run_timed([handwritten, h, "42"])
        hw.append(lines[-1]); hw_rss.append(rss)
        lines, rss = run_timed([rewind, "bench", "--model", "mmc", "--runs", "1", "--horizon", f"{h}s"])
        rw.append(lines[-1]); rw_rss.append(rss); rw_model_rss.append(lines[-1].get("peak_rss_kib"))
    hand = dict(summarise(hw, "arrived"), rss_kib=max(filter(None, hw_rss), default=None))
    mmc = dict(summarise(rw, "customers"), time_rss_kib=max(filter(None, rw_rss), default=None),
               model_rss_kib=max(filter(None, rw_model_rss), default=None))

    # 2-4. rewind's models, each invocation with its reference in the same process.
    rewind_runs = {}
    for model in ["overload", "replicas", "incident"]:
        log(f"rewind bench --model {model} --runs {runs}")
        lines, rss = run_timed([rewind, "bench", "--model", model, "--runs", str(runs),
                                "--horizon", f"{h}s"] + scale_args)
        rewind_runs[model] = [from_bench_line(l, rss) for l in lines]
    overload_ref, overload = rewind_runs["overload"]
    replicas10, replicas1000 = rewind_runs["replicas"]
    (flagship,) = rewind_runs["incident"]
    flagship_duration_s = flagship["line"]["simulated_s"]

    # 4. SimPy's leaky-pool model with the flagship's parameters.
    simpy_leaky = None
    simpy_cmd_shown = None
    try:
        import simpy  # noqa: F401
        have_simpy = True
    except ImportError:
        have_simpy = False
        print("(SimPy is not installed: pip install -r bench/requirements.txt)", file=sys.stderr)
    if have_simpy:
        leaky = [sys.executable, os.path.join(peers, "leaky_pool_simpy.py"),
                 "--horizon", f"{flagship_duration_s:g}", "--seed", "42", "--rate", "40",
                 "--workers", "1000000", "--backlog", "4096", "--pool", "20",
                 "--pool-wait", "1e9", "--query-mean", f"{FLAGSHIP_QUERY_MEAN_S:.6f}",
                 "--gw-timeout", "60", "--job-period", "300", "--job-first", "300",
                 "--job-iters", "5", "--job-duration", "0.001"]
        simpy_cmd_shown = "python3 leaky_pool_simpy.py " + " ".join(leaky[2:])
        log(f"SimPy leaky pool, {flagship_duration_s:g} s, {slow_runs} runs")
        samples, rsses = [], []
        for _ in range(slow_runs):
            lines, rss = run_timed(leaky)
            samples.append(lines[-1]); rsses.append(rss)
        simpy_leaky = dict(summarise(samples, "arrived"), rss_kib=max(filter(None, rsses), default=None))

    # 5. SimPy and Ciw on M/M/c, for context.
    context_rows = []
    for name, module, script, horizon, n in [("SimPy 4", "simpy", "mmc_simpy.py", h, slow_runs),
                                             ("Ciw 3", "ciw", "mmc_ciw.py", str(args.short_horizon), 1)]:
        try:
            __import__(module)
        except ImportError:
            print(f"({name} is not installed: pip install -r bench/requirements.txt)", file=sys.stderr)
            continue
        log(f"{name} M/M/c, {horizon} s, {n} runs")
        samples, rsses = [], []
        for _ in range(n):
            lines, rss = run_timed([sys.executable, os.path.join(peers, script), horizon, "42"])
            samples.append(lines[-1]); rsses.append(rss)
        context_rows.append((name, f"M/M/c, {horizon} s",
                             dict(summarise(samples, "arrived"), rss_kib=max(filter(None, rsses), default=None))))
    log("done")

    # Tables.
    base = hand["customers_per_s"]
    dur = lambda s: f"{s:g} s"
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    load = (f"; load average {load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end"
            if load_before else "")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M')}; `python3 bench/compare.py "
          f"{'--quick' if args.quick else f'--runs {runs}'}`: median of {runs} runs "
          f"(SimPy and Ciw: {slow_runs} and 1); {time.time() - started:.0f} s in all{load}.")
    if args.quick:
        print("\n**Quick smoke run: short horizons, one run. These figures are not measurements.**")
    print()
    print("| simulator | model | events | customers | loop wall (median) | events/s | customers/s "
          "| vs hand-written (customers/s) | peak RSS |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = [("hand-written Rust loop (binary heap)", f"M/M/c, {h} s", hand),
            ("rewind", f"M/M/c, {h} s", mmc)]
    rows += context_rows
    rows += [("rewind", f"bench/overload.yaml, {dur(overload['line']['simulated_s'])}", overload),
             ("rewind", f"bench/replicas-10.yaml, {dur(replicas10['line']['simulated_s'])}", replicas10),
             ("rewind", f"bench/replicas-1000.yaml, {dur(replicas1000['line']['simulated_s'])}", replicas1000),
             ("rewind", f"incidents/leaky-batch-loop.yaml, {dur(flagship_duration_s)}", flagship)]
    if simpy_leaky:
        rows.append(("SimPy 4", f"leaky_pool_simpy.py, {dur(flagship_duration_s)}", simpy_leaky))
    def rss_of(r):
        if r.get("model_rss_kib"):
            return f"{mib(r['model_rss_kib'])} (a)"
        return f"{mib(r['rss_kib'])} (b)" if r.get("rss_kib") else "-"

    vs_hand = lambda model, r: f"{r['customers_per_s'] / base:.3f}" if model.startswith("M/M/c") else "-"
    for name, model, r in rows:
        print(f"| {name} | {model} | {r['events']:,} | {r['customers']:,} | {r['wall_s']:.3f} s | "
              f"{millions(r['events_per_s'])} | {millions(r['customers_per_s'])} | "
              f"{vs_hand(model, r)} | {rss_of(r)} |")

    print("\n(a) rewind: VmHWM of the process during this model's replays (reset before each)."
          "\n(b) the whole process, from `/usr/bin/time -f %M`.")

    targets = []
    mmc_ratio = mmc["customers_per_s"] / base
    targets.append(("1. M/M/c: rewind customers/s vs the hand-written loop (separate processes, alternating)",
                    f"{millions(mmc['customers_per_s'])} / {millions(base)}", mmc_ratio, ">= 0.7", mmc_ratio >= 0.7))
    ol = overload["line"]
    targets.append(("2. overload events/s vs M/M/c events/s (same `rewind bench` process)",
                    f"{millions(ol['events_per_s'])} / {millions(ol['reference_events_per_s'])}",
                    ol["ratio_to_reference"], f">= {ol['target_ratio']}", ol["ratio_to_reference"] >= ol["target_ratio"]))
    ol_rss = overload["model_rss_kib"]
    targets.append(("2. overload peak RSS (VmHWM during its replays)", mib(ol_rss),
                    None, "<= 64 MiB", ol_rss is not None and ol_rss <= 64 * 1024))
    rl = replicas1000["line"]
    targets.append(("3. 1,000-replica events/s vs 10-replica events/s (same `rewind bench` process)",
                    f"{millions(rl['events_per_s'])} / {millions(rl['reference_events_per_s'])}",
                    rl["ratio_to_reference"], f">= {rl['target_ratio']}", rl["ratio_to_reference"] >= rl["target_ratio"]))
    if simpy_leaky:
        fr = flagship["customers_per_s"] / simpy_leaky["customers_per_s"]
        targets.append(("4. flagship requests/s vs SimPy's leaky-pool model (same parameters where it has them)",
                        f"{millions(flagship['customers_per_s'])} / {millions(simpy_leaky['customers_per_s'])}",
                        fr, ">= 60", fr >= 60))
    else:
        targets.append(("4. flagship requests/s vs SimPy's leaky-pool model", "SimPy not installed", None, ">= 60", None))
    print()
    print("| target | measured | ratio | target | met |")
    print("|---|---:|---:|---:|---|")
    for what, measured, ratio, goal, met in targets:
        r = f"{ratio:.3f}" if ratio is not None else "-"
        m = "-" if met is None else ("yes" if met else "**no**")
        print(f"| {what} | {measured} | {r} | {goal} | {m} |")
    if simpy_cmd_shown:
        print(f"\nSimPy leaky pool: `{simpy_cmd_shown}`")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "hand": hand, "rewind_mmc": mmc,
                       "rewind": {k: [dict(r) for r in v] for k, v in rewind_runs.items()},
                       "simpy_leaky": simpy_leaky, "context": context_rows,
                       "targets": targets}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
