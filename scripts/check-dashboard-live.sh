#!/usr/bin/env bash
# The dashboard against the real detector: starts `BINARY demo` (built-in traffic generator, no Loki),
# a real Prometheus scraping it every second (with the alert rules loaded), then evaluates every PromQL
# query of the dashboard. Every query must evaluate without error; the queries about traffic,
# anomalies and the detector's health must return data. The alert rules must evaluate without error.
#   scripts/check-dashboard-live.sh target/debug/anomaly-detector
set -euo pipefail
# shellcheck source=scripts/stack-lib.sh
source "$(dirname "$0")/stack-lib.sh"

bin=${1:?usage: check-dashboard-live.sh ANOMALY_DETECTOR_BINARY}
[[ -x $bin ]] || die "$bin is not an executable"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
cd "$ROOT"

ensure_prometheus
ensure_node

run=$(mktemp -d "$WORK/live.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT

step "starting the detector: $bin demo"
port=$(free_port)
ANOMALY_DETECTOR__SERVER__LISTEN=127.0.0.1:$port ANOMALY_DETECTOR__STATE__DIR=$run/state \
  "$bin" demo >"$run/detector.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 120; i++)); do
  curl -fs "http://127.0.0.1:$port/metrics" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || die "the detector exited: $(tail -20 "$run/detector.log")"
  sleep 0.5
done
curl -fs "http://127.0.0.1:$port/metrics" >/dev/null || die "no /metrics on 127.0.0.1:$port after 60s"

step "Prometheus scraping it every second"
start_prometheus "$run/prom" "127.0.0.1:$port" "$ROOT/monitoring/prometheus/rules/detector.yml"
pids+=("$PROM_PID")

step "every PromQL query of the dashboard"
node "$NODE_DIR/check-dashboard.mjs" "$ROOT/monitoring/grafana/dashboards/anomaly-detection.json" \
  --emit-promql "$run/promql.json" >/dev/null
# Data is optional only where the demo cannot produce it: notifications (no channel configured) and
# lines that failed to parse (the demo's lines all parse).
node "$NODE_DIR/run-promql.mjs" "$PROM_URL" "$run/promql.json" --require-data \
  --optional 'alerts_total|lines_unparsed_total' --deadline-secs "${DEADLINE_SECS:-90}" ||
  die "dashboard queries against the live detector (detector log: $(tail -5 "$run/detector.log"))"

step "alert rules evaluate against the live detector"
for ((i = 0; i < 20; i++)); do
  rules=$(curl -fs "$PROM_URL/api/v1/rules")
  grep -q '"health":"unknown"' <<<"$rules" || break
  sleep 0.5
done
if grep -q '"health":"err"' <<<"$rules"; then die "an alert rule fails: $rules"; fi
echo "ok"
step "live dashboard check passed"
