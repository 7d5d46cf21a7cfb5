"""The agency-wide pattern (issue 10 part 3): every client's sufficient statistics pooled, and the prior
it gives a client's rankings.

Pooling
    The detectors read counts (leads, touches, conversions per category, stratum, path, ...), and counts
    add up across clients. ``pool_*_inputs`` sums one detector's inputs over clients, key by key, so the
    agency pattern is exactly the detector run on the summed counts — the same gate, statistics and
    labels as a client's. Only the WHEN summaries that are order statistics cannot be summed: the
    medians and quartiles of the sequence gaps and of the days to convert. For those the pooled value is
    the mean of the clients' values weighted by their sequences (gaps) or conversions (timing); means
    are pooled exactly. The pattern lists these under ``pooling.approximated``.

    An agency pattern is stored only when at least ``MIN_CLIENTS_POOLED`` clients contributed: every
    tenant may read it, and with two clients one could subtract its own counts and read the other's.

Prior (leave one out)
    A client's category prior is its baseline times the agency lift of the category
    (``detectors.stats.agency_prior_means``). The agency counts include the client's own, which would
    count its data twice (and, with one dominant client, shrink it toward itself); so the lift comes
    from the agency counts *minus the client's own* — the other clients' pooled rate of the category
    over their pooled baseline. Categories only the client has, or an agency made of this client
    alone, give no prior: the client's baseline stays the target, as without an agency pattern.
    ``who_agency_priors`` (WHO dimensions), ``when_agency_priors`` (hazard by touch number) and
    ``how_agency_priors`` (first channel) derive it from the stored agency pattern's counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd

from detectors.how import HowInputs
from detectors.result import DetectorResult
from detectors.stats import AgencyPrior
from detectors.what import WhatInputs
from detectors.when import WhenInputs
from detectors.who import WhoInputs

MIN_CLIENTS_POOLED = 3
# DetectorResult needs an id; the agency result carries this one in memory only. It is never stored
# as a client: agency patterns have their own tables (migration 006).
AGENCY_ID = UUID(int=0)


@dataclass(frozen=True)
class AgencyPattern:
    """One type's agency pattern (or why there is none) and how many clients it pools."""

    result: DetectorResult
    clients_pooled: int

    @property
    def pattern_type(self) -> str:
        return self.result.pattern_type


def _summed(frames: Sequence[pd.DataFrame], keys: list[str], values: list[str]) -> pd.DataFrame:
    """Rows of all frames summed per ``keys`` (NaN keys kept), in key order."""
    present = [frame for frame in frames if len(frame)]
    if not present:
        return frames[0].iloc[0:0][[*keys, *values]].reset_index(drop=True) if frames else pd.DataFrame(columns=[*keys, *values])
    stacked = pd.concat([frame[[*keys, *values]] for frame in present], ignore_index=True)
    summed = stacked.groupby(keys, dropna=False, sort=True)[values].sum().reset_index()
    return summed[[*keys, *values]]


def pool_who_inputs(inputs: Sequence[WhoInputs]) -> WhoInputs:
    """The WHO inputs of all clients summed (counts per dimension × category and per component combination)."""
    components = ["data_quality", "authority", "company_fit", "timing", "risk"]
    return WhoInputs(
        client_id=AGENCY_ID,
        leads_with_outcome=sum(i.leads_with_outcome for i in inputs),
        conversions=sum(i.conversions for i in inputs),
        dimension_stats=_summed([i.dimension_stats for i in inputs], ["dimension", "category"], ["leads", "conversions"]),
        component_combinations=_summed([i.component_combinations for i in inputs], components, ["leads", "conversions"]),
    )


def pool_what_inputs(inputs: Sequence[WhatInputs]) -> WhatInputs:
    """The WHAT inputs of all clients summed (per field × category × touch stratum; exclusions by reason)."""
    exclusions: Counter[str] = Counter()
    for i in inputs:
        exclusions.update(i.exclusions)
    return WhatInputs(
        client_id=AGENCY_ID,
        analysed_touches=sum(i.analysed_touches for i in inputs),
        conversions=sum(i.conversions for i in inputs),
        feature_stats=_summed([i.feature_stats for i in inputs], ["field", "category", "touch_number_stratum"],
                              ["touches", "conversions", "length_total"]),
        population_stats=_summed([i.population_stats for i in inputs], ["field", "touch_number_stratum"],
                                 ["touches", "conversions"]),
        exclusions=dict(sorted(exclusions.items())),
    )


GAP_ORDER_STATISTICS = ("median_days", "p25_days", "p75_days")
TIMING_ORDER_STATISTICS = ("median_days_to_convert", "p80_days_to_convert", "p95_days_to_convert")
WHEN_APPROXIMATED = [
    "optimal_sequence_gaps / sequence_gap_details medians and quartiles: sequence-weighted mean of the clients' values",
    "conversion_timing medians and percentiles: conversion-weighted mean of the clients' values",
]


