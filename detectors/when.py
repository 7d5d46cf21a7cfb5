"""WHEN detector: on which local day and hour, at which touch, after which gaps and how long after the
first touch leads book (SPEC §4, §6, §7 when).

Input is one client's sufficient statistics from the WHEN marts (``marts/when``) — counts per touch
number, per local day/hour × touch stratum, gap and duration summaries — never one row per touch.

Units and formulas
    Every touch that counts (before the booking) is a trial; it *books* when it is the lead's converting
    touch (the last touch before the booking). In-flight leads are censored: their touches are trials
    that did not (yet) book, so they enter the hazards of the touches they had and no final rate.

    ``touch_hazard`` — per touch number k: ``h_k = B_k / R_k`` with ``R_k`` the leads that reached
    touch k and ``B_k`` the bookings at touch k (P(booking at k | reached k), SPEC §7), Wilson 95%
    interval, empirical-Bayes shrunk hazard toward the client's per-touch rate ``ΣB / ΣR``, lift of
    touch k against all other touches with Fisher/χ² p-value and BH q-value over the touch numbers
    (``detectors.stats.rank_categories``). ``peak_converting_touch`` is the touch with the highest
    *shrunk* hazard among touches reached by at least ``min_sample`` leads (rank 1): the touch where
    a lead that gets there is likeliest to book — not the touch with the most bookings, which is
    nearly always touch 1 because every lead reaches it.

    ``best_days`` / ``best_hours`` (local time, ``time_basis``) — per slot the crude per-touch booking
    rate ``bookings / touches`` with its interval and lift, beside the position-adjusted effect:
    touches stratified by touch number (1..9, 10+) with the Mantel–Haenszel lift against the other
    slots, CMH p-value, and the indirectly standardised rate ``m·O/E`` (shrunk for ranking)
    (``detectors.stats.rank_categories_adjusted``). Entries are ranked by the shrunk adjusted rate.
    Days and hours are ONE Benjamini–Hochberg family (up to 31 tests) per client, so a client where
    send time does not matter shows no labelled slot in ≥ 90% of cases (simulated binomial nulls: 92–94%
    at 2,500–10,000 touches); ``winning``/``losing`` need
    q < 0.10. A slot enters that family only when its touches expect at least ``MIN_EXPECTED_CELL`` (5)
    bookings, ``E = Σ_k n_k·p_k`` with ``p_k`` the client's booking rate in touch stratum k
    (``expected_bookings`` in the entry): the CMH χ² has no exact fallback, and with 1–2 expected
    bookings (a rarely used off-hour) it labels chance clusters (simulated, 2,500 touches: 8.3% of
    null clients got a label without this rule, nearly all off-hours with 40–60 touches and 4–6
    bookings; 5.8% with it) — the same
    expected-count rule under which the crude test switches to Fisher's (``detectors.stats``). Such a
    slot is still ranked and reported, with p = q = NaN and no label.

    ``converting_touch_distribution`` — ``touch_k = B_k / ΣB`` for k = 1..9 and ``touch_10`` for touches
    10 and later, each with its count and Wilson interval. ``avg_touches_to_convert = Σ k·B_k / ΣB``
    (exact touch numbers).

    ``optimal_sequence_gaps`` — ``touch_k_to_k+1`` = median gap in days between touch k and k+1 over
    converted leads that had both touches before booking, clamped to [1, 14] and rounded to 0.1 day;
    the default (2, 3, 4, 5, 7) when fewer than ``min_sample`` such sequences exist (``defaulted_gaps``
    names them; ``sequence_gap_details`` has the sample, median, mean and quartiles behind each).

    ``conversion_timing`` — days from the FIRST touch to the booking over converted leads: mean,
    median (= ``percentile_50``), ``percentile_80``, ``percentile_95`` (linear interpolation, computed
    in SQL).

    ``time_basis`` = ``"lead_local"``: day (0 = Monday) and hour in the lead's timezone, else the
    client's, else UTC (int_touches, AT TIME ZONE, DST-correct); ``timezone_fallbacks`` counts the
    touched leads per source and those whose own timezone was missing or invalid (invalid names are
    also in fct_data_quality_exclusions as invalid_lead_timezone / invalid_client_timezone).

    Gate: ≥ 5 conversions. ``sample_size`` = touched leads (including in-flight ones, which count in
    the hazards); ``confidence = c / (c + 8)`` over the conversions (``detectors.stats.confidence``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd

from detectors.result import DetectorResult, minimum_data_reason
from detectors.stats import (
    DEFAULT_MIN_SAMPLE,
    DEFAULT_Q_THRESHOLD,
    MIN_EXPECTED_CELL,
    AgencyPrior,
    confidence,
    json_safe,
    rank_categories,
    rank_categories_adjusted,
    rate_interval,
    relabel_jointly,
    to_records,
)

PATTERN_VERSION = 1
MIN_CONVERSIONS = 5
TIME_BASIS = "lead_local"
DAY_NAMES: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DISTRIBUTION_TOUCHES = 10          # touch_1 .. touch_10, the last one = 10 and later
# SPEC §7 when: default days between touch k and k+1 (k = 1..5), and the clamp.
DEFAULT_GAPS: tuple[float, ...] = (2.0, 3.0, 4.0, 5.0, 7.0)
GAP_BOUNDS = (1.0, 14.0)
SLOT_FAMILY = ("day", "hour")


@dataclass(frozen=True)
class WhenInputs:
    """One client's WHEN sufficient statistics (fct_when_* marts)."""

    client_id: UUID
    touched_leads: int
    touches: int
    conversions: int
    in_flight: int
    # columns: touch_number, leads_reached, bookings, censored_after, failed_after, stale_after
    hazard: pd.DataFrame
    # columns: dimension ('day' | 'hour'), slot, touch_stratum, touches, bookings
    slot_stats: pd.DataFrame
    # columns: gap_number, sequences, mean_days, median_days, p25_days, p75_days
    gaps: pd.DataFrame
    # avg_days_to_convert, median_days_to_convert, p80_days_to_convert, p95_days_to_convert (None without data)
    timing: dict[str, float | None] = field(default_factory=dict)
    # columns: day (0 = Monday), hour, touches, bookings — the local day × hour grid behind a heat map
    day_hour: pd.DataFrame | None = None
    # where local time came from: leads_timezone_{lead,client,default}, leads_{missing,invalid}_timezone,
    # client_timezone, has_valid_client_timezone
    timezones: dict[str, Any] = field(default_factory=dict)
    time_basis: str = TIME_BASIS


