"""Booking rates with intervals, lifts against the rest, and the pattern confidence.

Rate interval (Wilson score, the default)
    With ``k`` conversions in ``n``, ``p = k / n`` and ``z`` the two-sided normal quantile::

        centre = (2k + z²) / (2(n + z²))
        half   = z / (2(n + z²)) · sqrt(4k(n − k)/n + z²)
        [centre − half, centre + half],  low = 0 when k = 0, high = 1 when k = n

    This is exactly ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` (Newcombe 1998),
    written with numpy so a whole family is computed in one call. Wilson keeps its coverage for the
    small samples and rates near 0 that booking data is made of, where the Wald interval collapses.
    ``method="jeffreys"`` gives the equal-tailed Beta(k + ½, n − k + ½) posterior interval instead
    (SPEC §6 allows either). With ``n = 0`` the rate is NaN and the interval is [0, 1].

Lift (log-ratio / Katz interval)
    ``lift = (a / n1) / (c / n0)`` for ``a`` conversions in ``n1`` inside the category and ``c`` in
    ``n0`` in the rest, with ``SE(log lift) = sqrt(1/a − 1/n1 + 1/c − 1/n0)`` and the interval
    ``exp(log lift ± z·SE)`` (Katz et al. 1978). The log scale makes the interval asymmetric, as a ratio
    of rates should be. When ``a = 0`` or ``c = 0`` the log ratio and its variance are undefined: the
    reported lift stays the observed ratio (0 when the category has no conversion, ∞ when the rest has
    none), the interval's finite end is computed with 0.5 added to each of the four cells of the 2×2
    table (``a + ½``, ``n1 + 1``, ``c + ½``, ``n0 + 1``), and its other end is the observed ratio's
    limit (0 or ∞). Correcting the point estimate as well would report a lift above 1 for a category
    with no conversion at all (0/5 against a 1% rest gives 7.9). An empty side, or no conversion on
    either side, leaves the lift undefined (NaN).

Confidence (the one definition, SPEC §6)
    ``confidence = c / (c + 8)`` with ``c`` the conversions behind a pattern: 0 without conversions,
    strictly increasing, 0.5 at 8 conversions and ≥ 0.7 from 19. SPEC §6 asks for ≥ 0.7 with about 200
    terminal outcomes at a 10–15% booking rate, i.e. from 20 conversions; its suggested ``c / (c + 10)``
    gives only 0.667 there, so the half point is 8 (20 conversions → 0.714).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats

from detectors.stats._common import FloatArray, FloatOrArray, as_counts, scalar_or_array, two_sided_z

CONFIDENCE_HALF_POINT = 8.0
"""Conversions at which a pattern's confidence reaches 0.5."""

CONTINUITY_CORRECTION = 0.5
"""Added to each cell of a 2×2 table with a zero conversion cell, for the lift interval's finite end."""


class RateInterval(NamedTuple):
    """A booking rate and its interval; floats for scalar inputs, arrays for array inputs."""

    rate: FloatOrArray
    ci_low: FloatOrArray
    ci_high: FloatOrArray


class LiftInterval(NamedTuple):
    """``rate_in / rate_out`` and its interval; floats for scalar inputs, arrays for array inputs."""

    lift: FloatOrArray
    ci_low: FloatOrArray
    ci_high: FloatOrArray


def rate_interval(
    conversions: npt.ArrayLike,
    sample: npt.ArrayLike,
    level: float = 0.95,
    method: Literal["wilson", "jeffreys"] = "wilson",
) -> RateInterval:
    """Rate ``conversions / sample`` with a two-sided interval; vectorised over arrays."""
    conversions_array, sample_array = as_counts(conversions, sample)
    empty = sample_array == 0
    safe_sample = np.where(empty, 1.0, sample_array)
    if method == "wilson":
        low, high = _wilson_bounds(conversions_array, safe_sample, level)
    elif method == "jeffreys":
        low, high = _jeffreys_bounds(conversions_array, safe_sample, level)
    else:
        raise ValueError(f"unknown interval method {method!r}; use 'wilson' or 'jeffreys'")
    rate = np.where(empty, np.nan, conversions_array / safe_sample)
    return RateInterval(
        rate=scalar_or_array(rate),
        ci_low=scalar_or_array(np.where(empty, 0.0, low)),
        ci_high=scalar_or_array(np.where(empty, 1.0, high)),
    )


def _wilson_bounds(conversions: FloatArray, sample: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    z = two_sided_z(level)
    denominator = 2.0 * (sample + z**2)
    centre = (2.0 * conversions + z**2) / denominator
    half_width = z / denominator * np.sqrt(4.0 * conversions * (sample - conversions) / sample + z**2)
    low = np.where(conversions == 0, 0.0, centre - half_width)
    high = np.where(conversions == sample, 1.0, centre + half_width)
    return low, high


def _jeffreys_bounds(conversions: FloatArray, sample: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    tail = (1.0 - level) / 2.0
    alpha, beta = conversions + 0.5, sample - conversions + 0.5
    low = np.where(conversions == 0, 0.0, stats.beta.ppf(tail, alpha, beta))
    high = np.where(conversions == sample, 1.0, stats.beta.ppf(1.0 - tail, alpha, beta))
    return low, high


def lift_interval(
    conversions_in: npt.ArrayLike,
    sample_in: npt.ArrayLike,
    conversions_out: npt.ArrayLike,
    sample_out: npt.ArrayLike,
    level: float = 0.95,
) -> LiftInterval:
    """``rate_in / rate_out`` with a Katz log-ratio interval; vectorised over arrays."""
    conv_in, n_in = as_counts(conversions_in, sample_in)
    conv_out, n_out = as_counts(conversions_out, sample_out)
    conv_in, n_in, conv_out, n_out = np.broadcast_arrays(conv_in, n_in, conv_out, n_out)
    defined = (n_in > 0) & (n_out > 0) & (conv_in + conv_out > 0)
    none_in, none_out = defined & (conv_in == 0), defined & (conv_out == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(defined, (conv_in / n_in) / (conv_out / n_out), np.nan)
        correction = np.where(none_in | none_out, CONTINUITY_CORRECTION, 0.0)
        conv_in, conv_out = conv_in + correction, conv_out + correction
        n_in, n_out = n_in + 2.0 * correction, n_out + 2.0 * correction
        log_lift = np.log(conv_in / n_in) - np.log(conv_out / n_out)
        standard_error = np.sqrt(1.0 / conv_in - 1.0 / n_in + 1.0 / conv_out - 1.0 / n_out)
    margin = two_sided_z(level) * standard_error
    ci_low = np.where(none_in, 0.0, np.exp(log_lift - margin))
    ci_high = np.where(none_out, np.inf, np.exp(log_lift + margin))
    return LiftInterval(
        lift=scalar_or_array(lift),
        ci_low=scalar_or_array(np.where(defined, ci_low, np.nan)),
        ci_high=scalar_or_array(np.where(defined, ci_high, np.nan)),
    )


def confidence(conversions: float) -> float:
    """Pattern confidence ``c / (c + 8)`` from the number of conversions behind it (SPEC §6)."""
    if not np.isfinite(conversions) or conversions < 0:
        raise ValueError(f"conversions must be a non-negative number, got {conversions}")
    return float(conversions) / (float(conversions) + CONFIDENCE_HALF_POINT)
