"""HOW inputs: distinct channel paths, per-touch counts and channel transitions per client."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from uuid import UUID

import psycopg
from psycopg import sql

from dagster_pipelines.marts import client_filter, client_streams, mart, read_frame
from detectors.how import PATH_COLUMNS, TOUCH_COLUMNS, TRANSITION_COLUMNS, HowInputs

HOW_MARTS = ("fct_how_client_summary", "fct_how_paths", "fct_how_touch_stats", "fct_how_channel_transitions")


def _columns(names: list[str]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def load_how_inputs(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID] | None = None) -> Iterator[HowInputs]:
    """One ``HowInputs`` per client with a touched lead, in client id order (streamed: one client's
    inputs in memory at a time)."""
    where, params = client_filter(client_ids)
    summary = read_frame(conn, sql.SQL(
        "select client_id, leads_with_outcome, conversions from {} where touched_leads > 0 and {} order by client_id"
    ).format(mart(schema, "fct_how_client_summary"), where), params)
    with client_streams(conn) as streams:
        paths = streams.open(sql.SQL("select client_id, {} from {} where {} order by client_id, channel_path").format(
            _columns(PATH_COLUMNS), mart(schema, "fct_how_paths"), where), params,
            ["touches", "distinct_channels", "leads", "conversions"])
        touches = streams.open(sql.SQL(
            "select client_id, {} from {} where {} order by client_id, touch_number, channel, channels_so_far, first_channel, als_tier"
        ).format(_columns(TOUCH_COLUMNS), mart(schema, "fct_how_touch_stats"), where), params,
            ["touch_number", "channels_so_far", "touches", "bookings"])
        transitions = streams.open(sql.SQL(
            "select client_id, {} from {} where {} order by client_id, from_channel, to_channel"
        ).format(_columns(TRANSITION_COLUMNS), mart(schema, "fct_how_channel_transitions"), where), params,
            ["transitions", "bookings"])
        for row in summary.itertuples(index=False):
            yield HowInputs(
                client_id=row.client_id,
                leads_with_outcome=int(row.leads_with_outcome),
                conversions=int(row.conversions),
                paths=paths.take(row.client_id),
                touch_stats=touches.take(row.client_id),
                transitions=transitions.take(row.client_id),
            )
