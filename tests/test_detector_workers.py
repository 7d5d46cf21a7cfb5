"""A detector step's clients spread over worker processes (dagster_pipelines/detector_workers.py): the
chunk plan and the payoff rule exactly; on a small world, the workers stage exactly the rows and return
exactly the summary the in-process path does; a worker's exception fails the step with the worker's
traceback and leaves no child process.

One module world (5 clients, one dbt build of the detectors' marts) serves the database tests."""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from uuid import UUID

import psycopg
import pytest

from convintel import settings
from convintel.synth import generate
from dagster_pipelines import detector_workers
from dagster_pipelines.assets.detector_factory import detect_and_stage
from dagster_pipelines.detector_workers import DetectorWorkerError, detect_in_workers, plan_chunks, use_workers
from support import dbt_or_fail

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
SCHEMA = "analytics"


def _ids(count: int) -> list[UUID]:
    return [UUID(int=index + 1) for index in range(count)]


def test_chunks_go_largest_first_with_the_small_clients_grouped() -> None:
    a, b, c, d, e, f = _ids(6)
    sizes = {a: 10, b: 50, c: 5, d: 5, e: 20, f: 10}  # total 100; 2 workers × 2 chunks: a chunk reaches 25
    assert plan_chunks(sizes, workers=2, chunks_per_worker=2) == [[b], [e, a], [f, c, d]]
    # Ties by id; every client exactly once, whatever the target.
    assert plan_chunks({a: 1, b: 1, c: 1}, workers=2, chunks_per_worker=1) == [[a, b], [c]]
    assert plan_chunks({a: 0, b: 0}, workers=2) == [[a], [b]]
    assert sorted(x for chunk in plan_chunks(sizes, workers=3) for x in chunk) == sorted(sizes)


def test_workers_only_for_steps_that_pay_for_them() -> None:
    four = dict(zip(_ids(4), [25_000] * 4))
    assert use_workers(four, workers=2)
    assert not use_workers(four, workers=1)  # one process: today's in-process path
    assert not use_workers(dict(zip(_ids(4), [24_999] * 4)), workers=2)  # under MIN_WORKER_TOUCHES in all
    assert not use_workers(dict(zip(_ids(3), [50_000] * 3)), workers=2)  # under MIN_WORKER_CLIENTS


def test_the_workers_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVINTEL_DETECTOR_WORKERS", "3")
    assert settings.detector_workers() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("CONVINTEL_DETECTOR_WORKERS", bad)
        with pytest.raises(ValueError, match="CONVINTEL_DETECTOR_WORKERS"):
            settings.detector_workers()
    monkeypatch.delenv("CONVINTEL_DETECTOR_WORKERS")
    assert 1 <= settings.detector_workers() <= 4


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    generate(module_db_url, clients=5, leads=1500, seed=31, as_of=AS_OF)
    from dagster_pipelines.assets.patterns import DETECTORS

    marts = {mart for spec in DETECTORS for mart in spec.marts}
    dbt_or_fail(["build", "--select", *(f"+{mart}" for mart in sorted(marts)),
                 "--exclude", "resource_type:test", "resource_type:unit_test",
                 "--vars", json.dumps({"as_of": AS_OF.isoformat()})],
                module_db_url, tmp_path_factory.mktemp("dbt"), SCHEMA)
    with psycopg.connect(module_db_url) as conn:
        clients = [row[0] for row in conn.execute("select id from clients order by id")]
    return {"url": module_db_url, "clients": clients}


def _staged(url: str, run_id: UUID) -> list[tuple]:
    """The rows staged under ``run_id``, without the run id and the staging time, in key order."""
    with psycopg.connect(url) as conn:
        conn.execute("select set_config('app.client_ids', (select string_agg(id::text, ',') from clients), false)")
        return conn.execute(
            "select client_id, pattern_type, patterns::text, sample_size, confidence, conversions, gate_reason, "
            "learned_weights::text, computed_at from detector_results_staging where run_id = %s "
            "order by client_id, pattern_type", (run_id,)).fetchall()


def _without_run(staged) -> tuple:
    return (staged.pattern_type, tuple(client for _, client in staged.staged), staged.gate_passed,
            staged.weights_shipped, staged.findings)


