"""The WHAT detector asset: which content converts (SPEC §7 what)."""

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from dagster_pipelines.assets.detector_factory import DetectorSpec, detector_asset, ranked_entries, top_ranked
from dagster_pipelines.marts.what import WHAT_MARTS, load_what_inputs
from detectors.result import DetectorResult
from detectors.what import detect_what


def run_what(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID], computed_at: datetime) -> Iterator[DetectorResult]:
    # One client at a time: the caller stages each result before the next client's inputs are read.
    return (detect_what(inputs, computed_at=computed_at) for inputs in load_what_inputs(conn, schema, client_ids))


# The columns of the asset's top_findings table after the client id.
WHAT_FINDING_COLUMNS = (
    ("top subject", lambda p: top_ranked(p["subject_patterns"]["rankings"])),
    ("top pain point", lambda p: top_ranked(p["pain_points"]["rankings"])),
    ("top CTA type", lambda p: top_ranked(p["ctas"]["by_type"])),
    ("email length", lambda p: (p["optimal_length"]["email"] or {}).get("bin", "-")),
    ("left out (open / no content)", lambda p: f"{p.get('exclusions', {}).get('censored_touches', 0)} / "
                                                   f"{p.get('exclusions', {}).get('touches_without_content', 0)}"),
)


def _labelled_names(entries: list[dict]) -> str:
    return ", ".join(e["category"] for e in entries) or "-"


def what_summary_lines(patterns: dict[str, Any]) -> list[str]:
    exclusions = patterns.get("exclusions", {})
    lengths = []
    for channel, entry in patterns["optimal_length"].items():
        if entry and entry.get("bin"):
            lengths.append(f"{channel} {entry['bin']} {entry['unit']}")
    lift = {flag: e["lift"] for flag, e in patterns["personalization_lift"].items() if e.get("lift") is not None}
    best_flag = max(lift, key=lift.get) if lift else None
    return [
        f"{patterns['conversions']} converting of {patterns['sample_size']} touches with content "
        f"({patterns['baseline_rate']:.1%}); left out: {exclusions.get('censored_touches', 0)} awaiting an outcome, "
        f"{exclusions.get('touches_without_content', 0)} without content",
        f"subjects    {ranked_entries(patterns['subject_patterns']['rankings'])}",
        f"pain points effective {_labelled_names(patterns['pain_points']['effective'])}; "
        f"ineffective {_labelled_names(patterns['pain_points']['ineffective'])}",
        f"CTA types   {ranked_entries(patterns['ctas']['by_type'])}",
        f"angles      effective {_labelled_names(patterns['angles']['effective'])}",
        f"length      {', '.join(lengths) or '-'}"
        + (f"; personalisation: {best_flag} x{lift[best_flag]:.2f} (position-adjusted)" if best_flag else ""),
    ]


WHAT = DetectorSpec(
    pattern_type="what",
    marts=WHAT_MARTS,
    description="WHAT patterns per client from the WHAT marts (SPEC §7 what).",
    run=run_what,
    finding_columns=WHAT_FINDING_COLUMNS,
    summary_lines=what_summary_lines,
)
what_patterns = detector_asset(WHAT)
