"""Two-sided tests of a category against the rest, and Benjamini–Hochberg q-values.

Test against the rest
    The 2×2 table ``[[a, n1 − a], [c, n0 − c]]`` (category, rest) × (converted, not) is tested for
    independence. When any expected cell ``row total × column total / N`` is below 5 the χ²
    approximation is unreliable and ``scipy.stats.fisher_exact`` gives the exact two-sided p-value;
    otherwise the Pearson χ² with one degree of freedom, ``N·(ad − bc)² / (n1·n0·m1·m0)`` with ``m1``,
    ``m0`` the converted and unconverted totals — the closed form of
    ``scipy.stats.chi2_contingency(table, correction=False)`` for a 2×2 table, evaluated for the
    whole family at once (the tests check the two agree). Yates' correction is not applied: it
    exists to patch the χ² for small counts, which already go to Fisher's test, and on large tables
    it only makes the test needlessly conservative.
    A category or rest with no sample is not tested (p = NaN). A table without any conversion has a
    zero expected column, so it goes to Fisher's test and gets p = 1.

Benjamini–Hochberg
    ``q_(i) = min_{j ≥ i} p_(j) · m / j`` over the ``m`` tested categories of one family (one field,
    one client), via ``scipy.stats.false_discovery_control(p, method="bh")``. Untested categories
    (p = NaN) are left out of ``m`` and get q = NaN, so they can never be labelled.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special

from detectors.stats._common import FloatArray, as_counts

MIN_EXPECTED_CELL = 5.0
"""Below this expected count in any cell, Fisher's exact test replaces the χ² test."""


class ContingencyTest(NamedTuple):
    """Two-sided p-value of a category against the rest and the test that produced it."""

    p_value: float
    method: Literal["fisher", "chi2"] | None


def p_value_against_rest(
    conversions_in: float, sample_in: float, conversions_out: float, sample_out: float
) -> ContingencyTest:
    """Two-sided p-value of ``conversions_in / sample_in`` against ``conversions_out / sample_out``."""
    p_values, methods = _tests_against_rest(conversions_in, sample_in, conversions_out, sample_out)
    return ContingencyTest(p_value=float(p_values), method=methods[0])


def p_values_against_rest(
    conversions_in: npt.ArrayLike,
    sample_in: npt.ArrayLike,
    conversions_out: npt.ArrayLike,
    sample_out: npt.ArrayLike,
) -> FloatArray:
    """:func:`p_value_against_rest` for each element of the (broadcast) arrays."""
    p_values, _ = _tests_against_rest(conversions_in, sample_in, conversions_out, sample_out)
    return p_values


