"""HOW detector: which channels, channel mixes and sequences book meetings (SPEC §7 how).

Input is one client's sufficient statistics from the HOW marts (``HowInputs``): distinct channel paths
of the leads with a final outcome with their lead and conversion counts, per-touch counts by touch
number, channel, channels used so far and ALS tier, and channel-transition counts — never one row per
lead. Every list entry carries the SPEC §6 statistics (``detectors.stats``): sample, conversions,
Wilson interval, shrunk rate used for ranking, lift with interval, p- and BH q-value, and a
``winning``/``losing`` label only when q < 0.10.

Two units of analysis, chosen per question so that exposure is equal inside each comparison:

* **Leads** (final outcome only: converted, or failed/stale as not converted; in-flight leads are
  censored) for what is fixed when a lead starts or reaches a point of its sequence:
  ``first_touch_effectiveness`` (first channel; rate = bookings / leads), ``winning_sequences`` and
  the naive channel-count rates shown for reference.
* **Touches** (per-touch hazard: a touch's booking = the lead booked right after it) for what
  changes along the sequence: ``booking_channel_distribution``, ``multi_channel_lift``,
  ``channel_effectiveness_by_tier`` and ``channel_transitions``. Every lead contributes each touch it
  reached until its outcome; the last touch of an in-flight lead is left out (its outcome is unknown).

multi_channel_lift — equal exposure
    Counting a lead's channels over its whole path and comparing final booking rates is biased both
    ways: a booked lead stops at its converting touch (short path, few channels), a failed lead stops
    early too, and a stale lead ran its full sequence (many touches, many channels, no booking). Touch
    count drives channel count, so "more channels" mostly means "more touches" — or fewer, when the
    sequence stopped at a booking. Instead the exposure unit is the touch: at touch ``k`` a lead has
    used ``m_k`` distinct channels (touches 1..k), and the event is a booking right after touch ``k``.
    Buckets 1, 2, 3 and 4+ channels are compared only among touches with the same touch number, the
    same channel on that touch and the same first channel of the lead (strata ``s = (k, channel,
    first channel)``: the first channel carries a lead-level effect and decides which leads can still
    be single-channel), pooled by Mantel–Haenszel::

        RR_MH(m vs 1) = Σ_s a_s·n0_s/N_s / Σ_s c_s·n1_s/N_s

    with the Greenland–Robins interval (``detectors.stats.mantel_haenszel_risk_ratio``). A lead that
    booked at touch 3 contributes touches 1–3 and nothing after; a failed lead contributes the touches
    it had; neither is compared with leads at other touch numbers, so neither stopping rule can read
    as a channel-mix effect. Within each stratum the channel history is the only difference; when the
    booking hazard does not depend on it the ratio is 1 whatever failures and bookings do to path
    lengths (the null world of the tests shows the naive lead-level comparison far from 1 there).
    Each bucket also carries the family ranking (``rank_categories_adjusted``: adjusted rate, MH lift
    against the other buckets, CMH p, BH q over the four buckets); ``optimal_channel_count`` is the
    bucket ranked first by shrunk adjusted rate (4 = four or more).

winning_sequences — prefixes at equal exposure
    A prefix ``(c_1..c_j)``, ``j ≤ 6``, is compared only with other prefixes of the same length, by the
    booking hazard right after its last touch: its sample is the leads with a final outcome whose first
    ``j`` touches were exactly it (they all reached touch ``j``), its conversions those of them that
    booked right after touch ``j``. Counting later bookings as well would not be equal exposure:
    campaigns differ in sequence length and channel mix, so a prefix typical of long campaigns would
    look better merely because its leads had more touches left. The baseline of length ``j`` is the
    hazard at touch ``j`` of all leads that reached it; the shrunk rate (empirical Bayes toward that
    baseline) divided by it is ``shrunk_lift``, which orders the list across lengths (``rank``;
    ranking by the raw shrunk rate would only sort by touch number, whose baseline hazards differ).
    p-values: each prefix against the other prefixes of its length; q-values: ONE Benjamini–Hochberg
    family over every tested prefix of every length, so a client with no sequence effect labels
    nothing in about 90% of cases. The list holds the best ``sequence_limit`` ranked prefixes plus any
    other labelled ones.

first_touch_effectiveness / best_first_channel / booking_channel_distribution
    Leads by the channel of their first touch, ranked by shrunk rate (``rank_categories`` toward the
    client's booking rate); ``best_first_channel`` is the channel ranked first (None when no channel
    has ``min_sample`` leads), its label says whether it is significant. The booking channel is the
    channel of the converting touch: its share of the bookings (Wilson interval) beside the per-touch
    booking rate of the channel adjusted for touch number (``rank_categories_adjusted``).

markov_attribution
    First-order absorbing Markov chain on the distinct paths, removal effects by an exact linear
    solve (``detectors.markov``); attributed conversions sum to the observed conversions. Each channel
    also reports the leads whose path contains it, their conversions, rate and Wilson interval.

channel_effectiveness_by_tier
    Per ALS tier at first touch (SPEC §4), the per-touch booking rate of each channel, adjusted for
    touch number (``rank_categories_adjusted`` with strata = touch_number); labels from one BH family
    over all tiers × channels.

Gate: ≥ 5 conversions and ≥ 20 leads with a final outcome (among leads with at least one touch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd

from detectors.markov import PATH_SEPARATOR, markov_attribution
from detectors.result import DetectorResult, minimum_data_reason
from detectors.stats import (
    DEFAULT_MIN_SAMPLE,
    DEFAULT_Q_THRESHOLD,
    AgencyPrior,
    confidence,
    json_safe,
    lift_interval,
    mantel_haenszel_risk_ratio,
    rank_categories,
    rank_categories_adjusted,
    rate_interval,
    relabel_jointly,
    to_records,
)

PATTERN_VERSION = 1
MIN_CONVERSIONS = 5
MIN_OUTCOMES = 20
MAX_SEQUENCE_LENGTH = 6
SEQUENCE_LIMIT = 25
CHANNEL_COUNT_BUCKETS: tuple[str, ...] = ("1_channel", "2_channels", "3_channels", "4_plus_channels")
TIERS: tuple[str, ...] = ("hot", "warm", "cool", "cold", "dead", "unknown")

PATH_COLUMNS = ["channel_path", "touches", "distinct_channels", "first_channel", "leads", "conversions"]
TOUCH_COLUMNS = ["touch_number", "channel", "channels_so_far", "first_channel", "als_tier", "touches", "bookings"]
TRANSITION_COLUMNS = ["from_channel", "to_channel", "transitions", "bookings"]


@dataclass(frozen=True)
class HowInputs:
    """One client's HOW sufficient statistics (see the module docstring for the units)."""

    client_id: UUID
    leads_with_outcome: int
    conversions: int
    paths: pd.DataFrame          # PATH_COLUMNS: distinct paths of leads with a final outcome
    touch_stats: pd.DataFrame    # TOUCH_COLUMNS: touches reached and bookings after them
    transitions: pd.DataFrame    # TRANSITION_COLUMNS


