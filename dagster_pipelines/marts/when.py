"""WHEN inputs: per-client summary, hazard by touch number, local day/hour × touch stratum counts, gaps."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from uuid import UUID

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from dagster_pipelines.marts import client_filter, client_streams, mart, read_frame
from detectors.when import WhenInputs

WHEN_MARTS = ("fct_when_client_summary", "fct_when_touch_hazard", "fct_when_slot_stats", "fct_when_sequence_gaps")
TIMING_COLUMNS = ("avg_days_to_convert", "median_days_to_convert", "p80_days_to_convert", "p95_days_to_convert")
TIMEZONE_COLUMNS = ("leads_timezone_lead", "leads_timezone_client", "leads_timezone_default",
                    "leads_missing_timezone", "leads_invalid_timezone", "client_timezone", "has_valid_client_timezone")


def load_when_inputs(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID] | None = None) -> Iterator[WhenInputs]:
    """One ``WhenInputs`` per client with a touched lead, in client id order (streamed: one client's
    inputs in memory at a time)."""
    where, params = client_filter(client_ids)
    summary = read_frame(conn, sql.SQL(
        "select client_id, time_basis, touched_leads, touches, conversions, in_flight, {}, {} from {} "
        "where touched_leads > 0 and {} order by client_id"
    ).format(sql.SQL(", ").join(map(sql.Identifier, TIMING_COLUMNS)),
             sql.SQL(", ").join(map(sql.Identifier, TIMEZONE_COLUMNS)),
             mart(schema, "fct_when_client_summary"), where), params)
    with client_streams(conn) as streams:
        hazard = streams.open(sql.SQL(
            "select client_id, touch_number, leads_reached, bookings, censored_after, failed_after, stale_after "
            "from {} where {} order by client_id, touch_number"
        ).format(mart(schema, "fct_when_touch_hazard"), where), params,
            ["touch_number", "leads_reached", "bookings", "censored_after", "failed_after", "stale_after"])
        slots = streams.open(sql.SQL(
            "select client_id, dimension, slot, touch_stratum, touches, bookings from {} where {} "
            "order by client_id, dimension, slot, touch_stratum"
        ).format(mart(schema, "fct_when_slot_stats"), where), params, ["slot", "touch_stratum", "touches", "bookings"])
        gaps = streams.open(sql.SQL(
            "select client_id, gap_number, sequences, mean_days, median_days, p25_days, p75_days from {} where {} "
            "order by client_id, gap_number"
        ).format(mart(schema, "fct_when_sequence_gaps"), where), params,
            ["gap_number", "sequences", "mean_days", "median_days", "p25_days", "p75_days"])
        day_hour = streams.open(sql.SQL(
            "select client_id, local_day_of_week as day, local_hour as hour, count(*) as touches, "
            "count(*) filter (where is_converting_touch) as bookings from {} where {} group by 1, 2, 3 order by 1, 2, 3"
        ).format(mart(schema, "fct_when_touches"), where), params, ["day", "hour", "touches", "bookings"])
        for row in summary.to_dict("records"):
            client_id = row["client_id"]
            yield WhenInputs(
                client_id=client_id,
                touched_leads=int(row["touched_leads"]),
                touches=int(row["touches"]),
                conversions=int(row["conversions"]),
                in_flight=int(row["in_flight"]),
                hazard=hazard.take(client_id),
                slot_stats=slots.take(client_id),
                gaps=gaps.take(client_id),
                day_hour=day_hour.take(client_id),
                timing={c: None if pd.isna(row[c]) else float(row[c]) for c in TIMING_COLUMNS},
                timezones={c: _plain(row[c]) for c in TIMEZONE_COLUMNS},
                time_basis=str(row["time_basis"]),
            )


def _plain(value: object) -> object:
    """A summary cell as plain Python: None for missing, else bool, int or str."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        return value
    return int(value)  # type: ignore[call-overload]
