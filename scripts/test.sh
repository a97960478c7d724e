#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust tests (unit, integration, with real Alertmanager,
# SMTP and Prometheus where they apply), and the stack checks (compose, Dockerfiles, Prometheus
# config and rules, the Grafana dashboard). Installs what it needs itself (apt, pip, npm) into
# .work/ and the system; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export WORK="$ROOT/.work"
mkdir -p "$WORK"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One build per run: incremental caches would only take disk (gigabytes of it). Export
# CARGO_INCREMENTAL=1 to keep them when re-running by hand.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# Each step says how much disk is left, so a run that fills the disk says where.
step() { printf '\n==> %s  (disk free: %s)\n' "$*" "$(df -h --output=avail . | tail -1 | tr -d ' ')"; }

step "Installing test dependencies (Alertmanager, aiosmtpd)"
eval "$(bash scripts/alert-deps.sh)"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (unit + integration)"
# (The crate has no doctests, so nextest covers every test.)
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$WORK/nextest.log"
    summary=$(grep -E 'Summary \[' "$WORK/nextest.log" | tail -1)
    passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")
    failed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")
else
    cargo test --workspace --no-fail-fast 2>&1 | tee "$WORK/cargotest.log"
    passed=$(sed -nE 's/^test result: .* ([0-9]+) passed.*/\1/p' "$WORK/cargotest.log" | awk '{s+=$1} END {print s+0}')
    failed=0
fi

step "Fuzz targets (parser, line reader): a short seeded run"
bash scripts/fuzz.sh short

if [ -x scripts/check-stack.sh ]; then
    step "Stack checks (compose, Dockerfiles, Prometheus, dashboard)"
    CHECK_CLI=1 bash scripts/check-stack.sh
fi

if [ -x scripts/check-dashboard-live.sh ]; then
    step "Dashboard queries against a real Prometheus scraping the real detector"
    # The binary the integration tests just built.
    bash scripts/check-dashboard-live.sh "${CARGO_TARGET_DIR:-$ROOT/target}/debug/anomaly-detector"
fi

step "All tests passed"
echo "build output: $(du -sh "${CARGO_TARGET_DIR:-$ROOT/target}" fuzz/target 2>/dev/null | awk '{printf "%s %s  ", $2, $1}')"
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
