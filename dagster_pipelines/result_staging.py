"""Detector results staged per client during a learning run (migration 009, issue 11 "Memory at 1,000
clients"): what lets the detectors and the store hold one client's results at a time.

A detector step writes each client's ``DetectorResult`` to ``detector_results_staging`` as soon as it is
computed (``ResultStager``: a few results per transaction, each transaction scoped to its clients, as the
forced row-level security needs) and keeps none; the store step reads back the rows the detector steps
reported, one client at a time (``staged_client_results``: one query ordered by client, through a
server-side cursor), stores them, then deletes the run's rows (``delete_staged``). A row is keyed by (run,
client, pattern type): a retried step overwrites its rows, and a re-executed run, whose reused steps
staged under the parent run, reads exactly the rows its steps reported. Rows of a run that never reached
its store are pruned after ``STAGED_RETENTION``.

Round trip: the patterns and learned weights are staged as the JSON text psycopg's ``Jsonb`` would send
(``json.dumps``) in ``json`` columns, which keep the text as written; ``json.loads`` of that text gives
back every float bit for bit (``repr`` round-trips), so a staged result reads back equal to the one staged
and the store writes the same jsonb it would have written from the original. (A ``jsonb`` column would
not do: it prints a float like 1.7976931348623157e+308 as an integer, which reads back as another number.)

Plain psycopg, no Dagster import (the bench uses it too).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import psycopg

from dagster_pipelines.health.store import SCOPE_TRANSACTION_TO_ALL_CLIENTS
from detectors.result import DetectorResult, PatternType

# Results written per transaction: a commit per few results rather than per result, while a batch holds
# only a few clients' serialised results (each well under the largest client's inputs).
STAGE_BATCH_RESULTS = 8
# Staged rows fetched per round trip by the store's reader: a couple of clients' rows.
READ_BATCH_ROWS = 8
# How long rows of a run that never stored them are kept: a re-execution of a failed run from its failed
# step (Dagster reuses the detector steps' outputs, which name the parent run's rows) can still store them
# within a week, a weekly learning schedule's period; older rows only take space.
STAGED_RETENTION = timedelta(days=7)

_COLUMNS = ("run_id", "client_id", "pattern_type", "patterns", "sample_size", "confidence", "conversions",
            "gate_reason", "learned_weights", "computed_at")
_UPSERT = (
    f"insert into detector_results_staging ({', '.join(_COLUMNS)}) "
    "values (%s, %s, %s, %s::json, %s, %s, %s, %s, %s::json, %s) "
    "on conflict (run_id, client_id, pattern_type) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[3:]) + ", staged_at = now()"
)
_RESULT_COLUMNS = "client_id, pattern_type, patterns, sample_size, confidence, conversions, gate_reason, learned_weights"


def _json_text(value: object) -> str | None:
    """The JSON text psycopg's ``Jsonb(value)`` sends (its dumps is ``json.dumps``); None stays SQL null."""
    return None if value is None else json.dumps(value)


def staged_row(run_id: UUID, result: DetectorResult, computed_at: datetime) -> tuple:
    """One result as the values of a ``detector_results_staging`` row (in ``_COLUMNS`` order)."""
    return (run_id, result.client_id, result.pattern_type, _json_text(result.patterns), result.sample_size,
            result.confidence, result.conversions, result.gate_reason, _json_text(result.learned_weights), computed_at)


def result_from_row(row: Sequence) -> DetectorResult:
    """The ``DetectorResult`` a staged row holds (columns as ``_RESULT_COLUMNS``)."""
    client_id, pattern_type, patterns, sample_size, confidence, conversions, gate_reason, learned_weights = row
    return DetectorResult(client_id=client_id, pattern_type=pattern_type, patterns=patterns, sample_size=sample_size,
                          confidence=confidence, conversions=conversions, gate_reason=gate_reason,
                          learned_weights=learned_weights)


class ResultStager:
    """Writes results to the staging table as they come, ``batch_size`` per transaction; use as a context
    manager (the last batch is written on a normal exit; on an error it is dropped with the step)."""

    def __init__(self, conn: psycopg.Connection, run_id: UUID, computed_at: datetime,
                 batch_size: int = STAGE_BATCH_RESULTS) -> None:
        if computed_at.tzinfo is None:
            raise ValueError("computed_at must be timezone-aware")
        self._conn, self._run_id, self._computed_at, self._batch_size = conn, run_id, computed_at, batch_size
        self._pending: list[tuple] = []
        self.staged = 0

    def add(self, result: DetectorResult) -> None:
        # Serialised now, so the result's objects can be freed before the batch is written.
        self._pending.append(staged_row(self._run_id, result, self._computed_at))
        if len(self._pending) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        clients = ",".join(sorted({str(row[1]) for row in self._pending}))
        with self._conn.transaction(), self._conn.cursor() as cursor:
            cursor.execute("select set_config('app.client_ids', %s, true)", (clients,))
            cursor.executemany(_UPSERT, self._pending)
        self.staged += len(self._pending)
        self._pending = []

    def __enter__(self) -> ResultStager:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.flush()


