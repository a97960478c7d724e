#!/usr/bin/env python3
"""Does the daemon, fed a file through stdin, report what `scan` of that file reports, and at what CPU?

    scripts/daemon_vs_scan.py BINARY LOG [--rounds N] [--row NAME]

Runs `scan LOG` and the daemon (`run`, `source.kind = "stdin"`, LOG on its standard input, a fresh
state directory each time) N times each, alternating, and prints:
  - each one's incidents as (kind, endpoint, first seen, lines), and those only one of them has;
  - CPU time (user + system) of each, the least of the rounds, and the daemon's CPU per line as a
    multiple of scan's.
scan's incidents come from its summary; the daemon's from its "Incident closed" log lines (at the
end of the input every open incident is closed and logged).
Exit 1 when the incidents differ. With `--row NAME`, prints only a markdown row for
scripts/daemon_vs_scan.sh (name, lines, incidents of each, incidents only one has and how many of
those are single lines, CPU of each, the ratio) and exits 0.
"""
import argparse, json, os, re, resource, subprocess, sys, tempfile


def cpu_of(cmd, env, stdin=None, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), p


SUMMARY = re.compile(r"^  \[(\w+)\] (\S+) (.+?) ×(\d+) (\S+) → (\S+): ")


def scan(binary, log, env):
    # The incidents as scan's summary lists them (`  [severity] kind endpoint ×lines first → last: reason`).
    cpu, p = cpu_of([binary, "--log-format", "json", "scan", "--no-progress", log], env)
    found = []
    for line in p.stdout.decode(errors="replace").splitlines():
        m = SUMMARY.match(line)
        if m:
            found.append((m.group(2), m.group(3), m.group(5), int(m.group(4))))
    return cpu, found


def daemon(binary, log, env):
    with tempfile.TemporaryDirectory() as state:
        e = dict(env, ANOMALY_DETECTOR__SOURCE__KIND="stdin", ANOMALY_DETECTOR__STATE__DIR=state,
                 ANOMALY_DETECTOR__SERVER__LISTEN="127.0.0.1:0", LOG_LEVEL="info")
        with open(log, "rb") as f:
            cpu, p = cpu_of([binary, "--log-format", "json", "run"], e, stdin=f, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    found = []
    for line in p.stderr.decode().splitlines():
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if str(v.get("message", "")).startswith("Incident closed"):
            found.append((v["kind"], v["endpoint"], v.get("first_seen", ""), int(v.get("count", 0))))
    return cpu, found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("log")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--row")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALY_DETECTOR__")}
    lines = sum(1 for _ in open(args.log, "rb"))
    scan_cpu, run_cpu = [], []
    for _ in range(args.rounds):
        c, s_inc = scan(args.binary, args.log, env)
        scan_cpu.append(c)
        c, d_inc = daemon(args.binary, args.log, env)
        run_cpu.append(c)
    # kind, endpoint, first seen to the second. A scanner's incident is labelled with the path of
    # its worst request, which can differ when the two learned differently; its start is the same.
    key = lambda i: (i[0], "(a client)" if i[0] == "suspicious" else i[1], i[2][:19])
    s_keys = {key(i): i for i in s_inc}
    d_keys = {key(i): i for i in d_inc}
    only = set(s_keys) ^ set(d_keys)
    sc, rc = min(scan_cpu), min(run_cpu)
    if args.row:
        lone = sum(1 for k in only if (s_keys.get(k) or d_keys.get(k))[3] == 1)
        print(f"| {args.row} | {lines:,} | {len(s_inc)} / {len(d_inc)} | {len(only)} ({lone} of one line) | "
              f"{sc:.2f} s | {rc:.2f} s | {rc / sc:.2f}× |")
        return
    print(f"{lines:,} lines; scan {len(s_inc)} incidents, daemon {len(d_inc)}")
    print("| kind | endpoint | first seen | scan lines | daemon lines |")
    print("|---|---|---|---:|---:|")
    for k in sorted(set(s_keys) | set(d_keys), key=lambda k: k[2]):
        s, d = s_keys.get(k), d_keys.get(k)
        print(f"| {k[0]} | {k[1]} | {k[2]} | {s[3] if s else '–'} | {d[3] if d else '–'} |")
    print(f"\nCPU (least of {args.rounds}): scan {sc:.2f} s, daemon {rc:.2f} s; daemon per line {rc / sc:.2f}× scan's")
    print(f"incidents only one of them reported: {len(only)}")
    sys.exit(1 if only else 0)


if __name__ == "__main__":
    main()
