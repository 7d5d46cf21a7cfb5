"""Empirical-Bayes Beta-Binomial shrinkage of category rates toward a baseline.

Model
    Each category's true rate is drawn from ``Beta(κ·m, κ·(1 − m))``: mean ``m`` (the client's
    baseline rate) and *prior strength* ``κ`` (a number of pseudo-observations). The posterior mean
    of a category with ``x`` conversions in ``n`` is::

        shrunk = (x + κ·m) / (n + κ)

    A category with little data stays near the baseline; one with ``n ≫ κ`` keeps its own rate. Ranking
    by the shrunk rate stops a 1/1 category from outranking 40/200.

Prior strength by the method of moments
    Under the Beta-Binomial model the intra-class correlation is ``ρ = 1 / (κ + 1)`` and, for ``k``
    categories with samples ``n_i`` (total ``N``) around the pooled rate ``p̄``, the Pearson statistic
    ``X² = Σ n_i (p_i − p̄)² / (p̄(1 − p̄))`` has expectation ``(k − 1) + ρ·(N − Σn_i²/N − (k − 1))``.
    Solving for ``ρ``::

        ρ̂ = (X² − (k − 1)) / (N − Σ n_i² / N − (k − 1)),      κ̂ = 1/ρ̂ − 1

    i.e. the between-category variance in excess of binomial noise (the ANOVA estimator of the
    intra-class correlation for binary data; with equal ``n`` the denominator is ``(k − 1)(n − 1)``).
    The dispersion is measured around the family's pooled rate, so a family measured on another unit
    (touches rather than leads) is not read as dispersed merely because its rate differs from ``m``.
    ``κ̂`` is clamped to ``[2, 1000]``: no excess dispersion (``ρ̂ ≤ 0``) means complete pooling and
    gives 1000, and at least two pseudo-observations always temper a tiny category. With fewer than 3
    categories with data, no conversion (or nothing but conversions) in the family, or a degenerate
    denominator, the moments carry no information and a fixed ``κ = 20`` is used: a category needs
    about 20 observations before its own rate weighs as much as the baseline.

Agency prior (issue 10 part 3)
    With an agency-wide pattern, a category's prior mean is no longer the client's baseline ``m`` but
    ``m_c = clip(m · r_c / r̄, 0, 1)``: the client's baseline times the agency's lift of that category
    (its agency rate ``r_c`` over the agency baseline ``r̄``), see ``agency_prior_means``. The prior
    strength ``κ`` is estimated as above, from the client's own family. A category unknown to the
    agency, or an agency without data, keeps ``m_c = m`` (the behaviour without an agency pattern).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from detectors.stats._common import FloatArray, FloatOrArray, as_counts, scalar_or_array

DEFAULT_PRIOR_STRENGTH = 20.0
"""Prior strength (pseudo-observations) when the family is too small to estimate one."""

PRIOR_STRENGTH_BOUNDS = (2.0, 1000.0)
"""Clamp of the method-of-moments estimate."""

MIN_CATEGORIES_FOR_ESTIMATE = 3
"""Categories with data needed before the between-category variance is estimated."""


@dataclass(frozen=True)
class PriorStrength:
    """The Beta prior's strength ``κ`` and how it was obtained."""

    value: float
    method: Literal["method_of_moments", "default"]


def estimate_prior_strength(
    conversions: npt.ArrayLike,
    sample: npt.ArrayLike,
    *,
    default: float = DEFAULT_PRIOR_STRENGTH,
    bounds: tuple[float, float] = PRIOR_STRENGTH_BOUNDS,
    min_categories: int = MIN_CATEGORIES_FOR_ESTIMATE,
) -> PriorStrength:
    """Method-of-moments ``κ`` from the between-category dispersion of one family (module docstring)."""
    conversions_array, sample_array = as_counts(conversions, sample)
    if conversions_array.ndim != 1:
        raise ValueError("conversions and sample must be one-dimensional (one family)")
    observed = sample_array > 0
    conversions_array, sample_array = conversions_array[observed], sample_array[observed]
    fallback = PriorStrength(value=float(default), method="default")
    categories = len(sample_array)
    if categories < min_categories:
        return fallback
    total = sample_array.sum()
    pooled_rate = conversions_array.sum() / total
    if pooled_rate in (0.0, 1.0):
        return fallback
    degrees_of_freedom = categories - 1
    denominator = total - (sample_array**2).sum() / total - degrees_of_freedom
    if denominator <= 0:
        return fallback
    rates = conversions_array / sample_array
    pearson = (sample_array * (rates - pooled_rate) ** 2).sum() / (pooled_rate * (1.0 - pooled_rate))
    intraclass_correlation = (pearson - degrees_of_freedom) / denominator
    strength = 1.0 / intraclass_correlation - 1.0 if intraclass_correlation > 0 else np.inf
    return PriorStrength(value=float(np.clip(strength, *bounds)), method="method_of_moments")


def shrink_rates(
    conversions: npt.ArrayLike, sample: npt.ArrayLike, prior_mean: float | npt.ArrayLike, prior_strength: float
) -> FloatOrArray:
    """Posterior means ``(x + κ·m) / (n + κ)``; an empty category gets the prior mean ``m``.

    ``prior_mean`` is one rate for the family, or one per category (the agency prior)."""
    prior_array = np.asarray(prior_mean, dtype=float)
    if not (np.isfinite(prior_array).all() and ((prior_array >= 0.0) & (prior_array <= 1.0)).all()):
        raise ValueError(f"prior_mean must be a rate in [0, 1], got {prior_mean}")
    if not (np.isfinite(prior_strength) and prior_strength > 0):
        raise ValueError(f"prior_strength must be a positive number, got {prior_strength}")
    conversions_array, sample_array = as_counts(conversions, sample)
    shrunk: FloatArray = (conversions_array + prior_strength * prior_array) / (sample_array + prior_strength)
    return scalar_or_array(shrunk)


@dataclass(frozen=True)
class AgencyPrior:
    """One family's agency-wide rates per category and the agency baseline they are relative to."""

    rates: Mapping[Hashable, float]
    baseline: float


def agency_prior_means(
    client_baseline: float, agency_rates: Mapping[Hashable, float], agency_baseline: float
) -> dict[Hashable, float]:
    """Per category the prior mean ``clip(client_baseline · agency_rate / agency_baseline, 0, 1)``.

    Categories whose agency rate is missing or not finite are left out (their prior stays the client's
    baseline); an agency baseline that is not a positive finite rate gives no category at all."""
    if not 0.0 <= client_baseline <= 1.0:
        raise ValueError(f"client_baseline must be a rate in [0, 1], got {client_baseline}")
    if not (np.isfinite(agency_baseline) and 0.0 < agency_baseline <= 1.0):
        return {}
    return {
        category: float(np.clip(client_baseline * float(rate) / agency_baseline, 0.0, 1.0))
        for category, rate in agency_rates.items()
        if rate is not None and np.isfinite(float(rate))
    }
