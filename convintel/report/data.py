"""What one client's report shows, read in one transaction scoped to that client (plain psycopg).

The pattern tables have FORCED row-level security on ``app.client_ids``: the reader scopes its
transaction to the one client (``set_config(..., true)``), so a report can only ever contain that
client's rows — the same rule the API and the pipeline live under.

Besides the stored patterns it reads:
* drift since the last run: the two latest ``conversion_pattern_history`` rows per type, judged by the
  health job's own ``check_drift`` (one formula, one place) plus the rank-1 items before/after;
* the latest health run's findings for this client (``pattern_health_findings``);
* the day × hour counts behind the WHEN heat map (touches and converting touches per local day and
  hour, aggregated in SQL from the dbt mart ``fct_when_touches``; the pattern stores days and hours
  separately);
* the business KPIs the latest learning run stored for the client (``client_kpis``, docs/kpis.md);
* when a type has no stored pattern: the client's data counts from the dbt marts and the detector's
  gate reason (WHO, WHEN, HOW: the detectors' own ``gate_reason``; WHAT: its SPEC thresholds over touches
  with text in ``int_touches``, close to but not exactly the WHAT detector's "analysed" touches), so the
  report can say plainly what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from convintel import settings
from detectors.result import PATTERN_TYPES, minimum_data_reason

# WHAT's gate (SPEC §7 what); the WHAT detector may not be importable on every branch.
WHAT_MIN_CONVERTING_TOUCHES = 5
WHAT_MIN_CONTENT_TOUCHES = 20


class ClientNotFound(LookupError):
    """No client with that id or exact name."""


@dataclass(frozen=True)
class StoredPattern:
    pattern_type: str
    patterns: dict[str, Any]
    sample_size: int
    confidence: float
    computed_at: datetime
    valid_until: datetime


@dataclass(frozen=True)
class Drift:
    """One type's change between the two latest learning runs."""

    pattern_type: str
    current_computed_at: datetime
    previous_computed_at: datetime | None
    findings: list[dict[str, Any]]               # check_drift findings (rule, severity, message, details)
    top_items: dict[str, tuple[str | None, str | None]]   # item -> (previous, current)
    weights: dict[str, tuple[float | None, float | None]]  # WHO only: component -> (previous, current)


@dataclass
class ClientReport:
    client_id: UUID
    client_name: str
    generated_at: datetime
    patterns: dict[str, StoredPattern] = field(default_factory=dict)
    drift: dict[str, Drift] = field(default_factory=dict)
    health_run: dict[str, Any] | None = None
    health_findings: list[dict[str, Any]] = field(default_factory=list)
    heat_cells: dict[tuple[int, int], tuple[int, int]] | None = None
    data_counts: dict[str, int] | None = None     # None: the dbt marts are not built yet
    gate_reasons: dict[str, str | None] = field(default_factory=dict)   # per missing type
    kpis: dict[str, Any] | None = None            # the stored business KPIs (client_kpis), None before a run

    @property
    def missing_types(self) -> list[str]:
        return [t for t in PATTERN_TYPES if t not in self.patterns]


def resolve_client(conn: psycopg.Connection, client: str | UUID, *, app_role: bool = False) -> tuple[UUID, str]:
    """A client by id or exact name (names are not unique: an ambiguous name is an error). ``app_role``:
    the session is the API's convintel_app, which reads clients through the scoped view only."""
    clients = "convintel_api_clients" if app_role else "clients"
    try:
        client_id = client if isinstance(client, UUID) else UUID(str(client))
    except ValueError:
        rows = conn.execute(f"select id, name from {clients} where name = %s order by id", (str(client),)).fetchall()
        if len(rows) > 1:
            raise ClientNotFound(f"{len(rows)} clients are named {client!r}: use the id") from None
        if rows:
            return rows[0][0], rows[0][1]
        raise ClientNotFound(f"no client with id or name {client!r}") from None
    row = conn.execute(f"select id, name from {clients} where id = %s", (client_id,)).fetchone()
    if row is None:
        raise ClientNotFound(f"no client with id {client_id}")
    return row[0], row[1]


