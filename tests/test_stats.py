"""Tests for the statistics core ``detectors.stats``.

Expected values are computed independently wherever possible (scipy's binomtest, fisher_exact,
chi2_contingency and false_discovery_control; Katz, Mantel–Haenszel, Greenland–Robins and CMH
formulas written out by hand below) and pinned to fixed precision. No database is needed.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from detectors.stats import (
    ADJUSTED_RANKING_COLUMNS,
    DEFAULT_PRIOR_STRENGTH,
    PRIOR_STRENGTH_BOUNDS,
    RANKING_COLUMNS,
    StratifiedFamily,
    benjamini_hochberg,
    cochran_mantel_haenszel_p_value,
    confidence,
    estimate_prior_strength,
    json_safe,
    lift_interval,
    mantel_haenszel_risk_ratio,
    p_value_against_rest,
    p_values_against_rest,
    rank_categories,
    rank_categories_adjusted,
    rate_interval,
    shrink_rates,
    standardised_rate,
    stratified_effects,
    to_records,
)

Z95 = 1.959963984540054
EXACT = 1e-9
PINNED = 1e-6


def approx(value: float, abs: float = EXACT) -> object:
    return pytest.approx(value, abs=abs)


# --- rate intervals ---------------------------------------------------------------------------


@pytest.mark.parametrize("conversions, sample", [(0, 10), (10, 10), (3, 17), (24, 200), (1, 1), (5, 10), (0, 1)])
@pytest.mark.parametrize("level", [0.95, 0.90])
def test_wilson_interval_equals_binomtest(conversions: int, sample: int, level: float) -> None:
    expected = stats.binomtest(conversions, sample).proportion_ci(confidence_level=level, method="wilson")
    result = rate_interval(conversions, sample, level)
    assert result.rate == approx(conversions / sample)
    assert result.ci_low == approx(expected.low)
    assert result.ci_high == approx(expected.high)


def test_wilson_interval_pinned_values() -> None:
    # 5/10: centre 0.5, half width z / (2·sqrt(10 + z²)).
    half_width = Z95 / (2 * math.sqrt(10 + Z95**2))
    assert rate_interval(5, 10) == (0.5, approx(0.5 - half_width), approx(0.5 + half_width))
    assert rate_interval(5, 10).ci_low == approx(0.236593, abs=PINNED)
    assert rate_interval(3, 17).ci_low == approx(0.061911, abs=PINNED)
    assert rate_interval(3, 17).ci_high == approx(0.410295, abs=PINNED)


def test_wilson_interval_is_vectorised() -> None:
    conversions = np.array([0, 3, 10, 24])
    sample = np.array([10, 17, 10, 200])
    result = rate_interval(conversions, sample)
    for index, (k, n) in enumerate(zip(conversions, sample)):
        expected = stats.binomtest(int(k), int(n)).proportion_ci(method="wilson")
        assert result.ci_low[index] == approx(expected.low)
        assert result.ci_high[index] == approx(expected.high)


def test_zero_conversions_and_all_converted_hit_the_bounds_exactly() -> None:
    assert rate_interval(0, 25).ci_low == 0.0
    assert rate_interval(25, 25).ci_high == 1.0


def test_zero_sample_gives_nan_rate_and_the_unit_interval() -> None:
    rate, low, high = rate_interval(0, 0)
    assert math.isnan(rate) and (low, high) == (0.0, 1.0)
    mixed = rate_interval([0, 2], [0, 4])
    assert math.isnan(mixed.rate[0]) and mixed.rate[1] == 0.5
    assert (mixed.ci_low[0], mixed.ci_high[0]) == (0.0, 1.0)


def test_jeffreys_interval_is_the_beta_posterior_interval() -> None:
    result = rate_interval(3, 17, method="jeffreys")
    assert result.ci_low == approx(stats.beta.ppf(0.025, 3.5, 14.5))
    assert result.ci_high == approx(stats.beta.ppf(0.975, 3.5, 14.5))
    assert rate_interval(0, 17, method="jeffreys").ci_low == 0.0


@pytest.mark.parametrize("conversions, sample", [(6, 5), (-1, 5), (1, float("nan"))])
def test_impossible_counts_are_rejected(conversions: float, sample: float) -> None:
    with pytest.raises(ValueError):
        rate_interval(conversions, sample)


def test_unknown_interval_method_and_level_are_rejected() -> None:
    with pytest.raises(ValueError, match="method"):
        rate_interval(1, 2, method="wald")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level"):
        rate_interval(1, 2, level=1.0)


# --- lift -------------------------------------------------------------------------------------


def test_lift_katz_interval_by_hand() -> None:
    # 5/10 in the category, 10/1000 in the rest.
    lift = 0.5 / 0.01
    standard_error = math.sqrt(1 / 5 - 1 / 10 + 1 / 10 - 1 / 1000)
    result = lift_interval(5, 10, 10, 1000)
    assert result.lift == approx(50.0)
    assert result.ci_low == approx(lift * math.exp(-Z95 * standard_error))
    assert result.ci_high == approx(lift * math.exp(Z95 * standard_error))
    assert result.ci_low == approx(20.857102, abs=PINNED)
    assert result.ci_high == approx(119.863248, abs=PINNED)


def test_lift_of_an_all_converted_category_needs_no_correction() -> None:
    standard_error = math.sqrt(0 + 1 / 10 - 1 / 1000)
    result = lift_interval(5, 5, 10, 1000)
    assert result.lift == approx(100.0)
    assert result.ci_low == approx(100.0 * math.exp(-Z95 * standard_error))


def test_lift_with_no_conversion_in_the_category_uses_the_half_correction_for_its_upper_end() -> None:
    # Observed lift 0; upper end from (0.5/21) / (10.5/101) with the corrected Katz variance.
    corrected = (0.5 / 21) / (10.5 / 101)
    standard_error = math.sqrt(1 / 0.5 - 1 / 21 + 1 / 10.5 - 1 / 101)
    result = lift_interval(0, 20, 10, 100)
    assert result.lift == 0.0
    assert result.ci_low == 0.0
    assert result.ci_high == approx(corrected * math.exp(Z95 * standard_error))


def test_lift_with_no_conversion_in_the_rest_is_infinite_with_a_finite_lower_end() -> None:
    corrected = (3.5 / 21) / (0.5 / 101)
    standard_error = math.sqrt(1 / 3.5 - 1 / 21 + 1 / 0.5 - 1 / 101)
    result = lift_interval(3, 20, 0, 100)
    assert result.lift == math.inf and result.ci_high == math.inf
    assert result.ci_low == approx(corrected * math.exp(-Z95 * standard_error))


def test_lift_is_undefined_without_sample_or_without_any_conversion() -> None:
    result = lift_interval([0, 3, 0], [0, 10, 10], [5, 0, 0], [50, 0, 50])
    assert np.isnan(result.lift).all() and np.isnan(result.ci_low).all() and np.isnan(result.ci_high).all()


def test_lift_estimate_lies_inside_its_interval() -> None:
    conversions_in, sample_in = np.meshgrid(np.arange(0, 12), np.arange(12, 40, 3))
    result = lift_interval(conversions_in, sample_in, 7, 90)
    assert (result.ci_low <= result.lift).all() and (result.lift <= result.ci_high).all()


# --- tests against the rest and Benjamini–Hochberg ---------------------------------------------


def test_small_tables_use_fisher_exact() -> None:
    result = p_value_against_rest(5, 10, 10, 1000)
    assert result.method == "fisher"
    assert result.p_value == approx(stats.fisher_exact([[5, 5], [10, 990]]).pvalue)


def test_large_tables_use_pearson_chi_square_without_yates() -> None:
    table = [[60, 440], [80, 920]]
    result = p_value_against_rest(60, 500, 80, 1000)
    assert result.method == "chi2"
    assert result.p_value == approx(stats.chi2_contingency(table, correction=False).pvalue)
    pearson = 1500 * (60 * 920 - 440 * 80) ** 2 / (500 * 1000 * 140 * 1360)
    assert result.p_value == approx(stats.chi2.sf(pearson, 1))


def test_vectorised_p_values_equal_the_scalar_ones() -> None:
    tables = [(5, 10, 10, 1000), (60, 500, 80, 1000), (0, 30, 12, 300), (7, 7, 3, 40)]
    vectorised = p_values_against_rest(*np.array(tables).T)
    assert vectorised == approx([p_value_against_rest(*table).p_value for table in tables])


def test_untestable_tables() -> None:
    assert p_value_against_rest(0, 0, 3, 10).method is None
    assert math.isnan(p_value_against_rest(3, 10, 0, 0).p_value)
    assert p_value_against_rest(0, 40, 0, 400) == (1.0, "fisher")


def test_benjamini_hochberg_by_hand_with_untested_categories() -> None:
    # m = 4 tested: sorted 0.01, 0.03, 0.04, 0.5 → 0.04, min(0.06, 0.0533), 0.0533, 0.5.
    q = benjamini_hochberg([0.01, 0.04, np.nan, 0.03, 0.5])
    assert q[[0, 1, 3, 4]] == approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    assert math.isnan(q[2])


def test_benjamini_hochberg_equals_scipy_on_the_tested_values() -> None:
    p = np.array([0.2, np.nan, 0.001, 0.07, np.nan, 0.9, 0.02])
    tested = np.isfinite(p)
    assert benjamini_hochberg(p)[tested] == approx(stats.false_discovery_control(p[tested], method="bh"))


def test_benjamini_hochberg_edge_cases() -> None:
    assert benjamini_hochberg([]).shape == (0,)
    assert np.isnan(benjamini_hochberg([np.nan, np.nan])).all()
    assert benjamini_hochberg([0.03]) == approx([0.03])
    with pytest.raises(ValueError):
        benjamini_hochberg([[0.1, 0.2]])


# --- confidence -------------------------------------------------------------------------------


def test_confidence_is_zero_without_conversions_and_non_decreasing() -> None:
    values = [confidence(c) for c in range(0, 1001)]
    assert values[0] == 0.0
    assert confidence(8) == 0.5
    assert all(later >= earlier for earlier, later in zip(values, values[1:]))
    assert all(0.0 <= value < 1.0 for value in values)


@pytest.mark.parametrize("booking_rate", [0.10, 0.12, 0.15])
def test_confidence_reaches_seventy_percent_at_two_hundred_outcomes(booking_rate: float) -> None:
    conversions = round(200 * booking_rate)
    assert confidence(conversions) == approx(conversions / (conversions + 8))
    assert confidence(conversions) >= 0.7


def test_confidence_crosses_seventy_percent_at_nineteen_conversions() -> None:
    assert confidence(18) < 0.7 <= confidence(19)


def test_confidence_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        confidence(-1)


# --- empirical-Bayes shrinkage ----------------------------------------------------------------


def test_prior_strength_by_hand_equal_samples() -> None:
    # Pooled 60/400 = 0.15; X² = 100·(0.01 + 0.0025 + 0 + 0.0225)/(0.15·0.85); ρ = (X² − 3)/(3·99).
    pearson = 100 * (0.10**2 + 0.05**2 + 0.0 + 0.15**2) / (0.15 * 0.85)
    icc = (pearson - 3) / (3 * 99)
    prior = estimate_prior_strength([5, 10, 15, 30], [100, 100, 100, 100])
    assert prior.method == "method_of_moments"
    assert prior.value == approx(1 / icc - 1)
    assert prior.value == approx(11.146752, abs=PINNED)


def test_prior_strength_by_hand_unequal_samples() -> None:
    conversions, sample = np.array([2, 10, 30]), np.array([20, 100, 150])
    total = 270
    pooled = 42 / total
    pearson = sum(n * (c / n - pooled) ** 2 for c, n in zip(conversions, sample)) / (pooled * (1 - pooled))
    icc = (pearson - 2) / (total - (20**2 + 100**2 + 150**2) / total - 2)
    assert estimate_prior_strength(conversions, sample).value == approx(1 / icc - 1)


def test_prior_strength_is_clamped() -> None:
    no_dispersion = estimate_prior_strength([10, 10, 10], [100, 100, 100])
    assert no_dispersion.value == PRIOR_STRENGTH_BOUNDS[1]
    extreme_dispersion = estimate_prior_strength([0, 100, 0], [100, 100, 100])
    assert extreme_dispersion.value == PRIOR_STRENGTH_BOUNDS[0]


@pytest.mark.parametrize(
    "conversions, sample",
    [
        ([3, 9], [40, 60]),  # two categories
        ([0, 0, 0], [40, 60, 80]),  # no conversion
        ([40, 60, 80], [40, 60, 80]),  # nothing but conversions
        ([1, 0, 1], [1, 1, 1]),  # single observations: no within-category information
        ([3, 0, 9, 0], [40, 0, 60, 0]),  # empty categories do not count
    ],
)
def test_prior_strength_falls_back_when_the_family_is_too_small(conversions: list[int], sample: list[int]) -> None:
    prior = estimate_prior_strength(conversions, sample)
    assert (prior.value, prior.method) == (DEFAULT_PRIOR_STRENGTH, "default")


def test_prior_strength_recovers_a_simulated_beta_binomial() -> None:
    rng = np.random.default_rng(0)
    true_strength = 50.0
    rates = rng.beta(0.1 * true_strength, 0.9 * true_strength, size=300)
    sample = rng.integers(50, 400, size=300)
    estimate = estimate_prior_strength(rng.binomial(sample, rates), sample).value
    assert 0.7 * true_strength <= estimate <= 1.4 * true_strength


def test_shrunk_rates_are_posterior_means() -> None:
    shrunk = shrink_rates([5, 0, 40], [10, 0, 200], prior_mean=0.1, prior_strength=20.0)
    assert shrunk == approx([(5 + 2) / 30, 0.1, (40 + 2) / 220])
    assert shrink_rates(1, 1, 0.1, 20.0) == approx(3 / 21)


def test_shrinkage_rejects_invalid_priors() -> None:
    with pytest.raises(ValueError):
        shrink_rates([1], [2], prior_mean=1.5, prior_strength=10.0)
    with pytest.raises(ValueError):
        shrink_rates([1], [2], prior_mean=0.1, prior_strength=0.0)


# --- stratified (position-adjusted) effects ---------------------------------------------------

# Two strata (touch 1, touch 2). Category: 8/40 and 2/60; rest: 30/300 and 10/400.
CATEGORY_CONVERSIONS, CATEGORY_SAMPLE = [8, 2], [40, 60]
REST_CONVERSIONS, REST_SAMPLE = [30, 10], [300, 400]


def test_mantel_haenszel_risk_ratio_by_hand() -> None:
    weighted_in = 8 * 300 / 340 + 2 * 400 / 460
    weighted_out = 30 * 40 / 340 + 10 * 60 / 460
    risk_ratio = weighted_in / weighted_out
    # Greenland–Robins: Σ (n1·n0·M1 − a·c·N) / N² over (Σ a·n0/N)(Σ c·n1/N).
    numerator = (40 * 300 * 38 - 8 * 30 * 340) / 340**2 + (60 * 400 * 12 - 2 * 10 * 460) / 460**2
    standard_error = math.sqrt(numerator / (weighted_in * weighted_out))
    result = mantel_haenszel_risk_ratio(CATEGORY_CONVERSIONS, CATEGORY_SAMPLE, REST_CONVERSIONS, REST_SAMPLE)
    assert result.risk_ratio == approx(risk_ratio)
    assert result.ci_low == approx(risk_ratio * math.exp(-Z95 * standard_error))
    assert result.ci_high == approx(risk_ratio * math.exp(Z95 * standard_error))
    assert (result.risk_ratio, result.ci_low, result.ci_high) == (
        approx(1.820106, abs=PINNED),
        approx(0.958253, abs=PINNED),
        approx(3.457110, abs=PINNED),
    )
    assert result.strata_used == 2


def test_cochran_mantel_haenszel_by_hand() -> None:
    expected = 40 * 38 / 340 + 60 * 12 / 460
    variance = 40 * 300 * 38 * 302 / (340**2 * 339) + 60 * 400 * 12 * 448 / (460**2 * 459)
    statistic = (abs(10 - expected) - 0.5) ** 2 / variance
    p_value = math.erfc(math.sqrt(statistic / 2))  # χ²(1) survival function
    assert cochran_mantel_haenszel_p_value(
        CATEGORY_CONVERSIONS, CATEGORY_SAMPLE, REST_CONVERSIONS, REST_SAMPLE
    ) == approx(p_value)
    assert p_value == approx(0.115436, abs=PINNED)


def test_strata_where_the_category_or_the_rest_is_empty_contribute_nothing() -> None:
    base = mantel_haenszel_risk_ratio(CATEGORY_CONVERSIONS, CATEGORY_SAMPLE, REST_CONVERSIONS, REST_SAMPLE)
    padded = mantel_haenszel_risk_ratio([8, 2, 0, 3], [40, 60, 0, 9], [30, 10, 4, 0], [300, 400, 50, 0])
    assert padded.strata_used == 2
    assert padded.risk_ratio == approx(base.risk_ratio)
    assert (padded.ci_low, padded.ci_high, padded.p_value) == (
        approx(base.ci_low),
        approx(base.ci_high),
        approx(base.p_value),
    )


@pytest.mark.parametrize("conversions_in, sample_in, conversions_out, sample_out", [(7, 40, 30, 300), (0, 20, 10, 100)])
def test_one_stratum_mantel_haenszel_equals_the_crude_lift(
    conversions_in: int, sample_in: int, conversions_out: int, sample_out: int
) -> None:
    stratified = mantel_haenszel_risk_ratio([conversions_in], [sample_in], [conversions_out], [sample_out])
    crude = lift_interval(conversions_in, sample_in, conversions_out, sample_out)
    assert (stratified.risk_ratio, stratified.ci_low, stratified.ci_high) == (
        approx(crude.lift),
        approx(crude.ci_low),
        approx(crude.ci_high),
    )


def test_stratified_effect_without_any_conversion_is_undefined() -> None:
    result = mantel_haenszel_risk_ratio([0, 0], [10, 10], [0, 0], [50, 50])
    assert math.isnan(result.risk_ratio) and math.isnan(result.p_value)
    assert math.isnan(mantel_haenszel_risk_ratio([0], [0], [2], [10]).risk_ratio)


def test_standardised_rate_by_hand() -> None:
    # Standard population = category + rest: touch 1 38/340, touch 2 12/460; overall 50/800.
    overall = 50 / 800
    expected = 40 * 38 / 340 + 60 * 12 / 460
    standard = ([38, 12], [340, 460])
    assert standardised_rate(CATEGORY_CONVERSIONS, CATEGORY_SAMPLE, *standard) == approx(overall * 10 / expected)
    shrunk = standardised_rate(CATEGORY_CONVERSIONS, CATEGORY_SAMPLE, *standard, prior_strength=20.0)
    assert shrunk == approx(overall * (10 + 20 * overall) / (expected + 20 * overall))


def test_standardised_rate_at_the_overall_mix_is_the_crude_rate() -> None:
    standard = ([30, 10], [300, 200])  # mix 60% / 40%, overall 40/500
    category = ([9, 1], [30, 20])  # same mix
    assert standardised_rate(*category, *standard) == approx(10 / 50)
    assert standardised_rate(*category, *standard, prior_strength=20.0) == approx(
        shrink_rates(10, 50, prior_mean=40 / 500, prior_strength=20.0)
    )


def test_standardised_rate_edge_cases() -> None:
    standard = ([0, 10], [100, 100])
    assert math.isnan(standardised_rate([0, 0], [5, 0], *standard))  # only met a stratum that never converts
    assert standardised_rate([0, 0], [5, 0], *standard, prior_strength=20.0) == approx(10 / 200)
    assert standardised_rate([5, 0], [5, 0], [5, 95], [100, 100]) == 1.0  # 0.5 · 5 / 0.25 = 10, capped
    assert math.isnan(standardised_rate([0], [0], [0], [0]))


def test_stratified_family_with_a_population_for_overlapping_categories() -> None:
    rows = pd.DataFrame(
        {
            "angle": ["roi", "roi", "curiosity", "curiosity"],
            "touch_number": [1, 2, 1, 2],
            "conversions": [8, 2, 5, 1],
            "sample": [40, 60, 30, 50],
        }
    )
    population = pd.DataFrame({"touch_number": [1, 2], "conversions": [38, 12], "sample": [340, 460]})
    family = StratifiedFamily.from_frame(rows, category_col="angle", stratum_col="touch_number", population=population)
    effects = stratified_effects(family).set_index("category")
    expected = mantel_haenszel_risk_ratio(CATEGORY_CONVERSIONS, CATEGORY_SAMPLE, REST_CONVERSIONS, REST_SAMPLE)
    assert effects.loc["roi", "adjusted_lift"] == approx(expected.risk_ratio)
    assert effects.loc["roi", "p_value"] == approx(expected.p_value)
    with pytest.raises(ValueError, match="population"):
        StratifiedFamily.from_frame(
            rows, category_col="angle", stratum_col="touch_number", population=population.assign(conversions=[5, 1])
        )


# --- family rankings --------------------------------------------------------------------------


def titles(conversions: list[int], sample: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {"title": [f"t{i}" for i in range(len(sample))], "conversions": conversions, "sample": sample}
    )


def test_ranking_columns_and_values_for_a_clear_winner() -> None:
    # t0 is 5/10 against a rest of 10/1000.
    family = titles([5, 4, 3, 3], [10, 400, 300, 300])
    ranking = rank_categories(family, category_col="title", baseline_rate=0.015)
    assert list(ranking.columns) == RANKING_COLUMNS
    winner = ranking.iloc[0]
    assert winner["category"] == "t0" and winner["rank"] == 1 and winner["label"] == "winning"
    assert (winner["sample"], winner["conversions"]) == (10, 5)
    wilson = stats.binomtest(5, 10).proportion_ci(method="wilson")
    assert (winner["rate"], winner["ci_low"], winner["ci_high"]) == (0.5, approx(wilson.low), approx(wilson.high))
    assert winner["lift"] == approx(50.0)
    assert winner["p_value"] == approx(stats.fisher_exact([[5, 5], [10, 990]]).pvalue)
    assert ranking["q_value"].to_numpy() == approx(stats.false_discovery_control(ranking["p_value"], method="bh"))
    strength = ranking.attrs["prior_strength"]
    assert strength == approx(estimate_prior_strength([5, 4, 3, 3], [10, 400, 300, 300]).value)
    assert winner["shrunk_rate"] == approx((5 + strength * 0.015) / (10 + strength))
    assert ranking["label"].iloc[1:].isna().all()
    assert ranking.attrs["family_size"] == 4


def test_a_small_noisy_family_gets_no_label() -> None:
    ranking = rank_categories(titles([2, 0, 1, 1], [6, 7, 8, 9]), category_col="title", baseline_rate=0.1)
    assert ranking["label"].isna().all()
    assert ranking["is_ranked"].all()


def test_a_clearly_worse_category_is_labelled_losing() -> None:
    ranking = rank_categories(titles([0, 30, 25, 20], [200, 200, 200, 200]), category_col="title", baseline_rate=0.1)
    loser = ranking.set_index("category").loc["t0"]
    assert loser["label"] == "losing" and loser["rank"] == 4
    assert (loser["lift"], loser["lift_ci_low"]) == (0.0, 0.0)


def test_ranking_uses_the_shrunk_rate_not_the_raw_rate() -> None:
    # Two categories: default prior strength 20 toward 0.1 → 1/1 shrinks to 3/21, 40/200 to 42/220.
    ranking = rank_categories(titles([1, 40], [1, 200]), category_col="title", baseline_rate=0.1, min_sample=1)
    assert list(ranking["category"]) == ["t1", "t0"]
    assert ranking["shrunk_rate"].to_numpy() == approx([42 / 220, 3 / 21])
    assert ranking.attrs["prior_strength_method"] == "default"


def test_thin_categories_are_kept_but_not_ranked_tested_or_labelled() -> None:
    family = titles([5, 4, 3, 3, 2, 0], [10, 400, 300, 300, 3, 0])
    ranking = rank_categories(family, category_col="title", baseline_rate=0.015)
    thin = ranking[~ranking["is_ranked"]]
    assert list(thin["category"]) == ["t4", "t5"]  # after the ranked ones, larger sample first
    assert thin["rank"].isna().all() and thin["label"].isna().all()
    assert thin["p_value"].isna().all() and thin["q_value"].isna().all()
    assert ranking.attrs["family_size"] == 4
    empty = ranking.set_index("category").loc["t5"]
    assert math.isnan(empty["rate"]) and (empty["ci_low"], empty["ci_high"]) == (0.0, 1.0)
    assert empty["shrunk_rate"] == approx(0.015)
    assert list(ranking["rank"].iloc[:4]) == [1, 2, 3, 4]


def test_a_single_category_family_is_ranked_but_never_labelled() -> None:
    ranking = rank_categories(titles([12], [100]), category_col="title", baseline_rate=0.12)
    row = ranking.iloc[0]
    assert row["rank"] == 1 and row["label"] is None
    assert math.isnan(row["lift"]) and math.isnan(row["p_value"]) and math.isnan(row["q_value"])


def test_ranking_is_deterministic_and_sums_duplicate_rows() -> None:
    family = titles([5, 4, 3, 3, 6], [100, 100, 100, 100, 100])
    split = pd.concat(
        [family.assign(conversions=family["conversions"] - 1, sample=90), family.assign(conversions=1, sample=10)]
    )
    first = rank_categories(family, category_col="title", baseline_rate=0.05)
    again = rank_categories(split.sample(frac=1.0, random_state=3), category_col="title", baseline_rate=0.05)
    pd.testing.assert_frame_equal(first, again)
    assert list(first["category"]) == ["t4", "t0", "t1", "t2", "t3"]  # t2 and t3 tie: by name


def test_population_totals_define_the_rest_for_overlapping_categories() -> None:
    angles = pd.DataFrame({"angle": ["roi", "urgency"], "conversions": [10, 6], "sample": [60, 50]})
    ranking = rank_categories(
        angles,
        category_col="angle",
        baseline_rate=0.1,
        population_conversions=20,
        population_sample=200,
    ).set_index("category")
    assert ranking.loc["roi", "lift"] == approx((10 / 60) / (10 / 140))
    expected_p = stats.chi2_contingency([[10, 50], [10, 130]], correction=False).pvalue
    assert ranking.loc["roi", "p_value"] == approx(expected_p)
    with pytest.raises(ValueError, match="population"):
        rank_categories(
            angles, category_col="angle", baseline_rate=0.1, population_conversions=8, population_sample=200
        )


def test_an_empty_family_gives_an_empty_ranking() -> None:
    ranking = rank_categories(titles([], []), category_col="title", baseline_rate=0.1)
    assert ranking.empty and list(ranking.columns) == RANKING_COLUMNS


def confounded_by_position() -> pd.DataFrame:
    """Touch 1 books at 20%, touch 2 at 5%; within each touch every CTA converts alike, but
    'calendar' is used mostly in first touches and 'question' mostly in second ones."""
    rows = [
        ("calendar", 1, 40, 200),
        ("calendar", 2, 1, 20),
        ("question", 1, 4, 20),
        ("question", 2, 10, 200),
        ("reply", 1, 20, 100),
        ("reply", 2, 5, 100),
    ]
    return pd.DataFrame(rows, columns=["cta", "touch_number", "conversions", "sample"])


def test_position_confounding_fools_the_crude_ranking_but_not_the_adjusted_one() -> None:
    crude = rank_categories(confounded_by_position(), category_col="cta", baseline_rate=0.1).set_index("category")
    assert crude.loc["calendar", "label"] == "winning" and crude.loc["question", "label"] == "losing"
    adjusted = rank_categories_adjusted(confounded_by_position(), category_col="cta", stratum_col="touch_number")
    assert list(adjusted.columns) == ADJUSTED_RANKING_COLUMNS
    assert adjusted["label"].isna().all()
    assert adjusted["adjusted_lift"].to_numpy() == approx([1.0, 1.0, 1.0])
    assert adjusted["adjusted_rate"].to_numpy() == approx([0.125, 0.125, 0.125])
    assert adjusted["p_value"].to_numpy() == approx([1.0, 1.0, 1.0])
    indexed = adjusted.set_index("category")
    assert indexed.loc["calendar", "lift"] == approx((41 / 220) / (39 / 420))  # crude lift reported beside


def test_adjusted_ranking_labels_a_real_within_position_effect() -> None:
    rows = confounded_by_position()
    rows.loc[rows["cta"] == "question", "conversions"] = [12, 40]  # 60% and 20%: four times the rest
    adjusted = rank_categories_adjusted(rows, category_col="cta", stratum_col="touch_number")
    best = adjusted.iloc[0]
    assert best["category"] == "question" and best["label"] == "winning" and best["rank"] == 1
    family = StratifiedFamily.from_frame(rows, category_col="cta", stratum_col="touch_number")
    question = mantel_haenszel_risk_ratio([12, 40], [20, 200], [60, 6], [300, 120])
    assert best["adjusted_lift"] == approx(question.risk_ratio)
    assert best["p_value"] == approx(question.p_value)
    strength = adjusted.attrs["prior_strength"]
    assert best["shrunk_adjusted_rate"] == approx(
        standardised_rate([12, 40], [20, 200], family.standard_conversions, family.standard_sample, strength)
    )


def test_adjusted_ranking_keeps_thin_categories_unranked_and_untested() -> None:
    thin_row = pd.DataFrame([("ps", 1, 2, 3)], columns=["cta", "touch_number", "conversions", "sample"])
    rows = pd.concat([confounded_by_position(), thin_row])
    adjusted = rank_categories_adjusted(rows, category_col="cta", stratum_col="touch_number")
    thin = adjusted.iloc[-1]
    assert thin["category"] == "ps" and not thin["is_ranked"] and thin["rank"] is pd.NA
    assert math.isnan(thin["p_value"]) and math.isnan(thin["q_value"]) and thin["label"] is None
    assert adjusted.attrs["family_size"] == 3


# --- JSON records -----------------------------------------------------------------------------


def test_records_are_json_safe_and_rounded() -> None:
    family = titles([5, 4, 3, 3, 0], [10, 400, 300, 300, 0])
    records = to_records(rank_categories(family, category_col="title", baseline_rate=0.015))
    json.dumps(records, allow_nan=False)
    first, empty = records[0], records[-1]
    assert set(first) == set(RANKING_COLUMNS)
    assert type(first["sample"]) is int and type(first["rank"]) is int and type(first["is_ranked"]) is bool
    assert first["ci_low"] == 0.236593
    assert 0 < first["p_value"] < 1e-6  # tiny values keep significant digits instead of reading as 0
    assert empty["rate"] is None and empty["rank"] is None and empty["label"] is None and empty["q_value"] is None


@pytest.mark.parametrize(
    "value, expected",
    [
        (np.float64(0.1234564), 0.123456),
        (np.int64(7), 7),
        (np.bool_(True), True),
        (float("inf"), None),
        (np.nan, None),
        (pd.NA, None),
        (None, None),
        (np.str_("email"), "email"),
        (3.14159e-9, 3.14159e-9),
    ],
)
def test_json_safe_values(value: object, expected: object) -> None:
    converted = json_safe(value)
    assert converted == expected and type(converted) is type(expected)


# --- null simulations -------------------------------------------------------------------------

NULL_FAMILIES = 200
# Under the complete null, BH at q < 0.10 labels something in about 10% of families; with 200
# families the binomial standard error is 0.021, so 0.14 is the 10% target plus two errors.
NULL_LABEL_CEILING = 0.14


def test_null_families_are_rarely_labelled() -> None:
    rng = np.random.default_rng(20240601)
    labelled = 0
    for _ in range(NULL_FAMILIES):
        sample = rng.integers(20, 300, size=8)
        family = titles(list(rng.binomial(sample, 0.10)), list(sample))
        labelled += rank_categories(family, category_col="title", baseline_rate=0.10)["label"].notna().any()
    assert labelled / NULL_FAMILIES <= NULL_LABEL_CEILING


def test_position_confounded_null_families_are_rarely_labelled_once_adjusted() -> None:
    rng = np.random.default_rng(20240602)
    touch_rates = np.array([0.20, 0.12, 0.08, 0.05, 0.03])
    labelled_crude = labelled_adjusted = 0
    for _ in range(NULL_FAMILIES):
        rows = []
        for category in range(8):
            sample = rng.multinomial(rng.integers(30, 300), rng.dirichlet(np.full(5, 0.7)))
            conversions = rng.binomial(sample, touch_rates)
            rows += [(f"c{category}", touch + 1, conversions[touch], sample[touch]) for touch in range(5)]
        family = pd.DataFrame(rows, columns=["cta", "touch_number", "conversions", "sample"])
        adjusted = rank_categories_adjusted(family, category_col="cta", stratum_col="touch_number")
        labelled_adjusted += adjusted["label"].notna().any()
        crude = rank_categories(family, category_col="cta", baseline_rate=float(touch_rates.mean()))
        labelled_crude += crude["label"].notna().any()
    assert labelled_adjusted / NULL_FAMILIES <= NULL_LABEL_CEILING
    assert labelled_crude / NULL_FAMILIES > 0.3  # what the adjustment protects against


def test_json_safe_converts_nested_containers() -> None:
    nested = {"a": [np.float64(0.1234567), np.nan, (np.int64(3), True)], 7: {"b": np.inf}}
    assert json_safe(nested) == {"a": [0.123457, None, [3, True]], "7": {"b": None}}


def test_relabel_jointly_runs_one_bh_family_over_several_fields() -> None:
    from detectors.stats import relabel_jointly

    title = pd.DataFrame({"category": ["ceo", "sdr"], "p_value": [0.01, 0.5], "lift": [2.0, 0.9], "label": [None, None]})
    size = pd.DataFrame({"category": ["1-5"], "p_value": [0.02], "lift": [0.5], "label": [None]})
    joint = relabel_jointly({"title": title, "size": size}, q_threshold=0.05)
    # BH over (0.01, 0.5, 0.02): q = (0.03, 0.5, 0.03)
    assert list(joint["title"]["q_value"]) == approx([0.03, 0.5])
    assert list(joint["size"]["q_value"]) == approx([0.03])
    assert list(joint["title"]["label"]) == ["winning", None] and list(joint["size"]["label"]) == ["losing"]
    # Alone, the size field would have q = 0.02; jointly the family is stricter.
    assert list(relabel_jointly({"size": size}, q_threshold=0.025)["size"]["label"]) == ["losing"]
    assert list(relabel_jointly({"title": title, "size": size}, q_threshold=0.025)["size"]["label"]) == [None]
