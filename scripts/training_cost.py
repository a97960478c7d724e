#!/usr/bin/env python3
"""What each `detection.training_events` costs: memory, fit time and state-file size.

    scripts/training_cost.py BINARY WORKDIR

On the `sweep_10k` traffic (3 h of nginx JSON, an incident every 10 minutes, 219,527 lines) and
for each size it runs
  - `scan FILE` (learns from the first N lines): peak RSS, CPU time, the first fit's time and the
    longest fit;
  - the daemon (`run`, file source, not followed, so it stops at the end and saves its state):
    peak RSS, the longest fit and the size of `models.json`.
and prints a markdown table (scripts/training_cost.sh puts it in the README).
"""
import json, os, resource, subprocess, sys, tempfile

SIZES = [10_000, 50_000, 200_000]


def run(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    fits = []
    for line in p.stderr.splitlines():
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if v.get("message") == "Models trained":
            fits.append(float(v.get("fit_ms", "nan")))
    # ru_maxrss of the children is the largest of any child so far: run one size per process.
    return cpu, after.ru_maxrss / 1024.0, fits


def one(binary, log, n, workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALY_DETECTOR__")}
    env.update(LOG_LEVEL="info", ANOMALY_DETECTOR__DETECTION__TRAINING_EVENTS=str(n))
    scan_cpu, scan_rss, scan_fits = run([binary, "--log-format", "json", "scan", "--no-progress", "--output", "jsonl", log], env)
    state = tempfile.mkdtemp(dir=workdir)
    env.update(
        ANOMALY_DETECTOR__SOURCE__KIND="file",
        ANOMALY_DETECTOR__SOURCE__PATHS=log,
        ANOMALY_DETECTOR__SOURCE__FOLLOW="false",
        ANOMALY_DETECTOR__STATE__DIR=state,
        ANOMALY_DETECTOR__SERVER__LISTEN="127.0.0.1:0",
    )
    run_cpu, run_rss, run_fits = run([binary, "--log-format", "json", "run"], env)
    size = os.path.getsize(os.path.join(state, "models.json"))
    return {
        "n": n,
        "scan_rss": scan_rss,
        "scan_cpu": scan_cpu,
        "first_fit": scan_fits[0] if scan_fits else float("nan"),
        "max_fit": max(scan_fits + run_fits) if scan_fits + run_fits else float("nan"),
        "run_rss": run_rss,
        "run_cpu": run_cpu,
        "models_json": size,
    }


def main():
    binary, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    log = os.path.join(workdir, "sweep.json.log")
    if not os.path.exists(log):
        subprocess.run([binary, "eval", "--scenario", "sweep_10k", "--format", "json", "--dump", log],
                       check=True, stdout=subprocess.DEVNULL)
    lines = sum(1 for _ in open(log, "rb"))
    rows = []
    for n in SIZES:
        # A process of its own per size, so ru_maxrss is that size's peak.
        out = subprocess.run([sys.executable, __file__, "--one", binary, log, str(n), workdir],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        rows.append(json.loads(out))
    print(f"On {lines:,} lines of nginx JSON (3 h, the `sweep` traffic), one core:\n")
    print("| `training_events` | `scan` peak RSS | `scan` CPU | first fit | longest fit | daemon peak RSS | daemon CPU | `models.json` |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['scan_rss']:.0f} MB | {r['scan_cpu']:.2f} s | {r['first_fit']:.0f} ms | "
              f"{r['max_fit']:.0f} ms | {r['run_rss']:.0f} MB | {r['run_cpu']:.2f} s | {r['models_json'] / 1e6:.1f} MB |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        binary, log, n, workdir = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
        print(json.dumps(one(binary, log, n, workdir)))
    else:
        main()