def gate_reason(leads_with_outcome: int, conversions: int) -> str | None:
    """Why the HOW gate fails (SPEC §7: ≥ 5 conversions and ≥ 20 leads with an outcome), or None."""
    return minimum_data_reason((conversions, MIN_CONVERSIONS, "conversions"),
                               (leads_with_outcome, MIN_OUTCOMES, "leads with an outcome"))


def detect_how(
    inputs: HowInputs,
    *,
    computed_at: datetime,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    q_threshold: float = DEFAULT_Q_THRESHOLD,
    max_sequence_length: int = MAX_SEQUENCE_LENGTH,
    sequence_limit: int = SEQUENCE_LIMIT,
    agency_priors: Mapping[str, AgencyPrior] | None = None,
) -> DetectorResult:
    """``agency_priors["first_channel"]`` (``detectors.agency.how_agency_priors``) shrinks each first
    channel's booking rate toward the client's baseline × the agency's lift; None = today's rule."""
    reason = gate_reason(inputs.leads_with_outcome, inputs.conversions)
    if reason:
        return DetectorResult(inputs.client_id, "how", None, inputs.leads_with_outcome,
                              confidence(inputs.conversions), inputs.conversions, gate_reason=reason)
    baseline = inputs.conversions / inputs.leads_with_outcome
    priors = dict(agency_priors or {})
    first = first_touch_effectiveness(inputs.paths, baseline, min_sample, q_threshold, priors.get("first_channel"))
    channel_counts = multi_channel_lift(inputs.touch_stats, inputs.paths, min_sample, q_threshold)
    patterns: dict[str, Any] = {
        "type": "how",
        "version": PATTERN_VERSION,
        "computed_at": computed_at.isoformat(),
        "sample_size": inputs.leads_with_outcome,
        "conversions": inputs.conversions,
        "baseline_rate": json_safe(baseline),
        "confidence": json_safe(confidence(inputs.conversions)),
        "min_sample": min_sample,
        "q_threshold": q_threshold,
        "booking_channel_distribution": booking_channel_distribution(inputs.touch_stats, min_sample, q_threshold),
        "first_touch_effectiveness": {f"{entry['channel']}_first": entry for entry in first},
        "best_first_channel": next((e["channel"] for e in first if e["rank"] == 1), None),
        "multi_channel_lift": channel_counts,
        "optimal_channel_count": optimal_channel_count(channel_counts),
        "winning_sequences": winning_sequences(inputs.paths, min_sample, q_threshold, max_sequence_length, sequence_limit),
        "channel_effectiveness_by_tier": channel_effectiveness_by_tier(inputs.touch_stats, min_sample, q_threshold),
        "channel_transitions": channel_transitions(inputs.transitions),
        "markov_attribution": markov_summary(inputs.paths),
    }
    if priors:
        patterns["shrinkage_prior"] = {"target": "client baseline x agency lift (other clients pooled)",
                                       "fields": sorted(priors)}
    return DetectorResult(inputs.client_id, "how", patterns, inputs.leads_with_outcome,
                          confidence(inputs.conversions), inputs.conversions)


