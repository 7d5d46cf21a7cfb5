"""WHO detector: which leads book meetings, and which lead-score weights rank them best (SPEC §7 who).

Input is one client's sufficient statistics from the dbt marts — counts per category of each lead
dimension and counts per distinct ALS component combination — never one row per lead. Output is the
``who`` pattern: rankings by normalised title, seniority, industry and company size, timing-signal
lifts, and learned weights that ship only when they beat the defaults out of sample.

Every list entry carries the statistics of SPEC §6 (``detectors.stats``): sample, conversions, Wilson
interval, shrunk rate used for ranking, lift against the rest with interval, p- and BH q-value, and a
``winning``/``losing`` label only when q < 0.10. The q-values of title, seniority, industry and size
come from one BH family over all four fields (``label_family``), stricter than SPEC §6's per-field
family, so that a client with no real effect gets no label at all in ~90% of cases; timing signals
form their own family of three, ALS tiers theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd

from detectors.result import DetectorResult, minimum_data_reason
from detectors.stats import (
    DEFAULT_MIN_SAMPLE,
    DEFAULT_Q_THRESHOLD,
    AgencyPrior,
    benjamini_hochberg,
    confidence,
    json_safe,
    lift_interval,
    p_value_against_rest,
    rank_categories,
    rate_interval,
    relabel_jointly,
    to_records,
)
from detectors.who_weights import COMPONENTS, learn_weights

PATTERN_VERSION = 1
MIN_CONVERSIONS = 10
MIN_OUTCOMES = 30

# Employee-count buckets of SPEC §7 (who), in order; None = open-ended.
SIZE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-5", 1, 5), ("6-15", 6, 15), ("16-30", 16, 30), ("31-50", 31, 50),
    ("51-100", 51, 100), ("101-500", 101, 500), ("500+", 501, None),
)
# The profile fields are labelled as one Benjamini–Hochberg family, so that a client where nothing
# matters shows no winner in about 90% of cases (per-field control would label something in ~30%).
PROFILE_FAMILY = ("normalized_title", "seniority", "industry", "size_bucket")
TIMING_SIGNALS = {"new_role_lift": "is_new_role", "hiring_lift": "is_hiring", "funded_lift": "is_recently_funded"}


@dataclass(frozen=True)
class WhoInputs:
    """One client's WHO sufficient statistics (leads with a final outcome only)."""

    client_id: UUID
    leads_with_outcome: int
    conversions: int
    # columns: dimension, category, leads, conversions
    dimension_stats: pd.DataFrame
    # columns: data_quality, authority, company_fit, timing, risk, leads, conversions
    component_combinations: pd.DataFrame


def gate_reason(leads_with_outcome: int, conversions: int) -> str | None:
    """Why the WHO gate fails (SPEC §7: ≥ 10 converted and ≥ 30 leads with an outcome), or None."""
    return minimum_data_reason((conversions, MIN_CONVERSIONS, "conversions"),
                               (leads_with_outcome, MIN_OUTCOMES, "leads with an outcome"))


def detect_who(
    inputs: WhoInputs,
    *,
    computed_at: datetime,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    q_threshold: float = DEFAULT_Q_THRESHOLD,
    folds: int = 5,
    agency_priors: Mapping[str, AgencyPrior] | None = None,
) -> DetectorResult:
    """``agency_priors`` (per dimension, ``detectors.agency.who_agency_priors``) replace the client's
    baseline as the shrinkage target of each category by baseline × agency lift; None = today's rule."""
    reason = gate_reason(inputs.leads_with_outcome, inputs.conversions)
    if reason:
        return DetectorResult(inputs.client_id, "who", None, inputs.leads_with_outcome,
                              confidence(inputs.conversions), inputs.conversions, gate_reason=reason)

    baseline = inputs.conversions / inputs.leads_with_outcome
    priors = dict(agency_priors or {})
    ranking = _Ranker(inputs.dimension_stats, baseline, min_sample, q_threshold, priors)
    profile = relabel_jointly({name: ranking.frame(name) for name in PROFILE_FAMILY}, q_threshold=q_threshold)
    weights = learn_weights(inputs.component_combinations, folds=folds)
    shipped = bool(weights["weights_validation"]["shipped"])
    patterns: dict[str, Any] = {
        "type": "who",
        "version": PATTERN_VERSION,
        "computed_at": computed_at.isoformat(),
        "sample_size": inputs.leads_with_outcome,
        "conversions": inputs.conversions,
        "baseline_rate": json_safe(baseline),
        "confidence": json_safe(confidence(inputs.conversions)),
        "min_sample": min_sample,
        "q_threshold": q_threshold,
        "label_family": list(PROFILE_FAMILY),
        "title_rankings": {
            "by_title": to_records(profile["normalized_title"]),
            "by_seniority": to_records(profile["seniority"]),
        },
        "industry_rankings": to_records(profile["industry"]),
        "size_analysis": size_analysis(profile["size_bucket"]),
        "timing_signals": timing_signals(inputs.dimension_stats, q_threshold),
        "als_tier_rates": to_records(ranking.frame("als_tier")),
        **weights,
    }
    if priors:
        patterns["shrinkage_prior"] = {"target": "client baseline x agency lift (other clients pooled)",
                                       "dimensions": sorted(priors)}
    return DetectorResult(
        inputs.client_id, "who", patterns, inputs.leads_with_outcome, confidence(inputs.conversions),
        inputs.conversions,
        learned_weights={c: weights["recommended_weights"][c] for c in COMPONENTS} if shipped else None,
    )