def gate_reason(conversions: int) -> str | None:
    """Why the WHEN gate fails (SPEC §7: ≥ 5 conversions), or None."""
    return minimum_data_reason((conversions, MIN_CONVERSIONS, "conversions"))


def detect_when(
    inputs: WhenInputs,
    *,
    computed_at: datetime,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    q_threshold: float = DEFAULT_Q_THRESHOLD,
    agency_priors: Mapping[str, AgencyPrior] | None = None,
) -> DetectorResult:
    """``agency_priors["touch_number"]`` (``detectors.agency.when_agency_priors``) shrinks each touch's
    hazard toward the client's per-touch rate × the agency's lift of that touch; None = today's rule."""
    reason = gate_reason(inputs.conversions)
    if reason:
        return DetectorResult(inputs.client_id, "when", None, inputs.touched_leads,
                              confidence(inputs.conversions), inputs.conversions, gate_reason=reason)

    priors = dict(agency_priors or {})
    hazard = touch_hazard(inputs.hazard, min_sample=min_sample, q_threshold=q_threshold,
                          agency_prior=priors.get("touch_number"))
    slots = slot_rankings(inputs.slot_stats, min_sample=min_sample, q_threshold=q_threshold)
    gaps, gap_details, defaulted = sequence_gaps(inputs.gaps, min_sample=min_sample)
    with_outcome = inputs.touched_leads - inputs.in_flight
    patterns: dict[str, Any] = {
        "type": "when",
        "version": PATTERN_VERSION,
        "computed_at": computed_at.isoformat(),
        "sample_size": inputs.touched_leads,
        "conversions": inputs.conversions,
        "touches": inputs.touches,
        "in_flight_leads": inputs.in_flight,
        "baseline_rate": json_safe(inputs.conversions / with_outcome if with_outcome > 0 else None),
        "per_touch_booking_rate": json_safe(inputs.conversions / inputs.touches if inputs.touches else None),
        "confidence": json_safe(confidence(inputs.conversions)),
        "min_sample": min_sample,
        "q_threshold": q_threshold,
        "time_basis": inputs.time_basis,
        "timezone_fallbacks": json_safe(dict(inputs.timezones)),
        "label_family": list(SLOT_FAMILY),
        "best_days": to_records(slots["day"]),
        "best_hours": to_records(slots["hour"]),
        "touch_hazard": to_records(hazard),
        "peak_converting_touch": peak_converting_touch(hazard),
        "converting_touch_distribution": converting_touch_distribution(inputs.hazard),
        "day_hour_counts": day_hour_counts(inputs.day_hour),
        "avg_touches_to_convert": avg_touches_to_convert(inputs.hazard),
        "optimal_sequence_gaps": gaps,
        "sequence_gap_details": gap_details,
        "defaulted_gaps": defaulted,
        "conversion_timing": conversion_timing(inputs.timing, inputs.conversions),
    }
    if priors:
        patterns["shrinkage_prior"] = {"target": "client per-touch rate x agency lift (other clients pooled)",
                                       "fields": sorted(priors)}
    return DetectorResult(inputs.client_id, "when", patterns, inputs.touched_leads,
                          confidence(inputs.conversions), inputs.conversions)


