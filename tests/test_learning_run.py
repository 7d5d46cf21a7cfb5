"""The learning path end to end as a Dagster run: dbt build → every registered detector → pattern store
(assertions on the WHO rows; tests/test_what_pipeline.py covers WHAT)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import psycopg
import pytest
from dagster import materialize

from convintel.synth import generate
from dagster_pipelines.assets.dbt import dbt_models
from dagster_pipelines.assets.patterns import DETECTOR_ASSETS, conversion_patterns
from dagster_pipelines.pattern_store import store_client_results
from dagster_pipelines.resources import build_resources
from detectors.result import DetectorResult

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
PREVIOUS = {"type": "who", "note": "stored by an earlier run"}

pytestmark = pytest.mark.slow


def _learn(url: str):
    result = materialize([dbt_models, *DETECTOR_ASSETS, conversion_patterns], resources=build_resources(url, "analytics"))
    assert result.success
    return result


def _stored(conn: psycopg.Connection, client_ids: list[uuid.UUID]) -> dict:
    conn.execute("select set_config('app.client_ids', %s, false)", (",".join(map(str, client_ids)),))
    rows = conn.execute("select client_id, pattern_type, patterns, sample_size, confidence from conversion_patterns").fetchall()
    return {(r[0], r[1]): ({k: v for k, v in r[2].items() if k != "computed_at"}, r[3], r[4]) for r in rows}


def test_learning_stores_who_patterns_reruns_identically_and_keeps_patterns_behind_a_failed_gate(db_url: str) -> None:
    generate(db_url, clients=2, leads=3000, seed=21, as_of=AS_OF)
    generate(db_url, clients=1, leads=40, seed=22, as_of=AS_OF)  # too small for the WHO gate
    with psycopg.connect(db_url, autocommit=True) as conn:
        clients = [row[0] for row in conn.execute("select id from clients order by name")]
        small = conn.execute(
            "select l.client_id from leads l group by l.client_id order by count(*) limit 1").fetchone()[0]
        # An earlier run stored a pattern for the small client; a failed gate must not replace it.
        store_client_results(conn, small, [DetectorResult(small, "who", PREVIOUS, 40, 0.5)],
                             run_id=uuid.uuid4(), computed_at=AS_OF)

    first = _learn(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        after_first = _stored(conn, clients)
        history_first = conn.execute("select client_id, pattern_type, count(*) from conversion_pattern_history "
                                     "where pattern_type = 'who' group by 1, 2").fetchall()
    big = [c for c in clients if c != small]
    assert {key[0] for key in after_first} == set(clients)
    assert all(after_first[(c, "who")][0]["type"] == "who" and after_first[(c, "who")][1] > 30 for c in big)
    assert after_first[(small, "who")] == (PREVIOUS, 40, 0.5)

    metadata = first.asset_materializations_for_node("conversion_patterns")[0].metadata
    what_stored = sum(1 for key in after_first if key[1] == "what")
    assert metadata["patterns_stored"].value == 2 + what_stored and metadata["patterns_kept_previous"].value == 1
    detector_metadata = first.asset_materializations_for_node("who_patterns")[0].metadata
    assert (detector_metadata["clients"].value, detector_metadata["gate_failed"].value) == (3, 1)

    second = _learn(db_url)
    assert second.run_id != first.run_id
    with psycopg.connect(db_url, autocommit=True) as conn:
        after_second = _stored(conn, clients)
        history_second = conn.execute(
            "select client_id, pattern_type, count(*), count(distinct run_id) from conversion_pattern_history "
            "where pattern_type = 'who' group by 1, 2").fetchall()
    assert after_second == after_first  # unchanged data, identical patterns
    first_counts = {(c, t): n for c, t, n in history_first}
    assert {(c, t): (n, runs) for c, t, n, runs in history_second} == {
        (c, "who"): (first_counts[(c, "who")] + (1 if c in big else 0), first_counts[(c, "who")] + (1 if c in big else 0))
        for c in clients
    }


def test_patterns_and_stored_rows_share_the_run_timestamp(db_url: str) -> None:
    generate(db_url, clients=1, leads=1500, seed=23, as_of=AS_OF)
    _learn(db_url)
    with psycopg.connect(db_url) as conn:
        client = conn.execute("select id from clients").fetchone()[0]
        conn.execute("select set_config('app.client_ids', %s, false)", (str(client),))
        json_time, row_time, history_time = conn.execute(
            "select (p.patterns->>'computed_at')::timestamptz, p.computed_at, h.computed_at "
            "from conversion_patterns p join conversion_pattern_history h using (client_id, pattern_type)"
        ).fetchone()
    assert json_time == row_time == history_time
