#!/usr/bin/env bash
# What each detection.training_events size costs (memory, fit time, models.json), measured by
# scripts/training_cost.py; writes the table into README.md between the training-cost markers.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
mkdir -p .work/training-cost
table=$(python3 scripts/training_cost.py "${CARGO_TARGET_DIR:-target}/release/anomaly-detector" .work/training-cost)
echo "$table"
python3 scripts/readme_table.py training-cost "$table"
echo "README.md training-cost table updated"
