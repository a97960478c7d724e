#!/usr/bin/env bash
# Regenerates the evaluation table in README.md (between the eval markers) from
# `anomaly-detector eval` on every scenario, in both log formats.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
table=$(LOG_LEVEL=warn "${CARGO_TARGET_DIR:-target}/release/anomaly-detector" eval "$@")
python3 scripts/readme_table.py eval "$table"
echo "README.md evaluation table updated"
