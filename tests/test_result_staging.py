"""Detector results staged per client (migration 009, dagster_pipelines/result_staging.py): a result reads
back from its staged row exactly as it was staged, a retried step overwrites its rows, the batches commit as
the detector goes, the rows are scoped per client, and through the learning run: two concurrent runs' staged
rows do not mix, a failed run's rows are not stored by the next run, and a run leaves no rows of its own.

One module world (2 clients, one dbt build) serves every test."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime, timezone

import psycopg
import pytest

from convintel.synth import generate
from dagster_pipelines.assets.detector_factory import StagedResults, combine_staged, findings_markdown
from dagster_pipelines.result_staging import (ResultStager, delete_staged, missing_staged, stage_results, staged_client_results,
                                              staged_keys)
from detectors.result import DetectorResult
from support import dbt_or_fail, run_metadata

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
SCHEMA = "analytics"
DBT_VARS = json.dumps({"as_of": AS_OF.isoformat()})
ALL_TYPES = ("who", "what", "when", "how")


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    generate(module_db_url, clients=2, leads=1200, seed=26, as_of=AS_OF)
    # The marts the detectors and the store read (models and seeds only: the dbt tests are other modules' subject).
    from dagster_pipelines.assets.patterns import DETECTORS

    marts = (*(mart for spec in DETECTORS for mart in spec.marts), "fct_data_quality_exclusions")
    dbt_or_fail(["build", "--select", *(f"+{mart}" for mart in marts),
                 "--exclude", "resource_type:test", "resource_type:unit_test", "--vars", DBT_VARS],
                module_db_url, tmp_path_factory.mktemp("dbt"), SCHEMA)
    with psycopg.connect(module_db_url, autocommit=True) as conn:
        clients = [row[0] for row in conn.execute("select id from clients order by id")]
    return {"url": module_db_url, "clients": clients}


def _all_results(url: str) -> list[DetectorResult]:
    from dagster_pipelines.assets.patterns import DETECTORS

    with psycopg.connect(url) as conn:
        return [result for spec in DETECTORS for result in spec.run(conn, SCHEMA, [], AS_OF)]


def _exact(result: DetectorResult) -> str:
    """A result as JSON text with every float in its shortest round-trip form: equal text, equal bits."""
    return json.dumps(asdict(result), sort_keys=True, default=str)


def _staged_rows(conn: psycopg.Connection) -> list[tuple]:
    conn.execute("select set_config('app.client_ids', (select string_agg(id::text, ',') from clients), false)")
    return conn.execute("select run_id, client_id, pattern_type, patterns, staged_at from detector_results_staging "
                        "order by run_id, client_id, pattern_type").fetchall()


def test_a_staged_result_reads_back_exactly_as_it_was_staged(world: dict) -> None:
    url, (client, other) = world["url"], world["clients"]
    # Floats jsonb must keep to the last bit (tiny, huge, thirds, integral floats) and every field set.
    # (A jsonb column fails this: it reads 1.7976931348623157e308 back as an integer of another value.)
    tricky = DetectorResult(client, "who", {"rates": [0.1, 1 / 3, 2.0, 1e-05, 5e-324, 1.7976931348623157e308,
                                                      0.30000000000000004, 1e16, -0.0],
                                            "nested": {"q": 2 / 3, "n": 7, "none": None, "label": "ñ ✓"}},
                            sample_size=123, confidence=0.123456789012345678, conversions=11,
                            learned_weights={"authority": 0.1 + 0.2, "timing": 1 / 7})
    failed = DetectorResult(other, "who", None, 4, 0.0, conversions=1, gate_reason="not enough data: 1 conversions")
    results = [*_all_results(url), tricky, failed]
    run_id = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        # One stage per (run, client, type): the real results under one run, the hand-made ones under another.
        assert stage_results(conn, run_id, results[:-2], AS_OF) == len(results) - 2
        assert stage_results(conn, (hand_made := uuid.uuid4()), results[-2:], AS_OF) == 2
        with psycopg.connect(url) as reader:
            keys = sorted(staged_keys(reader, run_id), key=lambda key: ALL_TYPES.index(key[2]))
            assert len(keys) == len(results) - 2
            read = dict(staged_client_results(reader, keys))
            read_hand_made = dict(staged_client_results(reader, [(hand_made, client, "who"), (hand_made, other, "who")]))
        delete_staged(conn, [(run_id, t) for t in ALL_TYPES] + [(hand_made, "who")])
        assert _staged_rows(conn) == []

    expected: dict = {}
    for result in results[:-2]:
        expected.setdefault(result.client_id, []).append(result)
    assert list(read) == sorted(expected) and len(results) - 2 >= 6
    for client_id, client_results in expected.items():
        # Each client's results in the order asked for (who, what, when, how), equal field by field and bit by bit.
        assert read[client_id] == client_results
        assert [_exact(r) for r in read[client_id]] == [_exact(r) for r in client_results]
    assert read_hand_made == {client: [tricky], other: [failed]}
    assert _exact(read_hand_made[client][0]) == _exact(tricky)


def test_staging_again_overwrites_and_each_batch_commits_as_the_detector_goes(world: dict) -> None:
    url, (client, other) = world["url"], world["clients"]
    run_id = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn, psycopg.connect(url, autocommit=True) as observer:
        with ResultStager(conn, run_id, AS_OF, batch_size=2) as stager:
            stager.add(DetectorResult(client, "when", {"v": 1}, 10, 0.5))
            assert _staged_rows(observer) == []  # the batch is not full yet
            stager.add(DetectorResult(other, "when", {"v": 1}, 10, 0.5))
            assert [row[3] for row in _staged_rows(observer)] == [{"v": 1}, {"v": 1}]  # committed: held no more
            stager.add(DetectorResult(client, "when", {"v": 2}, 10, 0.5))  # a retried step: same key
        rows = {row[1]: row for row in _staged_rows(observer)}
        assert (len(rows), rows[client][3], rows[other][3]) == (2, {"v": 2}, {"v": 1})
        assert rows[client][4] > rows[other][4]  # staged again, by the later transaction
        delete_staged(conn, [(run_id, "when")])


def test_staged_rows_are_visible_only_to_a_session_scoped_to_their_client(world: dict) -> None:
    url, (client, other) = world["url"], world["clients"]
    run_id = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        stage_results(conn, run_id, [DetectorResult(c, "how", {"c": str(c)}, 1, 0.1) for c in (client, other)], AS_OF)
        with conn.transaction():
            conn.execute("set local role convintel_app")
            conn.execute("select set_config('app.client_ids', %s, true)", (str(client),))
            assert conn.execute("select client_id from detector_results_staging").fetchall() == [(client,)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute("delete from detector_results_staging")  # the API's role only reads
        with conn.transaction():  # the owner, unscoped, sees none either (forced row-level security)
            assert conn.execute("select count(*) from detector_results_staging").fetchone()[0] == 0
        delete_staged(conn, [(run_id, "how")])


def test_shard_summaries_combine_into_the_first_findings_in_client_order() -> None:
    from dagster_pipelines.assets.who import WHO

    parent, child = str(uuid.uuid4()), str(uuid.uuid4())
    clients = [f"{i:08x}-0000-0000-0000-000000000000" for i in range(30)]
    rows = [(client, f"| row {i} |") for i, client in enumerate(clients)]
    # A re-executed run: one shard's step reused from the parent run, one run again in the child run.
    shards = [StagedResults("who", tuple((parent, c) for c in clients[0::2]), 12, 3, tuple(rows[0::2][:20])),
              StagedResults("who", tuple((child, c) for c in clients[1::2]), 13, 4, tuple(rows[1::2][:20])),
              StagedResults("who")]
    combined = combine_staged(shards)
    assert (combined.clients, combined.gate_passed, combined.weights_shipped) == (30, 25, 7)
    assert combined.keys() == [(uuid.UUID(parent if i % 2 == 0 else child), uuid.UUID(c), "who") for i, c in enumerate(clients)]
    assert combined.findings == tuple(rows[:20])
    assert findings_markdown(WHO, combined).splitlines() == [
        "| client | top title | top industry | weights | cv AUC learned / default |", "|---|---|---|---|---|",
        *(r for _, r in rows[:20])]
    with pytest.raises(ValueError, match="one pattern type"):
        combine_staged([shards[0], StagedResults("what")])


def test_the_store_reads_exactly_the_reported_results_of_a_re_executed_run(world: dict) -> None:
    """A parent run's failed step staged a client before failing; the re-execution staged it again under its
    own run: the keys the steps report name the one row to store, and the delete takes both runs' rows."""
    url, (client, other) = world["url"], world["clients"]
    parent, child = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        stage_results(conn, parent, [DetectorResult(c, "how", {"run": "parent"}, 1, 0.1) for c in (client, other)], AS_OF)
        stage_results(conn, child, [DetectorResult(other, "how", {"run": "child"}, 1, 0.1)], AS_OF)
        with psycopg.connect(url) as reader:
            read = dict(staged_client_results(reader, [(parent, client, "how"), (child, other, "how")]))
        assert {c: [r.patterns for r in results] for c, results in read.items()} == {
            client: [{"run": "parent"}], other: [{"run": "child"}]}
        with psycopg.connect(url) as reader:
            assert missing_staged(reader, [(parent, client, "how"), (child, other, "how")]) == []
            assert missing_staged(reader, [(child, client, "how"), (parent, client, "who")]) == [
                (child, client, "how"), (parent, client, "who")]
        assert delete_staged(conn, [(parent, "how"), (child, "how"), (child, "how")]) == 3
        assert _staged_rows(conn) == []
        # Handed the same keys again (the store materialised alone, after its run stored them), the store
        # finds them gone and refuses with a message that says why (conversion_patterns: not_staged_message).
        with psycopg.connect(url) as reader:
            assert missing_staged(reader, [(parent, client, "how"), (child, other, "how")]) == [
                (parent, client, "how"), (child, other, "how")]