def touch_hazard(hazard: pd.DataFrame, *, min_sample: int = DEFAULT_MIN_SAMPLE,
                 q_threshold: float = DEFAULT_Q_THRESHOLD, agency_prior: AgencyPrior | None = None) -> pd.DataFrame:
    """P(booking at touch k | reached k) per touch number, in touch order (module docstring)."""
    rows = hazard.sort_values("touch_number")
    reached, bookings = rows["leads_reached"].to_numpy(float), rows["bookings"].to_numpy(float)
    per_touch_rate = bookings.sum() / reached.sum() if reached.sum() > 0 else 0.0
    ranked = rank_categories(
        pd.DataFrame({"touch_number": rows["touch_number"].astype(int), "sample": reached, "conversions": bookings}),
        category_col="touch_number", baseline_rate=per_touch_rate, min_sample=min_sample, q_threshold=q_threshold,
        agency_prior=agency_prior,
    )
    ranked = ranked.rename(columns={"category": "touch_number", "sample": "leads_reached", "conversions": "bookings",
                                    "rate": "hazard", "shrunk_rate": "shrunk_hazard"})
    extra = [c for c in ("censored_after", "failed_after", "stale_after") if c in rows]
    ranked = ranked.merge(rows[["touch_number", *extra]].astype({"touch_number": int}), on="touch_number", how="left")
    return ranked.sort_values("touch_number").reset_index(drop=True)


def peak_converting_touch(hazard: pd.DataFrame) -> dict[str, Any] | None:
    """The rank-1 touch of ``touch_hazard`` (highest shrunk hazard among touches with enough leads)."""
    best = hazard[hazard["is_ranked"]].sort_values("rank").head(1)
    if best.empty:
        return None
    row = best.iloc[0]
    return json_safe({key: row[key] for key in ("touch_number", "hazard", "ci_low", "ci_high", "shrunk_hazard",
                                                "leads_reached", "bookings", "label")})


def expected_bookings(rows: pd.DataFrame) -> pd.Series:
    """Per slot, ``E = Σ_k n_k·p_k``: the bookings its touches would have at each touch stratum's overall
    rate ``p_k`` (rows: one dimension's slot, touch_stratum, touches, bookings)."""
    strata = rows.groupby("touch_stratum")[["touches", "bookings"]].sum()
    stratum_rate = (strata["bookings"] / strata["touches"]).rename("stratum_rate")
    weighted = rows.join(stratum_rate, on="touch_stratum")
    return (weighted["touches"] * weighted["stratum_rate"]).groupby(weighted["slot"]).sum()


def slot_rankings(slot_stats: pd.DataFrame, *, min_sample: int = DEFAULT_MIN_SAMPLE,
                  q_threshold: float = DEFAULT_Q_THRESHOLD) -> dict[str, pd.DataFrame]:
    """Position-adjusted rankings of local days and hours, labelled as one BH family; slots expecting
    fewer than MIN_EXPECTED_CELL bookings are ranked but not tested (module docstring)."""
    frames: dict[str, pd.DataFrame] = {}
    # Each dimension's rows by position from one pass over the column (row order kept), not a string
    # filter of all slot rows per dimension.
    codes, dimensions = pd.factorize(slot_stats["dimension"], sort=False)
    positions = {dimension: np.flatnonzero(codes == code) for code, dimension in enumerate(dimensions)}
    for dimension in SLOT_FAMILY:
        rows = slot_stats.iloc[positions.get(dimension, np.empty(0, dtype=np.intp))][
            ["slot", "touch_stratum", "touches", "bookings"]]
        rows = rows.astype({"slot": int})
        ranked = rank_categories_adjusted(
            rows, category_col="slot", stratum_col="touch_stratum", conversions_col="bookings",
            sample_col="touches", min_sample=min_sample, q_threshold=q_threshold,
        )
        expected = ranked["category"].map(expected_bookings(rows)).to_numpy(float)
        ranked.insert(ranked.columns.get_loc("adjusted_rate"), "expected_bookings", expected)
        frames[dimension] = ranked.assign(p_value=ranked["p_value"].where(expected >= MIN_EXPECTED_CELL))
    labelled = relabel_jointly(frames, q_threshold=q_threshold, effect_col="adjusted_lift")
    day = labelled["day"].rename(columns={"category": "day_of_week"})
    day.insert(0, "day", [DAY_NAMES[int(d)] for d in day["day_of_week"]])
    hour = labelled["hour"].rename(columns={"category": "hour"})
    return {"day": day, "hour": hour}


