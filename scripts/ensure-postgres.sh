#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries exist when no DATABASE_URL is given (SPEC §3.1).
# As root on Debian it installs the `postgresql` package; otherwise it says what is missing.
set -euo pipefail
[ -n "${DATABASE_URL:-}" ] && exit 0
[ -n "${PG_BIN:-}" ] && [ -x "${PG_BIN}/pg_ctl" ] && exit 0
command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && exit 0
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL server binaries not found: installing Debian's postgresql package" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    exit 0
fi
echo "PostgreSQL server binaries (initdb, pg_ctl) not found. Install the postgresql server package," >&2
echo "set PG_BIN to their folder, or export DATABASE_URL to use an existing server." >&2
exit 1