def _renamed(frame: pd.DataFrame, name: str) -> list[dict[str, Any]]:
    return to_records(frame.rename(columns={"category": name}))


def booking_channel_distribution(touch_stats: pd.DataFrame, min_sample: int, q_threshold: float) -> list[dict[str, Any]]:
    """Per channel: bookings after its touches and their share of all bookings (Wilson interval), and the
    per-touch booking rate adjusted for touch number (MH against the other channels)."""
    ranked = rank_categories_adjusted(
        touch_stats, category_col="channel", stratum_col="touch_number", conversions_col="bookings",
        sample_col="touches", min_sample=min_sample, q_threshold=q_threshold,
    )
    total = int(ranked["conversions"].sum())
    share = rate_interval(ranked["conversions"].to_numpy(float), np.full(len(ranked), float(total)))
    ranked.insert(1, "bookings", ranked["conversions"])
    ranked.insert(2, "share", share.rate)
    ranked.insert(3, "share_ci_low", share.ci_low)
    ranked.insert(4, "share_ci_high", share.ci_high)
    return _renamed(ranked, "channel")


def first_touch_effectiveness(paths: pd.DataFrame, baseline: float, min_sample: int, q_threshold: float,
                              agency_prior: AgencyPrior | None = None) -> list[dict[str, Any]]:
    """Booking rate of leads by the channel of their first touch (rank_categories over leads)."""
    ranked = rank_categories(
        paths, category_col="first_channel", sample_col="leads", baseline_rate=baseline,
        min_sample=min_sample, q_threshold=q_threshold, agency_prior=agency_prior,
    )
    return _renamed(ranked, "channel")


