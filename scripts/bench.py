"""Measures scan throughput and peak RSS, and the daemon's RSS at steady state.

Usage: bench.py BINARY WORKDIR. Prints a markdown table (bench.sh puts it into the README)."""
import json, os, resource, socket, subprocess, sys, time, urllib.request

binary, work = sys.argv[1], sys.argv[2]
env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALY_DETECTOR__")}
env["LOG_LEVEL"] = "warn"
rows = []

def gen(name, fmt, path):
    if not os.path.exists(path):
        subprocess.run([binary, "eval", "--scenario", name, "--format", fmt, "--dump", path], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    with open(path, "rb") as f:
        return sum(1 for _ in f)

def scan(path, lines, label, extra=()):
    best = None
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([binary, "scan", "--no-progress", "--output", "jsonl", *extra, path], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best or (wall, cpu), (wall, cpu))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows.append((label, f"{lines:,} lines: {best[1]:.2f} s CPU, {best[0]:.2f} s wall",
                 f"**{lines / best[1]:,.0f} lines per CPU-second**", f"peak RSS ≤ {peak_mb:.0f} MB"))

for fmt in ("json", "combined"):
    path = os.path.join(work, f"clean_day.{fmt}.log")
    n = gen("clean_day", fmt, path)
    name = "nginx JSON" if fmt == "json" else "combined"
    scan(path, n, f"`scan`, 24 h of {name} access logs (learns from the first 10,000 lines, refits hourly)")

# Daemon steady state: `demo` (history + live traffic, every model trained, incidents flowing).
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
p = subprocess.Popen([binary, "demo", "--listen", f"127.0.0.1:{port}"], env=env,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
samples = []
try:
    for i in range(60):
        time.sleep(2)
        with open(f"/proc/{p.pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
        if i >= 15:
            samples.append(rss)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status") as r:
        lines = json.load(r)["lines_processed"]
finally:
    p.terminate(); p.wait()
rows.append(("daemon (`demo`: live traffic, trained, incidents flowing), sampled every 2 s from 30 s to 120 s",
             f"{lines:,} lines in 120 s", "–", f"RSS {min(samples):.1f}–{max(samples):.1f} MB (last {samples[-1]:.1f})"))

print("| what | work | speed | memory |")
print("|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
