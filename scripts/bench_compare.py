"""Scan CPU time of two builds side by side (runs alternate, best of N each), so a change is judged
against the build before it on the same machine at the same time. CPU time, not wall time: the
machine is shared.

Usage: bench_compare.py OLD_BINARY NEW_BINARY WORKDIR [--runs N]
Prints a markdown table: per case, lines per CPU-second of each build and the ratio new/old.

Cases: the 24 h clean day (1.15M nginx JSON lines) learned from itself and with --train (an hour
of another seed's traffic); the same day as combined access logs; 1M lines over 20,000 distinct
paths the endpoint templater cannot collapse (`/api/v1/<word>/<word>`), with the default
`features.max_endpoints` and with 10,000."""
import os, random, resource, subprocess, sys, time

old, new, work = sys.argv[1], sys.argv[2], sys.argv[3]
runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
os.makedirs(work, exist_ok=True)
base_env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALY_DETECTOR__")}
base_env["LOG_LEVEL"] = "warn"


def dump(scenario, fmt, seed, path):
    if not os.path.exists(path):
        subprocess.run([new, "eval", "--scenario", scenario, "--format", fmt, "--seed", str(seed), "--dump", path],
                       check=True, env=base_env, stdout=subprocess.DEVNULL)
    return path


def many_endpoints(path, n=1_000_000, paths=20_000):
    """JSON access lines spread evenly over `paths` distinct two-word paths, each with its own latency."""
    if os.path.exists(path):
        return path
    rnd = random.Random(7)
    words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(4, 9))) for _ in range(400)]
    names = set()
    while len(names) < paths:
        names.add(f"/api/v1/{rnd.choice(words)}/{rnd.choice(words)}")
    names = sorted(names)
    base = {p: rnd.lognormvariate(3.7, 1.0) for p in names}
    t = 1_763_625_600.0
    with open(path, "w") as f:
        for _ in range(n):
            t += rnd.expovariate(150)
            p = names[rnd.randrange(paths)]
            rt = rnd.lognormvariate(0, 0.35) * base[p]
            sec = int(t)
            ms = int((t - sec) * 1000)
            stamp = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(sec))}.{ms:03d}Z"
            status = 500 if rnd.random() < 0.002 else 200
            f.write(f'{{"time":"{stamp}","remote_addr":"10.{rnd.randrange(4)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}",'
                    f'"method":"GET","path":"{p}","status":{status},"bytes":{int(rnd.gauss(2000, 300))},'
                    f'"request_time":{rt / 1000:.4f},"user_agent":"Mozilla/5.0"}}\n')
    return path


def train_file(path, source, lines=200_000):
    if not os.path.exists(path):
        with open(source) as src, open(path, "w") as out:
            for i, line in enumerate(src):
                if i >= lines:
                    break
                out.write(line)
    return path


def cpu_of(binary, args, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([binary, "scan", "--no-progress", "--output", "jsonl", *args], env=env,
                       stdout=subprocess.PIPE, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    flagged = p.stdout.count(b"\n")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), flagged


day_json = dump("clean_day", "json", 1, os.path.join(work, "clean_day.json.log"))
day_combined = dump("clean_day", "combined", 1, os.path.join(work, "clean_day.combined.log"))
other_day = dump("clean_day", "json", 2, os.path.join(work, "clean_day.seed2.json.log"))
train = train_file(os.path.join(work, "train.seed2.json.log"), other_day)
many = many_endpoints(os.path.join(work, "many_endpoints.json.log"))
wide = dict(base_env, ANOMALY_DETECTOR__FEATURES__MAX_ENDPOINTS="10000")
cases = [
    ("clean day, nginx JSON, learned from itself", [day_json], base_env),
    ("clean day, nginx JSON, --train (200k lines of another day)", ["--train", train, day_json], base_env),
    ("clean day, combined", [day_combined], base_env),
    ("20,000 paths, default max_endpoints", [many], base_env),
    ("20,000 paths, max_endpoints = 10000", [many], wide),
]

print(f"| case | lines | old lines/CPU-s | new lines/CPU-s | new/old | flagged old → new |")
print("|---|---:|---:|---:|---:|---|")
for label, args, env in cases:
    lines = sum(1 for _ in open(args[-1], "rb"))
    best = {old: None, new: None}
    flagged = {}
    for _ in range(runs):
        for b in (old, new):
            cpu, f = cpu_of(b, args, env)
            best[b] = cpu if best[b] is None else min(best[b], cpu)
            flagged[b] = f
    o, n = lines / best[old], lines / best[new]
    print(f"| {label} | {lines:,} | {o:,.0f} | {n:,.0f} | {n / o:.2f} | {flagged[old]:,} → {flagged[new]:,} |",
          flush=True)
