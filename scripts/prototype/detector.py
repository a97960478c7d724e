"""RECONSTRUCTION of the Python prototype's detector, for comparison only.

This is not the prototype's code (we never had it). It rebuilds the approach its README and
../shared/DESIGN.md describe, so `compare.py` can run that approach on the same labelled file as
anomaly-detector:

- Polls: every 60 s the prototype asked Loki for the last minute with `limit=1000`. Here the input
  lines are grouped into 60 s polls by their own timestamps (UTC minute boundaries); each poll keeps
  its first 1,000 lines and the rest are dropped, counted, and never looked at. Lines are assumed to
  be in time order, as the generated files are.
- No baselines, no history: every model is fitted on the poll it then judges, with a fixed 10 %
  contamination (the prototype's `anomaly_threshold`), so each model flags roughly a tenth of every
  poll whatever is in it.
  - `IsolationForest(contamination=0.1, n_estimators=100)` on FEATURE_COLUMNS (behavioral);
  - `OneClassSVM(nu=0.1, kernel="rbf", gamma="scale")` on response time alone;
  - `OneClassSVM(nu=0.1, kernel="rbf", gamma="scale")` on status code alone;
  - hard-coded suspicious patterns, searched in the lower-cased, URL-decoded path and query.
  A line is anomalous when any of the four flags it.
- A poll with fewer than MIN_POLL_LINES lines gets the rules only.

Not reproduced: the prototype read each line five times (overlapping queries); here each line is
read once, and a poll's models only see that poll. Its `feature_columns` were never documented; the
ones below are our choice of the obvious ones.

Usage: detector.py FILE --out RESULT.json     (nginx JSON or combined access logs)
"""

import argparse
import json
import re
import sys
import warnings
from datetime import datetime, timezone
from urllib.parse import unquote_plus

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

POLL_SECS = 60
POLL_LIMIT = 1000
CONTAMINATION = 0.1
MIN_POLL_LINES = 10
SEED = 0  # the prototype did not seed; seeded here so runs repeat

# Exactly these columns, in this order, go to the Isolation Forest.
FEATURE_COLUMNS = [
    "response_time_ms",  # request duration in milliseconds
    "status_code",  # HTTP status as a number
    "response_size",  # body bytes
    "hour",  # UTC hour of the line's timestamp (0-23)
    "method_code",  # METHOD_CODES below; any other method is 7
    "path_code",  # the path without its query, as an integer code within the poll: index in the
    # poll's sorted distinct paths (what pandas' astype("category").cat.codes gives)
    "path_length",  # characters in path + query
]
METHOD_CODES = {"GET": 0, "POST": 1, "PUT": 2, "DELETE": 3, "PATCH": 4, "HEAD": 5, "OPTIONS": 6}

SUSPICIOUS = ["suspicious", "../", "union select", "<script", "/etc/passwd", ".env", "wp-admin"]

COMBINED = re.compile(
    r'^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*"'
    r"(?: (\d+(?:\.\d+)?))?"
)


def first(d, *keys):
    for k in keys:
        if k in d:
            return d[k]
    return None


def parse(line):
    """(timestamp, method, path with query, status, response_time_ms, bytes) or None."""
    line = line.strip()
    if line.startswith("{"):
        try:
            d = json.loads(line)
            ts = datetime.fromisoformat(str(first(d, "time", "timestamp", "@timestamp", "time_iso8601")))
            if "response_time_ms" in d:
                rt = float(d["response_time_ms"])
            elif "request_time" in d:
                rt = float(d["request_time"]) * 1000.0
            else:
                rt = float(first(d, "duration_ms", "latency_ms") or 0.0)
            return (
                ts,
                str(first(d, "method", "request_method") or ""),
                str(first(d, "path", "uri", "request_uri", "url") or ""),
                int(first(d, "status", "status_code")),
                rt,
                float(first(d, "bytes", "body_bytes_sent", "response_size") or 0),
            )
        except (ValueError, TypeError, KeyError):
            return None
    m = COMBINED.match(line)
    if not m:
        return None
    ts = datetime.strptime(m.group(2), "%d/%b/%Y:%H:%M:%S %z")
    size = 0.0 if m.group(6) == "-" else float(m.group(6))
    rt = float(m.group(7)) * 1000.0 if m.group(7) else 0.0
    return ts, m.group(3), m.group(4), int(m.group(5)), rt, size


def suspicious(path):
    p = unquote_plus(path).lower()
    return any(s in p for s in SUSPICIOUS)


def ocsvm_outliers(column):
    x = column.reshape(-1, 1)
    return OneClassSVM(nu=CONTAMINATION, kernel="rbf", gamma="scale").fit(x).predict(x) == -1


def judge(poll, flagged, by_model):
    """Fit every model on this poll and record the line numbers any of them flags."""
    numbers = [p[0] for p in poll]
    rules = np.array([suspicious(p[3]) for p in poll])
    if len(poll) >= MIN_POLL_LINES:
        paths = [p[3].split("?", 1)[0] for p in poll]
        _, path_codes = np.unique(paths, return_inverse=True)
        x = np.array(
            [
                [p[5], p[4], p[6], p[1].astimezone(timezone.utc).hour, METHOD_CODES.get(p[2], 7), 0.0, len(p[3])]
                for p in poll
            ],
            dtype=float,
        )
        x[:, 5] = path_codes
        forest = IsolationForest(n_estimators=100, contamination=CONTAMINATION, random_state=SEED)
        iso = forest.fit_predict(x) == -1
        rt = ocsvm_outliers(x[:, 0])
        st = ocsvm_outliers(x[:, 1])
    else:
        iso = rt = st = np.zeros(len(poll), dtype=bool)
    for name, hits in (("isolation_forest", iso), ("ocsvm_response_time", rt), ("ocsvm_status_code", st), ("rules", rules)):
        by_model[name] += int(hits.sum())
    anomalous = iso | rt | st | rules
    flagged.extend(n for n, a in zip(numbers, anomalous) if a)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    flagged = []
    by_model = {"isolation_forest": 0, "ocsvm_response_time": 0, "ocsvm_status_code": 0, "rules": 0}
    stats = {"lines": 0, "unparsed": 0, "polls": 0, "looked_at": 0, "dropped": 0}
    poll, poll_key = [], None
    with open(args.file, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            stats["lines"] = n
            ev = parse(line)
            if ev is None:
                stats["unparsed"] += 1
                continue
            key = int(ev[0].timestamp()) // POLL_SECS
            if key != poll_key:
                if poll:
                    judge(poll, flagged, by_model)
                stats["polls"] += 1
                poll, poll_key = [], key
            if len(poll) >= POLL_LIMIT:
                stats["dropped"] += 1
                continue
            poll.append((n, *ev))
            stats["looked_at"] += 1
    if poll:
        judge(poll, flagged, by_model)

    result = dict(stats, by_model=by_model, flagged=flagged, feature_columns=FEATURE_COLUMNS,
                  suspicious_patterns=SUSPICIOUS, versions={"python": sys.version.split()[0],
                  "scikit-learn": sklearn.__version__, "numpy": np.__version__})
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
