"""WHAT inputs: content feature counts per field x category x touch position, the fields' populations
and the per-client touch counts (fct_what_* marts)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from uuid import UUID

import psycopg
from psycopg import sql

from dagster_pipelines.marts import client_filter, client_streams, mart, read_frame
from detectors.what import WhatInputs

WHAT_MARTS = ("fct_what_client_summary", "fct_what_feature_stats", "fct_what_population_stats")
EXCLUSION_COLUMNS = ["touches", "censored_touches", "touches_without_content", "snapshot_ignored_touches",
                     "content_from_snapshot", "content_from_columns"]


def load_what_inputs(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID] | None = None) -> Iterator[WhatInputs]:
    """One ``WhatInputs`` per client with a touch, in client id order (streamed: one client's inputs in
    memory at a time)."""
    where, params = client_filter(client_ids)
    counts = sql.SQL(", ").join(map(sql.Identifier, EXCLUSION_COLUMNS))
    summary = read_frame(conn, sql.SQL(
        "select client_id, analysed_touches, conversions, {} from {} where {} order by client_id"
    ).format(counts, mart(schema, "fct_what_client_summary"), where), params)
    numeric = ["touch_number_stratum", "touches", "conversions", "length_total"]
    with client_streams(conn) as streams:
        features = streams.open(sql.SQL(
            "select client_id, field, category, touch_number_stratum, touches, conversions, length_total from {} "
            "where {} order by client_id, field, category, touch_number_stratum"
        ).format(mart(schema, "fct_what_feature_stats"), where), params, numeric)
        populations = streams.open(sql.SQL(
            "select client_id, field, touch_number_stratum, touches, conversions from {} "
            "where {} order by client_id, field, touch_number_stratum"
        ).format(mart(schema, "fct_what_population_stats"), where), params, numeric)
        for row in summary.itertuples(index=False):
            yield WhatInputs(
                client_id=row.client_id,
                analysed_touches=int(row.analysed_touches),
                conversions=int(row.conversions),
                feature_stats=features.take(row.client_id),
                population_stats=populations.take(row.client_id),
                exclusions={column: int(getattr(row, column)) for column in EXCLUSION_COLUMNS},
            )
