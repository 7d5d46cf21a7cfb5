"""The pattern store: atomic per client, keeps good patterns when a gate fails, serialised per client."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from dagster_pipelines.pattern_store import StoreOutcome, store_client_results
from detectors.result import DetectorResult

T1 = datetime(2026, 6, 7, 2, 0, tzinfo=timezone.utc)
T2 = T1 + timedelta(days=7)
WEIGHTS = {"data_quality": 0.1, "authority": 0.4, "company_fit": 0.2, "timing": 0.15}


def _client(conn: psycopg.Connection) -> uuid.UUID:
    return conn.execute("insert into clients (name) values ('Acme') returning id").fetchone()[0]


def _who(client_id, patterns=None, reason=None, weights=None, confidence=0.8) -> DetectorResult:
    return DetectorResult(client_id, "who", patterns, sample_size=120, confidence=confidence,
                          conversions=40, gate_reason=reason, learned_weights=weights)


def _scoped(conn, client_id, sql, params=()):
    conn.execute("select set_config('app.client_ids', %s, false)", (str(client_id),))
    return conn.execute(sql, params).fetchall()


def test_stores_pattern_history_and_validity(conn) -> None:
    client = _client(conn)
    run = uuid.uuid4()
    outcome = store_client_results(conn, client, [_who(client, {"title_rankings": []})], run_id=run, computed_at=T1)
    assert outcome == [StoreOutcome(client, "who", "stored")]
    stored = _scoped(conn, client, "select patterns, sample_size, confidence, computed_at, valid_until from conversion_patterns")
    assert stored == [({"title_rankings": []}, 120, 0.8, T1, T1 + timedelta(days=14))]
    history = _scoped(conn, client, "select pattern_type, run_id, computed_at from conversion_pattern_history")
    assert history == [("who", run, T1)]


def test_failed_gate_keeps_the_previous_pattern_and_writes_no_history(conn) -> None:
    client = _client(conn)
    store_client_results(conn, client, [_who(client, {"v": 1})], run_id=uuid.uuid4(), computed_at=T1)
    outcome = store_client_results(conn, client, [_who(client, None, reason="7 conversions < 10")],
                                   run_id=uuid.uuid4(), computed_at=T2)
    assert outcome == [StoreOutcome(client, "who", "kept_previous", "7 conversions < 10")]
    assert _scoped(conn, client, "select patterns, computed_at from conversion_patterns") == [({"v": 1}, T1)]
    assert _scoped(conn, client, "select count(*) from conversion_pattern_history") == [(1,)]


def test_failed_gate_without_previous_stores_nothing(conn) -> None:
    client = _client(conn)
    outcome = store_client_results(conn, client, [_who(client, None, reason="no data")], run_id=uuid.uuid4(), computed_at=T1)
    assert outcome == [StoreOutcome(client, "who", "nothing_stored", "no data")]
    assert _scoped(conn, client, "select count(*) from conversion_patterns") == [(0,)]


def test_shipped_weights_update_the_client_and_unshipped_leave_it(conn) -> None:
    client = _client(conn)
    store_client_results(conn, client, [_who(client, {"v": 1})], run_id=uuid.uuid4(), computed_at=T1)
    untouched = conn.execute("select als_learned_weights, als_weights_updated_at, conversion_sample_count from clients").fetchone()
    assert untouched == (None, None, 0)
    store_client_results(conn, client, [_who(client, {"v": 2}, weights=WEIGHTS)], run_id=uuid.uuid4(), computed_at=T2)
    updated = conn.execute("select als_learned_weights, als_weights_updated_at, conversion_sample_count from clients").fetchone()
    assert updated == (WEIGHTS, T2, 40)


def test_rerun_with_same_results_gives_identical_pattern_and_one_more_history_row(conn) -> None:
    client = _client(conn)
    results = [_who(client, {"a": [1, 2]}), DetectorResult(client, "when", {"best_days": []}, 50, 0.5)]
    for run in (uuid.uuid4(), uuid.uuid4()):
        store_client_results(conn, client, results, run_id=run, computed_at=T1)
    rows = _scoped(conn, client, "select pattern_type, patterns, sample_size, confidence from conversion_patterns order by 1")
    assert rows == [("when", {"best_days": []}, 50, 0.5), ("who", {"a": [1, 2]}, 120, 0.8)]
    counts = _scoped(conn, client, "select pattern_type, count(*), count(distinct run_id) from conversion_pattern_history group by 1 order by 1")
    assert counts == [("when", 2, 2), ("who", 2, 2)]


def test_a_failure_midway_stores_nothing_for_that_client(conn) -> None:
    client = _client(conn)
    unserialisable = DetectorResult(client, "how", {"bad": {1, 2}}, 10, 0.1)  # a set is not JSON
    with pytest.raises(Exception):
        store_client_results(conn, client, [_who(client, {"v": 1}), unserialisable], run_id=uuid.uuid4(), computed_at=T1)
    assert _scoped(conn, client, "select count(*) from conversion_patterns") == [(0,)]
    assert _scoped(conn, client, "select count(*) from conversion_pattern_history") == [(0,)]


def test_concurrent_stores_for_one_client_are_serialised(db_url: str, conn) -> None:
    client = _client(conn)
    finished = threading.Event()

    def store_in_background() -> None:
        with psycopg.connect(db_url, autocommit=True) as other:
            store_client_results(other, client, [_who(client, {"v": "second"})], run_id=uuid.uuid4(), computed_at=T2)
        finished.set()

    with psycopg.connect(db_url) as holder:  # a first run, mid-transaction, holding the client's lock
        store_client_results(holder, client, [_who(client, {"v": "first"})], run_id=uuid.uuid4(), computed_at=T1)
        holder.execute("select pg_advisory_xact_lock(716014, hashtext(%s))", (str(client),))
        worker = threading.Thread(target=store_in_background)
        worker.start()
        assert not finished.wait(0.5), "the second store must wait for the first run's transaction"
        holder.commit()
    worker.join(timeout=10)
    assert finished.is_set()
    assert _scoped(conn, client, "select patterns from conversion_patterns") == [({"v": "second"},)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pattern_type": "why"}, "unknown pattern type"),
        ({"confidence": 1.5}, "confidence"),
        ({"patterns": None}, "must say why"),
    ],
)
def test_invalid_results_are_refused(kwargs, message) -> None:
    base = {"client_id": uuid.uuid4(), "pattern_type": "who", "patterns": {}, "sample_size": 1, "confidence": 0.5}
    with pytest.raises(ValueError, match=message):
        DetectorResult(**{**base, **kwargs})
