#!/usr/bin/env bash
# Prove two builds of the dbt project identical, table by table: every relation of schema OLD must exist
# in schema NEW with the same rows, both ways: (old except all new) and (new except all old) empty.
#   scripts/compare_models.sh DATABASE_URL OLD_SCHEMA NEW_SCHEMA [DIGITS]
# Rows compare as whole-row text (json columns and float digits compare exactly). With DIGITS, double /
# numeric columns are first rounded to that many decimals: some marts average doubles over a parallel
# (Gather Merge) scan, whose summation order and so last digit vary from run to run even for the same
# SQL (fct_when_sequence_gaps, fct_when_client_summary at 100k leads).
# Typical use: build, `alter schema analytics rename to baseline`, change the models, build again,
# then compare baseline with analytics. Prints one line per relation; exits 1 on any difference.
set -euo pipefail
url=$1 old=$2 new=$3 digits=${4:-}
status=0
tables=$(psql -XAtq "$url" -c "select table_name from information_schema.tables where table_schema = '$old' order by 1")
for t in $tables; do
  if [[ -n $digits ]]; then
    cols=$(psql -XAtq "$url" -c "select string_agg(case when data_type in ('double precision', 'real', 'numeric')
      then format('round(%I::numeric, $digits)', column_name) else format('%I::text', column_name) end, ', '
      order by ordinal_position) from information_schema.columns where table_schema = '$old' and table_name = '$t'")
    old_rows="select $cols from \"$old\".\"$t\"" new_rows="select $cols from \"$new\".\"$t\""
  else
    old_rows="select x::text from \"$old\".\"$t\" x" new_rows="select x::text from \"$new\".\"$t\" x"
  fi
  line=$(psql -XAtq "$url" -F ' ' -c "
    select
      (select count(*) from \"$old\".\"$t\"),
      (select count(*) from ($old_rows except all $new_rows) d),
      (select count(*) from ($new_rows except all $old_rows) d)" 2>&1) || { echo "$t: ERROR $line"; status=1; continue; }
  read -r rows only_old only_new <<<"$line"
  if [[ $only_old != 0 || $only_new != 0 ]]; then status=1; verdict=DIFFERENT; else verdict=identical; fi
  printf '%-45s rows %9s  old-only %6s  new-only %6s  %s\n' "$t" "$rows" "$only_old" "$only_new" "$verdict"
done
exit $status
