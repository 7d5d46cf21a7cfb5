"""The health job through Dagster on a real throwaway database (SPEC §8).

One module database: a small synthetic world (4 clients, seed 5) whose conversions are counted by a real
``dbt build`` of ``int_lead_outcomes`` and its parents (tests excluded: the health rules read the mart,
the dbt suite is tested elsewhere). Each test then plants pattern rows directly — scoped by
``app.client_ids`` like every writer under forced row-level security — and runs the ``health`` job.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dagster import Definitions, materialize
from psycopg.types.json import Jsonb

from convintel.synth import generate
from dagster_pipelines.assets.health import pattern_health
from dagster_pipelines.definitions import defs
from dagster_pipelines.health.expectations import run_expectations
from dagster_pipelines.resources import build_resources
from support import dbt_or_fail
from test_health_alerts import WebhookServer

SCHEMA = "dbt_health_test"
AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
SCOPE_ALL = "select set_config('app.client_ids', (select string_agg(id::text, ',') from clients), false)"


def test_definitions_have_the_health_job_and_utc_schedules() -> None:
    Definitions.validate_loadable(defs)
    schedules = {s.name: s for s in defs.schedules}
    assert {name: (s.cron_schedule, s.execution_timezone, s.job_name) for name, s in schedules.items()} == {
        "weekly_learning": ("0 2 * * 0", "UTC", "learning"),
        "daily_pattern_health": ("0 6 * * *", "UTC", "health"),
    }
    graph = defs.resolve_asset_graph()
    health = graph.get(pattern_health.key)
    assert health.group_name == "health"
    assert [key.to_user_string() for key in health.parent_keys] == ["conversion_patterns"]
    checks = {key.name for key in graph.asset_check_keys if key.asset_key == pattern_health.key}
    assert checks == {"no_high_severity_findings", "no_medium_severity_findings", "expectations_pass"}
    assert [node.name for node in defs.resolve_job_def("health").graph.nodes] == ["pattern_health"]


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    generate(module_db_url, clients=4, leads=1_200, seed=5, as_of=AS_OF)
    dbt_or_fail(["build", "--select", "+int_lead_outcomes", "--exclude-resource-type", "test",
                 "--vars", json.dumps({"as_of": AS_OF.isoformat()})],
                module_db_url, tmp_path_factory.mktemp("dbt_target"), schema=SCHEMA)
    with psycopg.connect(module_db_url) as conn:
        conversions = dict(conn.execute(
            f"select client_id, count(*) from {SCHEMA}.int_lead_outcomes where outcome = 'converted' group by 1"
        ).fetchall())
    clients = sorted(conversions, key=str)
    assert len(clients) == 4 and min(conversions.values()) >= 10, conversions
    return {"url": module_db_url, "clients": clients, "conversions": conversions}


@pytest.fixture
def conn(world: dict[str, Any]) -> Iterator[psycopg.Connection]:
    """A connection scoped to every client, on a store emptied of patterns and health records."""
    with psycopg.connect(world["url"], autocommit=True) as connection:
        connection.execute(SCOPE_ALL)
        for table in ("pattern_health_findings", "pattern_health_runs", "conversion_pattern_history", "conversion_patterns",
                      "agency_patterns"):
            connection.execute(f"delete from {table}")
        yield connection


def healthy(pattern_type: str, **weights: float) -> dict[str, Any]:
    """A pattern of each type with the keys the health rules read, every value inside the thresholds."""
    patterns: dict[str, Any] = {"type": pattern_type, "version": 1, "sample_size": 200, "confidence": 0.8}
    if pattern_type == "who":
        patterns |= {
            "recommended_weights": {"data_quality": 0.20, "authority": 0.25, "company_fit": 0.25, "timing": 0.15,
                                    **weights, "source": "learned"},
            "title_rankings": {"by_title": [{"category": "ceo", "rank": 1}], "by_seniority": [{"category": "c_level", "rank": 1}]},
            "industry_rankings": [{"category": "saas", "rank": 1}],
            "size_analysis": {"sweet_spot": {"bucket": "16-30"}},
        }
    elif pattern_type == "what":
        patterns |= {"pain_points": {"effective": [{"category": "revenue"}]}, "ctas": {"effective": [{"category": "call"}]}}
    elif pattern_type == "when":
        patterns |= {"peak_converting_touch": 2, "best_days": [{"day": 1}], "best_hours": [{"hour": 10}]}
    else:
        patterns |= {"best_first_channel": "email"}
    return patterns


def plant(conn: psycopg.Connection, client_id: uuid.UUID, patterns: dict[str, Any], *, computed_at: datetime,
          valid_until: datetime | None = None, history: list[dict[str, Any]] | None = None,
          pattern_type: str | None = None) -> None:
    """Store one pattern and its history (oldest first; default: the stored pattern only), one row per run;
    the row's pattern_type is the JSON's unless given."""
    pattern_type = pattern_type or patterns["type"]
    conn.execute(
        "insert into conversion_patterns (client_id, pattern_type, patterns, sample_size, confidence, computed_at, valid_until) "
        "values (%s, %s, %s, 200, 0.8, %s, %s)",
        (client_id, pattern_type, Jsonb(patterns), computed_at, valid_until or computed_at + timedelta(days=14)),
    )
    runs = history if history is not None else [patterns]
    for weeks_ago, entry in enumerate(reversed(runs)):
        conn.execute(
            "insert into conversion_pattern_history (client_id, pattern_type, patterns, sample_size, confidence, computed_at, run_id) "
            "values (%s, %s, %s, 200, 0.8, %s, %s)",
            (client_id, pattern_type, Jsonb(entry), computed_at - timedelta(weeks=weeks_ago), uuid.uuid4()),
        )


def plant_healthy_store(conn: psycopg.Connection, clients: list[uuid.UUID], now: datetime,
                        skip: set[tuple[uuid.UUID, str]] = frozenset()) -> None:
    for client_id in clients:
        for pattern_type in ("who", "what", "when", "how"):
            if (client_id, pattern_type) not in skip:
                plant(conn, client_id, healthy(pattern_type), computed_at=now - timedelta(days=1),
                      history=[healthy(pattern_type)] * 2)


def run_health_job(world: dict[str, Any], tmp_path: Path, webhook_url: str = ""):
    result = materialize(
        [pattern_health], resources=build_resources(world["url"], dbt_schema=SCHEMA),
        run_config={"ops": {"pattern_health": {"config": {"docs_dir": str(tmp_path / "gx_docs"), "webhook_url": webhook_url}}}},
    )
    assert result.success
    return result


def recorded(conn: psycopg.Connection, dagster_run_id: str) -> tuple[dict, set[tuple]]:
    run = conn.execute(
        "select id, high_count, medium_count, low_count, clients_checked, patterns_checked, expectations_failed, data_docs_path "
        "from pattern_health_runs where dagster_run_id = %s", (dagster_run_id,)).fetchone()
    assert run is not None
    findings = conn.execute(
        "select client_id, pattern_type, rule, severity from pattern_health_findings where run_id = %s", (run[0],)).fetchall()
    keys = ("id", "high", "medium", "low", "clients", "patterns", "expectations_failed", "data_docs_path")
    return dict(zip(keys, run)), set(findings)


def checks(result) -> dict[str, bool]:
    return {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}


@pytest.mark.slow
def test_healthy_store_has_no_findings(world: dict[str, Any], conn: psycopg.Connection, tmp_path: Path) -> None:
    plant_healthy_store(conn, world["clients"], datetime.now(timezone.utc))
    result = run_health_job(world, tmp_path)
    run, findings = recorded(conn, result.run_id)
    assert findings == set()
    assert (run["high"], run["medium"], run["low"], run["clients"], run["patterns"], run["expectations_failed"]) == (0, 0, 0, 4, 16, 0)
    assert checks(result) == {"no_high_severity_findings": True, "no_medium_severity_findings": True, "expectations_pass": True}
    # Great Expectations data docs: the index and one page per validated suite.
    docs = tmp_path / "gx_docs"
    assert run["data_docs_path"] == str(docs / "index.html") and (docs / "index.html").is_file()
    pages = {path.relative_to(docs / "validations").parts[0] for path in (docs / "validations").rglob("*.html")}
    assert pages == {"conversion_patterns", "conversion_pattern_history"}
    assert {path.name for path in (docs / "expectations").glob("*.html")} == {
        "conversion_patterns.html", "conversion_pattern_history.html"}


@pytest.mark.slow
def test_planted_problems_are_found_with_their_severity(world: dict[str, Any], conn: psycopg.Connection, tmp_path: Path) -> None:
    expired, extreme, missing, drifted = world["clients"]
    now = datetime.now(timezone.utc)
    plant_healthy_store(conn, world["clients"], now, skip={(expired, "who"), (extreme, "who"), (missing, "how"), (drifted, "who")})
    plant(conn, expired, healthy("who"), computed_at=now - timedelta(days=20), valid_until=now - timedelta(days=6))
    plant(conn, extreme, healthy("who", authority=0.48, data_quality=0.12, company_fit=0.15, timing=0.10),
          computed_at=now - timedelta(days=1))
    moved = healthy("who", authority=0.41, data_quality=0.10, company_fit=0.20, timing=0.14)
    plant(conn, drifted, moved, computed_at=now - timedelta(days=1), history=[healthy("who"), moved])
    # Agency-wide patterns, served to clients without their own: one expired, one expiring, one fresh.
    for pattern_type, valid_for in (("when", timedelta(days=-1)), ("how", timedelta(days=2)), ("who", timedelta(days=9))):
        conn.execute("insert into agency_patterns (pattern_type, patterns, clients_pooled, computed_at, valid_until) "
                     "values (%s, %s, 12, %s, %s)", (pattern_type, Jsonb(healthy(pattern_type)), now - timedelta(days=13),
                                                     now + valid_for))

    with WebhookServer() as webhook:
        result = run_health_job(world, tmp_path, webhook_url=webhook.url)
    run, findings = recorded(conn, result.run_id)
    assert findings == {
        (expired, "who", "expired", "high"),
        (extreme, "who", "who_weight_high", "high"),
        (missing, "how", "missing_type", "medium"),
        (drifted, "who", "weight_drift", "medium"),
        (None, "when", "expired", "high"),
        (None, "how", "expiring_soon", "medium"),
    }
    assert (run["high"], run["medium"], run["low"], run["expectations_failed"]) == (3, 3, 0, 0)
    assert checks(result) == {"no_high_severity_findings": False, "no_medium_severity_findings": False,
                              "expectations_pass": True}
    # The alert hook received the two high-severity findings of this run, as JSON.
    assert len(webhook.received) == 1
    body = webhook.received[0]
    assert body["health_run_id"] == str(run["id"]) and body["high_severity_count"] == 3
    assert {(f["client_id"], f["rule"]) for f in body["findings"]} == {
        (str(expired), "expired"), (str(extreme), "who_weight_high"), (None, "expired")}
    metadata = result.asset_materializations_for_node("pattern_health")[0].metadata
    assert (metadata["high"].value, metadata["medium"].value, metadata["low"].value) == (3, 3, 0)
    assert "who_weight_high" in metadata["findings"].value and metadata["webhook"].value == "sent"


@pytest.mark.slow
def test_expectations_see_the_rows_behind_row_level_security(world: dict[str, Any], conn: psycopg.Connection, tmp_path: Path) -> None:
    """Bad rows the table constraints allow must fail an expectation (so GX reads through the RLS scope)."""
    first, second = world["clients"][:2]
    now = datetime.now(timezone.utc)
    plant(conn, first, healthy("who"), computed_at=now, valid_until=now - timedelta(hours=1))   # valid_until < computed_at
    plant(conn, second, healthy("what") | {"type": "who"}, computed_at=now, pattern_type="what")  # JSON says who
    outcome = run_expectations(world["url"], tmp_path / "docs")
    assert not outcome.success
    failed = {(f.suite, f.expectation): f for f in outcome.failures}
    assert set(failed) == {
        ("conversion_patterns", "expect_column_pair_values_a_to_be_greater_than_b"),
        ("conversion_patterns", "unexpected_rows_expectation"),
        ("conversion_pattern_history", "unexpected_rows_expectation"),
    }
    assert failed[("conversion_patterns", "expect_column_pair_values_a_to_be_greater_than_b")].unexpected_count == 1
    assert failed[("conversion_patterns", "unexpected_rows_expectation")].observed_value == 1
    assert outcome.per_suite["conversion_patterns"]["evaluated"] == outcome.per_suite["conversion_patterns"]["successful"] + 2

    # Through the job: each failed expectation is a high-severity finding about the whole store.
    result = run_health_job(world, tmp_path)
    run, findings = recorded(conn, result.run_id)
    store_findings = conn.execute(
        "select severity, message from pattern_health_findings where run_id = %s and client_id is null order by message",
        (run["id"],)).fetchall()
    assert store_findings == [
        ("high", "conversion_pattern_history: the pattern JSON's type equals the row's pattern_type failed (observed 1)"),
        ("high", "conversion_patterns: the pattern JSON's type equals the row's pattern_type failed (observed 1)"),
        ("high", "conversion_patterns: valid_until is after computed_at failed (1 unexpected rows)"),
    ]
    assert (None, None, "expectation_failed", "high") in findings
    assert run["expectations_failed"] == 3 and checks(result)["expectations_pass"] is False


@pytest.mark.slow
def test_findings_are_tenant_scoped(world: dict[str, Any], conn: psycopg.Connection, tmp_path: Path) -> None:
    """A session scoped to one client sees that client's findings only, never the whole-store ones; the
    application role only reads."""
    first, second = world["clients"][:2]
    now = datetime.now(timezone.utc)
    plant(conn, first, healthy("who"), computed_at=now - timedelta(days=20), valid_until=now - timedelta(days=6))
    plant(conn, second, healthy("what") | {"type": "who"}, computed_at=now - timedelta(days=1), pattern_type="what")
    run_health_job(world, tmp_path)
    with psycopg.connect(world["url"]) as scoped:
        scoped.execute("select set_config('app.client_ids', %s, false)", (str(first),))
        visible = scoped.execute("select client_id, rule from pattern_health_findings").fetchall()
        assert visible and {client for client, _ in visible} == {first}
        scoped.execute("set app.client_ids = ''")
        assert scoped.execute("select count(*) from pattern_health_findings").fetchone()[0] == 0
        # The application role reads its scoped findings and the run summaries, and writes nothing.
        scoped.execute("set role convintel_app")
        scoped.execute("select set_config('app.client_ids', %s, false)", (str(first),))
        assert sorted(scoped.execute("select client_id, rule from pattern_health_findings").fetchall()) == sorted(visible)
        assert scoped.execute("select count(*) from pattern_health_runs").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            scoped.execute("delete from pattern_health_findings")
    everything = conn.execute("select count(*) filter (where client_id is null), count(*) from pattern_health_findings").fetchone()
    assert everything[0] >= 1 and everything[1] > len(visible)


@pytest.mark.slow
def test_cli_prints_findings_and_exits_2_on_high_severity(world: dict[str, Any], conn: psycopg.Connection, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from convintel import settings
    from convintel.cli import app
    from convintel.health import exit_code

    first = world["clients"][0]
    now = datetime.now(timezone.utc)
    plant_healthy_store(conn, world["clients"], now, skip={(first, "who")})
    plant(conn, first, healthy("who"), computed_at=now - timedelta(days=20), valid_until=now - timedelta(days=6))
    monkeypatch.setenv("DATABASE_URL", world["url"])
    monkeypatch.setenv("DBT_SCHEMA", SCHEMA)
    monkeypatch.setattr(settings, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(settings, "DAGSTER_HOME", tmp_path / "dagster")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)

    outcome = CliRunner().invoke(app, ["health", "--docs-dir", str(tmp_path / "docs")])
    assert outcome.exit_code == 2, outcome.output
    text = " ".join(outcome.output.split())  # rich wraps at the terminal width
    assert "4 clients, 16 patterns; 1 high, 0 medium, 0 low; expectations" in text
    assert "│ high │" in text and "│ expired │" in text
    assert f"Great Expectations data docs: {tmp_path / 'docs' / 'index.html'}" in outcome.output
    assert (tmp_path / "state" / "logs" / "health.log").is_file()
    counts = {"high_count": 0, "medium_count": 1, "low_count": 3}
    assert [exit_code(counts, fail_on) for fail_on in ("high", "medium", "low", "never")] == [0, 2, 2, 0]
