"""The criterion benchmarks' estimates (target/criterion/*/…/new/estimates.json) as a markdown table:
per benchmark, the mean time of one iteration, its 95 % confidence interval, and items per second
where the benchmark counts items.

Usage: criterion_table.py CRITERION_DIR [SINCE]   (SINCE: epoch seconds; older estimates, left by
earlier runs of other benchmarks, are left out)"""
import json, os, sys

root = sys.argv[1]
since = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


rows = []
for dirpath, dirs, files in os.walk(root):
    if (os.path.basename(dirpath) == "new" and "estimates.json" in files and "benchmark.json" in files
            and os.path.getmtime(os.path.join(dirpath, "estimates.json")) >= since):
        bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
        mean = json.load(open(os.path.join(dirpath, "estimates.json")))["mean"]
        ci = mean["confidence_interval"]
        elements = (bench.get("throughput") or {}).get("Elements")
        rate = f"{elements / (mean['point_estimate'] / 1e9):,.0f} per s" if elements else ""
        rows.append((bench["full_id"], fmt(mean["point_estimate"]), f"{fmt(ci['lower_bound'])} – {fmt(ci['upper_bound'])}", rate))
if not rows:
    sys.exit(f"no criterion estimates under {root}: run cargo bench first")
print("| benchmark | mean per iteration | 95 % interval | items (rows scored, lines) |")
print("|---|---:|---:|---:|")
for r in sorted(rows):
    print("| " + " | ".join(r) + " |")