def test_concurrent_runs_do_not_mix_and_a_failed_runs_rows_are_not_stored(world: dict) -> None:
    """Two detector-and-store runs at once (the second starts once the first is staging, a second later, so
    their patterns carry different timestamps), with staged rows left behind by a failed run (recent:
    kept) and an old one (pruned)."""
    from dagster import materialize

    from dagster_pipelines.assets.patterns import DETECTOR_ASSETS, conversion_patterns
    from dagster_pipelines.resources import build_resources

    url, clients = world["url"], world["clients"]
    failed_run, old_run = uuid.uuid4(), uuid.uuid4()
    planted = {"planted": "by a run that failed before its store"}
    with psycopg.connect(url, autocommit=True) as conn:
        for run_id in (failed_run, old_run):
            stage_results(conn, run_id, [DetectorResult(c, t, planted, 1, 0.1) for c in clients for t in ALL_TYPES], AS_OF)
        conn.execute("select set_config('app.client_ids', (select string_agg(id::text, ',') from clients), false)")
        conn.execute("update detector_results_staging set staged_at = now() - interval '8 days' where run_id = %s", (old_run,))
        history_before = conn.execute("select count(*) from conversion_pattern_history").fetchone()[0]

    def run(after_first_staged: bool):
        if after_first_staged:  # the second run starts while the first is staging, a second later
            _wait_until_a_run_stages(url, known={failed_run, old_run})
            time.sleep(1.1)
        return materialize([*DETECTOR_ASSETS, conversion_patterns], resources=build_resources(url, SCHEMA, shards=2))

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(run, (False, True)))
    assert all(r.success for r in runs) and runs[0].run_id != runs[1].run_id

    with psycopg.connect(url, autocommit=True) as conn:
        remaining = {(row[0], row[3] == planted) for row in _staged_rows(conn)}
        history = conn.execute(
            "select run_id, client_id, pattern_type, computed_at, patterns from conversion_pattern_history "
            "order by id offset %s", (history_before,)).fetchall()
        stored = conn.execute("select patterns from conversion_patterns").fetchall()
    # Each run stored its own results: every history row's pattern carries its own run's timestamp.
    assert {row[0] for row in history} == {uuid.UUID(r.run_id) for r in runs}
    for run_id, client, pattern_type, computed_at, patterns in history:
        assert datetime.fromisoformat(patterns["computed_at"]) == computed_at, (run_id, client, pattern_type)
    assert len({row[3] for row in history}) == 2
    per_run = {uuid.UUID(r.run_id): run_metadata(r, "conversion_patterns")["patterns_stored"] for r in runs}
    assert {run_id: sum(row[0] == run_id for row in history) for run_id in per_run} == per_run
    # The failed run's rows were stored by neither run and are kept (recent); the old rows were pruned; the
    # runs left none of their own.
    assert all("planted" not in row[4] for row in history) and all("planted" not in row[0] for row in stored)
    assert remaining == {(failed_run, True)}


