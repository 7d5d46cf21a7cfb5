"""WHAT detector sub-analyses on hand-made sufficient statistics: exact values (no database)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from detectors.snapshot import load_content_vocabulary
from detectors.stats import p_value_against_rest
from detectors.what import LABEL_FAMILY, WhatInputs, detect_what, gate_reason, rank_field

AT = datetime(2025, 6, 30, tzinfo=timezone.utc)
CLIENT = uuid.UUID(int=4)
Z = stats.norm.ppf(0.975)


def inputs(features: list[tuple], populations: list[tuple]) -> WhatInputs:
    """features: (field, category, stratum, touches, conversions[, length_total]); populations: (field, stratum,
    touches, conversions). The client totals are the personalization population (every analysed touch)."""
    feature_stats = pd.DataFrame([(*row, None) if len(row) == 5 else row for row in features],
                                 columns=["field", "category", "touch_number_stratum", "touches", "conversions", "length_total"])
    population_stats = pd.DataFrame(populations, columns=["field", "touch_number_stratum", "touches", "conversions"])
    everyone = population_stats[population_stats["field"] == "personalization"]
    return WhatInputs(CLIENT, int(everyone["touches"].sum()), int(everyone["conversions"].sum()),
                      feature_stats, population_stats, {"censored_touches": 3})


def katz(a: int, n1: int, c: int, n0: int) -> tuple[float, float, float]:
    lift = (a / n1) / (c / n0)
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    return lift, math.exp(math.log(lift) - Z * se), math.exp(math.log(lift) + Z * se)


# Touch 3 converts at 4%, touch 1 at 1%. Pain point "scaling" is only ever used at touch 3, at exactly
# touch 3's rate: no effect. "cost" carries all of touch 1 and half of touch 3.
CONFOUNDED = inputs(
    [("pain_point", "scaling", 3, 500, 20), ("pain_point", "cost", 1, 1000, 10), ("pain_point", "cost", 3, 500, 20)],
    [("pain_point", 1, 1000, 10), ("pain_point", 3, 1000, 40),
     ("personalization", 1, 1000, 10), ("personalization", 3, 1000, 40)],
)


def test_a_phrase_used_only_on_a_high_converting_touch_is_not_a_winner() -> None:
    """Crude: 4% vs 2% for the rest, lift 2.0 and a significant test against the rest — a crude ranking
    would call it a winner. Within touch 3 it converts exactly like the other touch-3 touches: adjusted
    lift 1.0, adjusted (standardised) rate 0.025 = the client's rate, no label."""
    ranking = rank_field(CONFOUNDED, "pain_point").set_index("category")
    scaling, cost = ranking.loc["scaling"], ranking.loc["cost"]
    assert (scaling["sample"], scaling["conversions"]) == (500, 20)
    assert scaling["rate"] == pytest.approx(0.04) and scaling["lift"] == pytest.approx(2.0)
    assert p_value_against_rest(20, 500, 30, 1500).p_value == pytest.approx(0.013113, abs=1e-6)   # crude: "significant"
    assert scaling["adjusted_lift"] == pytest.approx(1.0) and scaling["adjusted_rate"] == pytest.approx(0.025)
    assert cost["lift"] == pytest.approx(0.5) and cost["adjusted_lift"] == pytest.approx(1.0)
    assert cost["adjusted_rate"] == pytest.approx(0.025)
    patterns = detect_what(CONFOUNDED, computed_at=AT).patterns
    assert patterns["pain_points"]["effective"] == [] and patterns["pain_points"]["ineffective"] == []
    assert {e["category"]: e["label"] for e in patterns["pain_points"]["rankings"]} == {"scaling": None, "cost": None}


def test_personalization_lift_with_versus_without() -> None:
    """One stratum: adjusted lift = crude lift = (20/400) / (10/600) = 3 with the Katz interval."""
    data = inputs([("personalization", "company_mention", 1, 400, 20), ("personalization", "none", 1, 600, 10)],
                  [("personalization", 1, 1000, 30)])
    entry = detect_what(data, computed_at=AT).patterns["personalization_lift"]["company_mention"]
    lift, low, high = katz(20, 400, 10, 600)
    assert entry["with"]["sample"] == 400 and entry["with"]["rate"] == 0.05
    assert entry["without"] == pytest.approx({"sample": 600, "conversions": 10, "rate": 0.016667,
                                              "ci_low": entry["without"]["ci_low"], "ci_high": entry["without"]["ci_high"]})
    assert (entry["lift"], entry["ci_low"], entry["ci_high"]) == pytest.approx((lift, low, high), abs=1e-6)
    assert entry["lift"] == pytest.approx(3.0) and entry["raw_lift"] == pytest.approx(3.0)
    assert entry["label"] == "winning"
    # a flag never seen: both rates, no lift
    absent = detect_what(data, computed_at=AT).patterns["personalization_lift"]["recent_news"]
    assert absent["lift"] is None and absent["with"]["sample"] == 0 and absent["without"]["sample"] == 1000