def stage_results(conn: psycopg.Connection, run_id: UUID, results: Iterable[DetectorResult],
                  computed_at: datetime) -> int:
    """Stage every result of ``results`` (consumed as it is produced); return how many."""
    with ResultStager(conn, run_id, computed_at) as stager:
        for result in results:
            stager.add(result)
    return stager.staged


# One staged result: (run id, client id, pattern type), the table's key.
StagedKey = tuple[UUID, UUID, PatternType]


def staged_keys(conn: psycopg.Connection, run_id: UUID) -> list[StagedKey]:
    """The keys of every result staged under ``run_id`` (in client order)."""
    with conn.transaction():
        conn.execute(SCOPE_TRANSACTION_TO_ALL_CLIENTS)
        return [tuple(row) for row in conn.execute(  # type: ignore[misc]
            "select run_id, client_id, pattern_type from detector_results_staging where run_id = %s "
            "order by client_id, pattern_type", (run_id,))]


def missing_staged(conn: psycopg.Connection, keys: Sequence[StagedKey]) -> list[StagedKey]:
    """The keys of ``keys`` with no staged row: their run stored (and deleted) them already, or they were
    pruned after ``STAGED_RETENTION``."""
    if not keys:
        return []
    with conn.transaction():
        conn.execute(SCOPE_TRANSACTION_TO_ALL_CLIENTS)
        return [tuple(row) for row in conn.execute(  # type: ignore[misc]
            "select k.run_id, k.client_id, k.pattern_type "
            "from unnest(%s::uuid[], %s::uuid[], %s::text[]) as k (run_id, client_id, pattern_type) "
            "where not exists (select from detector_results_staging as s where s.run_id = k.run_id "
            "and s.client_id = k.client_id and s.pattern_type = k.pattern_type) "
            "order by k.client_id, k.pattern_type", tuple(map(list, zip(*keys))))]


def staged_client_results(conn: psycopg.Connection, keys: Sequence[StagedKey]) -> Iterator[tuple[UUID, list[DetectorResult]]]:
    """The staged results of ``keys``, one client at a time in client id order, each client's results in
    the order their pattern types first appear in ``keys``. One query through a server-side cursor in a
    transaction of its own (scoped to every client): use a connection that stores nothing meanwhile."""
    if not keys:
        return
    order: dict[str, int] = {}
    for _, _, pattern_type in keys:
        order.setdefault(pattern_type, len(order))
    with conn.transaction():
        conn.execute(SCOPE_TRANSACTION_TO_ALL_CLIENTS)
        with conn.cursor(name="staged_client_results") as cursor:
            cursor.execute(
                f"select {_RESULT_COLUMNS} from detector_results_staging "
                "join unnest(%s::uuid[], %s::uuid[], %s::text[]) as k (run_id, client_id, pattern_type) "
                "using (run_id, client_id, pattern_type) order by client_id",
                tuple(map(list, zip(*keys))))
            client: UUID | None = None
            results: list[DetectorResult] = []
            while rows := cursor.fetchmany(READ_BATCH_ROWS):
                for row in rows:
                    if row[0] != client and results:
                        yield client, sorted(results, key=lambda r: order[r.pattern_type])  # type: ignore[misc]
                        results = []
                    client = row[0]
                    results.append(result_from_row(row))
            if results:
                yield client, sorted(results, key=lambda r: order[r.pattern_type])  # type: ignore[misc]


def delete_staged(conn: psycopg.Connection, staged: Sequence[tuple[UUID, PatternType]]) -> int:
    """Delete every row staged under the given (run id, pattern type) pairs (including rows a failed step
    of that run left for clients a re-execution staged again) and every row older than
    ``STAGED_RETENTION``; return how many rows went."""
    staged = sorted(set(staged))
    with conn.transaction():
        conn.execute(SCOPE_TRANSACTION_TO_ALL_CLIENTS)
        deleted = conn.execute(
            "delete from detector_results_staging as s "
            "using unnest(%s::uuid[], %s::text[]) as k (run_id, pattern_type) "
            "where s.run_id = k.run_id and s.pattern_type = k.pattern_type",
            ([run_id for run_id, _ in staged], [pattern_type for _, pattern_type in staged])).rowcount
        deleted += conn.execute("delete from detector_results_staging where staged_at < now() - %s",
                                (STAGED_RETENTION,)).rowcount
    return deleted