def channel_count_bucket(count: pd.Series) -> pd.Series:
    """1, 2, 3, 4+ distinct channels -> the keys of multi_channel_lift."""
    return pd.Series(np.array(CHANNEL_COUNT_BUCKETS, dtype=object)[np.clip(count.to_numpy(int), 1, 4) - 1], index=count.index)


def multi_channel_lift(touch_stats: pd.DataFrame, paths: pd.DataFrame, min_sample: int, q_threshold: float) -> dict[str, Any]:
    """Channel-count buckets compared at equal exposure (module docstring), with the naive lead-level
    comparison beside them for reference."""
    touches = touch_stats.assign(
        bucket=channel_count_bucket(touch_stats["channels_so_far"]),
        stratum=touch_stats["touch_number"].astype(str) + ":" + touch_stats["channel"].astype(str)
        + ":" + touch_stats["first_channel"].astype(str),
    )
    ranked = rank_categories_adjusted(
        touches, category_col="bucket", stratum_col="stratum", conversions_col="bookings", sample_col="touches",
        min_sample=min_sample, q_threshold=q_threshold,
    ).set_index("category")
    per_stratum = touches.pivot_table(index="stratum", columns="bucket", values=["bookings", "touches"],
                                      aggfunc="sum", fill_value=0)
    leads = paths.assign(bucket=channel_count_bucket(paths["distinct_channels"])).groupby("bucket")[["leads", "conversions"]].sum()
    single_leads = leads.loc["1_channel"] if "1_channel" in leads.index else pd.Series({"leads": 0, "conversions": 0})
    result: dict[str, Any] = {}
    for bucket in CHANNEL_COUNT_BUCKETS:
        if bucket not in ranked.index:
            result[bucket] = None
            continue
        entry = ranked.loc[bucket].to_dict()
        if bucket == "1_channel" or "1_channel" not in ranked.index:
            versus = dict(lift_vs_1_channel=1.0 if bucket == "1_channel" else np.nan, lift_vs_1_channel_ci_low=np.nan,
                          lift_vs_1_channel_ci_high=np.nan, lift_vs_1_channel_p_value=np.nan, strata_used=0)
        else:
            effect = mantel_haenszel_risk_ratio(
                per_stratum[("bookings", bucket)], per_stratum[("touches", bucket)],
                per_stratum[("bookings", "1_channel")], per_stratum[("touches", "1_channel")],
            )
            versus = dict(lift_vs_1_channel=effect.risk_ratio, lift_vs_1_channel_ci_low=effect.ci_low,
                          lift_vs_1_channel_ci_high=effect.ci_high, lift_vs_1_channel_p_value=effect.p_value,
                          strata_used=effect.strata_used)
        naive = leads.loc[bucket] if bucket in leads.index else pd.Series({"leads": 0, "conversions": 0})
        naive_rate = rate_interval(naive["conversions"], naive["leads"])
        naive_lift = lift_interval(naive["conversions"], naive["leads"], single_leads["conversions"], single_leads["leads"])
        result[bucket] = json_safe({
            "channels": bucket,
            "unit": "touch",
            **entry,
            **versus,
            "naive_lead_level": {
                "leads": naive["leads"], "conversions": naive["conversions"], "rate": naive_rate.rate,
                "ci_low": naive_rate.ci_low, "ci_high": naive_rate.ci_high,
                "lift_vs_1_channel": naive_lift.lift if bucket != "1_channel" else 1.0,
                "lift_ci_low": naive_lift.ci_low if bucket != "1_channel" else None,
                "lift_ci_high": naive_lift.ci_high if bucket != "1_channel" else None,
            },
        })
    return result


