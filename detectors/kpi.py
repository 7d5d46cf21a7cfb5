"""Business KPIs and learning health per client and week (issue 10 part 2; docs/kpis.md).

Input is one client's sufficient statistics from the KPI marts (``dbt_project/models/marts/kpi``) and
its learning-run history (``conversion_pattern_history``, a few rows per run) — never one row per lead.
The weekly unit is the **cohort week**: the ISO week (Monday 00:00 UTC) of a lead's first touch that
counts. A cohort's figures keep changing while its leads are in flight; in-flight leads are counted
(``in_flight``) and enter no rate (SPEC §4 censoring); stale leads count as not converted.

Per cohort week
    ``booking_rate``  conversions / leads with a final outcome, Wilson 95% interval
    (``detectors.stats.rate_interval``). Recent cohorts read high until their in-flight leads resolve
    (bookings come early, staleness takes ``stale_after_days``): ``share_resolved`` says how far along
    a cohort is.
    ``median_days_to_convert``  median over the cohort's converted leads of days first touch → booking
    (computed in SQL). ``avg_touches_to_convert``  touches before booking per converted lead.
    ``multi_channel_lift``  per-touch booking rate of touches whose lead had used ≥ 2 channels so far
    against touches of single-channel leads, compared only inside strata (touch_number, channel of the
    touch, first channel of the lead) and pooled by Mantel–Haenszel with the Greenland–Robins interval
    (``detectors.stats.mantel_haenszel_risk_ratio``, the machinery and units of the HOW detector's
    ``multi_channel_lift``; HOW's 2/3/4+ buckets collapse to "≥ 2" because a week is small). Undefined
    (None, ``strata_used`` 0) when no stratum holds both kinds of touch.
    ``top_quintile``  booking rate of the top 20% of the cohort's leads with a final outcome and a
    complete ALS snapshot, scored with the WHO weights **in force at the start of the week**
    (``detectors.who_weights.top_quintile_conversion_rate``, one formula): the latest shipped weights
    before Monday 00:00 UTC — a WHO history row whose weights were shipped, or
    ``clients.als_learned_weights`` at ``als_weights_updated_at`` — else the defaults. (The weekly
    learning run is Sunday 02:00 UTC, so the weights of that run are in force for the whole next week.)
    ``pattern_confidence``  per pattern type, the confidence and sample size of the latest learning run
    whose ``computed_at`` falls in the (calendar) week; None for a type without a run that week.

Learning health
    ``weight_stability``: the weights in force after each WHO run (shipped weights persist until new
    ones ship; defaults before any) and how many terminal outcomes it took for them to converge:
    the ``sample_size`` of the earliest run from which every later run's weights stay within
    ``WEIGHT_TOLERANCE`` (0.05, max abs over the four components) of the latest run's weights.
    ``confirmed`` is true when at least one later run agrees (a single run cannot show convergence).
    When no run ever shipped weights nothing was learned: ``outcomes_to_converge`` is None and
    ``status`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd

from detectors.als import COMPONENTS, DEFAULT_WEIGHTS
from detectors.result import PATTERN_TYPES
from detectors.stats import json_safe, mantel_haenszel_risk_ratio, rate_interval
from detectors.who_weights import top_quintile_conversion_rate

KPI_VERSION = 1
WEIGHT_TOLERANCE = 0.05
COHORT_RULE = ("cohort week = ISO week (Monday 00:00 UTC) of the lead's first touch; in-flight leads are "
               "counted but censored (in no rate); stale leads count as not converted")

OUTCOME_COLUMNS = ["cohort_week", "iso_week", "leads", "leads_with_outcome", "conversions", "failed", "stale",
                   "in_flight", "median_days_to_convert", "touches_to_convert"]
TOUCH_COLUMNS = ["cohort_week", "touch_number", "channel", "first_channel", "channels_so_far", "touches", "bookings"]
COMBINATION_COLUMNS = ["cohort_week", "has_all_components", *COMPONENTS, "risk", "leads", "conversions"]
WHO_RUN_COLUMNS = ["computed_at", "sample_size", "is_shipped", *COMPONENTS]
PATTERN_RUN_COLUMNS = ["pattern_type", "computed_at", "confidence", "sample_size"]


@dataclass(frozen=True)
class KpiInputs:
    """One client's KPI sufficient statistics and run history (columns: the ``*_COLUMNS`` above)."""

    client_id: UUID
    outcomes: pd.DataFrame             # OUTCOME_COLUMNS, one row per cohort week
    channel_touches: pd.DataFrame      # TOUCH_COLUMNS
    als_combinations: pd.DataFrame     # COMBINATION_COLUMNS
    who_runs: pd.DataFrame             # WHO_RUN_COLUMNS, one row per WHO history row
    pattern_runs: pd.DataFrame         # PATTERN_RUN_COLUMNS, one row per history row (every type)
    client_weights: Mapping[str, float] | None = None          # clients.als_learned_weights
    client_weights_updated_at: datetime | None = None          # clients.als_weights_updated_at
    as_of: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def week_start(moment: datetime | date) -> date:
    """Monday (UTC) of the ISO week holding ``moment``."""
    day = moment.astimezone(timezone.utc).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


