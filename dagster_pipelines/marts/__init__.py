"""Reading the marts' sufficient statistics into the detectors' inputs: a few grouped queries per
detector, no rows per lead. Plain psycopg + pandas (no Dagster import) so the command line, the
assets and the tests share one loader per detector (``marts.who``, ``marts.what``, …).

The helpers here are the one way every loader talks to the marts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

import pandas as pd
import psycopg
from psycopg import sql


def read_frame(conn: psycopg.Connection, query: sql.Composable, params: dict | None = None) -> pd.DataFrame:
    """Run ``query`` and return its rows as a DataFrame with the cursor's column names."""
    with conn.cursor() as cursor:
        cursor.execute(query, params or {})
        columns = [column.name for column in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=columns)


def client_filter(client_ids: Sequence[UUID] | None) -> tuple[sql.Composable, dict]:
    """A ``where`` clause (and its parameters) limiting a mart to ``client_ids``; all clients when empty."""
    if not client_ids:
        return sql.SQL("true"), {}
    return sql.SQL("client_id = any(%(client_ids)s)"), {"client_ids": list(client_ids)}


def mart(schema: str, name: str) -> sql.Identifier:
    """The qualified identifier of a dbt model in ``schema``."""
    return sql.Identifier(schema, name)


def to_numeric(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Cast the given columns (numeric/bigint from PostgreSQL arrive as Decimal or int) to numbers, in place."""
    for column in columns:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column])
    return frame


def split_by_client(frame: pd.DataFrame) -> dict[UUID, pd.DataFrame]:
    """One frame per client, without the client_id column, row order kept."""
    return {
        client_id: group.drop(columns="client_id").reset_index(drop=True)
        for client_id, group in frame.groupby("client_id", sort=False)
    }


def empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``frame`` (without client_id) and no rows: a client's input when it has none."""
    return frame.iloc[0:0].drop(columns="client_id", errors="ignore").reset_index(drop=True)
