#!/usr/bin/env bash
# Compares anomaly-detector with a reconstruction of the Python prototype's approach
# (scripts/prototype/detector.py: IsolationForest + two OneClassSVMs + pattern rules, refitted on
# every 60 s poll of at most 1,000 lines, 10 % contamination) on the same labelled files, and prints
# a markdown table, which it puts into README.md ("Compared with the prototype's approach") when the
# files are whole.
#   scripts/compare-prototype.sh       # mixed (json and combined) and the whole clean_day (~10 min on 2 cores)
#   COMPARE_MAX_LINES=200000 scripts/compare-prototype.sh
#       # quicker: files cut to their first 200,000 lines (for clean_day that is 00:00-07:32, night
#       # traffic, when few polls pass 1,000 lines)
# Needs python3 (with venv) and PyPI; installs pinned scikit-learn/numpy into .work/prototype-venv.
# Not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin anomaly-detector
bin="${CARGO_TARGET_DIR:-target}/release/anomaly-detector"

venv=.work/prototype-venv
req=scripts/prototype/requirements.txt
if ! cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: -r "$req"
    cp "$req" "$venv/requirements.txt"
fi

work=.work/compare
mkdir -p "$work"
files=()
for spec in mixed:json mixed:combined clean_day:json; do
    scenario=${spec%%:*} format=${spec##*:}
    file="$work/$scenario.$format.log"
    # Regenerated every time (seconds), so the files always match the binary's generator.
    LOG_LEVEL=warn "$bin" eval --scenario "$scenario" --format "$format" --dump "$file" >/dev/null
    files+=("$file")
done

table=$("$venv/bin/python" scripts/prototype/compare.py --binary "$bin" --max-lines "${COMPARE_MAX_LINES:-0}" \
    --json "$work/results.json" "${files[@]}")
echo "$table"
# Only whole files go into the README.
if [ "${COMPARE_MAX_LINES:-0}" = 0 ]; then
    python3 scripts/readme_table.py prototype-compare "$table"
fi
