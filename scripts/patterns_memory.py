#!/usr/bin/env python3
"""Memory of the template stage at its cap: the daemon (`run`, file source, not followed) and
`scan` reading free-text application lines that carry more distinct templates than
`patterns.max_templates` (10,000), as fast as they can.

    scripts/patterns_memory.py BINARY WORKDIR [LINES]

Any two of the 12,769 templates differ in at least two words (so none merge): word a, word b and
word (a + b) mod 113. Prints a Markdown table: lines, templates kept, peak RSS and lines per
CPU-second of each.
"""
import json, os, resource, subprocess, sys, tempfile

binary, workdir = sys.argv[1], sys.argv[2]
lines = int(sys.argv[3]) if len(sys.argv) > 3 else 400_000
P = 113
os.makedirs(workdir, exist_ok=True)


def word(i):
    s = ""
    for _ in range(3):
        s += chr(ord("a") + i % 26)
        i //= 26
    return "w" + s


log = os.path.join(workdir, "app.log")
with open(log, "w") as f:
    for n in range(lines):
        i = (n * 7919) % (P * P)
        a, b = i % P, i // P
        t0 = 1_795_507_200 + n // 20_000
        secs, ms = divmod(n % 20_000, 20)
        ts = f"2026-11-24T08:{(t0 // 60) % 60:02d}:{t0 % 60:02d}.{(n % 1000):03d}Z"
        f.write(f"{ts} INFO worker: {word(a)} {word(b + 200)} {word((a + b) % P + 400)} finished after {n % 90 + 3} ms\n")


def run(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, after.ru_maxrss / 1024.0


def one(kind):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALY_DETECTOR__")}
    env["LOG_LEVEL"] = "warn"
    if kind == "scan":
        cpu, rss = run([binary, "scan", "--no-progress", "--output", "jsonl", log], env)
        return {"cpu": cpu, "rss": rss, "templates": None}
    state = tempfile.mkdtemp(dir=workdir)
    env.update(
        ANOMALY_DETECTOR__SOURCE__KIND="file",
        ANOMALY_DETECTOR__SOURCE__PATHS=log,
        ANOMALY_DETECTOR__SOURCE__FOLLOW="false",
        ANOMALY_DETECTOR__STATE__DIR=state,
        ANOMALY_DETECTOR__SERVER__LISTEN="127.0.0.1:0",
    )
    cpu, rss = run([binary, "run"], env)
    saved = json.load(open(os.path.join(state, "models.json")))
    templates = sum(sum(1 for s in svc["miner"]["slots"] if "Root" in s["state"]) for svc in saved["patterns"])
    return {"cpu": cpu, "rss": rss, "templates": templates}


if len(sys.argv) > 4:
    print(json.dumps(one(sys.argv[4])))
    sys.exit()
print("| reader | lines | distinct templates in the input | templates kept | peak RSS | lines per CPU-second |")
print("|---|---:|---:|---:|---:|---:|")
for kind in ["run", "scan"]:
    # ru_maxrss of the children is the largest of any child so far: one reader per process.
    out = subprocess.run([sys.executable, __file__, binary, workdir, str(lines), kind], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    kept = f"{r['templates']:,}" if r["templates"] is not None else "—"
    print(f"| `{kind}` | {lines:,} | {min(lines, P * P):,} | {kept} | {r['rss']:.0f} MB | {lines / r['cpu']:,.0f} |")
