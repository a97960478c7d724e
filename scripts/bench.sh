#!/usr/bin/env bash
# Performance numbers for the README: scan throughput and peak memory on a 1.1M-line access log,
# daemon memory at steady state, and the criterion benchmarks of the parser and the models.
#   scripts/bench.sh            # everything (~5 min)
#   scripts/bench.sh --quick    # skip criterion
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
mkdir -p .work/bench
python3 scripts/bench.py "${CARGO_TARGET_DIR:-target}/release/anomaly-detector" .work/bench
if [ "${1:-}" != "--quick" ]; then
    cargo bench --bench parse -- --noplot
    cargo bench --bench models -- --noplot
fi
