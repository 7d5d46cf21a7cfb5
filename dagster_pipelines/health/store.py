"""Reading what the health rules need and recording a health run (plain psycopg, no Dagster import).

The pattern tables have forced row-level security scoped by ``app.client_ids``: the reader scopes its
transaction to every client (computed on the server from ``clients``). Clients are read in batches of
``BATCH_CLIENTS`` so that memory stays bounded with 1,000 clients × 4 pattern JSONs × 2 history rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from dagster_pipelines.health.rules import SEVERITIES, AgencyPattern, Finding, HistoryPair, StoredPattern

BATCH_CLIENTS = 200
# Scopes to every client, computed on the server (no id list travels); "true" = for this transaction only.
_SCOPE_TO_ALL_CLIENTS = (
    "select set_config('app.client_ids', (select coalesce(string_agg(id::text, ','), '') from clients), {local})"
)
SCOPE_TRANSACTION_TO_ALL_CLIENTS = _SCOPE_TO_ALL_CLIENTS.format(local="true")
SCOPE_SESSION_TO_ALL_CLIENTS = _SCOPE_TO_ALL_CLIENTS.format(local="false")
CONVERSIONS_MART = "int_lead_outcomes"


@dataclass(frozen=True)
class ClientBatch:
    """What the rules read for a batch of clients."""

    client_ids: list[UUID]
    stored: list[StoredPattern]
    history: list[HistoryPair]
    conversions: dict[UUID, int]


def read_batches(conn: psycopg.Connection, dbt_schema: str, batch_size: int = BATCH_CLIENTS) -> Iterator[ClientBatch]:
    """Every client's stored patterns, latest two history rows per type, and conversion count.

    ``conversions`` is empty when the dbt mart does not exist yet (``conversions_available`` tells)."""
    with conn.transaction():
        conn.execute(SCOPE_TRANSACTION_TO_ALL_CLIENTS)
        client_ids = [row[0] for row in conn.execute("select id from clients order by id")]
        has_mart = conversions_available(conn, dbt_schema)
        for start in range(0, len(client_ids), batch_size):
            batch = client_ids[start:start + batch_size]
            yield ClientBatch(
                batch, _stored(conn, batch), _history(conn, batch),
                _conversions(conn, dbt_schema, batch) if has_mart else {},
            )


def read_agency(conn: psycopg.Connection) -> list[AgencyPattern]:
    """The agency-wide patterns (no row-level security: they belong to no client)."""
    rows = conn.execute("select pattern_type, clients_pooled, computed_at, valid_until from agency_patterns "
                        "order by pattern_type").fetchall()
    return [AgencyPattern(*row) for row in rows]


def conversions_available(conn: psycopg.Connection, dbt_schema: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null",
                        (f'"{dbt_schema}"."{CONVERSIONS_MART}"',)).fetchone()[0]


def _stored(conn: psycopg.Connection, client_ids: Sequence[UUID]) -> list[StoredPattern]:
    rows = conn.execute(
        """
        select client_id, pattern_type, patterns, sample_size, confidence, computed_at, valid_until
        from conversion_patterns where client_id = any(%s) order by client_id, pattern_type
        """,
        (list(client_ids),),
    ).fetchall()
    return [StoredPattern(*row) for row in rows]


def _history(conn: psycopg.Connection, client_ids: Sequence[UUID]) -> list[HistoryPair]:
    rows = conn.execute(
        """
        with ranked as (
            select client_id, pattern_type, patterns, computed_at,
                   row_number() over (partition by client_id, pattern_type order by computed_at desc, id desc) as position
            from conversion_pattern_history
            where client_id = any(%s)
        )
        select client_id, pattern_type, position, patterns, computed_at
        from ranked where position <= 2 order by client_id, pattern_type, position
        """,
        (list(client_ids),),
    ).fetchall()
    latest: dict[tuple[UUID, str], dict[int, tuple[dict, datetime]]] = {}
    for client_id, pattern_type, position, patterns, computed_at in rows:
        latest.setdefault((client_id, pattern_type), {})[position] = (patterns, computed_at)
    pairs = []
    for (client_id, pattern_type), by_position in latest.items():
        current, current_at = by_position[1]
        previous, previous_at = by_position.get(2, (None, None))
        pairs.append(HistoryPair(client_id, pattern_type, current, previous, current_at, previous_at))
    return pairs


def _conversions(conn: psycopg.Connection, dbt_schema: str, client_ids: Sequence[UUID]) -> dict[UUID, int]:
    query = sql.SQL(
        "select client_id, count(*) from {mart} where outcome = 'converted' and client_id = any(%s) group by client_id"
    ).format(mart=sql.Identifier(dbt_schema, CONVERSIONS_MART))
    return {client_id: int(count) for client_id, count in conn.execute(query, (list(client_ids),))}


def record_run(
    conn: psycopg.Connection,
    *,
    run_id: UUID,
    checked_at: datetime,
    findings: Sequence[Finding],
    clients_checked: int,
    patterns_checked: int,
    expectations_evaluated: int,
    expectations_failed: int,
    data_docs_path: str | None,
    dagster_run_id: str | None,
) -> None:
    """One ``pattern_health_runs`` row and its findings, in one transaction scoped to every client."""
    counts = {severity: sum(f.severity == severity for f in findings) for severity in SEVERITIES}
    with conn.transaction():
        conn.execute(SCOPE_TRANSACTION_TO_ALL_CLIENTS)
        conn.execute(
            """
            insert into pattern_health_runs
                (id, checked_at, dagster_run_id, clients_checked, patterns_checked, high_count, medium_count,
                 low_count, expectations_evaluated, expectations_failed, data_docs_path)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (run_id, checked_at, dagster_run_id, clients_checked, patterns_checked, counts["high"], counts["medium"],
             counts["low"], expectations_evaluated, expectations_failed, data_docs_path),
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                """
                insert into pattern_health_findings
                    (run_id, checked_at, client_id, pattern_type, rule, severity, message, details)
                values (%s, %s, %s, %s, %s, %s, %s, %s)
                """,
                [(run_id, checked_at, f.client_id, f.pattern_type, f.rule, f.severity, f.message, Jsonb(f.details))
                 for f in findings],
            )
