#!/usr/bin/env python3
"""Attack detection on labelled HTTP parameter values, placed in ordinary traffic.

    scripts/attack_eval.py BINARY PAYLOADS_CSV WORKDIR

The traffic is the `clean_day` scenario in combined format (`eval --dump`): the first 60,000 lines
are the history the detector learns from (`scan --train`), the rest is scanned. Each labelled value
of the CSV (columns payload, length, attack_type, label; HttpParamsDataset's layout) and each of
the everyday values below is placed, URL-encoded as a browser's form sends it, into one query
parameter of one GET request of the scanned part, chosen at random (seeded): an existing parameter
value is replaced, or `q=` is added. The request keeps its client, time, status and latency, so the
traffic's rate and shape do not change.

Prints a markdown table: per class, how many lines, how many flagged (by any detector, and by the
attack rules), and for the untouched lines how many were flagged. scripts/attack_eval.sh puts the
table in the README.
"""
import csv, json, os, random, re, subprocess, sys

TRAIN_LINES = 60_000

# Values people really send that look like code to a careless filter.
EVERYDAY = [
    "O'Brien", "O'Reilly & Sons", "rock & roll", "C++", "C#", "1+1=2", "<3", "i <3 rust", "x < y", "a > b",
    '{"price":{"$lt":100}}', '{"tags":["a","b"],"in_stock":true}', "[1,2,3]", "ann.o'neil+tag@example.com",
    "john.doe@example.com", "don't stop me now", "it's 6 o'clock; time to go", "Tom & Jerry's", "5' 11\"",
    "100%", "50% off - today only!", "#hashtag", "select a desk", "union station", "drop shipping",
    "1 or 2 items", "or", "and", "x = 1", "https://shop.example.com/?q=desk&page=2", "2024-01-01T00:00:00Z",
    "(555) 123-4567", "Smith, John", "<b>bold</b>", "fish & chips", "find & replace", "hello; sleep tight",
    "size: s|m|l", "what is 7*7", "{{ page_title }}", "C:\\Users\\ann\\report.docx",
    "The \"best\" (and only) option", "l'Oréal", "naïve café", "日本語のテキスト", "user's guide (2nd ed.)",
    "SELECT * FROM is slow?", "-- no comment --", "/* note */", "a;b;c", "cats | dogs", "1; 2; 3",
    "email: me@example.com; phone: 555-1234", "R&D", "Q&A", "AT&T", "price < 100 and rating > 4",
    "ls -la output explained", "sleep 8 hours", "cat /dev/null jokes", "where 1=1 means true", "Bobby Tables",
]


def encode(v):
    out = []
    for b in v.encode():
        c = chr(b)
        if c == " ":
            out.append("+")
        elif c.isascii() and (c.isalnum() or c in "-_.~"):
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


REQUEST = re.compile(r'^(\S+ \S+ \S+ \[[^\]]+\] ")GET (\S+)( HTTP/[0-9.]+")(.*)$')


def place(line, value, rng):
    m = REQUEST.match(line)
    if not m:
        return None
    head, target, proto, tail = m.groups()
    path, _, query = target.partition("?")
    params = [p for p in query.split("&") if p] if query else []
    if params:
        i = rng.randrange(len(params))
        key = params[i].split("=", 1)[0]
        params[i] = key + "=" + encode(value)
    else:
        params = ["q=" + encode(value)]
    return head + "GET " + path + "?" + "&".join(params) + proto + tail


def main():
    binary, payloads, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    traffic = os.path.join(work, "clean_day.combined.log")
    if not os.path.exists(traffic):
        subprocess.run([binary, "eval", "--scenario", "clean_day", "--format", "combined", "--dump", traffic],
                       check=True, stdout=subprocess.DEVNULL)
    lines = open(traffic).read().splitlines()
    train, test = lines[:TRAIN_LINES], lines[TRAIN_LINES:]
    values = []
    with open(payloads, newline="") as f:
        for row in csv.DictReader(f):
            cls = "benign (dataset)" if row["label"] == "norm" else row["attack_type"]
            values.append((cls, row["payload"]))
    values += [("benign (everyday)", v) for v in EVERYDAY]
    rng = random.Random(7)
    gets = [i for i, l in enumerate(test) if '"GET ' in l]
    if len(gets) < len(values):
        sys.exit("not enough GET lines to place every value")
    slots = rng.sample(gets, len(values))
    label = {}
    for (cls, v), i in zip(values, slots):
        placed = place(test[i], v, rng)
        if placed is not None:
            test[i] = placed
            label[i + 1] = cls
    train_path, test_path = os.path.join(work, "train.log"), os.path.join(work, "test.log")
    open(train_path, "w").write("\n".join(train) + "\n")
    open(test_path, "w").write("\n".join(test) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALY_DETECTOR__")}
    env["LOG_LEVEL"] = "warn"
    out = subprocess.run([binary, "scan", "--no-progress", "--output", "jsonl", "--train", train_path, test_path],
                         env=env, check=True, capture_output=True, text=True).stdout
    by_any, by_rule = {}, {}
    for line in out.splitlines():
        a = json.loads(line)
        n = a.get("line")
        if n is None:
            continue
        by_any[n] = True
        if any(d.startswith("rule:") and d[5:] in ATTACK_RULES for d in a.get("detectors", [])):
            by_rule[n] = True
    classes = ["sqli", "xss", "path-traversal", "cmdi", "benign (dataset)", "benign (everyday)"]
    rows = ["| values | lines | flagged (any detector) | flagged by an attack rule |", "|---|---:|---:|---:|"]
    for cls in classes:
        ns = [n for n, c in label.items() if c == cls]
        if not ns:
            continue
        a = sum(1 for n in ns if n in by_any)
        r = sum(1 for n in ns if n in by_rule)
        what = "recall" if not cls.startswith("benign") else "flagged"
        rows.append(f"| {cls} | {len(ns):,} | {a:,} ({what} {a / len(ns):.3f}) | {r:,} ({r / len(ns):.3f}) |")
    untouched = [n for n in range(1, len(test) + 1) if n not in label]
    u = sum(1 for n in untouched if n in by_any)
    rows.append(f"| untouched lines of the same traffic | {len(untouched):,} | {u:,} ({u / len(untouched):.5f}) | – |")
    print("\n".join(rows))
    missed = [(label[n], test[n - 1]) for n in label if n not in by_any and not label[n].startswith("benign")]
    wrong = [(label[n], test[n - 1]) for n in label if n in by_any and label[n].startswith("benign")]
    with open(os.path.join(work, "missed.txt"), "w") as f:
        for cls, l in missed:
            f.write(f"{cls}\t{l}\n")
    with open(os.path.join(work, "benign_flagged.txt"), "w") as f:
        for cls, l in wrong:
            f.write(f"{cls}\t{l}\n")


ATTACK_RULES = {"sql_injection", "xss", "path_traversal", "command_injection", "ssrf", "template_injection", "log4shell"}

if __name__ == "__main__":
    main()
