#!/usr/bin/env bash
# Attack detection on the labelled HTTP parameter values (HttpParamsDataset, in ../shared, not in
# this repository), placed in ordinary traffic: scripts/attack_eval.py; writes the table into
# README.md between the attack-eval markers.
set -euo pipefail
cd "$(dirname "$0")/.."
payloads="${1:-../shared/datasets/http-params/payload_full.csv}"
if [ ! -f "$payloads" ]; then
    echo "attack_eval: $payloads is missing (HttpParamsDataset, Morzeux/HttpParamsDataset on GitHub, MIT)" >&2
    exit 1
fi
cargo build --release --bin anomaly-detector
mkdir -p .work/attack-eval
table=$(python3 scripts/attack_eval.py "${CARGO_TARGET_DIR:-target}/release/anomaly-detector" "$payloads" .work/attack-eval)
echo "$table"
python3 scripts/readme_table.py attack-eval "$table"
echo "README.md attack-eval table updated (missed attacks: .work/attack-eval/missed.txt)"
