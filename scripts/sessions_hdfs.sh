#!/usr/bin/env bash
# `pattern:session` on the HDFS block labels (scripts/sessions_hdfs.py); writes the table into
# README.md between the sessions-hdfs markers. Needs ../shared/datasets.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
table=$(python3 scripts/sessions_hdfs.py "${CARGO_TARGET_DIR:-target}/release/anomaly-detector" --markdown)
echo "$table"
python3 scripts/readme_table.py sessions-hdfs "$table"
echo "README.md sessions-hdfs table updated"