@pytest.mark.slow
def test_workers_stage_exactly_what_the_step_stages_in_process(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_pipelines.assets.patterns import DETECTORS

    url = world["url"]
    in_process, in_workers = uuid.uuid4(), uuid.uuid4()
    monkeypatch.setattr(detector_workers, "MIN_WORKER_TOUCHES", 0)  # the small world is below the payoff
    with psycopg.connect(url) as conn, psycopg.connect(url, autocommit=True) as staging:
        for spec in DETECTORS:
            expected = detect_and_stage(spec, conn, staging, SCHEMA, [], run_id=in_process, computed_at=AS_OF, workers=1)
            assert expected.clients == 5 and expected.gate_passed > 0
            sizes = detector_workers.client_sizes(conn, SCHEMA, [])
            # Every chunk in the workers (two of them), each client a chunk of its own.
            workers = detect_in_workers(spec, conn, staging, SCHEMA, plan_chunks(sizes, 2, chunks_per_worker=5),
                                        workers=3, run_id=in_workers, computed_at=AS_OF, parent_takes_chunks=False)
            assert _without_run(workers) == _without_run(expected)
            assert detector_workers.last_run().parent_chunks == 0 and detector_workers.last_run().worker_peak_mib > 0
    rows = _staged(url, in_process)
    assert len(rows) == 20
    assert _staged(url, in_workers) == rows
    assert not multiprocessing.active_children()


@pytest.mark.slow
def test_a_worker_exception_fails_the_step_with_its_traceback_and_leaves_no_child(world: dict) -> None:
    from dagster_pipelines.assets.who import WHO

    url, (first, *_) = world["url"], world["clients"]

    def slow_who(conn, schema, client_ids, computed_at):
        # This process's chunk waits until a worker has started (and taken the bad chunk), then runs as usual.
        waited = time.monotonic()
        while not multiprocessing.active_children() and time.monotonic() - waited < 60:
            time.sleep(0.05)
        time.sleep(1.0)
        yield from WHO.run(conn, schema, client_ids, computed_at)

    # A chunk whose "client id" is no uuid: its mart query fails in the worker.
    chunks = [[first], ["not-a-client"]]
    with psycopg.connect(url) as conn, psycopg.connect(url, autocommit=True) as staging:
        with pytest.raises(DetectorWorkerError) as failure:
            detect_in_workers(replace(WHO, run=slow_who), conn, staging, SCHEMA, chunks, workers=2,
                              run_id=uuid.uuid4(), computed_at=AS_OF)
    message = str(failure.value)
    assert "the who detector failed in a worker process on clients not-a-client" in message
    assert 'invalid input syntax for type uuid: "not-a-client"' in message
    assert "Traceback" in message and "_detect_chunk" in message  # the worker's own traceback
    assert not multiprocessing.active_children()


@pytest.mark.slow
def test_without_the_size_mart_a_step_stays_in_process(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # A run that built only some detectors' marts has no fct_when_client_summary: sizes 0, no workers.
    monkeypatch.setattr(detector_workers, "MIN_WORKER_TOUCHES", 1)
    with psycopg.connect(world["url"]) as conn:
        sizes = detector_workers.client_sizes(conn, "no_such_schema", world["clients"])
        assert sizes == dict.fromkeys(world["clients"], 0)
        assert not use_workers(sizes, workers=2)
        assert sum(detector_workers.client_sizes(conn, SCHEMA, []).values()) > 0


@pytest.mark.slow
def test_the_dagster_step_runs_its_clients_in_workers(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # The WHO asset alone through Dagster, in process (its marts are built; the agency prior is absent):
    # one shard of 5 clients, spread over 2 processes, staged as in process.
    from dagster import DagsterInstance, materialize

    from dagster_pipelines.assets.who import WHO, who_patterns
    from dagster_pipelines.resources import build_resources

    monkeypatch.setattr(detector_workers, "MIN_WORKER_TOUCHES", 0)
    monkeypatch.setenv("CONVINTEL_DETECTOR_WORKERS", "2")
    before = detector_workers.last_run()
    result = materialize([who_patterns], resources=build_resources(world["url"], SCHEMA, shards=1),
                         instance=DagsterInstance.ephemeral())
    assert result.success
    workers = detector_workers.last_run()
    assert workers is not before and workers.pattern_type == "who" and workers.clients == 5
    step_rows = _staged(world["url"], UUID(result.run_id))
    expected = uuid.uuid4()
    with psycopg.connect(world["url"]) as conn, psycopg.connect(world["url"], autocommit=True) as staging:
        # In process, at the run's instant (the patterns carry it).
        detect_and_stage(WHO, conn, staging, SCHEMA, [], run_id=expected, computed_at=step_rows[0][-1], workers=1)
    assert len(step_rows) == 5 and step_rows == _staged(world["url"], expected)
    assert not multiprocessing.active_children()
