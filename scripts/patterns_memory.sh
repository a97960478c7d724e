#!/usr/bin/env bash
# Memory of the template stage at its cap (scripts/patterns_memory.py), with the release build; the
# table goes into README.md between the patterns-memory markers.
#   scripts/patterns_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
table=$(python3 scripts/patterns_memory.py "${CARGO_TARGET_DIR:-target}/release/anomaly-detector" .work/patterns-memory)
echo "$table"
python3 scripts/readme_table.py patterns-memory "$table"