def load_client_report(conn: psycopg.Connection, client: str | UUID, *, dbt_schema: str | None = None,
                       now: datetime | None = None, app_role: bool = False) -> ClientReport:
    """Everything the report of one client shows, read in one transaction scoped to that client.

    ``app_role=True``: the session is the API's row-level-secured convintel_app, already scoped to the
    client; only the pattern tables and the scoped client view are read (the heat map then comes from
    the stored WHEN pattern alone, and a missing type is not explained with the marts' counts)."""
    read_marts = not app_role
    schema = dbt_schema or settings.dbt_schema()
    with conn.transaction():
        client_id, name = resolve_client(conn, client, app_role=app_role)
        # Transaction-local; restored at the end in case the caller's own transaction continues after us.
        previous_scope = conn.execute("select current_setting('app.client_ids', true)").fetchone()[0]
        conn.execute("select set_config('app.client_ids', %s, true)", (str(client_id),))
        report = ClientReport(client_id, name, now or datetime.now(timezone.utc))
        report.patterns = _patterns(conn, client_id)
        report.drift = _drift(conn, client_id)
        report.health_run, report.health_findings = _health(conn, client_id)
        report.heat_cells = _pattern_heat_cells(report.patterns.get("when"))
        report.kpis = load_client_kpis(conn, client_id)
        if report.heat_cells is None and read_marts and _has_relation(conn, schema, "fct_when_touches"):
            report.heat_cells = _heat_cells(conn, schema, client_id)
        if report.missing_types and read_marts:
            report.data_counts = _data_counts(conn, schema, client_id)
            report.gate_reasons = {t: gate_reason(t, report.data_counts) for t in report.missing_types}
        elif report.missing_types:
            report.gate_reasons = {t: NOT_STORED_REASON for t in report.missing_types}
        conn.execute("select set_config('app.client_ids', %s, true)", (previous_scope or "",))
    return report


def gate_reason(pattern_type: str, counts: dict[str, int] | None) -> str | None:
    """Why a type has no pattern, from the client's counts and each detector's own gate."""
    if counts is None:
        return "no learning run has built this database's marts yet (run `convintel learn`)"
    if pattern_type == "who":
        from detectors.who import gate_reason as who_gate
        return who_gate(counts["leads_with_outcome"], counts["conversions"])
    if pattern_type == "when":
        from detectors.when import gate_reason as when_gate
        return when_gate(counts["conversions"])
    if pattern_type == "how":
        from detectors.how import gate_reason as how_gate
        return how_gate(counts["leads_with_outcome"], counts["conversions"])
    return minimum_data_reason(
        (counts["converting_touches_with_content"], WHAT_MIN_CONVERTING_TOUCHES, "converting touches with content"),
        (counts["touches_with_content"], WHAT_MIN_CONTENT_TOUCHES, "touches with content"),
    )


def _patterns(conn: psycopg.Connection, client_id: UUID) -> dict[str, StoredPattern]:
    rows = conn.execute(
        "select pattern_type, patterns, sample_size, confidence, computed_at, valid_until "
        "from conversion_patterns where client_id = %s order by pattern_type", (client_id,)).fetchall()
    return {row[0]: StoredPattern(row[0], row[1] or {}, int(row[2] or 0), float(row[3] or 0.0), row[4], row[5])
            for row in rows}


def _drift(conn: psycopg.Connection, client_id: UUID) -> dict[str, Drift]:
    from dagster_pipelines.health.rules import TOP_ITEM_EXTRACTORS, HistoryPair, check_drift, who_weights

    rows = conn.execute(
        """
        with ranked as (
            select pattern_type, patterns, computed_at,
                   row_number() over (partition by pattern_type order by computed_at desc, id desc) as position
            from conversion_pattern_history where client_id = %s
        )
        select pattern_type, position, patterns, computed_at from ranked where position <= 2
        order by pattern_type, position
        """, (client_id,)).fetchall()
    by_type: dict[str, dict[int, tuple[dict, datetime]]] = {}
    for pattern_type, position, patterns, computed_at in rows:
        by_type.setdefault(pattern_type, {})[position] = (patterns or {}, computed_at)
    drift = {}
    for pattern_type, positions in by_type.items():
        current, current_at = positions[1]
        previous, previous_at = positions.get(2, (None, None))
        pair = HistoryPair(client_id, pattern_type, current, previous, current_at, previous_at)
        findings = [{"rule": f.rule, "severity": f.severity, "message": f.message, "details": f.details}
                    for f in check_drift(pair)]
        extract = TOP_ITEM_EXTRACTORS.get(pattern_type)
        top_items: dict[str, tuple[str | None, str | None]] = {}
        if extract is not None:
            now_top, before_top = extract(current), extract(previous) if previous is not None else {}
            top_items = {item: (before_top.get(item), value) for item, value in now_top.items()}
        weights: dict[str, tuple[float | None, float | None]] = {}
        if pattern_type == "who":
            now_w, before_w = who_weights(current), who_weights(previous) if previous is not None else {}
            weights = {c: (before_w.get(c), now_w.get(c)) for c in now_w}
        drift[pattern_type] = Drift(pattern_type, current_at, previous_at, findings, top_items, weights)
    return drift


