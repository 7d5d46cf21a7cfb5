"""WHAT detector: which content converts (SPEC §7 what).

Unit of analysis: a touch with content whose outcome is known (``fct_what_touches.what_status =
'analysed'``); its label is ``is_converting_touch`` — the per-touch booking hazard the synthetic world
plants. Touches of converted, failed and stale leads all count; an in-flight lead's touches count too,
except its last one, whose outcome is still open (SPEC §4: censored leads enter per-touch hazards for
the touches they have had — a touch followed by another touch is resolved as not converting). Those
last touches and touches without any text are left out and counted (``exclusions``).

Input is one client's sufficient statistics (``fct_what_feature_stats``: touches and converting touches
per field × category × touch_number stratum 1..9, 10+; ``fct_what_population_stats``: the same per
field and stratum for the touches on which the field is observable). Per field and category:

* crude: ``rate = conversions / touches`` (Wilson 95% interval), ``lift = rate / rate_rest`` (Katz
  interval) with rest = population − category (categories may overlap: multi-label fields);
* position-adjusted (SPEC §6, ``detectors.stats.stratified``): Mantel–Haenszel risk ratio against the
  rest within touch_number strata (``adjusted_lift``, Greenland–Robins interval), CMH p-value, and the
  indirectly standardised rate ``adjusted_rate = m·O/E`` with its empirical-Bayes shrunk version
  ``shrunk_adjusted_rate`` used for ranking. A phrase used only on follow-ups is compared with other
  follow-ups, so it cannot win because of the position it is sent at.
* labels: ``winning``/``losing`` (and ``effective``/``ineffective`` lists) need a Benjamini–Hochberg
  q < 0.10 and an adjusted lift above/below 1. All labelled fields of a client form ONE BH family
  (``LABEL_FAMILY``), stricter than SPEC §6's per-field family, so that a client where content does
  not matter shows no label at all in ~90% of cases (as WHO does, detectors/who.py). Categories with
  fewer than ``min_sample`` touches are reported but neither ranked nor tested.

Sub-analyses: ``subject_patterns`` (templates, multi-label, plus the subject length tag),
``pain_points`` (multi-label), ``ctas`` (the first CTA in the text, by phrase and by type), ``angles``
(multi-label), ``optimal_length`` per channel — the length bin ranked first by shrunk adjusted rate,
i.e. chosen by comparing booking rates across bins; ``optimal_words``/``optimal_chars`` is the mean
length of that bin's touches — and ``personalization_lift`` per flag (touches with the flag vs without
it, adjusted lift with interval, both rates). Gate: ≥ 5 converting touches and ≥ 20 analysed touches.
``confidence = c / (c + 8)`` with c the converting touches (detectors.stats.confidence).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd

from detectors.result import DetectorResult, minimum_data_reason
from detectors.snapshot import PERSONALIZATION_FLAGS, load_content_vocabulary
from detectors.stats import (
    ADJUSTED_RANKING_COLUMNS,
    DEFAULT_MIN_SAMPLE,
    DEFAULT_Q_THRESHOLD,
    confidence,
    json_safe,
    rank_categories_adjusted,
    rate_interval,
    relabel_jointly,
    to_records,
)

PATTERN_VERSION = 1
MIN_CONVERSIONS = 5
MIN_TOUCHES = 20
NO_MATCH = "none"
STRATUM = "touch_number_stratum"
LENGTH_FIELDS: dict[str, str] = {"email": "length_email", "linkedin": "length_linkedin", "sms": "length_sms"}
# Every field whose categories can be labelled: one BH family per client.
LABEL_FAMILY: tuple[str, ...] = (
    "subject_template", "subject_length", "pain_point", "cta", "cta_type", "angle",
    *LENGTH_FIELDS.values(), "personalization",
)


@dataclass(frozen=True)
class WhatInputs:
    """One client's WHAT sufficient statistics (see fct_what_client_summary for the counts)."""

    client_id: UUID
    analysed_touches: int
    conversions: int
    # columns: field, category, touch_number_stratum, touches, conversions, length_total
    feature_stats: pd.DataFrame
    # columns: field, touch_number_stratum, touches, conversions
    population_stats: pd.DataFrame
    exclusions: dict[str, int] = field(default_factory=dict)


def gate_reason(analysed_touches: int, conversions: int) -> str | None:
    """Why the WHAT gate fails (SPEC §7: ≥ 5 converting touches and ≥ 20 touches with content), or None."""
    return minimum_data_reason((conversions, MIN_CONVERSIONS, "converting touches"),
                               (analysed_touches, MIN_TOUCHES, "touches with content"))


