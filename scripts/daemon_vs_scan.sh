#!/usr/bin/env bash
# The daemon fed a file through stdin against `scan` of that file: incidents and CPU, on the 3 h
# `sweep` traffic (an incident every 10 minutes) and the clean day, by scripts/daemon_vs_scan.py;
# writes the table into README.md between the daemon-vs-scan markers.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
bin="${CARGO_TARGET_DIR:-target}/release/anomaly-detector"
dir=.work/daemon-vs-scan
mkdir -p "$dir"
[ -s "$dir/sweep.log" ] || "$bin" eval --scenario sweep_10k --format json --dump "$dir/sweep.log" >/dev/null
[ -s "$dir/day.log" ] || "$bin" eval --scenario clean_day --format json --dump "$dir/day.log" >/dev/null
table="| input | lines | incidents: scan / daemon | reported by one only | scan CPU | daemon CPU | daemon / scan |
|---|---:|---:|---|---:|---:|---:|
$(python3 scripts/daemon_vs_scan.py "$bin" "$dir/sweep.log" --row "3 h, an incident every 10 min (nginx JSON)")
$(python3 scripts/daemon_vs_scan.py "$bin" "$dir/day.log" --row "the clean day, 24 h (nginx JSON)")"
echo "$table"
python3 scripts/readme_table.py daemon-vs-scan "$table"
echo "README.md daemon-vs-scan table updated"
