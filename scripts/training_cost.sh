#!/usr/bin/env bash
# What each detection.training_events size costs (memory, fit time, models.json), measured by
# scripts/training_cost.py; writes the table into README.md between the training-cost markers.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
mkdir -p .work/training-cost
table=$(python3 scripts/training_cost.py "${CARGO_TARGET_DIR:-target}/release/anomaly-detector" .work/training-cost)
echo "$table"
python3 - "$table" <<'PY'
import re, sys
readme = open("README.md").read()
body = "<!-- training-cost:begin -->\n" + sys.argv[1].strip() + "\n<!-- training-cost:end -->"
readme = re.sub(r"<!-- training-cost:begin -->.*?<!-- training-cost:end -->", lambda _: body, readme, flags=re.S)
open("README.md", "w").write(readme)
PY
echo "README.md training-cost table updated"
