#!/usr/bin/env bash
# Performance numbers for the README: scan throughput and peak memory on a 1.1M-line access log,
# daemon memory at steady state, and the criterion benchmarks of the parser and the models; the
# tables go into README.md between their markers (bench, criterion).
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
table=$(python3 scripts/bench.py "$new" .work/bench)
echo "$table"
python3 scripts/readme_table.py bench "$table"
if [ "${1:-}" != "--quick" ]; then
    since=$(date +%s)
    cargo bench --bench parse -- --noplot
    cargo bench --bench models -- --noplot
    table=$(python3 scripts/criterion_table.py "${CARGO_TARGET_DIR:-target}/criterion" "$since")
    echo "$table"
    python3 scripts/readme_table.py criterion "$table"
fi
