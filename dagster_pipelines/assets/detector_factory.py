"""One factory for the four detector assets (group ``detectors``): each detector declares what it reads
and how it runs in a ``DetectorSpec``; the asset, its sharding, its metadata and its run timestamp are
the same for all of them. Which clients a run covers comes from the ``learning_scope`` resource. Every
detector asset runs after ``agency_patterns`` (the agency-wide patterns, its prior).

A detector step holds one client's results at a time: it stages each result in the run-scoped table
``detector_results_staging`` as soon as it is computed (``dagster_pipelines.result_staging``) and hands on
only a ``StagedResults`` summary; the ``conversion_patterns`` asset reads the staged rows back per client."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import psycopg
from dagster import (AssetIn, AssetKey, AssetsDefinition, DynamicOut, DynamicOutput, In, MetadataValue, Nothing,
                     OpExecutionContext, graph_asset, op)

from convintel import settings
from dagster_pipelines.markdown import markdown_header, markdown_row
from dagster_pipelines.resources import DatabaseResource, LearningScope
from dagster_pipelines.result_staging import ResultStager, StagedKey
from detectors.result import DetectorResult, PatternType


# The agency-wide patterns (assets/agency.py) come before every detector: a detector may read the stored
# agency pattern of its type as its shrinkage prior (detectors/agency.py).
AGENCY_PATTERNS_ASSET = "agency_patterns"


# One column of a detector's ``top_findings`` table: its header, and its cell from a passed result's pattern.
FindingColumn = tuple[str, Callable[[dict[str, Any]], object]]


@dataclass(frozen=True)
class DetectorSpec:
    """What one detector reads and how it runs.

    ``run(conn, dbt_schema, client_ids, computed_at)`` yields one result per client with data (all
    clients when ``client_ids`` is empty), one client at a time in client id order; ``finding_columns``
    are the columns of the asset's ``top_findings`` table after the client id (a header and the cell
    computed from a passed result's pattern); ``summary_lines`` turns one stored pattern into a few lines
    for people (CLI).
    """

    pattern_type: PatternType
    marts: tuple[str, ...]
    description: str
    run: Callable[[psycopg.Connection, str, Sequence[UUID], datetime], Iterable[DetectorResult]]
    finding_columns: tuple[FindingColumn, ...]
    summary_lines: Callable[[dict[str, Any]], list[str]]

    @property
    def asset_name(self) -> str:
        return f"{self.pattern_type}_patterns"


def detector_asset(spec: DetectorSpec) -> AssetsDefinition:
    """The detector as a graph-backed asset: plan the clients into shards, one ``detect`` step per shard
    (dynamic mapping: parallel under the multiprocess executor), then combine the results in client
    order and describe them in the asset's metadata."""
    kind = spec.pattern_type

    upstream = (*spec.marts, AGENCY_PATTERNS_ASSET)

    @op(name=f"{kind}_plan_shards", ins={name: In(Nothing) for name in upstream}, out=DynamicOut(list[str]),
        description=f"Clients in scope for {kind}, split into the learning scope's shards.")
    def plan_shards(context: OpExecutionContext, database: DatabaseResource, learning_scope: LearningScope):
        with psycopg.connect(database.resolved_url()) as conn:
            client_ids = clients_in_scope(conn, learning_scope.client_ids)
        shards = split_into_shards(client_ids, learning_scope.shards)
        context.log.info(f"{len(client_ids)} clients in {len(shards)} shards")
        for index, shard in enumerate(shards):
            yield DynamicOutput(shard, mapping_key=f"shard_{index:03d}")

    @op(name=f"{kind}_detect_shard", description=f"The {kind} detector over one shard's clients, each result staged as computed.")
    def detect_shard(context: OpExecutionContext, database: DatabaseResource, client_ids: list[str]) -> StagedResults:
        if not client_ids:
            return StagedResults(kind)
        schema = database.dbt_schema or settings.dbt_schema()
        url = database.resolved_url()
        from dagster_pipelines import detector_workers

        before = detector_workers.last_run()
        with psycopg.connect(url) as conn, psycopg.connect(url, autocommit=True) as staging:
            staged = detect_and_stage(spec, conn, staging, schema, [UUID(c) for c in client_ids],
                                      run_id=UUID(context.run.run_id), computed_at=run_timestamp(context))
        if (workers := detector_workers.last_run()) is not before and workers is not None:
            context.log.info(f"{workers.clients} clients over {workers.workers} processes: {workers.chunks} chunks, "
                             f"{workers.parent_chunks} in the step's own process")
        return staged

    @op(name=f"{kind}_combine_shards", description=f"All shards' {kind} summaries combined, with run metadata.")
    def combine_shards(context: OpExecutionContext, shard_results: list[StagedResults]) -> StagedResults:
        combined = combine_staged(shard_results)
        context.add_output_metadata({
            "clients": combined.clients,
            "shards": len(shard_results),
            "gate_passed": combined.gate_passed,
            "gate_failed": combined.clients - combined.gate_passed,
            "top_findings": MetadataValue.md(findings_markdown(spec, combined)),
            **({"weights_shipped": combined.weights_shipped} if kind == "who" else {}),
        })
        return combined

    def compose(**marts):
        return combine_shards(plan_shards(**marts).map(detect_shard).collect())

    return graph_asset(
        compose, name=spec.asset_name, group_name="detectors", description=spec.description,
        ins={name: AssetIn(key=AssetKey(name), dagster_type=Nothing) for name in upstream},
    )


