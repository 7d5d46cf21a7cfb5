"""WHEN detector on hand-made sufficient statistics: exact values (SPEC §6, §7 when)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pandas as pd
import pytest
from scipy import stats

from dagster_pipelines.assets.when import when_summary_lines
from detectors.when import (
    DEFAULT_GAPS,
    MIN_CONVERSIONS,
    WhenInputs,
    avg_touches_to_convert,
    converting_touch_distribution,
    detect_when,
    expected_bookings,
    sequence_gaps,
    slot_rankings,
)

AS_OF = datetime(2025, 6, 30, tzinfo=timezone.utc)

# Touch 1 collects the most bookings (30) because every lead reaches it; touch 3 has the highest hazard
# (25 / 500 = 5% against 30 / 1000 = 3%).
HAZARD = pd.DataFrame({
    "touch_number": [1, 2, 3, 4, 5],
    "leads_reached": [1000, 700, 500, 300, 150],
    "bookings": [30, 14, 25, 6, 2],
    "censored_after": [100, 50, 40, 20, 10],
    "failed_after": [170, 136, 135, 124, 138],
    "stale_after": [0, 0, 0, 0, 0],
})
# Monday is sent mostly as touch 1 (stratum 1 books 10%, stratum 2 4%), Tuesday mostly as touch 2:
# Monday's crude rate (9%) beats Tuesday's (5%), but within each stratum Tuesday is as good or better.
# Hours 9 and 10 repeat the same counts.
SLOTS = pd.DataFrame(
    [(dimension, slot, stratum, touches, bookings)
     for dimension, slots in (("day", (0, 1)), ("hour", (9, 10)))
     for slot, stratum, touches, bookings in ((slots[0], 1, 180, 18), (slots[0], 2, 20, 0),
                                              (slots[1], 1, 20, 2), (slots[1], 2, 180, 8))],
    columns=["dimension", "slot", "touch_stratum", "touches", "bookings"],
)
GAPS = pd.DataFrame({
    "gap_number": [1, 2, 3, 4],
    "sequences": [10, 8, 4, 20],
    "mean_days": [0.5, 3.5, 4.2, 25.0],
    "median_days": [0.4, 3.26, 4.1, 30.0],
    "p25_days": [0.2, 2.0, 3.0, 20.0],
    "p75_days": [0.7, 4.0, 5.0, 35.0],
})
TIMING = {"avg_days_to_convert": 9.5, "median_days_to_convert": 7.25, "p80_days_to_convert": 14.0,
          "p95_days_to_convert": 30.5}


def inputs(conversions: int = 77, hazard: pd.DataFrame = HAZARD) -> WhenInputs:
    return WhenInputs(uuid.UUID(int=1), touched_leads=1000, touches=2650, conversions=conversions, in_flight=220,
                      hazard=hazard, slot_stats=SLOTS, gaps=GAPS, timing=TIMING,
                      timezones={"leads_timezone_lead": 900, "leads_timezone_client": 90, "leads_timezone_default": 10,
                                 "leads_missing_timezone": 95, "leads_invalid_timezone": 5,
                                 "client_timezone": "Europe/Berlin", "has_valid_client_timezone": True})


@pytest.fixture(scope="module")
def patterns() -> dict:
    result = detect_when(inputs(), computed_at=AS_OF)
    assert result.patterns is not None
    return result.patterns


def test_pattern_has_every_spec_key_and_its_time_basis(patterns: dict) -> None:
    for key in ("type", "version", "computed_at", "sample_size", "confidence", "time_basis", "best_days", "best_hours",
                "converting_touch_distribution", "touch_hazard", "peak_converting_touch", "avg_touches_to_convert",
                "optimal_sequence_gaps", "conversion_timing"):
        assert key in patterns, key
    assert patterns["type"] == "when" and patterns["time_basis"] == "lead_local"
    assert patterns["timezone_fallbacks"]["leads_invalid_timezone"] == 5
    assert (patterns["sample_size"], patterns["conversions"], patterns["touches"]) == (1000, 77, 2650)
    assert patterns["confidence"] == round(77 / 85, 6)
    assert patterns["baseline_rate"] == round(77 / 780, 6)           # in-flight leads have no final rate
    assert patterns["per_touch_booking_rate"] == round(77 / 2650, 6)


def test_peak_is_the_touch_with_the_highest_hazard_not_the_most_bookings(patterns: dict) -> None:
    hazard = {e["touch_number"]: e for e in patterns["touch_hazard"]}
    assert [e["touch_number"] for e in patterns["touch_hazard"]] == [1, 2, 3, 4, 5]
    assert max(hazard, key=lambda k: hazard[k]["bookings"]) == 1
    assert [hazard[k]["hazard"] for k in range(1, 6)] == [0.03, 0.02, 0.05, 0.02, 0.013333]
    # Wilson interval (scipy's) on bookings / leads reached.
    ci = stats.binomtest(25, 500).proportion_ci(method="wilson")
    assert (hazard[3]["ci_low"], hazard[3]["ci_high"]) == (round(ci.low, 6), round(ci.high, 6)) == (0.034094, 0.072768)
    assert hazard[1]["censored_after"] == 100 and hazard[5]["failed_after"] == 138
    assert patterns["peak_converting_touch"]["touch_number"] == 3
    assert patterns["peak_converting_touch"]["hazard"] == 0.05
    assert hazard[3]["rank"] == 1 and hazard[1]["rank"] == 2


def test_days_and_hours_rank_by_the_position_adjusted_rate_with_the_raw_rate_beside(patterns: dict) -> None:
    days = patterns["best_days"]
    assert [(e["day"], e["day_of_week"], e["rank"]) for e in days] == [("tuesday", 1, 1), ("monday", 0, 2)]
    tuesday, monday = days
    assert (monday["rate"], tuesday["rate"]) == (0.09, 0.05)                 # raw: Monday looks better
    # Mantel–Haenszel by hand. Tuesday vs Monday: stratum 1 a·n0/N = 2·180/200, c·n1/N = 18·20/200;
    # stratum 2: 8·20/200 and 0 -> (1.8 + 0.8) / 1.8.
    assert tuesday["adjusted_lift"] == round(2.6 / 1.8, 6) == 1.444444
    assert monday["adjusted_lift"] == round(1.8 / 2.6, 6)
    # Standardised rate m·O/E: m = 28/400, stratum rates 0.10 and 0.04; Tuesday E = 20·0.1 + 180·0.04 = 9.2.
    assert (tuesday["expected_bookings"], monday["expected_bookings"]) == (9.2, 18.8)
    assert tuesday["adjusted_rate"] == round(0.07 * 10 / 9.2, 6) == 0.076087
    assert monday["adjusted_rate"] == round(0.07 * 18 / 18.8, 6)
    assert [(e["hour"], e["rank"]) for e in patterns["best_hours"]] == [(10, 1), (9, 2)]
    # Days and hours share one BH family: four tests with the same CMH p -> q = p for all four.
    q_values = {e["q_value"] for e in days + patterns["best_hours"]}
    assert q_values == {days[0]["p_value"]} and all(e["label"] is None for e in days)
    assert patterns["label_family"] == ["day", "hour"]


def test_slots_expecting_fewer_than_five_bookings_are_ranked_but_not_tested() -> None:
    """Hour 20: 40 touches, 6 bookings against an expected 40·0.025 = 1 — ranked first by its shrunk
    adjusted rate but not tested (p = q = NaN, no label): the CMH χ² is unreliable at E < 5. Hour 9
    expects 1000·0.025 = 25 and is tested (stratum rate 26 / 1040)."""
    rows = pd.DataFrame([("day", 0, 1, 1040, 26), ("hour", 9, 1, 1000, 20), ("hour", 20, 1, 40, 6)],
                        columns=["dimension", "slot", "touch_stratum", "touches", "bookings"])
    assert expected_bookings(rows[rows["dimension"] == "hour"]).round(6).to_dict() == {9: 25.0, 20: 1.0}
    hours = {int(e["hour"]): e for e in slot_rankings(rows)["hour"].to_dict("records")}
    assert hours[20]["rank"] == 1 and hours[20]["expected_bookings"] == 1.0
    assert pd.isna(hours[20]["p_value"]) and pd.isna(hours[20]["q_value"]) and hours[20]["label"] is None
    assert hours[9]["expected_bookings"] == 25.0 and not pd.isna(hours[9]["p_value"])


def test_distribution_and_average_touches_to_convert() -> None:
    hazard = pd.DataFrame({"touch_number": [1, 2, 9, 10, 11, 12], "leads_reached": [50, 40, 20, 10, 8, 4],
                           "bookings": [4, 2, 1, 1, 1, 1]})
    distribution = converting_touch_distribution(hazard)
    assert list(distribution) == [f"touch_{k}" for k in range(1, 11)]
    assert {k: v["conversions"] for k, v in distribution.items()} == {
        "touch_1": 4, "touch_2": 2, "touch_3": 0, "touch_4": 0, "touch_5": 0, "touch_6": 0, "touch_7": 0,
        "touch_8": 0, "touch_9": 1, "touch_10": 3}                         # touch_10 = touches 10, 11, 12
    assert distribution["touch_1"]["share"] == 0.4 and distribution["touch_10"]["share"] == 0.3
    # Exact touch numbers in the mean: (4 + 4 + 9 + 10 + 11 + 12) / 10.
    assert avg_touches_to_convert(hazard) == 5.0
    assert avg_touches_to_convert(hazard.assign(bookings=0)) is None


def test_gaps_are_clamped_medians_of_converted_sequences_with_defaults_where_thin(patterns: dict) -> None:
    assert patterns["optimal_sequence_gaps"] == {
        "touch_1_to_2": 1.0,     # median 0.4 clamped up to 1
        "touch_2_to_3": 3.3,     # median 3.26
        "touch_3_to_4": 4.0,     # 4 sequences < 5: default
        "touch_4_to_5": 14.0,    # median 30 clamped down to 14
        "touch_5_to_6": 7.0,     # no converted sequence reached touch 6: default
    }
    assert patterns["defaulted_gaps"] == ["touch_3_to_4", "touch_5_to_6"]
    details = patterns["sequence_gap_details"]
    assert details["touch_1_to_2"] == {"days": 1.0, "source": "data", "sequences": 10, "median_days": 0.4,
                                       "mean_days": 0.5, "p25_days": 0.2, "p75_days": 0.7, "clamped": True}
    assert details["touch_3_to_4"]["source"] == "default" and details["touch_3_to_4"]["median_days"] == 4.1
    values, _, defaulted = sequence_gaps(GAPS.iloc[0:0])
    assert tuple(values.values()) == DEFAULT_GAPS and len(defaulted) == 5


def test_conversion_timing_is_from_the_first_touch(patterns: dict) -> None:
    assert patterns["conversion_timing"] == {
        "avg_days_to_convert": 9.5, "median_days_to_convert": 7.25, "percentile_50": 7.25, "percentile_80": 14.0,
        "percentile_95": 30.5, "sample": 77, "measured_from": "first_touch"}


def test_gate_needs_five_conversions() -> None:
    below = detect_when(inputs(conversions=MIN_CONVERSIONS - 1), computed_at=AS_OF)
    assert below.patterns is None
    assert below.gate_reason == "not enough data: 4 conversions (needs 5)"
    assert detect_when(inputs(conversions=MIN_CONVERSIONS), computed_at=AS_OF).patterns is not None


def test_summary_lines_for_people(patterns: dict) -> None:
    lines = when_summary_lines(patterns)
    assert lines[1] == "days        tuesday 7.61% adj (5.00% raw, n=200) · monday 6.70% adj (9.00% raw, n=200)"
    assert lines[3] == "hazard      1:3.0% 2:2.0% 3:5.0% 4:2.0% 5:1.3%; peak at touch 3"
    assert lines[5] == "gaps        1→2 1d, 2→3 3.3d, 3→4 4d, 4→5 14d, 5→6 7d (defaulted: touch_3_to_4, touch_5_to_6)"


def test_day_hour_counts_are_the_grid_in_day_then_hour_order() -> None:
    from detectors.when import day_hour_counts

    grid = pd.DataFrame({"day": [2, 0, 0], "hour": [9, 14, 8], "touches": [30, 12, 40], "bookings": [1, 0, 3]})
    assert day_hour_counts(grid) == [
        {"day": 0, "hour": 8, "touches": 40, "bookings": 3},
        {"day": 0, "hour": 14, "touches": 12, "bookings": 0},
        {"day": 2, "hour": 9, "touches": 30, "bookings": 1},
    ]
    assert day_hour_counts(None) == [] and day_hour_counts(grid.iloc[0:0]) == []