# --- weights ------------------------------------------------------------------------------------------

def _weights(row: Mapping[str, Any]) -> dict[str, float]:
    return {c: float(row[c]) for c in COMPONENTS}


def _numeric_weights(weights: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The four component weights when every one is a number, else None (malformed input is ignored)."""
    if not isinstance(weights, Mapping):
        return None
    values = [weights.get(c) for c in COMPONENTS]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values):
        return None
    return {c: float(v) for c, v in zip(COMPONENTS, values)}


def shipped_weights(who_runs: pd.DataFrame, client_weights: Mapping[str, float] | None = None,
                    client_weights_updated_at: datetime | None = None) -> list[tuple[datetime, dict[str, float]]]:
    """Every moment weights were shipped, oldest first: WHO runs that shipped, and the client row's
    learned weights at their update time (covers weights shipped before the history or set outside it)."""
    shipped = [(row["computed_at"], _weights(row)) for _, row in who_runs.iterrows() if bool(row["is_shipped"])]
    client = _numeric_weights(client_weights)
    if client is not None and client_weights_updated_at is not None and (client_weights_updated_at, client) not in shipped:
        shipped.append((client_weights_updated_at, client))
    return sorted(shipped, key=lambda item: item[0])


def weights_in_force(shipped: list[tuple[datetime, dict[str, float]]], at: datetime) -> tuple[dict[str, float], str, datetime | None]:
    """The latest shipped weights strictly before ``at``: (weights, "learned" | "default", shipped at)."""
    before = [item for item in shipped if item[0] < at]
    if not before:
        return dict(DEFAULT_WEIGHTS), "default", None
    moment, weights = before[-1]
    return dict(weights), "learned", moment


def weights_after_runs(who_runs: pd.DataFrame) -> pd.DataFrame:
    """Per WHO run (oldest first): its sample size and the weights in force after it (shipped weights
    persist until new ones ship; defaults before any)."""
    current, source = dict(DEFAULT_WEIGHTS), "default"
    rows = []
    for _, run in who_runs.sort_values("computed_at", kind="stable").iterrows():
        if bool(run["is_shipped"]):
            current, source = _weights(run), "learned"
        rows.append({"computed_at": run["computed_at"], "sample_size": int(run["sample_size"]),
                     "weights_source": source, **current})
    return pd.DataFrame(rows, columns=["computed_at", "sample_size", "weights_source", *COMPONENTS])


def weight_convergence(who_runs: pd.DataFrame, tolerance: float = WEIGHT_TOLERANCE) -> dict[str, Any]:
    """How many terminal outcomes it took for the WHO weights to converge (module docstring)."""
    runs = weights_after_runs(who_runs)
    result: dict[str, Any] = {"runs": len(runs), "tolerance": tolerance, "converged_at": None,
                              "outcomes_to_converge": None, "confirmed": False, "latest_weights": None,
                              "latest_weights_source": None, "max_abs_change_last_run": None}
    if runs.empty:
        return {**result, "status": "no WHO learning run yet"}
    matrix = runs[list(COMPONENTS)].to_numpy(float)
    latest = matrix[-1]
    # Rounded like the health rules: weights are stored to 4 decimals, so 0.30 - 0.25 is exactly 0.05.
    distance = np.round(np.abs(matrix - latest).max(axis=1), 9)
    within = distance <= tolerance
    first = len(runs) - 1
    while first > 0 and within[first - 1]:
        first -= 1
    result.update(
        latest_weights={c: float(latest[i]) for i, c in enumerate(COMPONENTS)},
        latest_weights_source=runs["weights_source"].iloc[-1],
        max_abs_change_last_run=float(distance[-2]) if len(runs) > 1 else None,
    )
    if (runs["weights_source"] == "default").all():
        return {**result, "status": "no learned weights shipped yet: the defaults are in force"}
    result.update(converged_at=runs["computed_at"].iloc[first], outcomes_to_converge=int(runs["sample_size"].iloc[first]),
                  confirmed=bool(first < len(runs) - 1))
    if result["confirmed"]:
        status = f"converged at {result['outcomes_to_converge']} terminal outcomes (within {tolerance} of the latest since)"
    elif len(runs) > 1:
        status = f"not converged yet: the latest run's weights differ from the run before by more than {tolerance}"
    else:
        status = "one run only: convergence cannot be shown yet"
    return {**result, "status": status}


# --- per week -------------------------------------------------------------------------------------------

STRATUM_COLUMNS = ["touch_number", "channel", "first_channel"]
_NO_LIFT = {"lift": None, "ci_low": None, "ci_high": None, "p_value": None, "strata_used": 0,
            "multi_touches": 0, "multi_bookings": 0, "single_touches": 0, "single_bookings": 0}


def multi_channel_lift_by_week(touches: pd.DataFrame) -> dict[date, dict[str, Any]]:
    """Per cohort week: ≥ 2 channels so far vs 1 channel, per-touch booking rate, Mantel–Haenszel over
    strata (touch_number, channel, first_channel). One grouping for all weeks, then one MH per week."""
    if touches.empty:
        return {}
    frame = touches.assign(is_multi=touches["channels_so_far"].to_numpy(int) >= 2)
    counts = frame.groupby(["cohort_week", *STRATUM_COLUMNS, "is_multi"], sort=True)[["touches", "bookings"]].sum()
    counts = counts.unstack("is_multi", fill_value=0)
    arrays = {(value, flag): (counts[(value, flag)].to_numpy(float) if (value, flag) in counts.columns
                              else np.zeros(len(counts)))
              for value in ("touches", "bookings") for flag in (True, False)}
    weeks = counts.index.get_level_values("cohort_week")
    starts = np.flatnonzero(np.r_[True, weeks[1:] != weeks[:-1]])
    bounds = np.r_[starts, len(weeks)]
    result: dict[date, dict[str, Any]] = {}
    for begin, end in zip(bounds[:-1], bounds[1:]):
        part = {key: values[begin:end] for key, values in arrays.items()}
        effect = mantel_haenszel_risk_ratio(part[("bookings", True)], part[("touches", True)],
                                            part[("bookings", False)], part[("touches", False)])
        result[weeks[begin]] = json_safe({
            "lift": effect.risk_ratio, "ci_low": effect.ci_low, "ci_high": effect.ci_high, "p_value": effect.p_value,
            "strata_used": effect.strata_used,
            "multi_touches": int(part[("touches", True)].sum()), "multi_bookings": int(part[("bookings", True)].sum()),
            "single_touches": int(part[("touches", False)].sum()), "single_bookings": int(part[("bookings", False)].sum()),
        })
    return result


def top_quintile(combinations: pd.DataFrame, weights: Mapping[str, float], source: str,
                 shipped_at: datetime | None) -> dict[str, Any]:
    """Booking rate of the top 20% by ALS score under ``weights`` (``who_weights``, one formula)."""
    has_all = combinations["has_all_components"].to_numpy(bool)
    complete = combinations[has_all]
    entry: dict[str, Any] = {"rate": None, "sample": 0, "conversions": 0.0, "ci_low": None, "ci_high": None}
    if not complete.empty:
        top = top_quintile_conversion_rate(complete[[*COMPONENTS, "risk", "leads", "conversions"]], weights)
        entry = {"rate": top.rate, "sample": top.sample, "conversions": top.conversions,
                 "ci_low": top.ci_low, "ci_high": top.ci_high}
    leads = combinations["leads"].to_numpy(float)
    return json_safe({**entry, "scored_leads": int(leads[has_all].sum()), "leads_without_components": int(leads[~has_all].sum()),
                      "weights": {c: float(weights[c]) for c in COMPONENTS}, "weights_source": source,
                      "weights_shipped_at": shipped_at.isoformat() if shipped_at else None})


def pattern_confidence_by_week(pattern_runs: pd.DataFrame) -> dict[date, dict[str, Any]]:
    """Per calendar week (Monday UTC) with a run: per type, the latest run computed in it (None without one)."""
    result: dict[date, dict[str, Any]] = {}
    ordered = pattern_runs.sort_values("computed_at", kind="stable")
    for pattern_type, computed_at, confidence, sample_size in ordered[PATTERN_RUN_COLUMNS].itertuples(index=False):
        week = result.setdefault(week_start(computed_at), dict.fromkeys(PATTERN_TYPES))
        week[pattern_type] = json_safe({"confidence": float(confidence), "sample_size": int(sample_size),
                                        "computed_at": computed_at.isoformat()})     # later runs overwrite earlier ones
    return result


def _week_of(values: pd.Series) -> list[date]:
    return [week_start(v) for v in values]


def _iso_week(start: date) -> str:
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_kpis(inputs: KpiInputs) -> list[dict[str, Any]]:
    """One entry per week with a cohort or a learning run, oldest first."""
    outcomes = inputs.outcomes.assign(cohort_week=_week_of(inputs.outcomes["cohort_week"]))
    touches = inputs.channel_touches.assign(cohort_week=_week_of(inputs.channel_touches["cohort_week"]))
    combinations = inputs.als_combinations.assign(cohort_week=_week_of(inputs.als_combinations["cohort_week"]))
    lifts = multi_channel_lift_by_week(touches)
    combinations_by_week = {week: group for week, group in combinations.groupby("cohort_week", sort=False)}
    confidence_by_week = pattern_confidence_by_week(inputs.pattern_runs)
    # One vectorised Wilson interval for every cohort week.
    rates = rate_interval(outcomes["conversions"].to_numpy(float), outcomes["leads_with_outcome"].to_numpy(float))
    cohorts = {row["cohort_week"]: dict(row, _rate=(rates.rate[i], rates.ci_low[i], rates.ci_high[i]))
               for i, row in enumerate(outcomes.to_dict("records"))}
    shipped = shipped_weights(inputs.who_runs, inputs.client_weights, inputs.client_weights_updated_at)
    entries = []
    for start in sorted(set(cohorts) | set(confidence_by_week)):
        weights, source, shipped_at = weights_in_force(shipped, _midnight(start))
        entry: dict[str, Any] = {"week_start": start.isoformat(), "iso_week": _iso_week(start)}
        row = cohorts.get(start)
        if row is not None:
            leads, resolved, conversions = int(row["leads"]), int(row["leads_with_outcome"]), int(row["conversions"])
            rate, ci_low, ci_high = row["_rate"]
            entry.update(json_safe({
                "leads": leads, "leads_with_outcome": resolved, "conversions": conversions,
                "failed": int(row["failed"]), "stale": int(row["stale"]), "in_flight": int(row["in_flight"]),
                "share_resolved": resolved / leads if leads else None,
                "booking_rate": {"rate": rate, "ci_low": ci_low, "ci_high": ci_high,
                                 "sample": resolved, "conversions": conversions},
                "median_days_to_convert": row["median_days_to_convert"] if conversions else None,
                "avg_touches_to_convert": int(row["touches_to_convert"]) / conversions if conversions else None,
            }))
            entry["multi_channel_lift"] = lifts.get(start, dict(_NO_LIFT))
            entry["top_quintile"] = top_quintile(combinations_by_week.get(start, combinations.iloc[0:0]), weights, source, shipped_at)
        else:
            entry.update({"leads": 0, "leads_with_outcome": 0, "conversions": 0, "failed": 0, "stale": 0,
                          "in_flight": 0, "share_resolved": None, "booking_rate": None, "median_days_to_convert": None,
                          "avg_touches_to_convert": None, "multi_channel_lift": None, "top_quintile": None})
        entry["weights_in_force"] = {"weights": weights, "source": source,
                                     "shipped_at": shipped_at.isoformat() if shipped_at else None}
        entry["pattern_confidence"] = confidence_by_week.get(start, dict.fromkeys(PATTERN_TYPES))
        entries.append(entry)
    return entries


def learning_health(inputs: KpiInputs) -> dict[str, Any]:
    """Weight stability across WHO runs and each type's latest stored confidence."""
    latest: dict[str, Any] = {}
    for pattern_type in PATTERN_TYPES:
        runs = inputs.pattern_runs[inputs.pattern_runs["pattern_type"] == pattern_type].sort_values("computed_at", kind="stable")
        latest[pattern_type] = None if runs.empty else json_safe({
            "confidence": float(runs["confidence"].iloc[-1]), "sample_size": int(runs["sample_size"].iloc[-1]),
            "computed_at": runs["computed_at"].iloc[-1].isoformat(), "runs": len(runs)})
    stability = weight_convergence(inputs.who_runs)
    if stability["converged_at"] is not None:
        stability["converged_at"] = stability["converged_at"].isoformat()
    return {"weight_stability": json_safe(stability), "latest_confidence": latest}


def client_kpis(inputs: KpiInputs, *, computed_at: datetime) -> dict[str, Any]:
    """The KPI document of one client (stored in ``client_kpis.kpis``, served by the API)."""
    return {
        "client_id": str(inputs.client_id),
        "version": KPI_VERSION,
        "computed_at": computed_at.isoformat(),
        "as_of": inputs.as_of.isoformat() if inputs.as_of else None,
        "cohort_rule": COHORT_RULE,
        "weeks": weekly_kpis(inputs),
        "learning_health": learning_health(inputs),
    }
