#!/usr/bin/env python3
"""Measure rewind against the peer simulators in one run, on one machine.

Runs the same M/M/c model (lambda 90/s, c 10, mean service 0.1 s) on:
  - rewind (`rewind bench`, release build),
  - the hand-written Rust loop over a binary heap (../shared/peers/ceiling, built here),
  - SimPy and Ciw (pip install -r bench/requirements.txt), if installed,
and the leaky-batch-loop incident on rewind. Each is run RUNS times; the median wall
time of the simulation loop is reported, with customers per second and the ratio to
the hand-written loop. Prints a Markdown table (paste it into BENCHMARKS.md).

Usage: python3 bench/compare.py [--runs 5] [--horizon 100000] [--peers ../shared/peers]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def peak_rss_kib(cmd):
    """Peak RSS of a whole process, via /usr/bin/time when it exists."""
    if not os.path.exists("/usr/bin/time"):
        return None
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    try:
        return int(r.stderr.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def median_of(runs, cmd, customers_key, wall_key="sim_loop_wall_s"):
    samples = [run_json(cmd) for _ in range(runs)]
    walls = [s[wall_key] for s in samples]
    wall = statistics.median(walls)
    customers = samples[0][customers_key]
    return {
        "wall_s": wall,
        "min_s": min(walls),
        "max_s": max(walls),
        "customers": customers,
        "customers_per_s": customers / wall,
        "events": samples[0].get("events"),
        "mean_wait_queue_s": samples[0].get("mean_wait_queue_s"),
        "rss_kib": peak_rss_kib(cmd),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--horizon", type=int, default=100000)
    ap.add_argument("--short-horizon", type=int, default=10000,
                    help="horizon for Ciw, which keeps every record in memory")
    ap.add_argument("--peers", default=os.path.join(ROOT, "..", "shared", "peers"))
    args = ap.parse_args()
    peers = os.path.abspath(args.peers)

    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    rewind = os.path.join(ROOT, "target", "release", "rewind")
    target = os.path.join(ROOT, "target", "peers")
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=os.path.join(peers, "ceiling"), check=True, env=env)
    handwritten = os.path.join(target, "release", "mmc")

    rows = []
    h = str(args.horizon)
    rows.append(("hand-written Rust loop (binary heap)", f"M/M/c, {h} s",
                 median_of(args.runs, [handwritten, h, "42"], "arrived")))
    rows.append(("rewind", f"M/M/c, {h} s",
                 median_of(args.runs, [rewind, "bench", "--model", "mmc", "--runs", "1", "--horizon", f"{h}s"], "customers")))
    for name, script, horizon, runs in [("SimPy 4", "mmc_simpy.py", h, max(1, args.runs // 2)),
                                        ("Ciw 3", "mmc_ciw.py", str(args.short_horizon), 1)]:
        try:
            __import__(name.split()[0].lower())
        except ImportError:
            print(f"({name} is not installed: pip install -r bench/requirements.txt)", file=sys.stderr)
            continue
        rows.append((name, f"M/M/c, {horizon} s",
                     median_of(runs, [sys.executable, os.path.join(peers, script), horizon, "42"], "arrived")))
    rows.append(("rewind", "leaky-batch-loop.yaml",
                 median_of(args.runs, [rewind, "bench", "--model", "incident", "--runs", "1",
                                       "--incident", os.path.join(ROOT, "incidents", "leaky-batch-loop.yaml")], "customers")))

    base = rows[0][2]["customers_per_s"]
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}; median of {args.runs} runs (SimPy {max(1, args.runs // 2)}, Ciw 1).\n")
    print("| simulator | model | customers | loop wall (median) | customers/s | vs hand-written | events/s | peak RSS |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, model, r in rows:
        ev = f"{r['events'] / r['wall_s'] / 1e6:.1f} M" if r.get("events") else "-"
        rss = f"{r['rss_kib'] / 1024:.0f} MiB" if r.get("rss_kib") else "-"
        print(f"| {name} | {model} | {r['customers']:,} | {r['wall_s']:.3f} s | "
              f"{r['customers_per_s'] / 1e6:.2f} M | {r['customers_per_s'] / base:.3f} | {ev} | {rss} |")


if __name__ == "__main__":
    main()