def converting_touch_distribution(hazard: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Share of conversions booked at touch 1 .. 9 and at touch 10 or later (``touch_10``)."""
    touch = hazard["touch_number"].to_numpy(int)
    bookings = hazard["bookings"].to_numpy(float)
    total = bookings.sum()
    distribution = {}
    for k in range(1, DISTRIBUTION_TOUCHES + 1):
        at_k = bookings[touch >= k].sum() if k == DISTRIBUTION_TOUCHES else bookings[touch == k].sum()
        share = rate_interval(at_k, total) if total > 0 else None
        distribution[f"touch_{k}"] = {
            "conversions": int(at_k),
            "share": share.rate if share else None,
            "ci_low": share.ci_low if share else None,
            "ci_high": share.ci_high if share else None,
        }
    return json_safe(distribution)


def avg_touches_to_convert(hazard: pd.DataFrame) -> float | None:
    """Mean converting touch number, Σ k·B_k / Σ B_k."""
    bookings = hazard["bookings"].to_numpy(float)
    if bookings.sum() == 0:
        return None
    return json_safe(float((hazard["touch_number"].to_numpy(float) * bookings).sum() / bookings.sum()))


def sequence_gaps(gaps: pd.DataFrame, *, min_sample: int = DEFAULT_MIN_SAMPLE
                  ) -> tuple[dict[str, float], dict[str, dict[str, Any]], list[str]]:
    """``optimal_sequence_gaps`` (median gap of converted sequences, clamped, default when thin), the
    details behind each, and the keys that were defaulted."""
    by_gap = gaps.set_index("gap_number") if len(gaps) else gaps
    values: dict[str, float] = {}
    details: dict[str, dict[str, Any]] = {}
    defaulted: list[str] = []
    for k, default in enumerate(DEFAULT_GAPS, start=1):
        key = f"touch_{k}_to_{k + 1}"
        row = by_gap.loc[k] if len(by_gap) and k in by_gap.index else None
        sequences = int(row["sequences"]) if row is not None else 0
        median = float(row["median_days"]) if row is not None and pd.notna(row["median_days"]) else None
        if median is None or sequences < min_sample:
            value, source = default, "default"
            defaulted.append(key)
        else:
            value, source = round(float(np.clip(median, *GAP_BOUNDS)), 1), "data"
        values[key] = value
        details[key] = json_safe({
            "days": value, "source": source, "sequences": sequences, "median_days": median,
            "mean_days": row["mean_days"] if row is not None else None,
            "p25_days": row["p25_days"] if row is not None and "p25_days" in row else None,
            "p75_days": row["p75_days"] if row is not None and "p75_days" in row else None,
            "clamped": bool(median is not None and source == "data" and not GAP_BOUNDS[0] <= median <= GAP_BOUNDS[1]),
        })
    return values, details, defaulted


def conversion_timing(timing: dict[str, float | None], conversions: int) -> dict[str, Any]:
    """Days from the first touch to the booking (SPEC §7 when)."""
    median = timing.get("median_days_to_convert")
    return json_safe({
        "avg_days_to_convert": timing.get("avg_days_to_convert"),
        "median_days_to_convert": median,
        "percentile_50": median,
        "percentile_80": timing.get("p80_days_to_convert"),
        "percentile_95": timing.get("p95_days_to_convert"),
        "sample": conversions,
        "measured_from": "first_touch",
    })


def day_hour_counts(day_hour: pd.DataFrame | None) -> list[dict[str, int]]:
    """Touches and bookings per local (day, hour) with any touch, in day then hour order: the raw grid
    behind a heat map (descriptive; the ranked, position-adjusted effects are best_days/best_hours)."""
    if day_hour is None or day_hour.empty:
        return []
    ordered = day_hour.sort_values(["day", "hour"])
    return [{"day": int(r.day), "hour": int(r.hour), "touches": int(r.touches), "bookings": int(r.bookings)}
            for r in ordered.itertuples(index=False)]
