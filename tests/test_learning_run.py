"""The learning path end to end as a Dagster run: dbt build → every registered detector → pattern store.
The assertions on stored rows and history follow the WHO pattern; the run includes all of DETECTORS."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from convintel.badrows import insert_bad_rows
from convintel.synth import generate
from dagster_pipelines.assets.patterns import DETECTORS
from dagster_pipelines.pattern_store import store_client_results
from detectors.result import DetectorResult
from support import learn_all, run_metadata, stored_patterns

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
PREVIOUS = {"type": "who", "note": "stored by an earlier run"}

pytestmark = pytest.mark.slow


def test_learning_stores_who_patterns_reruns_identically_and_keeps_patterns_behind_a_failed_gate(db_url: str) -> None:
    generate(db_url, clients=2, leads=1500, seed=21, as_of=AS_OF)
    generate(db_url, clients=1, leads=40, seed=22, as_of=AS_OF)  # too small for the WHO gate
    with psycopg.connect(db_url, autocommit=True) as conn:
        clients = [row[0] for row in conn.execute("select id from clients order by name")]
        small = conn.execute(
            "select l.client_id from leads l group by l.client_id order by count(*) limit 1").fetchone()[0]
        # An earlier run stored a pattern for the small client; a failed gate must not replace it.
        store_client_results(conn, small, [DetectorResult(small, "who", PREVIOUS, 40, 0.5)],
                             run_id=uuid.uuid4(), computed_at=AS_OF)
    insert_bad_rows(db_url, base_time=AS_OF)  # its own client: the exclusions show in the run's metadata

    first = learn_all(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        after_first = stored_patterns(conn, clients)
        history_first = conn.execute("select client_id, pattern_type, count(*) from conversion_pattern_history "
                                     "where pattern_type = 'who' group by 1, 2").fetchall()
        _assert_patterns_and_stored_rows_share_the_run_timestamp(conn, first, kept=(small, "who"))
    big = [c for c in clients if c != small]
    assert {key[0] for key in after_first} == set(clients)
    assert all(after_first[(c, "who")][0]["type"] == "who" and after_first[(c, "who")][1] > 30 for c in big)
    assert after_first[(small, "who")] == (PREVIOUS, 40, 0.5)

    metadata = run_metadata(first, "conversion_patterns")
    gate_passed = sum(run_metadata(first, spec.asset_name)["gate_passed"] for spec in DETECTORS)
    assert metadata["patterns_stored"] == gate_passed and metadata["patterns_kept_previous"] == 1
    with psycopg.connect(db_url) as conn:
        excluded = conn.execute("select sum(row_count) from analytics.fct_data_quality_exclusions").fetchone()[0]
    assert metadata["excluded_rows"] == excluded > 0 and "| activities |" in metadata["exclusions_by_reason"]
    detector_metadata = run_metadata(first, "who_patterns")
    assert (detector_metadata["clients"], detector_metadata["gate_failed"], detector_metadata["shards"]) == (4, 2, 4)

    # Another split of the clients changes nothing; nor does learning as of a given instant that leaves
    # every lead's outcome as it was (the world ended months before either run's instant).
    as_of = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    second = learn_all(db_url, as_of=as_of, shards=2)
    assert run_metadata(second, "who_patterns")["shards"] == 2
    assert second.run_id != first.run_id
    with psycopg.connect(db_url, autocommit=True) as conn:
        after_second = stored_patterns(conn, clients)
        assert conn.execute("select distinct as_of from analytics.fct_kpi_weekly_outcomes").fetchall() == [(as_of,)]
        history_second = conn.execute(
            "select client_id, pattern_type, count(*), count(distinct run_id) from conversion_pattern_history "
            "where pattern_type = 'who' group by 1, 2").fetchall()
    assert after_second == after_first  # unchanged data, identical patterns
    first_counts = {(c, t): n for c, t, n in history_first}
    assert {(c, t): (n, runs) for c, t, n, runs in history_second} == {
        (c, "who"): (first_counts[(c, "who")] + (1 if c in big else 0), first_counts[(c, "who")] + (1 if c in big else 0))
        for c in clients
    }


def _assert_patterns_and_stored_rows_share_the_run_timestamp(conn: psycopg.Connection, run, kept: tuple) -> None:
    """Every pattern a run stored into a fresh store: its JSON's computed_at, its row's and its (only)
    history row's are one time. ``kept`` is the pattern stored before the run and kept by it. Part of
    the first test, on the store its first run has just filled (a run of its own costs a dbt build)."""
    conn.execute("select set_config('app.client_ids', string_agg(id::text, ','), false) from clients")
    rows = conn.execute(
        "select p.client_id, p.pattern_type, (p.patterns->>'computed_at')::timestamptz, p.computed_at, h.computed_at "
        "from conversion_patterns p join conversion_pattern_history h using (client_id, pattern_type) "
        "where (p.client_id, p.pattern_type) <> (%s, %s)", kept).fetchall()
    assert len(rows) == run_metadata(run, "conversion_patterns")["patterns_stored"] > 0
    for client, pattern_type, json_time, row_time, history_time in rows:
        assert json_time == row_time == history_time, (client, pattern_type, json_time, row_time, history_time)
