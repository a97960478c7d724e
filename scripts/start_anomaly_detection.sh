#!/usr/bin/env bash
# Start the whole stack (demo app, its traffic, Promtail, Loki, detector, Prometheus, Grafana),
# wait until every service reports healthy, and print where to look.
#   scripts/start_anomaly_detection.sh            # build images if needed, start, wait
#   TIMEOUT_SECS=600 scripts/start_anomaly_detection.sh
set -euo pipefail

cd "$(dirname "$0")/.."
timeout_secs=${TIMEOUT_SECS:-300}
services=(demo-app traffic loki promtail anomaly-detector prometheus grafana)

if ! docker compose version >/dev/null 2>&1; then
  echo "error: Docker Compose v2 is required ('docker compose version' failed; the old docker-compose v1 is not supported)" >&2
  exit 1
fi
compose=(docker compose)

echo "Building and starting the stack (the first build compiles Rust: a few minutes)..."
"${compose[@]}" up -d --build

echo "Waiting for the services to be healthy (up to ${timeout_secs}s)..."
deadline=$((SECONDS + timeout_secs))
while :; do
  pending=()
  for s in "${services[@]}"; do
    id=$("${compose[@]}" ps -q "$s" 2>/dev/null || true)
    state=unknown
    if [[ -n "$id" ]]; then
      state=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" 2>/dev/null || echo unknown)
    fi
    [[ "$state" == healthy ]] || pending+=("$s=$state")
  done
  ((${#pending[@]} == 0)) && break
  if ((SECONDS >= deadline)); then
    echo "error: not healthy after ${timeout_secs}s: ${pending[*]}" >&2
    echo "       see: ${compose[*]} logs ${pending[0]%%=*}" >&2
    exit 1
  fi
  sleep 3
done

cat <<'MSG'

The stack is up.
  Grafana      http://localhost:3000   (admin / $GRAFANA_ADMIN_PASSWORD, default admin) -> dashboard "Anomaly detection"
  Demo API     http://localhost:5000   (e.g. /api/users, /api/products, /api/orders)
  Detector     http://localhost:9797   (/metrics, /readyz, /api/v1/status, /api/v1/anomalies;
                                        POST /api/v1/rebaseline needs Bearer $DETECTOR_API_TOKEN, default demo-api-token)
  Prometheus   http://localhost:9090   (alerts: /alerts)
  Loki         http://localhost:3100   (query it from Grafana's Explore)

The traffic service sends 15 requests a second to the demo app and stages an incident of every
kind 120 s after the start, then every 5 minutes: the models train within about a minute and the
dashboard shows incidents of every kind within 5 minutes.
  Follow it:                                  docker compose logs -f traffic
  More by hand (a scripted incident):         scripts/traffic.sh
Follow the detector:                          docker compose logs -f anomaly-detector
Stop (keep data):  docker compose down        Stop and delete data:  docker compose down -v
MSG
