#!/usr/bin/env bash
# Traffic for the demo app: a stretch of normal load, then a scripted incident (slow and failing
# requests to /api/suspicious, a burst of errors, a scanner probing for secrets and injections), then
# normal load again. Every loop is bounded.
#   scripts/traffic.sh [BASE_URL]          (default http://localhost:5000)
#   NORMAL_SECS=120 INCIDENT_REPEAT=3 scripts/traffic.sh
set -euo pipefail

base=${1:-${TARGET:-http://localhost:5000}}
base=${base%/}
# 120 s at 10 req/s is past the detector's detection.min_training_events (1,000) on its own, so the
# models train before the incident even without the compose traffic service.
normal_secs=${NORMAL_SECS:-120}
after_secs=${AFTER_SECS:-30}
incident_repeat=${INCIDENT_REPEAT:-1}
rps=${RPS:-10}

agents=(
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
  "shop-mobile/4.2.1 (Android 14)"
)
clients=(10.0.1.11 10.0.1.12 10.0.2.21 10.0.2.22 10.0.3.31 192.168.7.40)

# req METHOD PATH [CLIENT] [AGENT] [BODY]: one request, in the background, output discarded.
req() {
  local method=$1 path=$2 client=${3:-${clients[RANDOM % ${#clients[@]}]}} agent=${4:-${agents[RANDOM % ${#agents[@]}]}} body=${5:-}
  local args=(-s -o /dev/null --max-time 10 --path-as-is -X "$method" -H "X-Forwarded-For: $client" -A "$agent")
  [[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' --data "$body")
  curl "${args[@]}" --globoff "$base$path" || true
}

normal_request() {
  case $((RANDOM % 10)) in
    0 | 1 | 2) req GET "/api/users?page=$((RANDOM % 5 + 1))" ;;
    3 | 4) req GET "/api/users/$((RANDOM % 500 + 1))" ;;
    5 | 6) req GET "/api/products" ;;
    7) req GET "/api/products?q=mo" ;;
    8) req GET "/api/orders" ;;
    9) req POST "/api/orders" "" "" "{\"user_id\":$((RANDOM % 500 + 1)),\"items\":[{\"product_id\":$((RANDOM % 6 + 1)),\"quantity\":$((RANDOM % 3 + 1))}]}" ;;
  esac
}

normal_load() {
  local secs=$1 end=$((SECONDS + $1)) n=0
  echo "normal load: ${rps} req/s for ${secs}s"
  while ((SECONDS < end)); do
    for ((i = 0; i < rps; i++)); do normal_request & done
    wait
    n=$((n + rps))
    sleep 1
  done
  echo "  sent ${n} requests"
}

incident() {
  echo "incident: slow and failing /api/suspicious"
  for ((i = 0; i < 40; i++)); do req GET "/api/suspicious?report=$((RANDOM % 100))" & done
  wait
  echo "incident: burst of client errors"
  for ((i = 0; i < 30; i++)); do req GET "/api/users/$((100000 + RANDOM))" & done
  for ((i = 0; i < 10; i++)); do req POST "/api/orders" "" "" '{"user_id":0,"items":[]}' & done
  for ((i = 0; i < 10; i++)); do req POST "/api/orders" "" "" '{not json' & done
  wait
  echo "incident: a scanner probing for secrets and injections"
  local scanner=203.0.113.66 ua="sqlmap/1.8.4#stable (https://sqlmap.org)"
  local probes=(
    "/.env" "/.git/config" "/wp-login.php" "/wp-admin/install.php" "/phpmyadmin/index.php"
    "/../../etc/passwd" "/api/users/..%2f..%2fetc%2fpasswd" "/api/users?id=1'%20OR%20'1'='1"
    "/api/users?id=1%27%20OR%20%271%27%3D%271" "/api/products?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    "/api/orders?id=1;DROP%20TABLE%20orders" "/server-status" "/actuator/env" "/.aws/credentials"
  )
  for p in "${probes[@]}"; do req GET "$p" "$scanner" "$ua"; done
  for p in "${probes[@]}"; do req GET "$p" "$scanner" "Mozilla/5.0 zgrab/0.x"; done
}

if ! curl -s -o /dev/null --max-time 5 "$base/healthz"; then
  echo "error: $base/healthz does not answer; start the stack first (scripts/start_anomaly_detection.sh)" >&2
  exit 1
fi
normal_load "$normal_secs"
for ((r = 0; r < incident_repeat; r++)); do incident; done
normal_load "$after_secs"
echo "done: the detector reports within detection.interval_secs (+ loki.query_delay_secs); see Grafana."