def _health(conn: psycopg.Connection, client_id: UUID) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    if not conn.execute("select to_regclass('pattern_health_runs') is not null").fetchone()[0]:
        return None, []
    run = conn.execute(
        "select id, checked_at, high_count, medium_count, low_count from pattern_health_runs "
        "order by checked_at desc, created_at desc limit 1").fetchone()
    if run is None:
        return None, []
    findings = conn.execute(
        """
        select pattern_type, rule, severity, message, details from pattern_health_findings
        where run_id = %s and client_id = %s
        order by case severity when 'high' then 0 when 'medium' then 1 else 2 end, pattern_type, rule, id
        """, (run[0], client_id)).fetchall()
    return ({"id": run[0], "checked_at": run[1]},
            [{"pattern_type": f[0], "rule": f[1], "severity": f[2], "message": f[3], "details": f[4]} for f in findings])


def load_client_kpis(conn: psycopg.Connection, client_id: UUID) -> dict[str, Any] | None:
    """The client's stored KPI document (``client_kpis``, migration 007; docs/kpis.md) visible in the
    session's scope, or None (no learning run has computed it, or the table does not exist yet)."""
    if not conn.execute("select to_regclass('client_kpis') is not null").fetchone()[0]:
        return None
    row = conn.execute("select kpis from client_kpis where client_id = %s", (client_id,)).fetchone()
    return row[0] if row else None


def _has_relation(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f'"{schema}"."{name}"',)).fetchone()[0]


NOT_STORED_REASON = "no pattern stored yet: too little data for this detector's minimum, or no learning run yet"


def _pattern_heat_cells(stored: Any) -> dict[tuple[int, int], tuple[int, int]] | None:
    """The WHEN pattern's own day × hour grid (``day_hour_counts``), or None when it has none."""
    patterns = getattr(stored, "patterns", stored) if stored is not None else None
    grid = patterns.get("day_hour_counts") if isinstance(patterns, dict) else None
    if not isinstance(grid, list) or not grid:
        return None
    try:
        return {(int(c["day"]), int(c["hour"])): (int(c["touches"]), int(c["bookings"])) for c in grid}
    except (KeyError, TypeError, ValueError):
        return None


def _heat_cells(conn: psycopg.Connection, schema: str, client_id: UUID) -> dict[tuple[int, int], tuple[int, int]]:
    query = sql.SQL(
        "select local_day_of_week, local_hour, count(*), sum(case when is_converting_touch then 1 else 0 end) "
        "from {} where client_id = %s group by 1, 2"
    ).format(sql.Identifier(schema, "fct_when_touches"))
    return {(int(day), int(hour)): (int(touches), int(bookings))
            for day, hour, touches, bookings in conn.execute(query, (client_id,))}


def _data_counts(conn: psycopg.Connection, schema: str, client_id: UUID) -> dict[str, int] | None:
    """The client's counts behind the detectors' gates (SQL aggregates over the dbt marts)."""
    if not (_has_relation(conn, schema, "int_lead_outcomes") and _has_relation(conn, schema, "int_touches")):
        return None
    leads = conn.execute(sql.SQL(
        "select count(*), count(*) filter (where has_final_outcome), count(*) filter (where outcome = 'converted') "
        "from {} where client_id = %s").format(sql.Identifier(schema, "int_lead_outcomes")), (client_id,)).fetchone()
    touches = conn.execute(sql.SQL(
        "select count(*), count(*) filter (where coalesce(body, subject, '') <> ''), "
        "count(*) filter (where is_converting_touch and coalesce(body, subject, '') <> '') "
        "from {} where client_id = %s").format(sql.Identifier(schema, "int_touches")), (client_id,)).fetchone()
    return {"leads": int(leads[0]), "leads_with_outcome": int(leads[1]), "conversions": int(leads[2]),
            "touches": int(touches[0]), "touches_with_content": int(touches[1]),
            "converting_touches_with_content": int(touches[2])}
