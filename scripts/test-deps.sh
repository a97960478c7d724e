#!/usr/bin/env bash
# Installs what the tests need and writes .work/env.sh with their locations.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${WORK:-$PWD/.work}"
mkdir -p "$WORK"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
if [ ${#need_apt[@]} -gt 0 ]; then
    # Keep the packages' init scripts from starting services on 0.0.0.0.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod 755 /usr/sbin/policy-rc.d
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -d "$WORK/pylib/aiosmtpd" ]; then
    python3 -m pip install -q --no-cache-dir --target "$WORK/pylib" aiosmtpd==1.4.6
fi

cat > "$WORK/env.sh" <<ENV
export PROMETHEUS_BIN="$(command -v prometheus)"
export PROMTOOL_BIN="$(command -v promtool)"
export ALERTMANAGER_BIN="$(command -v prometheus-alertmanager)"
export AIOSMTPD_PYTHONPATH="$WORK/pylib"
ENV
echo "test dependencies ready ($WORK/env.sh)"
