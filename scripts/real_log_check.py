#!/usr/bin/env python3
"""Scores `scan` on a real access log you have (no such log is in this repository: a public one
is the Elastic examples' `apache_logs`, 10,000 lines of a real site, 2015).

    scripts/real_log_check.py LOG [BINARY]     # BINARY defaults to target/release/anomaly-detector

The log has no labels, so "a probe" is judged here by the request alone: a path that the usual
scanners and spam bots ask for (WordPress and Joomla admin pages, FCKeditor, phpMyAdmin, dotfiles,
`cgi-bin`, trackback and sign-up forms, XRumer's result pages). Prints how many lines the scan
flagged, how many of those are probes (precision), how many probe lines it flagged (recall), and
every flagged line that is not a probe and every probe it missed, for a person to judge.
"""
import json
import re
import subprocess
import sys

PROBE = re.compile(
    r"wp-|administrator|admin\.php|fckeditor|trackback|/user/register|/node/add|Result:|xmlrpc"
    r"|phpmyadmin|/\.env|/\.git|cgi-bin|/etc/passwd|\.\./",
    re.I,
)


def request(line):
    parts = line.split('"')
    return parts[1] if len(parts) > 1 else ""


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    log = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/anomaly-detector"
    lines = open(log, encoding="utf-8", errors="replace").read().split("\n")
    out = subprocess.run(
        [binary, "scan", "--no-progress", "--output", "jsonl", log],
        capture_output=True, text=True, check=True,
    ).stdout
    flagged = {}
    for row in out.splitlines():
        a = json.loads(row)
        flagged[a["line"]] = a
    probes = {i for i, l in enumerate(lines, 1) if PROBE.search(request(l))}
    true = [n for n in flagged if n in probes]
    print(f"lines {len(lines) - (lines[-1] == '')}, flagged {len(flagged)}, of them probes {len(true)} "
          f"(precision {len(true) / max(len(flagged), 1):.3f}); probe lines {len(probes)}, "
          f"flagged {len(true)} (recall {len(true) / max(len(probes), 1):.3f})")
    for n in sorted(flagged):
        if n not in probes:
            print(f"  flagged, not a probe: line {n} {flagged[n]['detectors']}: {lines[n - 1][:160]}")
    for n in sorted(probes - set(flagged)):
        print(f"  probe missed: line {n}: {lines[n - 1][:160]}")


if __name__ == "__main__":
    main()
