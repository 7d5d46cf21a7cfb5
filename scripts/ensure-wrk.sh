#!/usr/bin/env bash
# Makes sure `wrk` (HTTP load generator) exists for the benchmark's API load test (bench/load.py).
# As root on Debian it installs the `wrk` package; otherwise it says what is missing and carries on
# (the benchmark then falls back to its Python load generator, and says so in the results).
set -euo pipefail
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "wrk not found: installing Debian's wrk package (for the benchmark's API load test)" >&2
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null && exit 0
    echo "installing wrk failed: the benchmark falls back to its Python load generator." >&2
    exit 0
fi
echo "wrk not found and not root: the benchmark falls back to its Python load generator." >&2
exit 0