def _wait_until_a_run_stages(url: str, known: set[uuid.UUID], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while not any(row[0] not in known for row in _staged_rows(conn)):
            assert time.monotonic() < deadline, "the first run staged nothing"
            time.sleep(0.05)


def test_the_store_handed_results_no_longer_staged_fails_and_stores_nothing(world: dict) -> None:
    """The store materialised on its own after its run: the inputs name rows that run stored and deleted."""
    from dagster import Failure, build_asset_context

    from dagster_pipelines.assets.patterns import conversion_patterns
    from dagster_pipelines.resources import build_resources

    url, (client, _) = world["url"], world["clients"]
    gone = StagedResults("how", staged=((str(uuid.uuid4()), str(client)),))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select set_config('app.client_ids', (select string_agg(id::text, ',') from clients), false)")
        history_before = conn.execute("select count(*) from conversion_pattern_history").fetchone()[0]
        with build_asset_context(resources=build_resources(url, SCHEMA)) as context, \
                pytest.raises(Failure, match="1 of the 1 detector results .* no longer staged"):
            conversion_patterns(context, how_patterns=gone, who_patterns=StagedResults("who"),
                                what_patterns=StagedResults("what"), when_patterns=StagedResults("when"))
        assert conn.execute("select count(*) from conversion_pattern_history").fetchone()[0] == history_before
