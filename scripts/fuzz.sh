#!/usr/bin/env bash
# Fuzzes the parser (fuzz/fuzz_targets/parse_line.rs) and the line reader (split_lines.rs) with
# cargo-fuzz (libFuzzer), installed into .work/cargo if missing.
#   scripts/fuzz.sh short        # what scripts/test.sh runs: 200,000 inputs each, seed 1 (seconds, after a ~5 min build)
#   scripts/fuzz.sh long [SECS]  # each target for SECS seconds (default 600), corpus kept in fuzz/corpus/
# cargo-fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-short}"
export CARGO_INSTALL_ROOT="$PWD/.work/cargo"
export PATH="$CARGO_INSTALL_ROOT/bin:$PATH"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --quiet
fi
for target in parse_line split_lines; do
    if [ "$mode" = long ]; then
        cargo fuzz run "$target" -- -max_total_time="${2:-600}" -max_len=65536
    else
        # A fixed seed and a fixed count: the same inputs every run, so a failure reproduces.
        log="$PWD/.work/fuzz-$target.log"
        mkdir -p .work
        if ! cargo fuzz run "$target" -- -seed=1 -runs=200000 -max_len=4096 >"$log" 2>&1; then
            tail -40 "$log"
            echo "fuzz target $target failed (full log: $log)" >&2
            exit 1
        fi
        echo "$target: $(grep -E '^Done' "$log" | tail -1)"
    fi
done
