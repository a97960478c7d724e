#!/usr/bin/env bash
# Grouping accuracy of `patterns` on Loghub-2k (scripts/patterns_accuracy.py); writes the table into
# README.md between the patterns-accuracy markers. Needs ../shared/datasets.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
table=$(python3 scripts/patterns_accuracy.py "${CARGO_TARGET_DIR:-target}/release/anomaly-detector" ../shared/datasets)
echo "$table"
python3 scripts/readme_table.py patterns-accuracy "$table"
echo "README.md patterns-accuracy table updated"
