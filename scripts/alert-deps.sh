#!/usr/bin/env bash
# Installs the real services the alerting tests talk to, if missing:
#   - Prometheus Alertmanager (Debian package prometheus-alertmanager; prometheus with it)
#   - the aiosmtpd SMTP sink (PyPI aiosmtpd==1.4.6) into .work/pylib
# Prints the environment the tests read, ready for `eval "$(scripts/alert-deps.sh)"`:
#   ALERTMANAGER_BIN, AIOSMTPD_PYTHONPATH, AIOSMTPD_PYTHON
# All progress messages go to stderr so stdout stays eval-able.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$root/.work"
mkdir -p "$work"

log() { echo "alert-deps: $*" >&2; }

# Prometheus comes along in the same apt run: scripts/check-stack.sh needs it next and then skips
# its own install (one `apt-get update` per test run, not two).
if ! command -v prometheus-alertmanager >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1 \
    || ! command -v prometheus >/dev/null 2>&1; then
    log "installing prometheus + prometheus-alertmanager (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    # Packages ship init scripts; make sure installing starts no service.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >&2
fi
am_bin="$(command -v prometheus-alertmanager)"

python="$(command -v python3)"
pylib="$work/pylib"
if ! PYTHONPATH="$pylib" "$python" -c 'import aiosmtpd, sys; sys.exit(0 if aiosmtpd.__version__ == "1.4.6" else 1)' 2>/dev/null; then
    log "installing aiosmtpd==1.4.6 into $pylib"
    "$python" -m pip install -q --no-cache-dir --disable-pip-version-check --upgrade --target "$pylib" aiosmtpd==1.4.6 >&2
fi

echo "export ALERTMANAGER_BIN='$am_bin'"
echo "export AIOSMTPD_PYTHONPATH='$pylib'"
echo "export AIOSMTPD_PYTHON='$python'"