# Rows of the ``top_findings`` metadata table: the first passed results in client id order.
FINDINGS_LIMIT = 20


@dataclass(frozen=True)
class StagedResults:
    """What a detector step hands on instead of its results: the key of every result it staged (run id
    and client id, for ``result_staging``; a re-executed run combines steps of two runs) and a summary for
    the asset's metadata. ``findings`` holds the ``top_findings`` rows (client id, markdown row) of the
    first ``FINDINGS_LIMIT`` passed results in client id order, not their patterns, so the output stays
    small however many clients there are (ids and counts only)."""

    pattern_type: PatternType
    staged: tuple[tuple[str, str], ...] = ()
    gate_passed: int = 0
    weights_shipped: int = 0
    findings: tuple[tuple[str, str], ...] = ()

    @property
    def clients(self) -> int:
        return len(self.staged)

    def keys(self) -> list[StagedKey]:
        """The (run id, client id, pattern type) of every staged result."""
        return [(UUID(run_id), UUID(client_id), self.pattern_type) for run_id, client_id in self.staged]


def detect_and_stage(spec: DetectorSpec, conn: psycopg.Connection, staging: psycopg.Connection, schema: str,
                     client_ids: Sequence[UUID], *, run_id: UUID, computed_at: datetime,
                     workers: int | None = None) -> StagedResults:
    """Run ``spec`` over ``client_ids`` (all clients when empty) reading from ``conn``, stage each result
    through ``staging`` (a connection of its own: its batches commit while ``conn`` streams the inputs) as
    it comes, and return the summary. Holds one client's inputs and result (plus a staging batch) at a time.

    With ``workers`` > 1 (default: the ``settings.detector_workers`` setting) and a step large enough to
    pay for them, the clients are spread over that many processes (this one and worker processes:
    ``detector_workers``), each running this function's in-process path over chunks of clients: the same
    staged rows and summary, each process holding one client at a time."""
    workers = settings.detector_workers() if workers is None else workers
    if workers > 1:
        from dagster_pipelines import detector_workers

        sizes = {} if 0 < len(client_ids) < detector_workers.MIN_WORKER_CLIENTS else \
            detector_workers.client_sizes(conn, schema, client_ids)
        if detector_workers.use_workers(sizes, workers):
            return detector_workers.detect_in_workers(
                spec, conn, staging, schema, detector_workers.plan_chunks(sizes, workers), workers=workers,
                run_id=run_id, computed_at=computed_at)
    staged: list[tuple[str, str]] = []
    gate_passed = weights_shipped = 0
    findings: list[tuple[str, str]] = []
    with ResultStager(staging, run_id, computed_at) as stager:
        for result in spec.run(conn, schema, client_ids, computed_at):
            client = str(result.client_id)
            staged.append((str(run_id), client))
            if result.patterns is not None:
                gate_passed += 1
                weights_shipped += result.learned_weights is not None
                if len(findings) < FINDINGS_LIMIT or client < findings[-1][0]:  # the table's order: ids as text
                    findings.append((client, finding_row(spec, result)))
                    findings.sort()
                    del findings[FINDINGS_LIMIT:]
            stager.add(result)
    return StagedResults(spec.pattern_type, tuple(staged), gate_passed, weights_shipped, tuple(findings))