def optimal_channel_count(channel_counts: dict[str, Any]) -> int | None:
    """The bucket ranked first by shrunk adjusted rate, as a number (4 = four or more)."""
    for position, bucket in enumerate(CHANNEL_COUNT_BUCKETS, start=1):
        entry = channel_counts.get(bucket)
        if entry and entry.get("rank") == 1:
            return position
    return None


def sequence_prefixes(paths: pd.DataFrame, max_length: int) -> pd.DataFrame:
    """Per prefix of length 1..max_length: the leads whose path starts with it (they reached that touch
    on it) and the bookings right after its last touch (converted leads whose whole path is the
    prefix). Built from the distinct paths, weighted by their counts."""
    # Summed in a dict keyed (length, prefix) and emitted in key order: the rows and order a grouped sum
    # sorted by (length, sequence) gives, without a DataFrame row per (path, prefix).
    totals: dict[tuple[int, str], list[int]] = {}
    for path, leads, conversions in zip(paths["channel_path"].tolist(), paths["leads"].tolist(),
                                        paths["conversions"].tolist()):
        channels = str(path).split(PATH_SEPARATOR)
        for length in range(1, min(len(channels), max_length) + 1):
            total = totals.setdefault((length, PATH_SEPARATOR.join(channels[:length])), [0, 0])
            total[0] += int(leads)
            total[1] += int(conversions) if length == len(channels) else 0
    keys = sorted(totals)
    return pd.DataFrame({
        "length": np.array([length for length, _ in keys], dtype=np.int64),
        "sequence": [sequence for _, sequence in keys],
        "leads": np.array([totals[key][0] for key in keys], dtype=np.int64),
        "conversions": np.array([totals[key][1] for key in keys], dtype=np.int64),
    })


def winning_sequences(paths: pd.DataFrame, min_sample: int, q_threshold: float, max_length: int, limit: int) -> list[dict[str, Any]]:
    """Sequence prefixes ranked by shrunk lift over their length's baseline; one BH family (module docstring)."""
    prefixes = sequence_prefixes(paths, max_length)
    if prefixes.empty:
        return []
    families: dict[str, pd.DataFrame] = {}
    for length, group in prefixes.groupby("length"):
        baseline = group["conversions"].sum() / group["leads"].sum()
        ranked = rank_categories(group, category_col="sequence", sample_col="leads", baseline_rate=baseline,
                                 min_sample=min_sample, q_threshold=q_threshold)
        families[str(length)] = ranked.assign(length=int(length), baseline_rate=baseline,
                                              shrunk_lift=ranked["shrunk_rate"] / baseline if baseline > 0 else np.nan)
    combined = pd.concat(relabel_jointly(families, q_threshold=q_threshold).values(), ignore_index=True)
    ranked_rows = combined[combined["is_ranked"]].copy()
    ranked_rows["_key"] = ranked_rows["category"].astype(str)
    ranked_rows = ranked_rows.sort_values(["shrunk_lift", "sample", "_key"], ascending=[False, False, True])
    ranked_rows["rank"] = np.arange(1, len(ranked_rows) + 1)
    keep = (ranked_rows["rank"] <= limit) | ranked_rows["label"].notna()
    listed = ranked_rows[keep]
    # Rows as dicts of their cells (json_safe below normalises the scalar types), not iterrows' Series.
    columns = [str(column) for column in listed.columns]
    cells = [listed.iloc[:, position].to_numpy(dtype=object) for position in range(listed.shape[1])]
    return [
        json_safe({
            "sequence": str(row["category"]).split(PATH_SEPARATOR),
            "length": row["length"],
            "conversion_rate": row["rate"],
            "sample_size": row["sample"],
            "conversions": row["conversions"],
            "ci_low": row["ci_low"],
            "ci_high": row["ci_high"],
            "shrunk_rate": row["shrunk_rate"],
            "baseline_rate": row["baseline_rate"],
            "shrunk_lift": row["shrunk_lift"],
            "lift": row["lift"],
            "lift_ci_low": row["lift_ci_low"],
            "lift_ci_high": row["lift_ci_high"],
            "p_value": row["p_value"],
            "q_value": row["q_value"],
            "label": row["label"],
            "rank": row["rank"],
        })
        for row in (dict(zip(columns, values)) for values in zip(*cells))
    ]