class _FieldRows:
    """One client's feature and population rows split by field once (row order kept): each field's
    ranking and mean lengths read their slice instead of filtering the client's whole frames again."""

    def __init__(self, inputs: WhatInputs) -> None:
        self._features, self._population = inputs.feature_stats, inputs.population_stats
        self._feature_rows = self._positions(self._features)
        self._population_rows = self._positions(self._population)
        self._matched = (self._features["category"] != NO_MATCH).to_numpy(bool)

    @staticmethod
    def _positions(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        codes, fields = pd.factorize(frame["field"], sort=False)
        return {field: np.flatnonzero(codes == code) for code, field in enumerate(fields)}

    def features(self, name: str, *, matched_only: bool = False) -> pd.DataFrame:
        """The field's rows (without the 'none' category when ``matched_only``)."""
        rows = self._feature_rows.get(name, np.empty(0, dtype=np.intp))
        return self._features.iloc[rows[self._matched[rows]] if matched_only else rows]

    def population(self, name: str) -> pd.DataFrame:
        return self._population.iloc[self._population_rows.get(name, np.empty(0, dtype=np.intp))]


def rank_field(inputs: WhatInputs, name: str, *, min_sample: int = DEFAULT_MIN_SAMPLE,
               q_threshold: float = DEFAULT_Q_THRESHOLD, field_rows: _FieldRows | None = None) -> pd.DataFrame:
    """Position-adjusted ranking of one field's categories (without 'none') against its population."""
    field_rows = field_rows or _FieldRows(inputs)
    rows = field_rows.features(name, matched_only=True)
    population = field_rows.population(name)
    if rows.empty or population.empty:
        return pd.DataFrame(columns=ADJUSTED_RANKING_COLUMNS)
    return rank_categories_adjusted(
        rows, category_col="category", stratum_col=STRATUM, sample_col="touches",
        population=population, min_sample=min_sample, q_threshold=q_threshold,
    )


def detect_what(inputs: WhatInputs, *, computed_at: datetime, min_sample: int = DEFAULT_MIN_SAMPLE,
                q_threshold: float = DEFAULT_Q_THRESHOLD) -> DetectorResult:
    reason = gate_reason(inputs.analysed_touches, inputs.conversions)
    if reason:
        return DetectorResult(inputs.client_id, "what", None, inputs.analysed_touches,
                              confidence(inputs.conversions), inputs.conversions, gate_reason=reason)
    field_rows = _FieldRows(inputs)
    ranked = {name: rank_field(inputs, name, min_sample=min_sample, q_threshold=q_threshold, field_rows=field_rows)
              for name in LABEL_FAMILY}
    frames = relabel_jointly(ranked, q_threshold=q_threshold, effect_col="adjusted_lift")
    baseline = inputs.conversions / inputs.analysed_touches
    patterns: dict[str, Any] = {
        "type": "what",
        "version": PATTERN_VERSION,
        "computed_at": computed_at.isoformat(),
        "unit": "touch",
        "sample_size": inputs.analysed_touches,
        "conversions": inputs.conversions,
        "baseline_rate": json_safe(baseline),
        "confidence": json_safe(confidence(inputs.conversions)),
        "min_sample": min_sample,
        "q_threshold": q_threshold,
        "label_family": list(LABEL_FAMILY),
        "position_adjustment": {"stratified_by": "touch_number", "strata": "1..9, 10+",
                                "method": "Mantel-Haenszel risk ratio, CMH test, indirect standardisation"},
        "subject_patterns": {
            **_labelled(frames["subject_template"], "winning", "losing"),
            "length_tags": to_records(_with_mean_length(frames["subject_length"], field_rows.features("subject_length"))),
        },
        "pain_points": _labelled(frames["pain_point"], "effective", "ineffective"),
        "ctas": {**_labelled(_with_cta_type(frames["cta"]), "effective", "ineffective"),
                 "by_type": to_records(frames["cta_type"])},
        "angles": _labelled(frames["angle"], "effective", "ineffective"),
        "optimal_length": {channel: optimal_length(frames[name], inputs, name, channel, field_rows=field_rows)
                           for channel, name in LENGTH_FIELDS.items()},
        "personalization_lift": personalization_lift(frames["personalization"], inputs),
        "exclusions": {key: int(value) for key, value in inputs.exclusions.items()},
    }
    return DetectorResult(inputs.client_id, "what", patterns, inputs.analysed_touches,
                          confidence(inputs.conversions), inputs.conversions)


def _labelled(frame: pd.DataFrame, good: str, bad: str) -> dict[str, Any]:
    """``good``/``bad``: the categories labelled winning/losing, in rank order; ``rankings``: all."""
    ordered = frame.sort_values("rank", na_position="last", kind="stable") if len(frame) else frame
    return {
        good: to_records(ordered[ordered["label"] == "winning"]),
        bad: to_records(ordered[ordered["label"] == "losing"]),
        "rankings": to_records(frame),
    }


def _with_cta_type(frame: pd.DataFrame) -> pd.DataFrame:
    vocabulary = load_content_vocabulary()
    types = [vocabulary.cta_type(str(phrase)) for phrase in frame["category"]]
    return frame.assign(cta_type=pd.Series(types, index=frame.index, dtype=object))


def _with_mean_length(frame: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Adds ``mean_length``: the mean length (words or chars) of the bin's touches (``rows``: the field's)."""
    totals = rows.groupby("category")[["length_total", "touches"]].sum()
    mean = (totals["length_total"] / totals["touches"]).to_dict()
    return frame.assign(mean_length=[mean.get(category, np.nan) for category in frame["category"]])


def optimal_length(frame: pd.DataFrame, inputs: WhatInputs, name: str, channel: str, *,
                   field_rows: _FieldRows | None = None) -> dict[str, Any] | None:
    """The bin ranked first by shrunk adjusted rate (booking rates compared across bins), with its
    range and the mean length of its touches; None when no bin has ``min_sample`` touches."""
    vocabulary = load_content_vocabulary()
    bins = vocabulary.bins(channel)
    if not bins or frame.empty:
        return None
    unit = bins[0].unit
    order = {b.label: i for i, b in enumerate(bins)}
    with_mean = _with_mean_length(frame, (field_rows or _FieldRows(inputs)).features(name))
    distribution = with_mean.assign(_order=with_mean["category"].map(order).fillna(len(order)))
    distribution = distribution.sort_values(["_order", "category"]).drop(columns="_order")
    best = with_mean[with_mean["is_ranked"]].sort_values("rank").head(1)
    if best.empty:
        return {"unit": unit, "bins": to_records(distribution)}
    row = best.iloc[0]
    chosen = next(b for b in bins if b.label == row["category"])
    key = "optimal_chars" if unit == "chars" else "optimal_words"
    return json_safe({
        key: int(round(row["mean_length"])) if np.isfinite(row["mean_length"]) else None,
        "range_min": chosen.min_length,
        "range_max": chosen.max_length,
        "bin": chosen.label,
        "unit": unit,
        "rate": row["rate"],
        "adjusted_rate": row["adjusted_rate"],
        "adjusted_lift": row["adjusted_lift"],
        "sample": row["sample"],
        "conversions": row["conversions"],
        "q_value": row["q_value"],
        "label": row["label"],
        "bins": to_records(distribution),
    })


def personalization_lift(frame: pd.DataFrame, inputs: WhatInputs) -> dict[str, Any]:
    """Per flag: touches with it vs without it (population − flag), position-adjusted lift first."""
    population = inputs.population_stats[inputs.population_stats["field"] == "personalization"]
    total_touches, total_conversions = int(population["touches"].sum()), int(population["conversions"].sum())
    by_flag = {str(row["category"]): row for _, row in frame.iterrows()}
    result: dict[str, Any] = {}
    for flag in PERSONALIZATION_FLAGS:
        row = by_flag.get(flag)
        touches = int(row["sample"]) if row is not None else 0
        conversions = int(row["conversions"]) if row is not None else 0
        without = (total_touches - touches, total_conversions - conversions)
        entry: dict[str, Any] = {
            "with": _rate_entry(touches, conversions),
            "without": _rate_entry(*without),
        }
        if row is not None:
            entry.update({
                "lift": row["adjusted_lift"], "ci_low": row["adjusted_lift_ci_low"], "ci_high": row["adjusted_lift_ci_high"],
                "raw_lift": row["lift"], "raw_lift_ci_low": row["lift_ci_low"], "raw_lift_ci_high": row["lift_ci_high"],
                "p_value": row["p_value"], "q_value": row["q_value"], "label": row["label"],
            })
        else:
            entry.update({"lift": None, "ci_low": None, "ci_high": None, "raw_lift": None, "raw_lift_ci_low": None,
                          "raw_lift_ci_high": None, "p_value": None, "q_value": None, "label": None})
        result[flag] = entry
    return json_safe(result)


def _rate_entry(sample: int, conversions: int) -> dict[str, Any]:
    rate = rate_interval(conversions, sample)
    return {"sample": sample, "conversions": conversions, "rate": rate.rate, "ci_low": rate.ci_low, "ci_high": rate.ci_high}
