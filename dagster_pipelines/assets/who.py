"""The WHO detector asset: which leads book, and learned lead-score weights (SPEC §7 who)."""

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from dagster_pipelines.assets.detector_factory import DetectorSpec, detector_asset, ranked_entries, top_ranked
from dagster_pipelines.marts.who import WHO_MARTS, load_who_inputs
from dagster_pipelines.pattern_store import load_agency_pattern
from detectors.agency import who_agency_priors
from detectors.result import DetectorResult
from detectors.who import detect_who


def run_who(conn: psycopg.Connection, schema: str, client_ids: Sequence[UUID], computed_at: datetime) -> Iterator[DetectorResult]:
    agency = load_agency_pattern(conn, "who")  # the shrinkage prior (None: the client's baseline, as before)
    # One client at a time: the caller stages each result before the next client's inputs are read.
    return (detect_who(inputs, computed_at=computed_at, agency_priors=who_agency_priors(agency, inputs))
            for inputs in load_who_inputs(conn, schema, client_ids))


# The columns of the asset's top_findings table after the client id.
WHO_FINDING_COLUMNS = (
    ("top title", lambda p: top_ranked(p["title_rankings"]["by_title"])),
    ("top industry", lambda p: top_ranked(p["industry_rankings"])),
    ("weights", lambda p: p["recommended_weights"]["source"]),
    ("cv AUC learned / default", lambda p: f"{p['weights_validation']['cv_auc_learned']} / {p['weights_validation']['cv_auc_default']}"),
)


def who_summary_lines(patterns: dict[str, Any]) -> list[str]:
    validation = patterns["weights_validation"]
    weights = patterns["recommended_weights"]
    spot = patterns["size_analysis"]["sweet_spot"]
    lines = [
        f"{patterns['conversions']} booked of {patterns['sample_size']} leads with an outcome ({patterns['baseline_rate']:.1%})",
        f"titles      {ranked_entries(patterns['title_rankings']['by_title'])}",
        f"industries  {ranked_entries(patterns['industry_rankings'])}",
    ]
    if spot:
        lines.append(f"size        sweet spot {spot['bucket']} employees: {spot['conversion_rate']:.1%} (n={spot['sample']})")
    lines.append(
        f"weights     {weights['source']}: "
        + ", ".join(f"{k} {weights[k]:.2f}" for k in ("data_quality", "authority", "company_fit", "timing"))
        + f"; cv AUC learned {_auc(validation['cv_auc_learned'])} vs default {_auc(validation['cv_auc_default'])}"
        + f" ({validation['reason']})"
    )
    return lines


def _auc(value: float | None) -> str:
    """Validation is skipped (AUC None) when a client's leads carry no ALS components: say so, don't crash."""
    return "n/a" if value is None else f"{value:.3f}"


WHO = DetectorSpec(
    pattern_type="who",
    marts=WHO_MARTS,
    description="WHO patterns per client from the WHO marts (SPEC §7 who).",
    run=run_who,
    finding_columns=WHO_FINDING_COLUMNS,
    summary_lines=who_summary_lines,
)
who_patterns = detector_asset(WHO)