def _weighted_mean(values: Sequence[float | None], weights: Sequence[float]) -> float | None:
    """Mean of the values that are known, weighted; None when none is known or all weights are 0."""
    known = [(float(v), float(w)) for v, w in zip(values, weights) if v is not None and not pd.isna(v) and w > 0]
    total = sum(w for _, w in known)
    return sum(v * w for v, w in known) / total if total > 0 else None


def pool_when_inputs(inputs: Sequence[WhenInputs]) -> WhenInputs:
    """The WHEN inputs of all clients summed; order statistics pooled as weighted means (module docstring)."""
    hazard_counts = ["leads_reached", "bookings", "censored_after", "failed_after", "stale_after"]
    gap_rows = []
    all_gaps = pd.concat([i.gaps for i in inputs if len(i.gaps)], ignore_index=True) if any(len(i.gaps) for i in inputs) else None
    if all_gaps is not None:
        for gap_number, rows in all_gaps.groupby("gap_number", sort=True):
            weights = rows["sequences"].tolist()
            gap_rows.append({
                "gap_number": gap_number, "sequences": int(rows["sequences"].sum()),
                "mean_days": _weighted_mean(rows["mean_days"].tolist(), weights),
                **{column: _weighted_mean(rows[column].tolist(), weights) for column in GAP_ORDER_STATISTICS},
            })
    gaps = pd.DataFrame(gap_rows, columns=["gap_number", "sequences", "mean_days", *GAP_ORDER_STATISTICS])
    conversions = [i.conversions for i in inputs]
    timing = {"avg_days_to_convert": _weighted_mean([i.timing.get("avg_days_to_convert") for i in inputs], conversions),
              **{key: _weighted_mean([i.timing.get(key) for i in inputs], conversions) for key in TIMING_ORDER_STATISTICS}}
    timezones: dict[str, Any] = {}
    for i in inputs:
        for key, value in i.timezones.items():
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                timezones[key] = int(timezones.get(key, 0)) + int(value)
    timezones["client_timezone"] = None  # the agency has no single time zone
    timezones["has_valid_client_timezone"] = all(bool(i.timezones.get("has_valid_client_timezone", True)) for i in inputs)
    day_hours = [i.day_hour for i in inputs if i.day_hour is not None]
    return WhenInputs(
        client_id=AGENCY_ID,
        touched_leads=sum(i.touched_leads for i in inputs),
        touches=sum(i.touches for i in inputs),
        conversions=sum(conversions),
        in_flight=sum(i.in_flight for i in inputs),
        hazard=_summed([i.hazard for i in inputs], ["touch_number"],
                       [c for c in hazard_counts if all(c in i.hazard for i in inputs)]),
        slot_stats=_summed([i.slot_stats for i in inputs], ["dimension", "slot", "touch_stratum"], ["touches", "bookings"]),
        gaps=gaps,
        timing=timing,
        day_hour=_summed(day_hours, ["day", "hour"], ["touches", "bookings"]) if day_hours else None,
        timezones=timezones,
        time_basis=inputs[0].time_basis if inputs else WhenInputs.__dataclass_fields__["time_basis"].default,
    )


def pool_how_inputs(inputs: Sequence[HowInputs]) -> HowInputs:
    """The HOW inputs of all clients summed (per distinct path, per touch cell, per transition)."""
    return HowInputs(
        client_id=AGENCY_ID,
        leads_with_outcome=sum(i.leads_with_outcome for i in inputs),
        conversions=sum(i.conversions for i in inputs),
        paths=_summed([i.paths for i in inputs], ["channel_path", "touches", "distinct_channels", "first_channel"],
                      ["leads", "conversions"]),
        touch_stats=_summed([i.touch_stats for i in inputs],
                            ["touch_number", "channel", "channels_so_far", "first_channel", "als_tier"], ["touches", "bookings"]),
        transitions=_summed([i.transitions for i in inputs], ["from_channel", "to_channel"], ["transitions", "bookings"]),
    )


def as_agency_pattern(result: DetectorResult, clients_pooled: int, approximated: Sequence[str] = ()) -> AgencyPattern:
    """The detector's result on pooled inputs, marked as agency scope (``scope``, ``clients_pooled``,
    ``pooling``); no pattern when fewer than MIN_CLIENTS_POOLED clients contributed."""
    if clients_pooled < MIN_CLIENTS_POOLED:
        reason = f"only {clients_pooled} clients with data (an agency pattern pools at least {MIN_CLIENTS_POOLED})"
        return AgencyPattern(DetectorResult(AGENCY_ID, result.pattern_type, None, result.sample_size, result.confidence,
                                            result.conversions, gate_reason=reason), clients_pooled)
    if result.patterns is None:
        return AgencyPattern(result, clients_pooled)
    patterns = {
        **result.patterns,
        "scope": "agency",
        "clients_pooled": clients_pooled,
        "pooling": {"method": "sufficient statistics summed over clients, then the client detector",
                    "approximated": list(approximated)},
    }
    return AgencyPattern(DetectorResult(AGENCY_ID, result.pattern_type, patterns, result.sample_size, result.confidence,
                                        result.conversions), clients_pooled)


