#!/usr/bin/env bash
# Makes sure a headless Chromium exists for the pattern-report browser test (tests/test_report_browser.py).
# As root on Debian it installs the `chromium` package; otherwise it says what is missing and carries on
# (the browser test then skips with that reason: only a non-root machine without Chromium may skip it).
set -euo pipefail
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Chromium not found: installing Debian's chromium package (for the report's headless browser test)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    exit 0
fi
echo "Chromium not found and not root: the report's headless browser test will be skipped." >&2
echo "Install the chromium package (or set CHROMIUM to its binary) to run it." >&2
exit 0
