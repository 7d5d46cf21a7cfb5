"""dbt's parse state kept between invocations (convintel.dbt) and the dbt tests moved out of the learning build.

One module world: the same small synthetic world in two databases of the suite's server. Database A is
built with an empty parse-state store (dbt parses fully), database B from A's state retargeted to B; the
two builds must leave identical relations (every row of every model and seed), and dbt must have accepted
the retargeted state (no full parse). Then: a state dbt cannot be shown to accept is not used, an edited
file is still re-parsed, the learning build's test selection is the uniqueness tests only, and the health
job's dbt-test step reports a broken rule as a finding.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import msgpack
import psycopg
import pytest

import convintel.dbt as dbt
from convintel.db import create_database, drop_database
from convintel.settings import DBT_PROJECT_DIR, libpq_env
from convintel.synth import generate
from support import dbt_or_fail

SCHEMA = "parse_state_test"
AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
DBT_VARS = json.dumps({"as_of": AS_OF.isoformat()})
BUILD = ["build", "--exclude", "resource_type:test", "--vars", DBT_VARS]
FULL_PARSE = "Unable to do partial parsing"


def test_the_key_leaves_out_the_database_but_not_the_settings_dbt_hashes() -> None:
    a = libpq_env("postgresql://u@h:5432/one", "s")
    key = dbt.parse_state_key(a, BUILD)
    assert dbt.parse_state_key(libpq_env("postgresql://u@h:5432/two", "s"), BUILD) == key
    assert dbt.parse_state_key(libpq_env("postgresql://u@h:5433/one", "s"), BUILD) != key
    assert dbt.parse_state_key(libpq_env("postgresql://u@h:5432/one", "t"), BUILD) != key
    assert dbt.parse_state_key(a, ["build"]) != key
    assert dbt.parse_state_key(a, ["build", "--vars=" + DBT_VARS]) == key


def relation_digests(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent digest of every relation dbt left in SCHEMA."""
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s order by 1", (SCHEMA,))]
        return {name: conn.execute(
            f'select count(*), coalesce(md5(string_agg(md5(t::text), \'\' order by md5(t::text))), \'\') '
            f'from "{SCHEMA}"."{name}" t').fetchone() for name in names}


@pytest.fixture(scope="module")
def world(server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory):
    store = tmp_path_factory.mktemp("parse_states")
    patch = pytest.MonkeyPatch()
    patch.setattr(dbt, "PARSE_STATE_DIR", store)
    template = template_url.rsplit("/", 1)[1]
    urls = [create_database(server_url, template=template) for _ in range(2)]
    try:
        for url in urls:
            generate(url, clients=2, leads=150, seed=21, as_of=AS_OF)
        targets = [tmp_path_factory.mktemp(f"target_{n}") for n in range(2)]
        runs = [dbt_or_fail(BUILD, url, target, SCHEMA) for url, target in zip(urls, targets)]
        yield {"urls": urls, "targets": targets, "runs": runs, "store": store}
    finally:
        patch.undo()
        for url in urls:
            drop_database(url)


@pytest.mark.slow
def test_a_retargeted_state_is_accepted_and_builds_the_same_relations(world) -> None:
    first, second = world["runs"]
    assert FULL_PARSE in first.stdout  # an empty store: dbt parses everything
    assert FULL_PARSE not in second.stdout
    assert "Partial parsing enabled" in (world["targets"][1] / "logs" / "dbt.log").read_text()
    a, b = (relation_digests(url) for url in world["urls"])
    assert len(a) > 40 and a == b


@pytest.mark.slow
def test_a_state_is_not_used_where_dbt_would_not_accept_it(world, tmp_path: Path) -> None:
    env = libpq_env(world["urls"][1], SCHEMA)
    key = dbt.parse_state_key(env, BUILD)
    assert dbt.seed_parse_state(tmp_path / "same", key, env)
    # Another port: the recomputed profile hash of the state's own database no longer matches the stored one.
    other_port = {**env, "PGPORT": str(int(env["PGPORT"]) + 1)}
    assert not dbt.seed_parse_state(tmp_path / "port", key, other_port | {"PGDATABASE": "elsewhere"})
    # The old database name in a field retargeting does not rewrite: refused.
    state = msgpack.unpackb((world["store"] / f"{key}.msgpack").read_bytes(), raw=False, strict_map_key=False)
    old = next(iter(state["sources"].values()))["database"]
    next(iter(state["nodes"].values()))["description"] = f"mentions {old}"
    (world["store"] / f"{key}.msgpack").write_bytes(msgpack.packb(state))
    try:
        assert not dbt.seed_parse_state(tmp_path / "mention", key, env | {"PGDATABASE": "elsewhere"})
    finally:
        dbt.keep_parse_state(world["targets"][1], key)


