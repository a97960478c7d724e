#!/usr/bin/env bash
# The formats table of the README: for every supported access-log format, N lines (default 20,000)
# as that server writes them, with 10 requests at 3 s among them, scanned by `scan` (self-trained):
# whether the latency was parsed, how many of the 10 were found, and how many other lines were flagged.
#   scripts/formats_check.sh [LINES]
set -euo pipefail
cd "$(dirname "$0")/.."
FORMATS_LINES="${1:-20000}" FORMATS_TABLE=1 cargo test --release --test formats \
    ten_slow_requests_are_found_in_every_format_and_nothing_else -- --nocapture 2>/dev/null | grep '^|'
