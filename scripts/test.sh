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

step() { printf '\n==> %s\n' "$*"; }

step "Installing test dependencies (Alertmanager, aiosmtpd)"
eval "$(bash scripts/alert-deps.sh)"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (unit + integration)"
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
    # nextest does not run doctests
    cargo test --workspace --doc
else
    cargo test --workspace --no-fail-fast
fi

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