# --- the prior ---------------------------------------------------------------------------------------

# WHO dimension → where its ranking sits in the WHO pattern.
WHO_PRIOR_FIELDS: dict[str, tuple[str, ...]] = {
    "normalized_title": ("title_rankings", "by_title"),
    "seniority": ("title_rankings", "by_seniority"),
    "industry": ("industry_rankings",),
    "size_bucket": ("size_analysis", "distribution"),
    "als_tier": ("als_tier_rates",),
}


def _entries(pattern: Mapping[str, Any], path: tuple[str, ...]) -> list[Mapping[str, Any]]:
    node: Any = pattern
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return [e for e in node if isinstance(e, Mapping)] if isinstance(node, list) else []


def leave_one_out_rate(agency_sample: float, agency_conversions: float, own_sample: float,
                       own_conversions: float) -> float | None:
    """The other clients' rate ``(X − x) / (N − n)``; None when they have no sample or the client's counts
    do not fit inside the agency's."""
    other_sample, other_conversions = agency_sample - own_sample, agency_conversions - own_conversions
    if other_sample <= 0 or other_conversions < 0 or other_conversions > other_sample:
        return None
    return other_conversions / other_sample


def who_agency_priors(agency: Mapping[str, Any] | None, inputs: WhoInputs) -> dict[str, AgencyPrior]:
    """Per WHO dimension, the other clients' rates per category and their baseline (module docstring);
    empty without an agency WHO pattern or when the agency holds nothing but this client."""
    if not agency or not agency.get("sample_size"):
        return {}
    baseline = leave_one_out_rate(agency["sample_size"], agency.get("conversions", 0),
                                  inputs.leads_with_outcome, inputs.conversions)
    if baseline is None or baseline <= 0:
        return {}
    own = inputs.dimension_stats
    priors: dict[str, AgencyPrior] = {}
    for dimension, path in WHO_PRIOR_FIELDS.items():
        rows = own[own["dimension"] == dimension]
        own_counts = {category: (float(leads), float(conversions))
                      for category, leads, conversions in zip(rows["category"], rows["leads"], rows["conversions"])}
        prior = _family_prior(_entries(agency, path), "category", own_counts, baseline)
        if prior:
            priors[dimension] = prior
    return priors


def _family_prior(entries: Sequence[Mapping[str, Any]], key: str, own: Mapping[Any, tuple[float, float]],
                  baseline: float) -> AgencyPrior | None:
    """The other clients' rate per category of one family (agency entries minus the client's own counts)."""
    rates: dict[Any, float] = {}
    for entry in entries:
        own_sample, own_conversions = own.get(entry.get(key), (0.0, 0.0))
        rate = leave_one_out_rate(float(entry.get("sample") or 0), float(entry.get("conversions") or 0),
                                  own_sample, own_conversions)
        if rate is not None:
            rates[entry.get(key)] = rate
    return AgencyPrior(rates=rates, baseline=baseline) if rates else None


def when_agency_priors(agency: Mapping[str, Any] | None, inputs: WhenInputs) -> dict[str, AgencyPrior]:
    """The other clients' booking hazard per touch number over their per-touch rate (``touch_number``)."""
    entries = _entries(agency or {}, ("touch_hazard",))
    if not entries:
        return {}
    entries = [{"touch_number": int(e["touch_number"]), "sample": e.get("leads_reached") or 0,
                "conversions": e.get("bookings") or 0} for e in entries if e.get("touch_number") is not None]
    own = {int(t): (float(r), float(b)) for t, r, b in
           zip(inputs.hazard["touch_number"], inputs.hazard["leads_reached"], inputs.hazard["bookings"])}
    baseline = leave_one_out_rate(sum(float(e["sample"]) for e in entries), sum(float(e["conversions"]) for e in entries),
                                  sum(r for r, _ in own.values()), sum(b for _, b in own.values()))
    if baseline is None or baseline <= 0:
        return {}
    prior = _family_prior(entries, "touch_number", own, baseline)
    return {"touch_number": prior} if prior else {}


def how_agency_priors(agency: Mapping[str, Any] | None, inputs: HowInputs) -> dict[str, AgencyPrior]:
    """The other clients' booking rate per first channel over their baseline (``first_channel``)."""
    if not agency or not agency.get("sample_size"):
        return {}
    baseline = leave_one_out_rate(agency["sample_size"], agency.get("conversions", 0),
                                  inputs.leads_with_outcome, inputs.conversions)
    first = agency.get("first_touch_effectiveness")
    if baseline is None or baseline <= 0 or not isinstance(first, Mapping):
        return {}
    by_channel = inputs.paths.groupby("first_channel")[["leads", "conversions"]].sum() if len(inputs.paths) else None
    own = {} if by_channel is None else {c: (float(r["leads"]), float(r["conversions"])) for c, r in by_channel.iterrows()}
    prior = _family_prior([e for e in first.values() if isinstance(e, Mapping)], "channel", own, baseline)
    return {"first_channel": prior} if prior else {}
