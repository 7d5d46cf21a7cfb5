"""Business KPIs (docs/kpis.md): read one client's KPI sufficient statistics from the dbt marts and its
run history, assemble the document with ``detectors.kpi`` and store it in ``client_kpis`` (migration 007).

Plain psycopg + pandas, no Dagster import: the asset, the command line and the tests share it. The
store writes each client in its own transaction scoped to that client, so the forced row-level
security applies to the pipeline as to everyone else (as in ``pattern_store``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from uuid import UUID

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from dagster_pipelines.marts import client_filter, empty_like, mart, read_frame, split_by_client, to_numeric
from detectors.als import COMPONENTS
from detectors.kpi import (COMBINATION_COLUMNS, OUTCOME_COLUMNS, PATTERN_RUN_COLUMNS, TOUCH_COLUMNS, WHO_RUN_COLUMNS,
                           KpiInputs, client_kpis)

KPI_MARTS = ("fct_kpi_weekly_outcomes", "fct_kpi_weekly_channel_touches", "fct_kpi_weekly_als_combinations")


def _history(conn: psycopg.Connection, client_ids: list[UUID]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Every history row's type, time, confidence and sample; the WHO rows' weights and whether they shipped;
    the clients' learned weights. Read in the clients' scope (the history has forced RLS)."""
    conn.execute("select set_config('app.client_ids', %s, true)", (",".join(map(str, client_ids)),))
    # Only JSON numbers are read as weights (a malformed row yields NULLs and is skipped, never an error).
    weights = sql.SQL(", ").join(
        sql.SQL("case when jsonb_typeof(patterns->'recommended_weights'->{name}) = 'number' "
                "then (patterns->'recommended_weights'->>{name})::double precision end as {column}").format(
            name=sql.Literal(c), column=sql.Identifier(c))
        for c in COMPONENTS)
    runs = read_frame(conn, sql.SQL(
        "select client_id, pattern_type, computed_at, confidence, sample_size from conversion_pattern_history "
        "where client_id = any(%(ids)s) order by client_id, computed_at, id"), {"ids": client_ids})
    who = read_frame(conn, sql.SQL(
        "select client_id, computed_at, sample_size, "
        "coalesce(patterns->'weights_validation'->'shipped' = 'true'::jsonb, false) "
        "  or coalesce(patterns->'recommended_weights'->'source' = '\"learned\"'::jsonb, false) as is_shipped, {} "
        "from conversion_pattern_history where client_id = any(%(ids)s) and pattern_type = 'who' "
        "  and jsonb_typeof(patterns->'recommended_weights') = 'object' "
        "order by client_id, computed_at, id").format(weights), {"ids": client_ids})
    who = who.dropna(subset=list(COMPONENTS))
    clients = {row[0]: (row[1], row[2]) for row in conn.execute(
        "select id, als_learned_weights, als_weights_updated_at from clients where id = any(%s)", (client_ids,))}
    return runs, who, clients


def load_kpi_inputs(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID] | None = None) -> Iterator[KpiInputs]:
    """One ``KpiInputs`` per client with a cohort week, in client id order. Call inside a transaction."""
    where, params = client_filter(client_ids)
    outcomes = read_frame(conn, sql.SQL("select client_id, {}, as_of from {} where {} order by client_id, cohort_week").format(
        sql.SQL(", ").join(map(sql.Identifier, OUTCOME_COLUMNS)), mart(schema, "fct_kpi_weekly_outcomes"), where), params)
    touches = read_frame(conn, sql.SQL("select client_id, {} from {} where {}").format(
        sql.SQL(", ").join(map(sql.Identifier, TOUCH_COLUMNS)), mart(schema, "fct_kpi_weekly_channel_touches"), where), params)
    combinations = read_frame(conn, sql.SQL("select client_id, {} from {} where {}").format(
        sql.SQL(", ").join(map(sql.Identifier, COMBINATION_COLUMNS)), mart(schema, "fct_kpi_weekly_als_combinations"), where),
        params)
    to_numeric(combinations, [*COMPONENTS, "risk", "leads", "conversions"])
    to_numeric(touches, ["touches", "bookings"])
    ids = sorted(set(outcomes["client_id"]))
    if not ids:
        return
    runs, who, clients = _history(conn, ids)
    outcomes_by, touches_by, combos_by = split_by_client(outcomes), split_by_client(touches), split_by_client(combinations)
    runs_by, who_by = split_by_client(runs), split_by_client(who)
    for client_id in ids:
        weights, updated_at = clients.get(client_id, (None, None))
        client_outcomes = outcomes_by[client_id]
        yield KpiInputs(
            client_id=client_id,
            outcomes=client_outcomes[OUTCOME_COLUMNS],
            channel_touches=touches_by.get(client_id, empty_like(touches)),
            als_combinations=combos_by.get(client_id, empty_like(combinations)),
            who_runs=who_by.get(client_id, empty_like(who))[WHO_RUN_COLUMNS],
            pattern_runs=runs_by.get(client_id, empty_like(runs))[PATTERN_RUN_COLUMNS],
            client_weights=weights if isinstance(weights, dict) else None,
            client_weights_updated_at=updated_at,
            as_of=client_outcomes["as_of"].iloc[0] if len(client_outcomes) else None,
        )


def refresh_client_kpis(url: str, schema: str, client_ids: Sequence[UUID] | None, *, computed_at: datetime,
                        run_id: UUID | None = None) -> dict[UUID, dict]:
    """Compute and store the KPI document of every client in scope (all with a cohort when empty)."""
    if computed_at.tzinfo is None:
        raise ValueError("computed_at must be timezone-aware")
    with psycopg.connect(url) as conn:
        with conn.transaction():
            documents = {inputs.client_id: client_kpis(inputs, computed_at=computed_at)
                         for inputs in load_kpi_inputs(conn, schema, client_ids)}
        for client_id, document in documents.items():
            store_client_kpis(conn, client_id, document, computed_at=computed_at, run_id=run_id)
    return documents


def store_client_kpis(conn: psycopg.Connection, client_id: UUID, document: dict, *, computed_at: datetime,
                      run_id: UUID | None = None) -> None:
    """Upsert one client's KPI document in a transaction scoped to that client."""
    with conn.transaction():
        conn.execute("select set_config('app.client_ids', %s, true)", (str(client_id),))
        conn.execute(
            """
            insert into client_kpis (client_id, kpis, computed_at, as_of, run_id)
            values (%s, %s, %s, %s, %s)
            on conflict (client_id) do update set
                kpis = excluded.kpis, computed_at = excluded.computed_at, as_of = excluded.as_of,
                run_id = excluded.run_id, updated_at = now()
            """,
            (client_id, Jsonb(document), computed_at, document.get("as_of"), run_id),
        )