@pytest.mark.slow
def test_a_file_changed_since_the_state_was_kept_is_parsed_again(world, tmp_path: Path) -> None:
    env = libpq_env(world["urls"][0], SCHEMA)
    key = dbt.parse_state_key(env, BUILD)
    assert dbt.seed_parse_state(tmp_path, key, env)
    state = msgpack.unpackb((tmp_path / dbt.PARSE_STATE_FILE).read_bytes(), raw=False, strict_map_key=False)
    model_file = state["files"]["conversion_intelligence://models/intermediate/int_touches.sql"]
    model_file["checksum"]["checksum"] = "0" * 64  # as if int_touches.sql had been edited after the state was kept
    (tmp_path / dbt.PARSE_STATE_FILE).write_bytes(msgpack.packb(state))
    run = dbt_or_fail(["parse", "--vars", DBT_VARS], world["urls"][0], tmp_path, SCHEMA)
    assert FULL_PARSE not in run.stdout
    assert "0 files added, 1 files changed" in (tmp_path / "logs" / "dbt.log").read_text()


@pytest.mark.slow
def test_the_learning_build_runs_the_uniqueness_tests_only(world) -> None:
    listed = dbt_or_fail(["ls", "--resource-type", "test", "--resource-type", "unit_test", "--output", "json",
                          "--output-keys", "name resource_type test_metadata", "--exclude", *dbt.LEARNING_BUILD_EXCLUDES,
                          "--vars", DBT_VARS], world["urls"][0], world["targets"][0], SCHEMA)
    tests = [json.loads(line) for line in listed.stdout.splitlines() if line.startswith("{")]
    kinds = {(t["resource_type"], (t.get("test_metadata") or {}).get("name")) for t in tests}
    assert kinds == {("test", "unique"), ("test", "unique_combination_of_columns")} and len(tests) >= 45
    # A unique index enforces the others (tests/test_dbt_unique_index_tests.py), e.g. int_touches' key.
    assert "unique_int_touches_touch_id" not in {t["name"] for t in tests}
    # Exactly those gate the steps after the build; the others are Dagster checks that never block (a
    # blocking check left unrun would be waited for, and logged, in every learning run).
    from dagster_pipelines.assets.dbt import dbt_models

    blocking = {spec.name for spec in dbt_models.check_specs if spec.blocking}
    # (Tests on sources are not Dagster checks: dagster-dbt's enable_source_tests_as_checks is off.)
    assert blocking == {t["name"] for t in tests if t["resource_type"] == "test" and not t["name"].startswith("source_")}
    assert len(list(dbt_models.check_specs)) > len(blocking)


@pytest.mark.slow
def test_the_health_job_dbt_step_reports_a_broken_rule_as_a_finding(world) -> None:
    from dagster_pipelines.health.dbt_tests import MANIFEST, left_out_tests, run_dbt_tests

    url = world["urls"][0]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"update {SCHEMA}.int_lead_outcomes set outcome = 'lost' where lead_id in "
                     f"(select lead_id from {SCHEMA}.int_lead_outcomes order by lead_id limit 2)")
    outcome = run_dbt_tests(url, SCHEMA)
    failed = {(f.rule, f.severity, f.details["test"], f.details["failures"]) for f in outcome.findings}
    assert failed == {("dbt_test_failed", "high", "accepted_values_int_lead_outcomes_outcome__converted__failed__stale__in_flight", 1)}
    assert outcome.evaluated > 150 and outcome.failed == 1   # 194 with this project's tests
    assert outcome.left_out == left_out_tests(json.loads(MANIFEST.read_text()))
    assert "assert_exclusions_account_for_every_activity" in outcome.left_out  # a table against the live sources
    assert "accepted_values_lead_statuses_status_class__open__converted__failed" in outcome.left_out  # a seed's column
    # The uniqueness tests ran in the learning build on these tables, or a unique index enforces them: not run.
    assert "unique_int_lead_outcomes_lead_id" in outcome.left_out
    assert "unique_fct_who_leads_lead_id" in outcome.left_out


@pytest.mark.slow
def test_the_built_tables_hold_the_unique_index_of_each_test_left_to_it(world) -> None:
    """The learning build leaves out the uniqueness tests a unique index enforces: the built tables have it."""
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    wanted = set()
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and dbt.UNIQUE_INDEX_TAG in node["tags"]:
            model = manifest["nodes"][node["attached_node"]]
            wanted.add((model["alias"], node["test_metadata"]["kwargs"]["column_name"]))
    with psycopg.connect(world["urls"][0]) as conn:
        unique_indexes = {(table, column) for table, column in conn.execute(
            "select t.relname, a.attname from pg_index i join pg_class t on t.oid = i.indrelid "
            "join pg_attribute a on a.attrelid = t.oid and a.attnum = i.indkey[0] "
            "where t.relnamespace = %s::regnamespace and i.indisunique and i.indnatts = 1", (SCHEMA,))}
    assert wanted and wanted <= unique_indexes
