"""The WHEN detector asset: local day and hour, per-touch booking hazard, gaps, time to book (SPEC §7 when)."""

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from dagster_pipelines.assets.detector_factory import DetectorSpec, detector_asset
from dagster_pipelines.marts.when import WHEN_MARTS, load_when_inputs
from dagster_pipelines.pattern_store import load_agency_pattern
from detectors.agency import when_agency_priors
from detectors.result import DetectorResult
from detectors.when import detect_when


def run_when(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID], computed_at: datetime) -> Iterator[DetectorResult]:
    agency = load_agency_pattern(conn, "when")  # the shrinkage prior (None: the client's baseline, as before)
    # One client at a time: the caller stages each result before the next client's inputs are read.
    return (detect_when(inputs, computed_at=computed_at, agency_priors=when_agency_priors(agency, inputs))
            for inputs in load_when_inputs(conn, schema, client_ids))


def _top_slot(entries: list[dict], key: str) -> str:
    ranked = [e for e in entries if e.get("rank") == 1]
    if not ranked:
        return "-"
    e = ranked[0]
    return f"{e[key]} {e['adjusted_rate']:.2%} adj (n={e['sample']})" + (f" {e['label']}" if e.get("label") else "")


# The columns of the asset's top_findings table after the client id.
WHEN_FINDING_COLUMNS = (
    ("best day", lambda p: _top_slot(p["best_days"], "day")),
    ("best hour", lambda p: _top_slot(p["best_hours"], "hour")),
    ("peak touch", lambda p: p["peak_converting_touch"]["touch_number"] if p["peak_converting_touch"] else "-"),
    ("median days to book", lambda p: p["conversion_timing"]["median_days_to_convert"]),
)


def _slots(entries: list[dict], key: str, limit: int = 3) -> str:
    ranked = sorted((e for e in entries if e.get("is_ranked")), key=lambda e: e["rank"])[:limit]
    return " · ".join(
        f"{e[key]} {e['adjusted_rate']:.2%} adj ({e['rate']:.2%} raw, n={e['sample']})"
        + (f" {e['label']}" if e.get("label") else "")
        for e in ranked
    ) or "-"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def when_summary_lines(patterns: dict[str, Any]) -> list[str]:
    peak = patterns["peak_converting_touch"]
    timing = patterns["conversion_timing"]
    hazards = " ".join(f"{e['touch_number']}:{e['hazard']:.1%}" for e in patterns["touch_hazard"][:10])
    gaps = ", ".join(f"{k.removeprefix('touch_').replace('_to_', '→')} {v:g}d" for k, v in patterns["optimal_sequence_gaps"].items())
    lines = [
        f"{patterns['conversions']} booked over {patterns['touches']} touches of {patterns['sample_size']} leads "
        f"(local time: {patterns['time_basis']})",
        f"days        {_slots(patterns['best_days'], 'day')}",
        f"hours       {_slots(patterns['best_hours'], 'hour')}",
        f"hazard      {hazards}" + (f"; peak at touch {peak['touch_number']}" if peak else ""),
        f"to convert  {_days(patterns['avg_touches_to_convert'])} touches on average; "
        f"median {_days(timing['median_days_to_convert'])} days from first touch (p80 {_days(timing['percentile_80'])}, "
        f"p95 {_days(timing['percentile_95'])})",
        f"gaps        {gaps}" + (f" (defaulted: {', '.join(patterns['defaulted_gaps'])})" if patterns["defaulted_gaps"] else ""),
    ]
    return lines


WHEN = DetectorSpec(
    pattern_type="when",
    marts=WHEN_MARTS,
    description="WHEN patterns per client from the WHEN marts (SPEC §7 when).",
    run=run_when,
    finding_columns=WHEN_FINDING_COLUMNS,
    summary_lines=when_summary_lines,
)
when_patterns = detector_asset(WHEN)
