"""The pattern store (SPEC §7 storage): what a learning run writes, per client, in one transaction.

For each client: one upsert per pattern type into ``conversion_patterns`` (valid for 14 days) and one
row into ``conversion_pattern_history`` tagged with the run id, and — when the WHO detector ships
learned weights — the client's ``als_learned_weights``. A detector whose minimum-data gate failed
hands over no pattern: the stored one is kept untouched (never replaced by an empty default) and the
outcome says why. Concurrent runs for the same client are serialised by a transaction-scoped advisory
lock; the transaction scopes itself to the client, so the forced row-level security applies to the
pipeline as to everyone else.

Agency-wide patterns (``store_agency_patterns``) go to their own tables in their own transaction: they
belong to no client, so no client scope and no client row is involved.

Plain psycopg, no Dagster import: the API and the command line use it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from detectors.result import DetectorResult, PatternType

if TYPE_CHECKING:  # the store itself needs no numerical import
    from detectors.agency import AgencyPattern

VALIDITY = timedelta(days=14)
# First key of the two-key advisory lock: "conversion patterns, per client" (second key: the client).
_LOCK_CLASS = 716_014


StoreAction = Literal["stored", "kept_previous", "nothing_stored"]


@dataclass(frozen=True)
class StoreOutcome:
    client_id: UUID
    pattern_type: PatternType
    action: StoreAction
    reason: str | None = None


def store_client_results(
    conn: psycopg.Connection,
    client_id: UUID,
    results: list[DetectorResult],
    *,
    run_id: UUID,
    computed_at: datetime,
) -> list[StoreOutcome]:
    """Store one client's detector results atomically; return what happened to each type."""
    if any(result.client_id != client_id for result in results):
        raise ValueError("every result must belong to the client being stored")
    if computed_at.tzinfo is None:
        raise ValueError("computed_at must be timezone-aware")
    outcomes: list[StoreOutcome] = []
    with conn.transaction():
        conn.execute("select set_config('app.client_ids', %s, true)", (str(client_id),))
        conn.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, str(client_id)))
        for result in results:
            if result.patterns is None:
                has_previous = conn.execute(
                    "select 1 from conversion_patterns where client_id = %s and pattern_type = %s",
                    (client_id, result.pattern_type),
                ).fetchone()
                action: StoreAction = "kept_previous" if has_previous else "nothing_stored"
                outcomes.append(StoreOutcome(client_id, result.pattern_type, action, result.gate_reason))
                continue
            _upsert(conn, result, run_id, computed_at)
            outcomes.append(StoreOutcome(client_id, result.pattern_type, "stored"))
    return outcomes


def _upsert(conn: psycopg.Connection, result: DetectorResult, run_id: UUID, computed_at: datetime) -> None:
    _store_current_and_history(
        conn, "conversion_patterns", "conversion_pattern_history", ("client_id", "pattern_type"),
        {"client_id": result.client_id, "pattern_type": result.pattern_type, "patterns": Jsonb(result.patterns),
         "sample_size": result.sample_size, "confidence": result.confidence, "computed_at": computed_at},
        run_id=run_id,
    )
    if result.pattern_type == "who" and result.learned_weights is not None:
        conn.execute(
            """
            update clients
            set als_learned_weights = %s, als_weights_updated_at = %s, conversion_sample_count = %s
            where id = %s
            """,
            (Jsonb(result.learned_weights), computed_at, result.conversions, result.client_id),
        )


def _store_current_and_history(conn: psycopg.Connection, current: str, history: str, keys: tuple[str, ...],
                               values: dict[str, Any], *, run_id: UUID) -> None:
    """The one way a pattern is stored: upsert the current row of ``current`` (unique on ``keys``, valid
    for ``VALIDITY`` from ``computed_at``) and append the same values, tagged with the run, to ``history``."""
    current_values = {**values, "valid_until": values["computed_at"] + VALIDITY}
    conn.execute(
        sql.SQL("insert into {table} ({columns}) values ({values}) on conflict ({keys}) do update set {updates}").format(
            table=sql.Identifier(current),
            columns=sql.SQL(", ").join(map(sql.Identifier, current_values)),
            values=sql.SQL(", ").join(map(sql.Placeholder, current_values)),
            keys=sql.SQL(", ").join(map(sql.Identifier, keys)),
            updates=sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(column))
                                       for column in current_values if column not in keys)),
        current_values,
    )
    history_values = {**values, "run_id": run_id}
    conn.execute(
        sql.SQL("insert into {table} ({columns}) values ({values})").format(
            table=sql.Identifier(history),
            columns=sql.SQL(", ").join(map(sql.Identifier, history_values)),
            values=sql.SQL(", ").join(map(sql.Placeholder, history_values))),
        history_values,
    )


# --- agency-wide patterns (migration 006) ---------------------------------------------------------

# First key of the advisory lock "agency patterns" (second key: the pattern type).
_AGENCY_LOCK_CLASS = 716_016


@dataclass(frozen=True)
class AgencyStoreOutcome:
    pattern_type: PatternType
    action: StoreAction
    clients_pooled: int
    reason: str | None = None


def store_agency_patterns(
    conn: psycopg.Connection,
    patterns: list[AgencyPattern],
    *,
    run_id: UUID,
    computed_at: datetime,
) -> list[AgencyStoreOutcome]:
    """Store the agency patterns of a run in one transaction of their own: per type one upsert into
    ``agency_patterns`` and one ``agency_pattern_history`` row. A type without a pattern (too few
    clients, or the pooled data below the gate) keeps the stored one, as for a client."""
    if computed_at.tzinfo is None:
        raise ValueError("computed_at must be timezone-aware")
    outcomes: list[AgencyStoreOutcome] = []
    with conn.transaction():
        for agency in patterns:
            result = agency.result
            conn.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", (_AGENCY_LOCK_CLASS, result.pattern_type))
            if result.patterns is None:
                has_previous = conn.execute("select 1 from agency_patterns where pattern_type = %s",
                                            (result.pattern_type,)).fetchone()
                action: StoreAction = "kept_previous" if has_previous else "nothing_stored"
                outcomes.append(AgencyStoreOutcome(result.pattern_type, action, agency.clients_pooled, result.gate_reason))
                continue
            _store_current_and_history(
                conn, "agency_patterns", "agency_pattern_history", ("pattern_type",),
                {"pattern_type": result.pattern_type, "patterns": Jsonb(result.patterns),
                 "sample_size": result.sample_size, "confidence": result.confidence,
                 "clients_pooled": agency.clients_pooled, "computed_at": computed_at},
                run_id=run_id,
            )
            outcomes.append(AgencyStoreOutcome(result.pattern_type, "stored", agency.clients_pooled))
    return outcomes


def load_agency_pattern(conn: psycopg.Connection, pattern_type: PatternType) -> dict[str, Any] | None:
    """The stored agency pattern JSON of one type (the detectors' prior), or None."""
    row = conn.execute("select patterns from agency_patterns where pattern_type = %s", (pattern_type,)).fetchone()
    return row[0] if row else None
