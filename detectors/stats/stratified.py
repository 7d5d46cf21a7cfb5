"""Position-adjusted (stratified) effects of a category against the rest of the population.

Content features and send times are confounded with touch position: first touches convert
differently from fifth touches, and templates are not spread evenly over positions. Comparing a
category with the rest *within* each stratum (e.g. ``touch_number``) and pooling removes that.
A stratum contributes only when both the category and the rest have sample in it.

Mantel–Haenszel risk ratio (the adjusted lift)
    Per stratum ``k``: ``a_k`` conversions in ``n1_k`` for the category, ``c_k`` in ``n0_k`` for the rest,
    ``N_k = n1_k + n0_k``, ``M1_k = a_k + c_k``. The risk ratio is used rather than the odds ratio
    because it reads directly as a lift and equals the crude lift when there is one stratum::

        RR_MH = Σ a_k·n0_k/N_k  /  Σ c_k·n1_k/N_k

    Greenland–Robins (1985) variance, interval ``exp(log RR_MH ± z·SE)``::

        Var(log RR_MH) = Σ (n1_k·n0_k·M1_k − a_k·c_k·N_k) / N_k²  /  (Σ a_k·n0_k/N_k · Σ c_k·n1_k/N_k)

    With one stratum this is the Katz variance of the crude lift. When the category or the rest has
    no conversion in the contributing strata the treatment is the crude lift's: the ratio is reported
    as observed (0 or ∞), the interval's other end is that limit, and its finite end comes from the
    counts with the 0.5 correction spread over the strata in proportion to their size
    (``w_k = N_k / ΣN``: ``a_k + 0.5·w_k``, ``c_k + 0.5·w_k``, ``n1_k + w_k``, ``n0_k + w_k``), so a
    one-stratum table gives exactly the crude interval and many thin strata are not flooded with
    pseudo-counts. No conversion at all leaves it undefined.

Cochran–Mantel–Haenszel test (two-sided p-value; scipy has none, so the standard formula)
    ``E_k = n1_k·M1_k/N_k``, ``V_k = n1_k·n0_k·M1_k·(N_k − M1_k) / (N_k²·(N_k − 1))``::

        CMH = (|Σ(a_k − E_k)| − ½)² / Σ V_k ~ χ²(1)

    with the ½ continuity correction (as in R's ``mantelhaen.test`` default, applied only when
    ``|Σ(a_k − E_k)| ≥ ½``). Unlike the crude test there is no exact fallback for sparse strata, so the
    conservative corrected statistic is kept: fewer false winners. ``Σ V_k = 0`` (no stratum with both
    outcomes) means untestable: p = NaN.

Adjusted rate (standardised to the overall stratum mix)
    ``E = Σ_k n_k·p_k`` is the number of conversions the category would have had converting at each
    stratum's overall rate ``p_k``; ``m`` is the overall rate of the standard population (all
    categories, or the supplied population). The adjusted rate ``m·O/E`` is the category's rate
    carried over to the overall stratum mix, assuming its effect multiplies each stratum's rate (the
    same assumption as the common risk ratio). This indirect standardisation is used instead of the
    direct one (``Σ w_k·rate_k``) because a category is usually absent from some strata, where its direct
    rate is undefined, and re-weighting over the strata it does occupy would bring the confounding
    back (a template used only in first touches would look as good as first touches). When the
    category's stratum mix equals the overall mix, ``E = n·m`` and the adjusted rate is the crude
    rate. The shrunk version adds the prior of :mod:`detectors.stats.shrinkage` in the same units,
    ``m·(O + κ·m)/(E + κ·m)``, which is the crude posterior mean ``(O + κ·m)/(n + κ)`` at the overall
    mix. Both are capped at 1 (the multiplicative model can exceed it for extreme tiny categories).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from detectors.stats._common import FloatArray, FloatOrArray, as_counts, scalar_or_array, two_sided_z
from detectors.stats.intervals import CONTINUITY_CORRECTION


class StratifiedEffect(NamedTuple):
    """Mantel–Haenszel risk ratio of a category vs the rest, its interval and the CMH p-value."""

    risk_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    strata_used: int


def cochran_mantel_haenszel_p_value(
    conversions_in: npt.ArrayLike,
    sample_in: npt.ArrayLike,
    conversions_out: npt.ArrayLike,
    sample_out: npt.ArrayLike,
) -> float:
    """Two-sided CMH p-value (continuity-corrected) over strata where both sides have sample."""
    return _cmh_p_value(*_contributing_strata(conversions_in, sample_in, conversions_out, sample_out))


def _cmh_p_value(conv_in: FloatArray, n_in: FloatArray, conv_out: FloatArray, n_out: FloatArray) -> float:
    """CMH p-value of counts already checked and cut to the contributing strata."""
    total = n_in + n_out
    converted = conv_in + conv_out
    expected = n_in * converted / total
    variance = n_in * n_out * converted * (total - converted) / (total**2 * (total - 1.0))
    if variance.sum() <= 0:
        return float("nan")
    deviation = abs((conv_in - expected).sum())
    correction = 0.5 if deviation >= 0.5 else 0.0
    statistic = (deviation - correction) ** 2 / variance.sum()
    return float(special.chdtrc(1.0, statistic))  # = stats.chi2.sf(statistic, 1) without its per-call checks


def mantel_haenszel_risk_ratio(
    conversions_in: npt.ArrayLike,
    sample_in: npt.ArrayLike,
    conversions_out: npt.ArrayLike,
    sample_out: npt.ArrayLike,
    level: float = 0.95,
) -> StratifiedEffect:
    """Pooled risk ratio category/rest over strata (arrays indexed by stratum), GR interval, CMH p."""
    return _mantel_haenszel(*_contributing_strata(conversions_in, sample_in, conversions_out, sample_out),
                            two_sided_z(level))


def _mantel_haenszel(conv_in: FloatArray, n_in: FloatArray, conv_out: FloatArray, n_out: FloatArray,
                     z: float) -> StratifiedEffect:
    """``mantel_haenszel_risk_ratio`` of counts already checked and cut to the contributing strata: the
    one formula, also called once per category by ``stratified_effects`` without re-checking."""
    p_value = _cmh_p_value(conv_in, n_in, conv_out, n_out)
    strata_used = len(n_in)
    none_in, none_out = conv_in.sum() == 0, conv_out.sum() == 0
    if strata_used == 0 or (none_in and none_out):
        return StratifiedEffect(np.nan, np.nan, np.nan, p_value, strata_used)
    total = n_in + n_out
    with np.errstate(divide="ignore"):
        risk_ratio = float((conv_in * n_out / total).sum() / (conv_out * n_in / total).sum())
    if none_in or none_out:
        weight = total / total.sum()
        conv_in = conv_in + CONTINUITY_CORRECTION * weight
        conv_out = conv_out + CONTINUITY_CORRECTION * weight
        n_in, n_out = n_in + 2.0 * CONTINUITY_CORRECTION * weight, n_out + 2.0 * CONTINUITY_CORRECTION * weight
        total = n_in + n_out
    weighted_in = (conv_in * n_out / total).sum()
    weighted_out = (conv_out * n_in / total).sum()
    log_ratio = np.log(weighted_in / weighted_out)
    variance_numerator = ((n_in * n_out * (conv_in + conv_out) - conv_in * conv_out * total) / total**2).sum()
    margin = z * np.sqrt(variance_numerator / (weighted_in * weighted_out))
    return StratifiedEffect(
        risk_ratio=risk_ratio,
        ci_low=0.0 if none_in else float(np.exp(log_ratio - margin)),
        ci_high=float("inf") if none_out else float(np.exp(log_ratio + margin)),
        p_value=p_value,
        strata_used=strata_used,
    )


def _contributing_strata(
    conversions_in: npt.ArrayLike,
    sample_in: npt.ArrayLike,
    conversions_out: npt.ArrayLike,
    sample_out: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    conv_in, n_in = as_counts(conversions_in, sample_in)
    conv_out, n_out = as_counts(conversions_out, sample_out)
    conv_in, n_in, conv_out, n_out = np.broadcast_arrays(conv_in, n_in, conv_out, n_out)
    if conv_in.ndim != 1:
        raise ValueError("stratified counts must be one-dimensional (one value per stratum)")
    used = (n_in > 0) & (n_out > 0)
    return conv_in[used], n_in[used], conv_out[used], n_out[used]


def standardised_rate(
    conversions: npt.ArrayLike,
    sample: npt.ArrayLike,
    standard_conversions: npt.ArrayLike,
    standard_sample: npt.ArrayLike,
    prior_strength: float = 0.0,
    prior_mean: npt.ArrayLike | None = None,
) -> FloatOrArray:
    """Rate at the standard population's stratum mix, ``m·(O + κm)/(E + κm)``; κ = 0 gives ``m·O/E``.

    ``conversions``/``sample`` are indexed by stratum on their last axis (one row per category for
    2-D input); ``standard_*`` are the standard population's counts per stratum. ``prior_mean`` (one
    rate per category, the agency prior) replaces the prior's rate ``m`` in the pseudo-conversions:
    ``m·(O + κ·p_c)/(E + κm)``, whose value for an empty category is ``p_c``.
    """
    conversions_array, sample_array = as_counts(conversions, sample)
    standard_conv, standard_n = as_counts(standard_conversions, standard_sample)
    if standard_n.ndim != 1 or sample_array.shape[-1:] != standard_n.shape:
        raise ValueError("standard counts must be one-dimensional and match the strata of the category counts")
    if prior_strength < 0:
        raise ValueError(f"prior_strength must be non-negative, got {prior_strength}")
    if standard_n.sum() == 0:
        return scalar_or_array(np.full(sample_array.shape[:-1], np.nan))
    overall_rate = standard_conv.sum() / standard_n.sum()
    prior = np.broadcast_to(overall_rate if prior_mean is None else np.asarray(prior_mean, dtype=float),
                            sample_array.shape[:-1])
    stratum_rates = np.divide(standard_conv, standard_n, out=np.zeros_like(standard_n), where=standard_n > 0)
    observed = conversions_array.sum(axis=-1) + prior_strength * prior
    expected = sample_array @ stratum_rates + prior_strength * overall_rate
    # E = 0 means the category only met strata that never convert: undefined unshrunk, the prior mean
    # (then 0) when shrunk.
    rate = np.divide(overall_rate * observed, expected, out=np.zeros_like(expected), where=expected > 0)
    rate = np.where(expected > 0, np.minimum(rate, 1.0), prior if prior_strength > 0 else np.nan)
    return scalar_or_array(np.asarray(rate, dtype=float))


@dataclass(frozen=True)
class StratifiedFamily:
    """One family's counts per (category, stratum) and the standard population per stratum.

    The standard population is the sum over categories, or a supplied population when categories
    overlap (multi-label fields such as angles); the rest of a category is ``population − category``.
    """

    categories: pd.Index
    strata: pd.Index
    conversions: FloatArray
    sample: FloatArray
    standard_conversions: FloatArray
    standard_sample: FloatArray

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        category_col: str,
        stratum_col: str,
        conversions_col: str = "conversions",
        sample_col: str = "sample",
        population: pd.DataFrame | None = None,
    ) -> StratifiedFamily:
        """Pivot rows of (category, stratum, conversions, sample); duplicate rows are summed.

        ``population``, when given, has one row per stratum with ``stratum_col``, ``conversions_col``
        and ``sample_col``, and must contain every category's counts.
        """
        # Categories and strata in order of first appearance (what groupby(sort=False) + unstack gave),
        # counts summed into the (category, stratum) matrices by their codes.
        category_codes, categories = pd.factorize(df[category_col], sort=False, use_na_sentinel=False)
        stratum_codes, strata = pd.factorize(df[stratum_col], sort=False, use_na_sentinel=False)
        categories, strata = pd.Index(categories, name=category_col), pd.Index(strata, name=stratum_col)
        if population is not None:
            # The population's counts summed per stratum by codes (what a grouped sum gave, in the same
            # first-appearance order), its strata appended to the categories' as Index.union did.
            population_codes, population_strata = pd.factorize(population[stratum_col], sort=False,
                                                               use_na_sentinel=False)
            population_strata = pd.Index(population_strata, name=stratum_col)
            strata = strata.union(population_strata, sort=False)
        shape = (len(categories), len(strata))
        conversions_matrix, sample_matrix = np.zeros(shape), np.zeros(shape)
        np.add.at(conversions_matrix, (category_codes, stratum_codes), df[conversions_col].to_numpy(dtype=float))
        np.add.at(sample_matrix, (category_codes, stratum_codes), df[sample_col].to_numpy(dtype=float))
        conversions_matrix, sample_matrix = as_counts(conversions_matrix, sample_matrix)
        if population is None:
            standard_conversions, standard_sample = conversions_matrix.sum(axis=0), sample_matrix.sum(axis=0)
        else:
            positions = strata.get_indexer(population_strata)[population_codes]
            standard_conversions, standard_sample = np.zeros(len(strata)), np.zeros(len(strata))
            np.add.at(standard_conversions, positions, population[conversions_col].to_numpy(dtype=float))
            np.add.at(standard_sample, positions, population[sample_col].to_numpy(dtype=float))
            standard_conversions, standard_sample = as_counts(standard_conversions, standard_sample)
            rest_conversions, rest_sample = standard_conversions - conversions_matrix, standard_sample - sample_matrix
            if (rest_sample < 0).any() or (rest_conversions < 0).any() or (rest_conversions > rest_sample).any():
                raise ValueError("the population must contain every category's counts in every stratum")
        return cls(
            categories=categories,
            strata=strata,
            conversions=conversions_matrix,
            sample=sample_matrix,
            standard_conversions=standard_conversions,
            standard_sample=standard_sample,
        )

    @property
    def overall_rate(self) -> float:
        """Booking rate of the standard population (NaN when it is empty)."""
        total = self.standard_sample.sum()
        return float(self.standard_conversions.sum() / total) if total > 0 else float("nan")


def stratified_effects(family: StratifiedFamily, level: float = 0.95) -> pd.DataFrame:
    """Per category: totals, adjusted rate, MH adjusted lift with interval, CMH p-value."""
    return pd.DataFrame(stratified_effect_columns(family, level))


def stratified_effect_columns(family: StratifiedFamily, level: float = 0.95) -> dict[str, object]:
    """``stratified_effects`` as plain columns (name -> array, categories as their Index): what the
    rankings assemble into one frame, without building and re-assigning an intermediate one."""
    conversions, sample = as_counts(family.conversions, family.sample)
    rest_conversions, rest_sample = as_counts(family.standard_conversions - conversions,
                                              family.standard_sample - sample)
    if conversions.ndim != 2:
        raise ValueError("stratified counts must be one-dimensional (one value per stratum)")
    z = two_sided_z(level)
    contributing = (sample > 0) & (rest_sample > 0)
    effects = [
        _mantel_haenszel(conversions[row][used], sample[row][used], rest_conversions[row][used],
                         rest_sample[row][used], z)
        for row, used in enumerate(contributing)
    ]
    return {
        "category": family.categories,
        "sample": family.sample.sum(axis=1).astype(np.int64),
        "conversions": family.conversions.sum(axis=1).astype(np.int64),
        "adjusted_rate": standardised_rate(
            family.conversions, family.sample, family.standard_conversions, family.standard_sample
        ),
        "adjusted_lift": np.array([effect.risk_ratio for effect in effects], dtype=float),
        "adjusted_lift_ci_low": np.array([effect.ci_low for effect in effects], dtype=float),
        "adjusted_lift_ci_high": np.array([effect.ci_high for effect in effects], dtype=float),
        "p_value": np.array([effect.p_value for effect in effects], dtype=float),
    }
