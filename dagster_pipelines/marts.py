"""Reading the marts' sufficient statistics into the detectors' inputs: a few grouped queries, no rows
per lead. Plain psycopg + pandas (no Dagster import) so the command line and tests share it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from uuid import UUID

import pandas as pd
import psycopg
from psycopg import sql

from detectors.who import WhoInputs

COMPONENT_COLUMNS = ["data_quality", "authority", "company_fit", "timing", "risk"]


def _frame(conn: psycopg.Connection, query: sql.Composable, params: dict) -> pd.DataFrame:
    with conn.cursor() as cursor:
        cursor.execute(query, params)
        columns = [column.name for column in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=columns)


def _client_filter(client_ids: Sequence[UUID] | None) -> tuple[sql.Composable, dict]:
    if not client_ids:
        return sql.SQL("true"), {}
    return sql.SQL("client_id = any(%(client_ids)s)"), {"client_ids": list(client_ids)}


def load_who_inputs(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID] | None = None) -> Iterator[WhoInputs]:
    """One ``WhoInputs`` per client that has leads with a final outcome, in client id order."""
    where, params = _client_filter(client_ids)

    def table(name: str) -> sql.Identifier:
        return sql.Identifier(schema, name)

    summary = _frame(conn, sql.SQL(
        "select client_id, leads_with_outcome, conversions from {} where {} order by client_id"
    ).format(table("fct_who_client_summary"), where), params)
    dimensions = _frame(conn, sql.SQL(
        "select client_id, dimension, category, leads, conversions from {} where {} "
        "order by client_id, dimension, category"
    ).format(table("fct_who_dimension_stats"), where), params)
    combos = _frame(conn, sql.SQL(
        "select client_id, {}, leads, conversions from {} where has_all_components and {} "
        "order by client_id, {}"
    ).format(sql.SQL(", ").join(map(sql.Identifier, COMPONENT_COLUMNS)), table("fct_who_component_combinations"),
             where, sql.SQL(", ").join(map(sql.Identifier, COMPONENT_COLUMNS))), params)
    for frame in (dimensions, combos):
        for column in ("leads", "conversions", *[c for c in COMPONENT_COLUMNS if c in frame]):
            frame[column] = pd.to_numeric(frame[column])
    dimensions_by_client = dict(tuple(dimensions.groupby("client_id", sort=False)))
    combos_by_client = dict(tuple(combos.groupby("client_id", sort=False)))
    empty_dimensions = dimensions.iloc[0:0].drop(columns="client_id")
    empty_combos = combos.iloc[0:0].drop(columns="client_id")
    for row in summary.itertuples(index=False):
        yield WhoInputs(
            client_id=row.client_id,
            leads_with_outcome=int(row.leads_with_outcome),
            conversions=int(row.conversions),
            dimension_stats=dimensions_by_client.get(row.client_id, empty_dimensions).drop(columns="client_id", errors="ignore").reset_index(drop=True),
            component_combinations=combos_by_client.get(row.client_id, empty_combos).drop(columns="client_id", errors="ignore").reset_index(drop=True),
        )
