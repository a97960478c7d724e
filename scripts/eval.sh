#!/usr/bin/env bash
# Regenerates the evaluation table in README.md (between the eval markers) from
# `anomaly-detector eval` on every scenario, in both log formats.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
table=$(LOG_LEVEL=warn "${CARGO_TARGET_DIR:-target}/release/anomaly-detector" eval "$@")
python3 - "$table" <<'PY'
import re, sys
readme = open("README.md").read()
body = "<!-- eval:begin -->\n" + sys.argv[1].strip() + "\n<!-- eval:end -->"
readme = re.sub(r"<!-- eval:begin -->.*?<!-- eval:end -->", lambda _: body, readme, flags=re.S)
open("README.md", "w").write(readme)
PY
echo "README.md evaluation table updated"
