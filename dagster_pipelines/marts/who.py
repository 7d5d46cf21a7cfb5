"""WHO inputs: lead-dimension counts and ALS component combinations per client."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from uuid import UUID

import psycopg
from psycopg import sql

from dagster_pipelines.marts import client_filter, client_streams, mart, read_frame
from detectors.who import WhoInputs

COMPONENT_COLUMNS = ["data_quality", "authority", "company_fit", "timing", "risk"]
WHO_MARTS = ("fct_who_client_summary", "fct_who_dimension_stats", "fct_who_component_combinations")


def load_who_inputs(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID] | None = None) -> Iterator[WhoInputs]:
    """One ``WhoInputs`` per client that has leads with a final outcome, in client id order (streamed:
    one client's inputs in memory at a time)."""
    where, params = client_filter(client_ids)
    components = sql.SQL(", ").join(map(sql.Identifier, COMPONENT_COLUMNS))
    summary = read_frame(conn, sql.SQL(
        "select client_id, leads_with_outcome, conversions from {} where {} order by client_id"
    ).format(mart(schema, "fct_who_client_summary"), where), params)
    numeric = ["leads", "conversions", *COMPONENT_COLUMNS]
    with client_streams(conn) as streams:
        dimensions = streams.open(sql.SQL(
            "select client_id, dimension, category, leads, conversions from {} where {} "
            "order by client_id, dimension, category"
        ).format(mart(schema, "fct_who_dimension_stats"), where), params, numeric)
        combos = streams.open(sql.SQL(
            "select client_id, {}, leads, conversions from {} where has_all_components and {} order by client_id, {}"
        ).format(components, mart(schema, "fct_who_component_combinations"), where, components), params, numeric)
        for row in summary.itertuples(index=False):
            yield WhoInputs(
                client_id=row.client_id,
                leads_with_outcome=int(row.leads_with_outcome),
                conversions=int(row.conversions),
                dimension_stats=dimensions.take(row.client_id),
                component_combinations=combos.take(row.client_id),
            )
