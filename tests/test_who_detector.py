"""WHO detector on small hand-made sufficient statistics: exact values for every sub-analysis."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from pytest import approx
from scipy import stats

from detectors.stats import rank_categories
from detectors.who import WhoInputs, detect_who, gate_reason, size_analysis, timing_signals

NOW = datetime(2026, 6, 7, 2, 0, tzinfo=timezone.utc)


def _dimension(dimension: str, rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame([(dimension, c, n, k) for c, n, k in rows], columns=["dimension", "category", "leads", "conversions"])


def test_timing_signal_lift_interval_and_tests_are_exact() -> None:
    frame = pd.concat([
        _dimension("is_new_role", [("true", 40, 10), ("false", 200, 20)]),
        _dimension("is_hiring", [("true", 120, 15), ("false", 120, 15)]),
        _dimension("is_recently_funded", [("true", 3, 1), ("false", 237, 29)]),
    ])
    signals = timing_signals(frame, q_threshold=0.10)
    new_role = signals["new_role_lift"]
    assert new_role["lift"] == approx(2.5)
    # Katz interval: exp(log 2.5 ± 1.96 * sqrt(1/10 - 1/40 + 1/20 - 1/200))
    se = np.sqrt(1 / 10 - 1 / 40 + 1 / 20 - 1 / 200)
    assert new_role["ci_low"] == approx(2.5 * np.exp(-stats.norm.ppf(0.975) * se), abs=1e-6)
    assert new_role["ci_high"] == approx(2.5 * np.exp(stats.norm.ppf(0.975) * se), abs=1e-6)
    p_new_role = stats.chi2_contingency([[10, 30], [20, 180]], correction=False).pvalue
    p_hiring = stats.chi2_contingency([[15, 105], [15, 105]], correction=False).pvalue
    p_funded = stats.fisher_exact([[1, 2], [29, 208]]).pvalue  # an expected cell < 5: Fisher
    assert new_role["p_value"] == approx(p_new_role, abs=1e-6)
    assert signals["hiring_lift"]["p_value"] == approx(p_hiring, abs=1e-6)
    assert signals["funded_lift"]["p_value"] == approx(p_funded, abs=1e-6)
    q = stats.false_discovery_control([p_new_role, p_hiring, p_funded], method="bh")
    assert [signals[k]["q_value"] for k in ("new_role_lift", "hiring_lift", "funded_lift")] == approx(list(q), abs=1e-6)
    assert new_role["label"] == "winning" and signals["hiring_lift"]["label"] is None
    wilson = stats.binomtest(10, 40).proportion_ci(method="wilson")
    assert new_role["with_signal"] == {"sample": 40, "conversions": 10, "rate": 0.25,
                                      "ci_low": approx(wilson.low, abs=1e-6), "ci_high": approx(wilson.high, abs=1e-6)}


def test_size_analysis_orders_buckets_and_picks_the_best_ranked_sweet_spot() -> None:
    rows = [("500+", 50, 2), ("1-5", 40, 4), ("16-30", 60, 15), ("unknown", 30, 9), ("6-15", 4, 2)]
    ranked = rank_categories(pd.DataFrame(rows, columns=["category", "sample", "conversions"]),
                             category_col="category", baseline_rate=32 / 184)
    analysis = size_analysis(ranked)
    assert [entry["category"] for entry in analysis["distribution"]] == ["1-5", "6-15", "16-30", "500+", "unknown"]
    # 'unknown' has the best rate but is not a size: the sweet spot is the best-ranked real bucket.
    spot = analysis["sweet_spot"]
    assert (spot["bucket"], spot["min"], spot["max"], spot["conversion_rate"], spot["sample"]) == ("16-30", 16, 30, 0.25, 60)
    six_to_fifteen = next(e for e in analysis["distribution"] if e["category"] == "6-15")
    assert six_to_fifteen["is_ranked"] is False and six_to_fifteen["label"] is None  # 4 leads < min sample 5


def test_size_analysis_without_rankable_bucket_has_no_sweet_spot() -> None:
    ranked = rank_categories(pd.DataFrame([("1-5", 3, 1)], columns=["category", "sample", "conversions"]),
                             category_col="category", baseline_rate=0.3)
    assert size_analysis(ranked)["sweet_spot"] is None


@pytest.mark.parametrize(
    ("outcomes", "conversions", "expected"),
    [
        (200, 9, "not enough data: 9 conversions (needs 10)"),
        (29, 12, "not enough data: 29 leads with an outcome (needs 30)"),
        (20, 3, "not enough data: 3 conversions (needs 10) and 20 leads with an outcome (needs 30)"),
        (30, 10, None),
    ],
)
def test_gate(outcomes: int, conversions: int, expected: str | None) -> None:
    assert gate_reason(outcomes, conversions) == expected


def _inputs(conversions_per_title: tuple[int, int], rng_seed: int = 1) -> WhoInputs:
    rng = np.random.default_rng(rng_seed)
    dims = pd.concat([
        _dimension("normalized_title", [("ceo", 100, conversions_per_title[0]), ("sdr", 100, conversions_per_title[1])]),
        _dimension("seniority", [("c_suite", 100, conversions_per_title[0]), ("entry", 100, conversions_per_title[1])]),
        _dimension("industry", [("saas", 120, 20), ("retail", 80, sum(conversions_per_title) - 20)]),
        _dimension("size_bucket", [("6-15", 100, 15), ("101-500", 100, sum(conversions_per_title) - 15)]),
        _dimension("is_new_role", [("true", 50, 10), ("false", 150, sum(conversions_per_title) - 10)]),
        _dimension("is_hiring", [("true", 100, 15), ("false", 100, sum(conversions_per_title) - 15)]),
        _dimension("is_recently_funded", [("true", 20, 4), ("false", 180, sum(conversions_per_title) - 4)]),
        _dimension("als_tier", [("warm", 120, 20), ("cool", 80, sum(conversions_per_title) - 20)]),
    ])
    combos = pd.DataFrame({
        "data_quality": rng.integers(0, 21, 200), "authority": rng.integers(0, 26, 200),
        "company_fit": rng.integers(0, 26, 200), "timing": rng.integers(0, 16, 200),
        "risk": rng.integers(0, 16, 200), "leads": 1,
    })
    combos["conversions"] = 0
    combos.loc[: sum(conversions_per_title) - 1, "conversions"] = 1
    return WhoInputs(uuid.uuid4(), 200, sum(conversions_per_title), dims, combos)


def test_detect_who_fills_every_spec_key_with_statistics() -> None:
    result = detect_who(_inputs((30, 6)), computed_at=NOW)
    patterns = result.patterns
    assert result.pattern_type == "who" and result.sample_size == 200 and result.conversions == 36
    assert result.confidence == approx(36 / 44)
    for key in ("title_rankings", "industry_rankings", "size_analysis", "timing_signals",
                "recommended_weights", "weights_validation", "top_quintile_conversion_rate"):
        assert key in patterns
    by_title = patterns["title_rankings"]["by_title"]
    assert [(e["category"], e["rank"], e["label"]) for e in by_title] == [("ceo", 1, "winning"), ("sdr", 2, "losing")]
    assert set(by_title[0]) >= {"sample", "conversions", "rate", "ci_low", "ci_high", "shrunk_rate", "lift", "q_value"}
    # Conversions are unrelated to the components here: the defaults stay, and nothing is written to the client.
    assert patterns["recommended_weights"]["source"] == "default"
    assert patterns["weights_validation"]["shipped"] is False
    assert result.learned_weights is None


def test_detect_who_below_the_gate_returns_no_pattern_and_says_why() -> None:
    inputs = _inputs((5, 4))
    result = detect_who(inputs, computed_at=NOW)
    assert result.patterns is None
    assert result.gate_reason == "not enough data: 9 conversions (needs 10)"


def test_detect_who_is_deterministic() -> None:
    inputs = _inputs((30, 6))
    assert detect_who(inputs, computed_at=NOW).patterns == detect_who(inputs, computed_at=NOW).patterns
