"""The HOW detector asset: channels, channel mix, sequences and Markov attribution (SPEC §7 how)."""

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from dagster_pipelines.assets.detector_factory import DetectorSpec, detector_asset
from dagster_pipelines.marts.how import HOW_MARTS, load_how_inputs
from dagster_pipelines.pattern_store import load_agency_pattern
from detectors.agency import how_agency_priors
from detectors.how import CHANNEL_COUNT_BUCKETS, detect_how
from detectors.result import DetectorResult


def run_how(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID], computed_at: datetime) -> Iterator[DetectorResult]:
    agency = load_agency_pattern(conn, "how")  # the shrinkage prior (None: the client's baseline, as before)
    # One client at a time: the caller stages each result before the next client's inputs are read.
    return (detect_how(inputs, computed_at=computed_at, agency_priors=how_agency_priors(agency, inputs))
            for inputs in load_how_inputs(conn, schema, client_ids))


def _lift(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("lift_vs_1_channel") is None:
        return "-"
    low, high = entry.get("lift_vs_1_channel_ci_low"), entry.get("lift_vs_1_channel_ci_high")
    interval = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
    return f"{entry['lift_vs_1_channel']:.2f}{interval}"


# The columns of the asset's top_findings table after the client id.
HOW_FINDING_COLUMNS = (
    ("best first channel", lambda p: p["best_first_channel"] or "-"),
    ("optimal channel count", lambda p: p["optimal_channel_count"] or "-"),
    ("winning sequences", lambda p: sum(1 for s in p["winning_sequences"] if s["label"] == "winning")),
    ("largest removal effect", lambda p: p["markov_attribution"]["largest_removal_effect"] or "-"),
)


def how_summary_lines(patterns: dict[str, Any]) -> list[str]:
    first = sorted((e for e in patterns["first_touch_effectiveness"].values() if e.get("is_ranked")), key=lambda e: e["rank"])
    lines = [
        f"{patterns['conversions']} booked of {patterns['sample_size']} touched leads with an outcome ({patterns['baseline_rate']:.1%})",
        "first touch " + (" · ".join(
            f"{e['channel']} {e['rate']:.1%} [{e['ci_low']:.1%}, {e['ci_high']:.1%}] n={e['sample']}" + (f" {e['label']}" if e.get("label") else "")
            for e in first[:3]) or "-"),
        "channels    lift vs 1 channel at equal exposure: " + ", ".join(
            f"{bucket.replace('_', ' ')} {_lift(patterns['multi_channel_lift'].get(bucket))}" for bucket in CHANNEL_COUNT_BUCKETS[1:]),
    ]
    winning = [s for s in patterns["winning_sequences"] if s["label"] == "winning"][:3]
    lines.append("sequences   " + (" · ".join(
        f"{'>'.join(s['sequence'])} {s['conversion_rate']:.1%} n={s['sample_size']}" for s in winning) or "no winning sequence"))
    markov = patterns["markov_attribution"]["channels"][:3]
    lines.append("attribution " + " · ".join(
        f"{c['channel']} {c['attributed_conversions']:.1f} (removal {c['removal_effect']:.2f})" for c in markov
        if c.get("attributed_conversions") is not None))
    return lines


HOW = DetectorSpec(
    pattern_type="how",
    marts=HOW_MARTS,
    description="HOW patterns per client from the HOW marts (SPEC §7 how).",
    run=run_how,
    finding_columns=HOW_FINDING_COLUMNS,
    summary_lines=how_summary_lines,
)
how_patterns = detector_asset(HOW)
