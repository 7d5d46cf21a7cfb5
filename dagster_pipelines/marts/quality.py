"""The run's data-quality report: source rows excluded or corrected, by table and reason (SPEC §11)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import pandas as pd
import psycopg
from psycopg import sql

from dagster_pipelines.marts import client_filter, mart, read_frame, to_numeric


def load_exclusion_counts(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID] | None = None) -> pd.DataFrame:
    """Rows excluded or corrected per (source table, reason, disposition), summed over ``client_ids``
    (all clients when empty), largest first. Rows without a client (e.g. an activity whose lead is
    unknown) are counted only in the all-clients view."""
    where, params = client_filter(client_ids)
    frame = read_frame(conn, sql.SQL(
        "select source_table, reason, disposition, sum(row_count) as row_count from {} where {} "
        "group by 1, 2, 3 order by 4 desc, 1, 2"
    ).format(mart(schema, "fct_data_quality_exclusions"), where), params)
    return to_numeric(frame, ["row_count"])


def exclusions_markdown(frame: pd.DataFrame) -> str:
    """The counts as a markdown table for asset metadata ('none' when nothing was excluded)."""
    if frame.empty:
        return "none"
    lines = ["| table | reason | disposition | rows |", "|---|---|---|---|"]
    lines += [f"| {r.source_table} | {r.reason} | {r.disposition} | {int(r.row_count):,} |" for r in frame.itertuples()]
    return "\n".join(lines)
