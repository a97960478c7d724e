#!/usr/bin/env bash
# `pattern` anomalies on Loghub-2k's labelled samples (scripts/patterns_detection.py); writes the
# table into README.md between the patterns-detection markers. Needs ../shared/datasets.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
table=$(python3 scripts/patterns_detection.py "${CARGO_TARGET_DIR:-target}/release/anomaly-detector" ../shared/datasets)
echo "$table"
python3 scripts/readme_table.py patterns-detection "$table"
echo "README.md patterns-detection table updated"
