#!/usr/bin/env python3
"""`pattern` anomalies on Loghub-2k's labelled samples, through `scan` (needs ../shared/datasets).

    scripts/patterns_detection.py BINARY DATASETS_DIR

Prints a Markdown table:
- BGL (143 alert lines, label column removed): line-level precision/recall/F1
  * learning from its normal lines (`scan --train normal.log all.log`), the issue's protocol;
  * held out: learning from the normal lines of the first 1,000 lines, scoring the last 1,000;
  * `scan all.log` alone (learning from the sample itself, alerts included).
- Thunderbird (no alerts): share of lines flagged, `scan` alone and learning from its first half.
- OpenSSH (no labels): lines flagged and the incidents' headlines, `scan` alone.
"""
import json, os, subprocess, sys, tempfile
from collections import Counter

binary, datasets = sys.argv[1], sys.argv[2]
root = os.path.join(datasets, "loghub-2k")


def read(system):
    with open(os.path.join(root, system, f"{system}_2k.log"), encoding="utf-8", errors="replace") as f:
        return [l.rstrip("\r\n") for l in f]


def scan(lines, train=None):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "in.log")
        open(path, "w").write("\n".join(lines) + "\n")
        args = [binary, "scan", "--output", "jsonl", "--no-progress"]
        if train is not None:
            tpath = os.path.join(d, "train.log")
            open(tpath, "w").write("\n".join(train) + "\n")
            args += ["--train", tpath]
        out = subprocess.run(args + [path], capture_output=True, text=True, check=True).stdout
    flagged = {}
    for l in out.splitlines():
        a = json.loads(l)
        if "line" in a:
            flagged.setdefault(a["line"], a)
    return flagged


def prf(flagged, labels):
    tp = sum(1 for n in flagged if labels[n - 1])
    pos = sum(labels)
    p = tp / len(flagged) if flagged else 0.0
    r = tp / pos if pos else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return f"{p:.3f}", f"{r:.3f}", f"{f1:.3f}", f"{len(flagged)} ({tp} alerts)"


rows = []
bgl = read("BGL")
labels = [l.split(" ", 1)[0] != "-" for l in bgl]
text = [l.split(" ", 1)[1] for l in bgl]
normal = [t for t, bad in zip(text, labels) if not bad]
rows.append(("BGL, learning from its normal lines", *prf(scan(text, normal), labels)))
first_normal = [t for t, bad in zip(text[:1000], labels[:1000]) if not bad]
held = scan(text[1000:], first_normal)
rows.append(("BGL, learning from the first 1,000 lines' normal ones, scoring the last 1,000",
             *prf(held, labels[1000:])))
rows.append(("BGL, `scan` alone (its own lines are the history)", *prf(scan(text), labels)))

tb = [l.split(" ", 1)[1] for l in read("Thunderbird")]
alone = scan(tb)
half = scan(tb[1000:], tb[:1000])
ssh = read("OpenSSH")
ssh_flagged = scan(ssh)

print("| sample | precision | recall | F1 | lines flagged |")
print("|---|---:|---:|---:|---:|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print(f"| Thunderbird (no alerts), `scan` alone | | | | {len(alone)} of 2,000 ({100 * len(alone) / 2000:.2f} %) |")
print(f"| Thunderbird, learning from its first 1,000 lines, scoring the last 1,000 | | | | "
      f"{len(half)} of 1,000 ({100 * len(half) / 1000:.1f} %) |")
print(f"| OpenSSH (no labels), `scan` alone | | | | {len(ssh_flagged)} of 2,000 |")
kinds = Counter(d for a in held.values() for d in a.get("detectors", []))
print()
print("Detectors behind the held-out BGL lines: " + ", ".join(f"`{k}` {v}" for k, v in kinds.most_common()) + ".")