class _Ranker:
    """Ranks each dimension's categories with the client's baseline as the shrinkage target."""

    def __init__(self, stats: pd.DataFrame, baseline: float, min_sample: int, q_threshold: float,
                 priors: Mapping[str, AgencyPrior] | None = None) -> None:
        self._stats, self._baseline = stats, baseline
        self._min_sample, self._q_threshold = min_sample, q_threshold
        self._priors = priors or {}
        self._rows = rows_by_dimension(stats)

    def frame(self, dimension: str) -> pd.DataFrame:
        rows = self._stats.iloc[self._rows.get(dimension, np.empty(0, dtype=np.intp))][["category", "leads", "conversions"]]
        return rank_categories(
            rows, category_col="category", sample_col="leads", baseline_rate=self._baseline,
            min_sample=self._min_sample, q_threshold=self._q_threshold, agency_prior=self._priors.get(dimension),
        )


def rows_by_dimension(stats: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row positions of each dimension in ``stats`` (in row order): one pass over the client's rows
    instead of a filter of the whole frame per dimension."""
    codes, dimensions = pd.factorize(stats["dimension"], sort=False)
    return {dimension: np.flatnonzero(codes == code) for code, dimension in enumerate(dimensions)}


def size_analysis(ranked: pd.DataFrame) -> dict[str, Any]:
    """Distribution over the SPEC's size buckets in size order, and the sweet spot: the bucket ranked
    first by shrunk rate (``None`` when no bucket has enough leads to be ranked)."""
    order = {label: position for position, (label, _, _) in enumerate(SIZE_BUCKETS)}
    distribution = ranked.assign(_order=ranked["category"].map(order).fillna(len(order)))
    distribution = distribution.sort_values(["_order", "category"]).drop(columns="_order")
    bounds = {label: (low, high) for label, low, high in SIZE_BUCKETS}
    best = ranked[ranked["is_ranked"] & ranked["category"].isin(list(bounds))].sort_values("rank").head(1)
    sweet_spot = None
    if len(best):
        row = best.iloc[0]
        low, high = bounds[row["category"]]
        sweet_spot = json_safe({
            "bucket": row["category"], "min": low, "max": high, "conversion_rate": row["rate"],
            "shrunk_rate": row["shrunk_rate"], "sample": row["sample"], "conversions": row["conversions"],
            "ci_low": row["ci_low"], "ci_high": row["ci_high"], "label": row["label"],
        })
    return {"sweet_spot": sweet_spot, "distribution": to_records(distribution)}


def timing_signals(stats: pd.DataFrame, q_threshold: float) -> dict[str, Any]:
    """Lift of leads with each timing signal over leads without it, one BH family of three tests."""
    entries: dict[str, dict[str, Any]] = {}
    positions = rows_by_dimension(stats)
    for key, dimension in TIMING_SIGNALS.items():
        rows = stats.iloc[positions.get(dimension, np.empty(0, dtype=np.intp))]
        with_signal = _counts(rows, "true")
        without = _counts(rows, "false")
        lift = lift_interval(with_signal[1], with_signal[0], without[1], without[0])
        tested = with_signal[0] > 0 and without[0] > 0
        p_value = p_value_against_rest(with_signal[1], with_signal[0], without[1], without[0]).p_value if tested else np.nan
        entries[key] = {
            "lift": lift.lift, "ci_low": lift.ci_low, "ci_high": lift.ci_high, "p_value": p_value,
            "with_signal": _rate_entry(*with_signal), "without_signal": _rate_entry(*without),
        }
    q_values = benjamini_hochberg(np.array([entry["p_value"] for entry in entries.values()], dtype=float))
    for entry, q_value in zip(entries.values(), q_values):
        entry["q_value"] = q_value
        significant = bool(np.isfinite(q_value) and q_value < q_threshold)
        entry["label"] = ("winning" if entry["lift"] > 1 else "losing") if significant else None
    return json_safe(entries)


def _counts(rows: pd.DataFrame, category: str) -> tuple[int, int]:
    """(leads, conversions) of a boolean dimension's category ('true'/'false')."""
    match = rows[rows["category"].astype(str).str.lower() == category]
    return int(match["leads"].sum()), int(match["conversions"].sum())


def _rate_entry(sample: int, conversions: int) -> dict[str, Any]:
    rate = rate_interval(conversions, sample)
    return {"sample": sample, "conversions": conversions, "rate": rate.rate, "ci_low": rate.ci_low, "ci_high": rate.ci_high}
