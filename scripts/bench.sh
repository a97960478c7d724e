#!/usr/bin/env bash
# Performance numbers for the README: scan throughput and peak memory on a 1.1M-line access log,
# daemon memory at steady state, and the criterion benchmarks of the parser and the models.
#   scripts/bench.sh                  # everything (~5 min)
#   scripts/bench.sh --quick          # skip criterion
#   scripts/bench.sh --compare OLD    # scan CPU time of the build OLD beside this one, side by side
#                                     # (build OLD with `cargo build --release` too; see the README)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
mkdir -p .work/bench
new="${CARGO_TARGET_DIR:-target}/release/anomaly-detector"
if [ "${1:-}" = "--compare" ]; then
    python3 scripts/bench_compare.py "${2:?--compare needs the old binary}" "$new" .work/bench
    exit
fi
python3 scripts/bench.py "$new" .work/bench
if [ "${1:-}" != "--quick" ]; then
    cargo bench --bench parse -- --noplot
    cargo bench --bench models -- --noplot
fi