def test_optimal_length_compares_booking_rates_across_bins() -> None:
    """The bin with the best (shrunk, adjusted) rate wins — not the mean length of converting touches:
    60-99 books 3%, the others 1% and 2%; optimal_words = the bin's mean length (80)."""
    data = inputs(
        [("length_email", "0-59", 1, 1000, 10, 40_000), ("length_email", "60-99", 1, 1000, 30, 80_000),
         ("length_email", "100-149", 1, 1000, 20, 120_000)],
        [("length_email", 1, 3000, 60), ("personalization", 1, 3000, 60)],
    )
    email = detect_what(data, computed_at=AT).patterns["optimal_length"]
    assert {k: email["email"][k] for k in ("optimal_words", "range_min", "range_max", "bin", "unit", "rate", "sample")} == {
        "optimal_words": 80, "range_min": 60, "range_max": 99, "bin": "60-99", "unit": "words", "rate": 0.03, "sample": 1000}
    assert [b["category"] for b in email["email"]["bins"]] == ["0-59", "60-99", "100-149"]
    assert [b["mean_length"] for b in email["email"]["bins"]] == [40.0, 80.0, 120.0]
    assert email["linkedin"] is None and email["sms"] is None


def test_ctas_carry_their_type_and_subjects_split_winning_and_losing() -> None:
    vocabulary = load_content_vocabulary()
    data = inputs(
        [("cta", "book a call with me here", 1, 1000, 60), ("cta", "no pressure either way", 1, 1000, 5),
         ("cta", "none", 1, 1000, 25), ("subject_template", "quick_question", 1, 1000, 60),
         ("subject_template", "introduction", 1, 1000, 5), ("subject_template", "none", 1, 1000, 25)],
        [("cta", 1, 3000, 90), ("subject_template", 1, 3000, 90), ("personalization", 1, 3000, 90)],
    )
    patterns = detect_what(data, computed_at=AT).patterns
    assert [(e["category"], e["cta_type"]) for e in patterns["ctas"]["effective"]] == [("book a call with me here", "direct_ask")]
    assert [e["category"] for e in patterns["ctas"]["ineffective"]] == ["no pressure either way"]
    assert vocabulary.cta_type("no pressure either way") == "casual"
    assert [e["category"] for e in patterns["subject_patterns"]["winning"]] == ["quick_question"]
    assert [e["category"] for e in patterns["subject_patterns"]["losing"]] == ["introduction"]
    # 'none' (no CTA / no template) is counted in the population, never ranked
    assert "none" not in {e["category"] for e in patterns["ctas"]["rankings"]}
    # one BH family over every labelled field of the client
    p_values = [e["p_value"] for e in patterns["ctas"]["rankings"] + patterns["subject_patterns"]["rankings"]]
    assert [e["q_value"] for e in patterns["ctas"]["rankings"]] == pytest.approx(
        list(stats.false_discovery_control(p_values)[:2]), abs=1e-6)
    assert patterns["label_family"] == list(LABEL_FAMILY)
    assert patterns["exclusions"] == {"censored_touches": 3}
    assert (patterns["sample_size"], patterns["conversions"], patterns["baseline_rate"]) == (3000, 90, 0.03)


def test_gate() -> None:
    assert gate_reason(20, 5) is None
    assert gate_reason(19, 5) == "not enough data: 19 touches with content (needs 20)"
    assert gate_reason(100, 4) == "not enough data: 4 converting touches (needs 5)"
    thin = inputs([("cta", "none", 1, 19, 4)], [("cta", 1, 19, 4), ("personalization", 1, 19, 4)])
    result = detect_what(thin, computed_at=AT)
    assert result.patterns is None and result.sample_size == 19 and result.conversions == 4
    assert result.confidence == pytest.approx(4 / 12)


def test_categories_below_min_sample_are_reported_but_not_ranked() -> None:
    data = inputs([("angle", "urgency", 1, 4, 2), ("angle", "curiosity", 1, 500, 10)],
                  [("angle", 1, 1000, 20), ("personalization", 1, 1000, 20)])
    rankings = {e["category"]: e for e in detect_what(data, computed_at=AT).patterns["angles"]["rankings"]}
    assert rankings["urgency"]["is_ranked"] is False and rankings["urgency"]["label"] is None
    assert rankings["urgency"]["rank"] is None and rankings["curiosity"]["rank"] == 1
    assert np.isclose(rankings["curiosity"]["lift"], (10 / 500) / (10 / 500))
