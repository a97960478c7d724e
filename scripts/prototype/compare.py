"""Runs the prototype's approach (detector.py, a reconstruction) and anomaly-detector on the same
labelled files, scores both line by line the way `anomaly-detector eval` does, and prints a markdown
table. scripts/compare-prototype.sh sets everything up and calls this.

Usage: compare.py --binary BIN [--max-lines N] [--json PATH] FILE...

Each FILE comes from `anomaly-detector eval --scenario NAME --format json|combined --dump FILE`,
with its labels in FILE.labels.jsonl. A line is anomalous when it has a label, clean otherwise (as in
src/eval.rs); window-level findings (`volume`, no `line`) are not line-level and are left out. A
FILE longer than --max-lines is cut to its first N lines (written beside it) and both detectors run
on that prefix. Each detector runs as its own process: wall time, CPU time and peak RSS are that
process's own (os.wait4), including its start-up."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, stdout, env):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} exited with {p.returncode}")
    return {"wall_secs": wall, "cpu_secs": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def prefix(path, max_lines):
    """(path, line count) of the input to use: FILE itself, or its first max_lines lines."""
    with open(path, "rb") as f:
        total = sum(1 for _ in f)
    if not max_lines or total <= max_lines:
        return path, total, total
    cut = f"{path}.first{max_lines}"
    with open(path, "rb") as src, open(cut, "wb") as dst:
        for i, line in enumerate(src):
            if i == max_lines:
                break
            dst.write(line)
    return cut, max_lines, total


def score(flagged, labelled, lines):
    """Line-level scores as src/eval.rs computes them."""
    flagged = set(flagged)
    tp = len(flagged & labelled)
    clean = lines - len(labelled)
    clean_flagged = len(flagged) - tp
    precision = tp / len(flagged) if flagged else 1.0
    recall = tp / len(labelled) if labelled else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"flagged": len(flagged), "true_positives": tp, "precision": precision, "recall": recall, "f1": f1,
            "clean_lines": clean, "clean_flagged": clean_flagged,
            "clean_flagged_rate": clean_flagged / clean if clean else 0.0}


def compare(binary, path, max_lines):
    label_path = path + ".labels.jsonl"
    used, lines, total = prefix(path, max_lines)
    with open(label_path) as f:
        labelled = {n for n in (json.loads(l)["line"] for l in f if l.strip()) if n <= lines}
    name = os.path.basename(path)
    rows = []

    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALY_DETECTOR__")}
    env["LOG_LEVEL"] = "warn"
    with tempfile.TemporaryFile() as out:
        m = run([binary, "scan", "--no-progress", "--output", "jsonl", used], out, env)
        out.seek(0)
        flagged = [o["line"] for o in map(json.loads, out) if o.get("line") is not None]
    rows.append(dict(input=name, lines=lines, total_lines=total, labelled=len(labelled),
                     detector="anomaly-detector scan", looked_at=lines, dropped=0,
                     **score(flagged, labelled, lines), **m))

    # One thread for the Python side too, as `scan` scores on one core.
    penv = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.NamedTemporaryFile(suffix=".json") as res:
        m = run([sys.executable, os.path.join(HERE, "detector.py"), used, "--out", res.name], None, penv)
        proto = json.load(open(res.name))
    rows.append(dict(input=name, lines=lines, total_lines=total, labelled=len(labelled),
                     detector="prototype approach (reconstruction)", looked_at=proto["looked_at"],
                     dropped=proto["dropped"], polls=proto["polls"], unparsed=proto["unparsed"],
                     by_model=proto["by_model"], versions=proto["versions"],
                     **score(proto["flagged"], labelled, lines), **m))
    return rows


def table(rows):
    out = ["| input | detector | lines | anomalous | precision | recall | F1 | clean lines flagged | "
           "lines dropped (never looked at) | wall time (CPU) | lines/s | peak RSS |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        metric = (lambda x: "–") if r["labelled"] == 0 else (lambda x: f"{x:.3f}")
        lines = f"{r['lines']:,}" + ("" if r["lines"] == r["total_lines"] else f" (first of {r['total_lines']:,})")
        dropped = f"{r['dropped']:,} ({100 * r['dropped'] / r['lines']:.1f} %)"
        out.append(
            f"| {r['input']} | {r['detector']} | {lines} | {r['labelled']:,} | {metric(r['precision'])} | "
            f"{metric(r['recall'])} | {metric(r['f1'])} | {r['clean_flagged']:,} "
            f"({100 * r['clean_flagged_rate']:.3f} %) | {dropped} | {r['wall_secs']:.1f} s ({r['cpu_secs']:.1f} s) | "
            f"{r['lines'] / r['wall_secs']:,.0f} | {r['peak_rss_mb']:.0f} MB |")
    out += ["", "What each part of the prototype approach flagged (share of the lines it looked at; a line can be "
            "flagged by several):", "",
            "| input | polls | IsolationForest | OneClassSVM response time | OneClassSVM status code | rules |",
            "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "by_model" in r:
            share = lambda k: f"{r['by_model'][k]:,} ({100 * r['by_model'][k] / max(r['looked_at'], 1):.1f} %)"
            out.append(f"| {r['input']} | {r['polls']:,} | {share('isolation_forest')} | {share('ocsvm_response_time')} | "
                       f"{share('ocsvm_status_code')} | {share('rules')} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True, help="the anomaly-detector binary")
    ap.add_argument("--max-lines", type=int, default=0, help="cut longer files to their first N lines")
    ap.add_argument("--json", help="also write every number to this file")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    rows = []
    for path in args.files:
        print(f"comparing on {path} ...", file=sys.stderr)
        rows.extend(compare(args.binary, path, args.max_lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(table(rows))


if __name__ == "__main__":
    main()
