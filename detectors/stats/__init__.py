"""Statistics core shared by the WHO, WHAT, WHEN and HOW detectors (SPEC §6).

In the style of GrowthBook's gbstats: SQL computes sufficient statistics (conversions and sample per
category, optionally per stratum), and these small, typed, pure functions do the inference. Each
module's docstring states its formulas and why they were chosen:

* :mod:`~detectors.stats.intervals` — rate with Wilson (or Jeffreys) interval; lift ``rate_in /
  rate_out`` with the Katz log interval (0.5 correction for a zero conversion cell); the pattern
  ``confidence = c / (c + 10)``.
* :mod:`~detectors.stats.shrinkage` — empirical-Bayes Beta-Binomial posterior means
  ``(x + κm)/(n + κ)`` toward the baseline ``m``, ``κ`` by the method of moments, clamped to [2, 1000],
  20 when the family is too small; with an agency-wide pattern the prior mean of a category is
  ``clip(baseline × agency_rate_c / agency_baseline, 0, 1)`` (``AgencyPrior``, ``agency_prior_means``;
  ``rank_categories`` / ``rank_categories_adjusted`` take it as ``agency_prior=``).
* :mod:`~detectors.stats.significance` — category vs rest: Fisher's exact test when an expected
  cell is below 5, else Pearson χ² without Yates; Benjamini–Hochberg q-values, NaN-safe.
* :mod:`~detectors.stats.stratified` — position-adjusted effects: Mantel–Haenszel risk ratio with
  Greenland–Robins interval, Cochran–Mantel–Haenszel test, indirectly standardised rate.
* :mod:`~detectors.stats.ranking` — ``rank_categories`` / ``rank_categories_adjusted``, the family
  helpers the detectors call; :mod:`~detectors.stats.records` — ``to_records`` for the pattern JSON.
"""

from detectors.stats.intervals import (
    CONFIDENCE_HALF_POINT,
    LiftInterval,
    RateInterval,
    confidence,
    lift_interval,
    rate_interval,
)
from detectors.stats.ranking import (
    ADJUSTED_RANKING_COLUMNS,
    DEFAULT_MIN_SAMPLE,
    DEFAULT_Q_THRESHOLD,
    RANKING_COLUMNS,
    rank_categories,
    relabel_jointly,
    rank_categories_adjusted,
)
from detectors.stats.records import json_safe, to_records
from detectors.stats.shrinkage import (
    DEFAULT_PRIOR_STRENGTH,
    AgencyPrior,
    agency_prior_means,
    PRIOR_STRENGTH_BOUNDS,
    PriorStrength,
    estimate_prior_strength,
    shrink_rates,
)
from detectors.stats.significance import (
    MIN_EXPECTED_CELL,
    ContingencyTest,
    benjamini_hochberg,
    p_value_against_rest,
    p_values_against_rest,
)
from detectors.stats.stratified import (
    StratifiedEffect,
    StratifiedFamily,
    cochran_mantel_haenszel_p_value,
    mantel_haenszel_risk_ratio,
    standardised_rate,
    stratified_effects,
)

__all__ = [
    "ADJUSTED_RANKING_COLUMNS",
    "AgencyPrior",
    "CONFIDENCE_HALF_POINT",
    "DEFAULT_MIN_SAMPLE",
    "DEFAULT_PRIOR_STRENGTH",
    "DEFAULT_Q_THRESHOLD",
    "MIN_EXPECTED_CELL",
    "PRIOR_STRENGTH_BOUNDS",
    "RANKING_COLUMNS",
    "ContingencyTest",
    "LiftInterval",
    "PriorStrength",
    "RateInterval",
    "StratifiedEffect",
    "StratifiedFamily",
    "agency_prior_means",
    "benjamini_hochberg",
    "cochran_mantel_haenszel_p_value",
    "confidence",
    "estimate_prior_strength",
    "json_safe",
    "lift_interval",
    "mantel_haenszel_risk_ratio",
    "p_value_against_rest",
    "p_values_against_rest",
    "rank_categories",
    "relabel_jointly",
    "rank_categories_adjusted",
    "rate_interval",
    "shrink_rates",
    "standardised_rate",
    "stratified_effects",
    "to_records",
]

# The detectors' matrices are tiny: OpenBLAS's thread pool only spin-waits (20x slower fits on a busy
# machine) and never splits the work, so one thread gives the same numbers faster (stats/_blas.py).
from detectors.stats._blas import limit_blas_threads  # noqa: E402

limit_blas_threads(1)
