#!/usr/bin/env python3
"""Grouping accuracy of `anomaly-detector patterns` on the 16 Loghub-2k systems.

    scripts/patterns_accuracy.py BINARY [DATASETS]     (DATASETS: ../shared/datasets by default)

For each system, runs `patterns --output jsonl` on its raw `<S>_2k.log` (headers included, default
settings, nothing per dataset) and scores it against `<S>_2k.log_structured_corrected.csv`
grouped by the `EventTemplate` string (what Loghub-2.0 does) and against the original
`_structured.csv`: a line is right when the set of lines in its predicted group is exactly the set
in its true group. Prints a markdown table beside Drain3 with its defaults, measured on this
machine (`python-baselines/drain3_default_loghub2k.csv`), and the means.
"""
import collections, csv, json, os, subprocess, sys

SYSTEMS = ["Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac", "OpenSSH",
           "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper"]


def grouping_accuracy(predicted, truth):
    """predicted, truth: one group key per line."""
    def groups(keys):
        g = collections.defaultdict(set)
        for i, k in enumerate(keys):
            g[k].add(i)
        return g
    p, t = groups(predicted), groups(truth)
    right = sum(1 for i in range(len(truth)) if p[predicted[i]] == t[truth[i]])
    return right / len(truth), len(p), len(t)


def truth_of(path, column):
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return [row[column] for row in csv.DictReader(f)]


def main():
    binary = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
    drain = {}
    baseline = os.path.join(data, "python-baselines", "drain3_default_loghub2k.csv")
    if os.path.exists(baseline):
        drain = {r["system"]: r for r in csv.DictReader(open(baseline, encoding="utf-8-sig"))}
    rows, corr, orig = [], [], []
    for s in SYSTEMS:
        d = os.path.join(data, "loghub-2k", s)
        out = subprocess.run([binary, "patterns", "--output", "jsonl", os.path.join(d, f"{s}_2k.log")],
                             check=True, capture_output=True, text=True).stdout
        objs = [json.loads(l) for l in out.splitlines()]
        assert [o["line"] for o in objs] == list(range(1, len(objs) + 1)), f"{s}: not one object per line"
        predicted = [o["pattern"] for o in objs]
        ga_c, n_pred, n_true = grouping_accuracy(predicted, truth_of(os.path.join(d, f"{s}_2k.log_structured_corrected.csv"), "EventTemplate"))
        ga_o, _, _ = grouping_accuracy(predicted, truth_of(os.path.join(d, f"{s}_2k.log_structured.csv"), "EventId"))
        corr.append(ga_c)
        orig.append(ga_o)
        dr = drain.get(s, {})
        rows.append(f"| {s} | {ga_c:.3f} | {ga_o:.3f} | {n_pred} / {n_true} | {dr.get('GA_corr', '–')} |")
    print("| system | GA (corrected truth) | GA (original truth) | templates found / true | Drain3 defaults (corrected) |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    mean_drain = sum(float(r["GA_corr"]) for r in drain.values()) / len(drain) if drain else float("nan")
    print(f"| **mean** | **{sum(corr) / len(corr):.3f}** | **{sum(orig) / len(orig):.3f}** | | {mean_drain:.3f} |")


if __name__ == "__main__":
    main()
