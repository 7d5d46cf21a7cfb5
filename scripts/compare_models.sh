#!/usr/bin/env bash
# Prove two builds of the dbt project identical, table by table: every relation of schema OLD must exist
# in schema NEW with the same rows (as multisets of whole-row text, so json columns and float digits
# compare exactly), both ways: (old except all new) and (new except all old) must be empty.
#   scripts/compare_models.sh DATABASE_URL OLD_SCHEMA NEW_SCHEMA
# Typical use: build, `alter schema analytics rename to baseline`, change the models, build again,
# then compare baseline with analytics. Prints one line per relation; exits 1 on any difference.
set -euo pipefail
url=$1 old=$2 new=$3
status=0
tables=$(psql -XAtq "$url" -c "select table_name from information_schema.tables where table_schema = '$old' order by 1")
for t in $tables; do
  line=$(psql -XAtq "$url" -F ' ' -c "
    select
      (select count(*) from \"$old\".\"$t\"),
      (select count(*) from (select x::text from \"$old\".\"$t\" x except all select y::text from \"$new\".\"$t\" y) d),
      (select count(*) from (select y::text from \"$new\".\"$t\" y except all select x::text from \"$old\".\"$t\" x) d)" 2>&1) || { echo "$t: ERROR $line"; status=1; continue; }
  read -r rows only_old only_new <<<"$line"
  if [[ $only_old != 0 || $only_new != 0 ]]; then status=1; verdict=DIFFERENT; else verdict=identical; fi
  printf '%-45s rows %9s  old-only %6s  new-only %6s  %s\n' "$t" "$rows" "$only_old" "$only_new" "$verdict"
done
exit $status