def combine_staged(shards: Sequence[StagedResults]) -> StagedResults:
    """One detector's shard summaries as one."""
    types = {shard.pattern_type for shard in shards}
    if len(types) != 1:
        raise ValueError(f"expected the shard summaries of one pattern type, got {sorted(types)}")
    return StagedResults(
        shards[0].pattern_type,
        staged=tuple(sorted((key for s in shards for key in s.staged), key=lambda key: key[1])),
        gate_passed=sum(s.gate_passed for s in shards), weights_shipped=sum(s.weights_shipped for s in shards),
        findings=tuple(sorted(row for s in shards for row in s.findings)[:FINDINGS_LIMIT]),
    )


def findings_header(spec: DetectorSpec) -> list[str]:
    """The two header lines of ``spec``'s ``top_findings`` table: the client, then its finding columns."""
    return markdown_header(["client", *(name for name, _ in spec.finding_columns)])


def finding_row(spec: DetectorSpec, result: DetectorResult) -> str:
    """The ``top_findings`` row of one passed result: its client id, then each finding column's cell."""
    if result.patterns is None:
        raise ValueError(f"client {result.client_id} did not pass the {spec.pattern_type} gate: it has no findings row")
    return markdown_row([result.client_id, *(cell(result.patterns) for _, cell in spec.finding_columns)])


def findings_markdown(spec: DetectorSpec, staged: StagedResults) -> str:
    """The ``top_findings`` table of a step's or run's summary: the header over the kept rows (those of the
    first ``FINDINGS_LIMIT`` passed results in client order)."""
    return "\n".join([*findings_header(spec), *(row for _, row in staged.findings)])


def clients_in_scope(conn: psycopg.Connection, client_ids: Sequence[str]) -> list[str]:
    """The live clients to learn, in id order: all of them, or those of ``client_ids`` that exist."""
    query = "select id::text from clients where deleted_at is null"
    if client_ids:
        rows = conn.execute(query + " and id = any(%s::uuid[]) order by id", (list(client_ids),)).fetchall()
    else:
        rows = conn.execute(query + " order by id").fetchall()
    return [row[0] for row in rows]


def split_into_shards(client_ids: Sequence[str], shards: int) -> list[list[str]]:
    """Round-robin ``client_ids`` into ``min(shards, len)`` groups (at least one, possibly empty), so
    shards get similar client counts and the split is stable for a given client list."""
    count = max(1, min(shards, len(client_ids)))
    return [list(client_ids[index::count]) for index in range(count)]


def run_timestamp(context: OpExecutionContext) -> datetime:
    """One instant per learning run (its creation time): the patterns' computed_at and the stored rows'
    computed_at agree, whichever asset reads it and however long the run takes."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    created = record.create_timestamp if record else datetime.now(timezone.utc)
    return created.astimezone(timezone.utc).replace(microsecond=0)


def top_ranked(entries: list[dict], key: str = "category") -> str:
    """The rank-1 entry of a ranking as 'name rate (n=…)', or '-' when nothing is ranked."""
    ranked = [e for e in entries if e.get("rank") == 1]
    if not ranked:
        return "-"
    e = ranked[0]
    return f"{e[key]} {e['rate']:.1%} (n={e['sample']})"


def ranked_entries(entries: list[dict], limit: int = 3, key: str = "category") -> str:
    """The first ``limit`` ranked entries with rate, 95% interval, n and label, for people."""
    ranked = sorted((e for e in entries if e.get("is_ranked")), key=lambda e: e["rank"])[:limit]
    return " · ".join(
        f"{e[key]} {e['rate']:.1%} [{e['ci_low']:.1%}, {e['ci_high']:.1%}] n={e['sample']}"
        + (f" {e['label']}" if e.get("label") else "")
        for e in ranked
    ) or "-"
