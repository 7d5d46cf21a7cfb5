"""Family rankings: the one call a detector makes per field (title, industry, subject template, ...).

A *family* is every category of one field for one client. Per category it reports the rate with its
Wilson interval, a shrunk rate for ranking, the lift against the rest of the population with its
interval, a two-sided p-value against the rest and the family's Benjamini–Hochberg q-value.

Rules (SPEC §6)
    * Categories with ``sample < min_sample`` stay in the frame (their rate and interval are facts)
      but are not ranked, not tested (p = q = NaN, so they do not count in the BH family) and never
      labelled; ``is_ranked`` says which is which.
    * ``label`` is ``"winning"`` when ``q < q_threshold`` and the lift is above 1, ``"losing"`` when
      ``q < q_threshold`` and the lift is below 1, otherwise ``None``.
    * ``rank`` orders the ranked categories by shrunk rate, 1 = best; ties go to the larger sample,
      then to the category's text, so a re-run on the same data gives the same order. Rows come out
      ranked first (by rank), then the unranked ones by decreasing sample.
    * The *rest* of a category is the family total minus the category. For multi-label fields, where
      one lead can sit in several categories, pass the population totals instead.

The position-adjusted variant stratifies by a column such as ``touch_number``: it ranks by the shrunk
adjusted (standardised) rate and labels by the Mantel–Haenszel lift and the CMH q-value
(:mod:`detectors.stats.stratified`), reporting the crude rate and lift beside them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.stats._common import FloatArray, as_counts
from detectors.stats.intervals import lift_interval, rate_interval
from detectors.stats.shrinkage import AgencyPrior, agency_prior_means, estimate_prior_strength, shrink_rates
from detectors.stats.significance import benjamini_hochberg, p_values_against_rest
from detectors.stats.stratified import StratifiedFamily, standardised_rate, stratified_effect_columns

DEFAULT_MIN_SAMPLE = 5
DEFAULT_Q_THRESHOLD = 0.10

RANKING_COLUMNS = [
    "category",
    "sample",
    "conversions",
    "rate",
    "ci_low",
    "ci_high",
    "shrunk_rate",
    "lift",
    "lift_ci_low",
    "lift_ci_high",
    "p_value",
    "q_value",
    "label",
    "rank",
    "is_ranked",
]

ADJUSTED_RANKING_COLUMNS = [
    "category",
    "sample",
    "conversions",
    "rate",
    "ci_low",
    "ci_high",
    "adjusted_rate",
    "shrunk_adjusted_rate",
    "lift",
    "lift_ci_low",
    "lift_ci_high",
    "adjusted_lift",
    "adjusted_lift_ci_low",
    "adjusted_lift_ci_high",
    "p_value",
    "q_value",
    "label",
    "rank",
    "is_ranked",
]


def rank_categories(
    df: pd.DataFrame,
    *,
    category_col: str,
    conversions_col: str = "conversions",
    sample_col: str = "sample",
    baseline_rate: float,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    q_threshold: float = DEFAULT_Q_THRESHOLD,
    population_conversions: int | None = None,
    population_sample: int | None = None,
    level: float = 0.95,
    agency_prior: AgencyPrior | None = None,
) -> pd.DataFrame:
    """Rank one family by shrunk rate and label it by crude lift and BH q-value (columns RANKING_COLUMNS).

    Rows with the same category are summed. ``baseline_rate`` is the shrinkage target (the client's
    booking rate); with ``agency_prior`` each category's target is the baseline times the agency's lift
    of that category (``detectors.stats.shrinkage.agency_prior_means``). ``population_*`` replace the
    family totals as the population when categories overlap. ``frame.attrs`` records the prior used
    and the BH family size.
    """
    _check_thresholds(min_sample, q_threshold)
    # Categories in order of first appearance with their counts summed (what a grouped sum with
    # sort=False gave), by codes: one family is a handful of rows and this runs per field and client.
    codes, categories = pd.factorize(df[category_col], sort=False, use_na_sentinel=False)
    summed_conversions, summed_sample = np.zeros(len(categories)), np.zeros(len(categories))
    np.add.at(summed_conversions, codes, df[conversions_col].to_numpy(dtype=float))
    np.add.at(summed_sample, codes, df[sample_col].to_numpy(dtype=float))
    conversions, sample = as_counts(summed_conversions, summed_sample)
    rest_conversions, rest_sample = _rest_of_population(conversions, sample, population_conversions, population_sample)
    rate = rate_interval(conversions, sample, level)
    prior = estimate_prior_strength(conversions, sample)
    lift = lift_interval(conversions, sample, rest_conversions, rest_sample, level)
    prior_means, agency_categories = _prior_means(categories, baseline_rate, agency_prior)
    ranked = sample >= min_sample
    p_value = np.full(len(sample), np.nan)
    p_value[ranked] = p_values_against_rest(
        conversions[ranked], sample[ranked], rest_conversions[ranked], rest_sample[ranked]
    )
    columns = {
        "category": categories,
        "sample": sample.astype(np.int64),
        "conversions": conversions.astype(np.int64),
        "rate": rate.rate,
        "ci_low": rate.ci_low,
        "ci_high": rate.ci_high,
        "shrunk_rate": shrink_rates(conversions, sample, prior_means, prior.value),
        "lift": lift.lift,
        "lift_ci_low": lift.ci_low,
        "lift_ci_high": lift.ci_high,
        "p_value": p_value,
    }
    ranking = _label_and_rank(columns, RANKING_COLUMNS, score_col="shrunk_rate", effect_col="lift", ranked=ranked,
                              q_threshold=q_threshold)
    ranking.attrs = {
        "prior_mean": float(baseline_rate),
        "prior_strength": prior.value,
        "prior_strength_method": prior.method,
        "agency_prior_categories": agency_categories,
        "family_size": int(np.isfinite(p_value).sum()),
    }
    return ranking


def rank_categories_adjusted(
    df: pd.DataFrame,
    *,
    category_col: str,
    stratum_col: str,
    conversions_col: str = "conversions",
    sample_col: str = "sample",
    min_sample: int = DEFAULT_MIN_SAMPLE,
    q_threshold: float = DEFAULT_Q_THRESHOLD,
    population: pd.DataFrame | None = None,
    level: float = 0.95,
    agency_prior: AgencyPrior | None = None,
) -> pd.DataFrame:
    """Rank one family by position-adjusted effect (columns ADJUSTED_RANKING_COLUMNS).

    ``df`` has one row per (category, stratum) with counts. Ranking is by the shrunk adjusted rate
    (prior mean = the population's overall rate; with ``agency_prior``, that rate times the agency's
    lift of the category, whose rates should then be adjusted rates over the agency's overall rate);
    labels use the MH lift and the CMH q-value.
    ``population`` (one row per stratum, same column names) replaces the family totals when
    categories overlap.
    """
    _check_thresholds(min_sample, q_threshold)
    family = StratifiedFamily.from_frame(
        df,
        category_col=category_col,
        stratum_col=stratum_col,
        conversions_col=conversions_col,
        sample_col=sample_col,
        population=population,
    )
    columns = stratified_effect_columns(family, level)
    conversions, sample = family.conversions.sum(axis=1), family.sample.sum(axis=1)
    rest_conversions = family.standard_conversions.sum() - conversions
    rest_sample = family.standard_sample.sum() - sample
    rate = rate_interval(conversions, sample, level)
    lift = lift_interval(conversions, sample, rest_conversions, rest_sample, level)
    prior = estimate_prior_strength(conversions, sample)
    overall_rate = family.overall_rate
    prior_means, agency_categories = (
        _prior_means(family.categories, overall_rate, agency_prior) if np.isfinite(overall_rate) else (None, 0)
    )
    ranked = sample >= min_sample
    columns.update(
        rate=rate.rate,
        ci_low=rate.ci_low,
        ci_high=rate.ci_high,
        shrunk_adjusted_rate=standardised_rate(
            family.conversions, family.sample, family.standard_conversions, family.standard_sample, prior.value,
            prior_means,
        ),
        lift=lift.lift,
        lift_ci_low=lift.ci_low,
        lift_ci_high=lift.ci_high,
        p_value=np.where(ranked, columns["p_value"], np.nan),
    )
    ranking = _label_and_rank(columns, ADJUSTED_RANKING_COLUMNS, score_col="shrunk_adjusted_rate",
                              effect_col="adjusted_lift", ranked=ranked, q_threshold=q_threshold)
    ranking.attrs = {
        "prior_mean": family.overall_rate,
        "prior_strength": prior.value,
        "prior_strength_method": prior.method,
        "agency_prior_categories": agency_categories,
        "family_size": int(np.isfinite(columns["p_value"]).sum()),
        "strata": len(family.strata),
    }
    return ranking


def _prior_means(categories: pd.Index | pd.Series, baseline_rate: float,
                 agency_prior: AgencyPrior | None) -> tuple[npt.NDArray[np.float64], int]:
    """Each category's shrinkage target: the baseline, or baseline × agency lift where the agency knows
    the category; and how many categories took the agency's."""
    means = np.full(len(categories), float(baseline_rate))
    if agency_prior is None:
        return means, 0
    by_category = agency_prior_means(float(baseline_rate), agency_prior.rates, agency_prior.baseline)
    found = 0
    for row, category in enumerate(categories):
        if category in by_category:
            means[row] = by_category[category]
            found += 1
    return means, found


def _check_thresholds(min_sample: int, q_threshold: float) -> None:
    if min_sample < 0:
        raise ValueError(f"min_sample must be non-negative, got {min_sample}")
    if not 0.0 < q_threshold < 1.0:
        raise ValueError(f"q_threshold must lie strictly between 0 and 1, got {q_threshold}")


def _rest_of_population(
    conversions: FloatArray,
    sample: FloatArray,
    population_conversions: int | None,
    population_sample: int | None,
) -> tuple[FloatArray, FloatArray]:
    if (population_conversions is None) != (population_sample is None):
        raise ValueError("give both population_conversions and population_sample, or neither")
    if population_conversions is None or population_sample is None:
        population_conversions, population_sample = conversions.sum(), sample.sum()
    rest_conversions, rest_sample = population_conversions - conversions, population_sample - sample
    if (rest_sample < 0).any() or (rest_conversions < 0).any() or (rest_conversions > rest_sample).any():
        raise ValueError("the population must contain every category's conversions and sample")
    return rest_conversions, rest_sample


def relabel_jointly(
    frames: Mapping[str, pd.DataFrame], *, q_threshold: float = DEFAULT_Q_THRESHOLD, effect_col: str = "lift"
) -> dict[str, pd.DataFrame]:
    """Recompute q-values and labels with the categories of several ranked fields as ONE BH family.

    Per-field control at q < 0.10 lets a client with no real effect anywhere get some label in about
    1 − 0.9^k of cases over k fields (≈ 27% for three). Controlling the false discovery rate over all
    fields of a detector together keeps that chance at about 10%, so a null client usually shows no
    winner at all. Ranks and every other column are unchanged.
    """
    names = list(frames)
    p_values = np.concatenate([frames[name]["p_value"].to_numpy(float) for name in names]) if names else np.array([])
    q_values = benjamini_hochberg(p_values)
    relabelled: dict[str, pd.DataFrame] = {}
    start = 0
    for name in names:
        frame = frames[name]
        q = q_values[start:start + len(frame)]
        start += len(frame)
        label = _labels(q, frame[effect_col].to_numpy(float), q_threshold)
        relabelled[name] = frame.assign(q_value=q, label=pd.Series(label, index=frame.index, dtype=object))
    return relabelled


def _labels(q_value: npt.NDArray[np.float64], effect: npt.NDArray[np.float64], q_threshold: float) -> npt.NDArray[np.object_]:
    """'winning' / 'losing' where q < threshold and the effect is above / below 1; else None."""
    significant = q_value < q_threshold
    return np.where(significant & (effect > 1), "winning", np.where(significant & (effect < 1), "losing", None))


def _label_and_rank(
    columns: dict[str, object], names: list[str], *, score_col: str, effect_col: str,
    ranked: npt.NDArray[np.bool_], q_threshold: float,
) -> pd.DataFrame:
    """The ranking frame (columns ``names``) from one family's columns, built once: BH q-values and labels
    added, rows ranked first by rank, then the unranked ones by decreasing sample."""
    q_value = benjamini_hochberg(np.asarray(columns["p_value"], dtype=float))
    label = _labels(q_value, np.asarray(columns[effect_col], dtype=float), q_threshold)
    score = np.asarray(columns[score_col], dtype=float)
    sample = np.asarray(columns["sample"])
    tie_breaker = [str(category) for category in columns["category"]]
    ranked_rows = sorted(np.flatnonzero(ranked), key=lambda row: (-score[row], -sample[row], tie_breaker[row]))
    unranked_rows = sorted(np.flatnonzero(~ranked), key=lambda row: (-sample[row], tie_breaker[row]))
    rank = np.zeros(len(sample), dtype=np.int64)
    rank[ranked_rows] = np.arange(1, len(ranked_rows) + 1)
    order = np.array(ranked_rows + unranked_rows, dtype=np.intp)
    columns = {**columns, "q_value": q_value, "label": label, "is_ranked": ranked}
    frame = {name: np.asarray(columns[name])[order] for name in names if name not in ("category", "rank")}
    frame["category"] = columns["category"][order]
    frame["rank"] = pd.arrays.IntegerArray(rank[order], mask=~ranked[order])
    frame["label"] = pd.Series(frame["label"], dtype=object)  # None stays None (not inferred as a string column)
    return pd.DataFrame({name: frame[name] for name in names}, copy=False)  # the arrays are fresh (taken by order)