def _tests_against_rest(
    conversions_in: npt.ArrayLike,
    sample_in: npt.ArrayLike,
    conversions_out: npt.ArrayLike,
    sample_out: npt.ArrayLike,
) -> tuple[FloatArray, list[Literal["fisher", "chi2"] | None]]:
    """p-values (broadcast shape) and the test used for each table (flattened)."""
    conv_in, n_in = as_counts(conversions_in, sample_in)
    conv_out, n_out = as_counts(conversions_out, sample_out)
    shape = np.broadcast_shapes(conv_in.shape, conv_out.shape)
    a, n1, c, n0 = (np.broadcast_to(counts, shape).ravel() for counts in (conv_in, n_in, conv_out, n_out))
    total, converted = n1 + n0, a + c
    testable = (n1 > 0) & (n0 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        smallest_expected = np.minimum(n1, n0) * np.minimum(converted, total - converted) / total
        pearson = total * (a * (n0 - c) - c * (n1 - a)) ** 2 / (n1 * n0 * converted * (total - converted))
    use_fisher = testable & (smallest_expected < MIN_EXPECTED_CELL)
    # special.chdtrc is what stats.chi2.sf evaluates, without its per-call argument handling (same bits).
    p_values = np.where(testable & ~use_fisher, special.chdtrc(1.0, pearson), np.nan)
    for row in np.flatnonzero(use_fisher):
        p_values[row] = _fisher_p_value(int(a[row]), int(n1[row] - a[row]), int(c[row]), int(n0[row] - c[row]))
    methods: list[Literal["fisher", "chi2"] | None] = [
        ("fisher" if fisher else "chi2") if tested else None for fisher, tested in zip(use_fisher, testable)
    ]
    return p_values.reshape(shape), methods


@lru_cache(maxsize=1024)  # small tables repeat across families and clients
def _fisher_p_value(converted_in: int, other_in: int, converted_out: int, other_out: int) -> float:
    """``scipy.stats.fisher_exact(table).pvalue`` (two-sided) for one 2×2 table: scipy's algorithm step by
    step on the same hypergeometric ufuncs, without the distribution objects' per-call argument handling
    (~0.3 ms of a call); ``tests/test_stats_fast_paths.py`` checks it equal to scipy bit for bit."""
    a, b, c, d = converted_in, other_in, converted_out, other_out
    if 0 in (a + c, b + d, a + b, c + d):
        return 1.0
    in_row, out_row, converted = a + b, c + d, a + c
    hypergeom = _Hypergeometric(in_row + out_row, in_row, converted)
    mode = int((converted + 1) * (in_row + 1) / (in_row + out_row + 2))
    p_exact, p_mode = hypergeom.pmf(a), hypergeom.pmf(mode)
    epsilon = 1e-14
    gamma = 1 + epsilon
    with np.errstate(invalid="ignore"):
        if np.abs(p_exact - p_mode) / np.maximum(p_exact, p_mode) <= epsilon:
            return 1.0
    if a < mode:
        lower = hypergeom.cdf(a)
        if hypergeom.pmf(converted) > p_exact * gamma:
            return float(min(lower, 1.0))
        guess = _binary_search(lambda x: -hypergeom.pmf(x), -p_exact * gamma, mode, converted)
        p_value = lower + hypergeom.sf(guess)
    else:
        upper = hypergeom.sf(a - 1)
        if hypergeom.pmf(0) > p_exact * gamma:
            return float(min(upper, 1.0))
        guess = _binary_search(hypergeom.pmf, p_exact * gamma, 0, mode)
        p_value = upper + hypergeom.cdf(guess)
    return float(min(p_value, 1.0))


class _Hypergeometric:
    """pmf, cdf and sf of ``scipy.stats.hypergeom(total, good, draws)`` at integer points, with the
    support rules of ``rv_discrete`` (0 or 1 outside the support) and the same ufuncs and clipping."""

    def __init__(self, total: int, good: int, draws: int) -> None:
        self.total, self.good, self.draws = float(total), float(good), float(draws)
        self.low, self.high = max(draws - (total - good), 0), min(good, draws)

    def pmf(self, k: int) -> np.float64:
        if not self.low <= k <= self.high:
            return np.float64(0.0)
        return np.clip(special._ufuncs._hypergeom_pmf(float(k), self.good, self.draws, self.total), 0, 1)

    def cdf(self, k: int) -> np.float64:
        if k >= self.high:
            return np.float64(1.0)
        if k < self.low:
            return np.float64(0.0)
        return np.clip(special._ufuncs._hypergeom_cdf(float(k), self.good, self.draws, self.total), 0, 1)

    def sf(self, k: int) -> np.float64:
        if k < self.low:
            return np.float64(1.0)
        if k >= self.high:
            return np.float64(0.0)
        return np.clip(special._ufuncs._hypergeom_sf(float(k), self.good, self.draws, self.total), 0, 1)


def _binary_search(function, target: float, low: int, high: int) -> int:
    """scipy's search (``scipy.stats._binomtest``): the i in [low, high] with f(i) <= target < f(i + 1)."""
    while low < high:
        middle = low + (high - low) // 2
        value = function(middle)
        if value < target:
            low = middle + 1
        elif value > target:
            high = middle - 1
        else:
            return middle
    return low if function(low) <= target else low - 1


def benjamini_hochberg(p_values: npt.ArrayLike) -> FloatArray:
    """BH q-values over the finite p-values of one family; NaN stays NaN and is not counted in m."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError("p_values must be one-dimensional (one family)")
    q = np.full(p.shape, np.nan)
    tested = np.isfinite(p)
    if tested.any():
        q[tested] = _bh_adjusted(p[tested])
    return q


def _bh_adjusted(p: FloatArray) -> FloatArray:
    """``scipy.stats.false_discovery_control(p, method="bh")`` step by step (same operations, same bits),
    without its array-API dispatch and checks, which cost more than the arithmetic on a family of ~10."""
    if not ((p >= 0.0) & (p <= 1.0)).all():
        raise ValueError("`ps` must include only numbers between 0 and 1.")
    m = len(p)
    if m <= 1:
        return p
    order = np.argsort(p)
    ordered = p[order]
    ordered *= m / np.arange(1, m + 1, dtype=float)
    np.minimum.accumulate(ordered[::-1], out=ordered[::-1])
    adjusted = np.empty_like(ordered)
    adjusted[order] = ordered
    return np.clip(adjusted, 0.0, 1.0)