def channel_effectiveness_by_tier(touch_stats: pd.DataFrame, min_sample: int, q_threshold: float) -> dict[str, Any]:
    """Per ALS tier at first touch: channels ranked by per-touch rate adjusted for touch number."""
    frames: dict[str, pd.DataFrame] = {}
    # Each tier's rows by position from one pass over the tier column (row order kept), not a filter of
    # every touch row per tier.
    codes, tiers = pd.factorize(touch_stats["als_tier"], sort=False)
    positions = {tier: np.flatnonzero(codes == code) for code, tier in enumerate(tiers)}
    present = set(touch_stats["als_tier"])
    for tier in [t for t in TIERS if t in present] + sorted(present - set(TIERS)):
        rows = touch_stats.iloc[positions.get(tier, np.empty(0, dtype=np.intp))]
        frames[tier] = rank_categories_adjusted(
            rows, category_col="channel", stratum_col="touch_number", conversions_col="bookings",
            sample_col="touches", min_sample=min_sample, q_threshold=q_threshold,
        )
    frames = relabel_jointly(frames, q_threshold=q_threshold, effect_col="adjusted_lift")
    return {tier: {str(record["category"]): record for record in to_records(frame)} for tier, frame in frames.items()}


def channel_transitions(transitions: pd.DataFrame) -> list[dict[str, Any]]:
    """Each observed channel change k → k+1: count, share of the from-channel's transitions, and the
    per-touch booking rate of the touch it led to (Wilson interval)."""
    if transitions.empty:
        return []
    frame = transitions.sort_values(["from_channel", "to_channel"]).reset_index(drop=True)
    outgoing = frame.groupby("from_channel")["transitions"].transform("sum")
    rate = rate_interval(frame["bookings"].to_numpy(float), frame["transitions"].to_numpy(float))
    result = pd.DataFrame({
        "from": frame["from_channel"], "to": frame["to_channel"], "transitions": frame["transitions"],
        "share_of_from": frame["transitions"] / outgoing, "bookings": frame["bookings"],
        "rate": rate.rate, "ci_low": rate.ci_low, "ci_high": rate.ci_high,
    })
    return to_records(result)


def markov_summary(paths: pd.DataFrame) -> dict[str, Any]:
    """Removal effects and attributed conversions, with each channel's path-level counts."""
    attribution = markov_attribution(paths["channel_path"], paths["leads"], paths["conversions"])
    frame = attribution.frame()
    split = [str(path).split(PATH_SEPARATOR) for path in paths["channel_path"].tolist()]
    leads, converted = paths["leads"].to_numpy(), paths["conversions"].to_numpy()
    sample, conversions = [], []
    for channel in attribution.channels:
        contains = np.array([channel in channels for channels in split], dtype=bool)
        sample.append(int(leads[contains].sum()))
        conversions.append(int(converted[contains].sum()))
    rate = rate_interval(np.array(conversions, float), np.array(sample, float))
    frame = frame.assign(leads_with_channel=sample, conversions_with_channel=conversions,
                         rate=rate.rate, ci_low=rate.ci_low, ci_high=rate.ci_high)
    frame = frame.sort_values(["removal_effect", "channel"], ascending=[False, True]).reset_index(drop=True)
    return json_safe({
        "method": "first-order absorbing Markov chain, removal effect (exact linear solve)",
        "leads": attribution.leads,
        "conversions": attribution.conversions,
        "conversion_probability": attribution.conversion_probability,
        "channels": to_records(frame),
        "largest_removal_effect": frame["channel"].iloc[0] if len(frame) and np.isfinite(frame["removal_effect"].iloc[0]) else None,
    })
