"""Learned ALS weights for the WHO detector (detectors/who_weights.py): score, AUC, constrained fit,
lead-level cross-validation and ship rule, top quintile, JSON fields. Pure numpy/pandas, no database."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from detectors import who_weights as ww

MAX = np.array([20, 25, 25, 15])
CENTRE = np.array([0.75, 0.55, 0.50, 0.40])   # the synthetic world's component centres (docs/synthetic_world.md)
TRUE = {"data_quality": 0.10, "authority": 0.45, "company_fit": 0.25, "timing": 0.05}
STRONG = {"data_quality": 0.05, "authority": 0.45, "company_fit": 0.30, "timing": 0.05}


def _units(weights: dict[str, float]) -> int:
    return sum(round(weights[c] * 10_000) for c in ww.COMPONENTS)


def _frame(rows: list[tuple[int, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[*ww.COMPONENTS, "risk", "leads", "conversions"])


def exact_world(seed: int, weights: dict[str, float], rows: int = 3000, leads: int = 100,
                a: float = -3.5, b: float = 6.0) -> pd.DataFrame:
    """Conversions drawn from the fitted model itself: sigmoid(a + b · unclipped score / 100)."""
    rng = np.random.default_rng(seed)
    g = pd.DataFrame(rng.integers(0, MAX + 1, size=(rows, 4)), columns=list(ww.COMPONENTS))
    g["risk"] = rng.integers(0, 6, rows)
    g = g.drop_duplicates().reset_index(drop=True)
    w = np.array([weights[c] for c in ww.COMPONENTS])
    score = (g[list(ww.COMPONENTS)].to_numpy() / MAX) @ w * 100 - g["risk"].to_numpy()
    g["leads"] = leads
    g["conversions"] = rng.binomial(leads, special.expit(a + b * score / 100))
    return g


def lead_world(seed: int, n_leads: int, weights: dict[str, float] | None, slope: float = 10.0,
               rate: float = 0.12) -> pd.DataFrame:
    """Leads with binomial components around the synthetic world's centres, aggregated to distinct
    combinations; conversions depend on the score under ``weights`` (None: a null world)."""
    rng = np.random.default_rng(seed)
    g = pd.DataFrame(rng.binomial(MAX, CENTRE, size=(n_leads, 4)), columns=list(ww.COMPONENTS))
    g["risk"] = rng.binomial(15, 0.12, n_leads)
    g = g.value_counts().rename("leads").reset_index()
    eta = np.full(len(g), special.logit(rate))
    if weights is not None:
        s = ww.als_score(g, weights)
        eta = eta + slope * (s - s.mean()) / 100
    g["conversions"] = rng.binomial(g["leads"].to_numpy(), special.expit(eta))
    return g


# --- score ------------------------------------------------------------------------------------------

def test_als_score_exact_values_and_clipping() -> None:
    rows = _frame([(20, 25, 25, 15, 0, 1, 0), (0, 0, 0, 0, 15, 1, 0), (10, 5, 20, 3, 2, 1, 0), (20, 25, 25, 15, 15, 1, 0)])
    assert ww.als_score(rows).tolist() == [85.0, 0.0, 36.0, 70.0]
    custom = {"data_quality": 0.05, "authority": 0.45, "company_fit": 0.30, "timing": 0.05}
    # 10/20·5 + 5/25·45 + 20/25·30 + 3/15·5 − 2 = 2.5 + 9 + 24 + 1 − 2
    assert ww.als_score(rows, custom).tolist() == [85.0, 0.0, 34.5, 70.0]
    over = {c: 0.5 for c in ww.COMPONENTS}     # not a valid learned vector, but shows the clip at 100
    assert ww.als_score(rows, over).tolist() == [100.0, 0.0, 100 * (0.25 + 0.1 + 0.4 + 0.1) - 2, 100.0]
    scalar = {"data_quality": 7, "authority": 11, "company_fit": 13, "timing": 2, "risk": 1}
    assert float(ww.als_score(scalar)) == 32.0


# --- AUC --------------------------------------------------------------------------------------------

def test_weighted_auc_hand_example_with_ties() -> None:
    # score 1: 1 pos, 2 neg | score 2 (two rows): 2 pos, 2 neg | score 3: 1 pos, 0 neg. P = N = 4.
    # pos@1 ties 2 neg: 1·(0 + ½·2) = 1; pos@2: 2·(2 + ½·2) = 6; pos@3: 1·4 = 4 → 11/16.
    assert ww.weighted_auc([1, 2, 2, 3], [1, 2, 0, 1], [2, 1, 1, 0]) == 11 / 16
    assert ww.weighted_auc([3, 2, 1], [1, 0, 0], [0, 1, 1]) == 1.0
    assert ww.weighted_auc([5, 5], [3, 0], [0, 7]) == 0.5
    assert np.isnan(ww.weighted_auc([1, 2], [0, 0], [1, 1]))


def _expand(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(scores, pos), np.repeat(scores, neg)


def test_weighted_auc_equals_brute_force_pairs() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 12, 60).astype(float)          # many ties
    pos, neg = rng.integers(0, 5, 60), rng.integers(0, 9, 60)
    sp, sn = _expand(scores, pos, neg)
    wins = sum(Fraction(int((s > sn).sum())) + Fraction(int((s == sn).sum()), 2) for s in sp)
    exact = wins / (len(sp) * len(sn))
    assert ww.weighted_auc(scores, pos, neg) == pytest.approx(float(exact), abs=1e-15)
    # permuting rows or splitting a row into two rows with the same score changes nothing
    perm = rng.permutation(60)
    assert ww.weighted_auc(scores[perm], pos[perm], neg[perm]) == pytest.approx(float(exact), abs=1e-15)
    pos2, neg2 = pos.copy(), neg.copy()
    pos2[0], neg2[0] = pos[0] // 2, neg[0] // 2
    split = (np.append(scores, scores[0]), np.append(pos2, pos[0] - pos[0] // 2), np.append(neg2, neg[0] - neg[0] // 2))
    assert ww.weighted_auc(*split) == pytest.approx(float(exact), abs=1e-15)


def test_paired_delong_equals_brute_force_on_leads() -> None:
    rng = np.random.default_rng(11)
    n = 40
    sa, sb = rng.integers(0, 8, n).astype(float), rng.integers(0, 8, n).astype(float)
    pos, neg = rng.integers(0, 4, n), rng.integers(0, 6, n)
    # brute force: one row per lead, DeLong placements by pairwise comparison
    ap, an = np.repeat(sa, pos), np.repeat(sa, neg)
    bp, bn = np.repeat(sb, pos), np.repeat(sb, neg)

    def psi(x: np.ndarray, y: np.ndarray) -> np.ndarray:     # (m, k): 1 if x > y, ½ if tie
        return (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])

    ka, kb = psi(ap, an), psi(bp, bn)
    m, k = ka.shape
    v10 = np.stack([ka.mean(1), kb.mean(1)])
    v01 = np.stack([ka.mean(0), kb.mean(0)])
    s10, s01 = np.cov(v10), np.cov(v01)
    c = np.array([1.0, -1.0])
    var = c @ s10 @ c / m + c @ s01 @ c / k
    z = (ka.mean() - kb.mean()) / np.sqrt(var)
    auc_a, auc_b, z_w, p_w = ww.paired_auc_test(sa, sb, pos, neg)
    assert auc_a == pytest.approx(ka.mean(), abs=1e-14) and auc_b == pytest.approx(kb.mean(), abs=1e-14)
    assert z_w == pytest.approx(z, rel=1e-10)
    assert p_w == pytest.approx(stats.norm.sf(z), rel=1e-10)
    # identical rankings: no evidence either way
    assert ww.paired_auc_test(sa, 2 * sa + 1, pos, neg)[2:] == (0.0, 1.0)


# --- fit --------------------------------------------------------------------------------------------

def _assert_feasible(weights: dict[str, float]) -> None:
    assert set(weights) == set(ww.COMPONENTS)
    assert all(0.05 <= weights[c] <= 0.50 for c in ww.COMPONENTS)
    assert all(round(weights[c], 4) == weights[c] for c in ww.COMPONENTS)
    assert _units(weights) == 8500
    assert sum(weights.values()) == pytest.approx(0.85, abs=1e-12)


def test_fit_recovers_planted_weights_and_beats_defaults() -> None:
    combos = exact_world(0, TRUE)
    fit = ww.fit_weights(combos)
    _assert_feasible(fit.weights)
    assert fit.converged and fit.identified
    for c in ww.COMPONENTS:
        assert fit.weights[c] == pytest.approx(TRUE[c], abs=0.02), (c, fit.weights)
    assert fit.slope == pytest.approx(6.0, abs=0.5) and fit.intercept == pytest.approx(-3.5, abs=0.3)
    loss_default = ww.profile_loss(combos, ww.DEFAULT_WEIGHTS)
    assert fit.loss_default == pytest.approx(loss_default, abs=1e-9)
    assert fit.loss <= loss_default
    assert fit.loss <= ww.profile_loss(combos, TRUE) + 1e-9       # the optimum beats the truth in sample
    assert ww.fit_weights(combos) == fit                           # deterministic


def test_fit_holds_bounds_when_the_truth_lies_outside() -> None:
    outside = {"data_quality": 0.02, "authority": 0.70, "company_fit": 0.08, "timing": 0.05}
    fit = ww.fit_weights(exact_world(1, outside))
    _assert_feasible(fit.weights)
    assert fit.weights["authority"] == 0.50                          # held at the upper bound
    assert fit.converged and fit.loss <= fit.loss_default


def test_fit_without_positive_association_returns_defaults() -> None:
    # booking probability falls with every component: b = 0, weights unidentified → defaults
    rng = np.random.default_rng(2)
    g = pd.DataFrame(rng.integers(0, MAX + 1, size=(500, 4)), columns=list(ww.COMPONENTS))
    g["risk"] = 0
    g["leads"] = 50
    x = g[list(ww.COMPONENTS)].to_numpy() / MAX
    g["conversions"] = rng.binomial(50, special.expit(-1.0 - 3.0 * x.mean(axis=1)))
    fit = ww.fit_weights(g)
    assert not fit.identified and fit.slope == pytest.approx(0.0, abs=1e-6)
    assert fit.weights == ww.DEFAULT_WEIGHTS


@pytest.mark.parametrize("raw", [[0.33333, 0.33333, 0.13334, 0.05], [0.049999999, 0.5000000001, 0.15, 0.15],
                                 [0.21249, 0.21249, 0.21249, 0.21253], [0.05, 0.05, 0.25, 0.5]])
def test_rounding_keeps_constraints_exactly(raw: list[float]) -> None:
    rounded = ww._round_weights(np.array(raw))
    _assert_feasible(dict(zip(ww.COMPONENTS, rounded.tolist())))
    assert np.abs(rounded - np.array(raw) * 0.85 / sum(raw)).max() <= 2e-4


def test_fit_rejects_bad_input() -> None:
    good = _frame([(10, 10, 10, 10, 1, 5, 2), (5, 5, 5, 5, 1, 5, 1)])
    with pytest.raises(ValueError, match="columns"):
        ww.fit_weights(good.drop(columns="risk"))
    with pytest.raises(ValueError, match="conversions"):
        ww.fit_weights(good.assign(conversions=[6, 1]))
    with pytest.raises(ValueError, match="outside"):
        ww.fit_weights(good.assign(timing=[16, 0]))
    with pytest.raises(ValueError, match="both"):
        ww.fit_weights(good.assign(conversions=0))


# --- cross-validation -------------------------------------------------------------------------------

def test_lead_folds_conserve_totals_exactly() -> None:
    rng = np.random.default_rng(5)
    pos, neg = rng.integers(0, 4, 700), rng.integers(0, 30, 700)
    pf, nf = ww.lead_folds(pos, neg, folds=5, seed=9)
    assert pf.shape == nf.shape == (700, 5) and pf.min() >= 0 and nf.min() >= 0
    assert (pf.sum(axis=1) == pos).all() and (nf.sum(axis=1) == neg).all()
    assert pf.sum(axis=0).max() - pf.sum(axis=0).min() <= 1
    assert nf.sum(axis=0).max() - nf.sum(axis=0).min() <= 1
    sizes = (pf + nf).sum(axis=0)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == pos.sum() + neg.sum()
    again = ww.lead_folds(pos, neg, folds=5, seed=9)
    assert (again[0] == pf).all() and (again[1] == nf).all()
    other = ww.lead_folds(pos, neg, folds=5, seed=10)
    assert not (other[1] == nf).all()
    # a single row's leads really are spread over the folds (lead-level, not row-level)
    big = ww.lead_folds([50], [500], folds=5, seed=0)
    assert big[0].tolist() == [[10, 10, 10, 10, 10]] and big[1].tolist() == [[100, 100, 100, 100, 100]]


def test_cross_validate_ships_on_strong_signal() -> None:
    for seed in range(3):
        combos = lead_world(seed, 10_000, STRONG)
        v = ww.cross_validate(combos, folds=5, seed=seed)
        assert v.shipped, v.reason
        assert v.cv_auc_learned > v.cv_auc_default + ww.MARGIN
        assert v.folds_won >= 3 and v.p_value < ww.ALPHA and v.folds == 5
        assert len(v.fold_auc_learned) == 5 and v.reason.startswith("learned weights beat defaults")
        assert v.fit is not None
        assert v.fit.weights["authority"] > ww.DEFAULT_WEIGHTS["authority"]
        assert v.fit.weights["timing"] < ww.DEFAULT_WEIGHTS["timing"]


def test_cross_validate_does_not_ship_on_null_world() -> None:
    results = [ww.cross_validate(lead_world(100 + seed, 10_000, None), folds=5, seed=seed) for seed in range(10)]
    assert sum(v.shipped for v in results) <= 1, [v.reason for v in results]
    for v in results:
        if not v.shipped:
            assert v.reason.startswith(("learned weights do not beat", "learned weights beat defaults in only",
                                        "improvement out of sample not significant"))
            assert f"({v.cv_auc_learned:.3f} vs {v.cv_auc_default:.3f})" in v.reason


def test_cross_validate_gate() -> None:
    tiny = _frame([(10, 10, 10, 10, 1, 20, 5), (5, 5, 5, 5, 1, 9, 4)])     # 29 leads, 9 converted
    v = ww.cross_validate(tiny)
    assert not v.shipped and v.cv_auc_learned is None and v.cv_auc_default is None
    assert v.reason.startswith("insufficient data: 9 converted of 29 terminal leads")


# --- top quintile -----------------------------------------------------------------------------------

def test_top_quintile_splits_boundary_ties_proportionally() -> None:
    # default scores 80 (1 lead, 1 converted), 50 (4 leads, 2 converted), 10 (5 leads, 0); N = 10 → top 2:
    # the 80 lead, and 1 of the 4 tied leads at 50 carrying 2/4 of a conversion → 1.5 / 2.
    combos = _frame([(20, 25, 25, 10, 0, 1, 1), (10, 15, 15, 10, 0, 4, 2), (5, 5, 0, 0, 0, 5, 0)])
    top = ww.top_quintile_conversion_rate(combos, ww.DEFAULT_WEIGHTS)
    assert (top.rate, top.sample, top.conversions) == (0.75, 2, 1.5)
    lo, hi = stats.beta.ppf([0.025, 0.975], 2.0, 1.0)
    assert top.ci_low == pytest.approx(lo, abs=1e-12) and top.ci_high == pytest.approx(hi, abs=1e-12)
    # N = 12 → round(2.4) = 2 leads; the new row scores 20 by default, so the top is unchanged
    combos2 = pd.concat([combos, _frame([(20, 0, 0, 0, 0, 2, 0)])], ignore_index=True)
    top2 = ww.top_quintile_conversion_rate(combos2, ww.DEFAULT_WEIGHTS)
    assert (top2.rate, top2.sample, top2.conversions) == (0.75, 2, 1.5)
    dq = {"data_quality": 0.50, "authority": 0.05, "company_fit": 0.25, "timing": 0.05}
    # scores: 50+5+25+3.33 = 83.33 (1 lead, 1 conv), new row 50 (2 leads, 0 conv), 46.33, 13.5 → 1 + ½·0 of 2
    top3 = ww.top_quintile_conversion_rate(combos2, dq)
    assert (top3.rate, top3.sample, top3.conversions) == (0.5, 2, 1.0)


# --- JSON -------------------------------------------------------------------------------------------

def test_learn_weights_json_fields() -> None:
    shipped = ww.learn_weights(lead_world(0, 10_000, STRONG))
    null = ww.learn_weights(lead_world(100, 10_000, None))
    for out in (shipped, null):
        assert json.loads(json.dumps(out)) == out
        assert set(out) == {"recommended_weights", "weights_validation", "top_quintile_conversion_rate"}
        assert set(out["weights_validation"]) == {"cv_auc_learned", "cv_auc_default", "folds", "shipped", "reason"}
        assert set(out["top_quintile_conversion_rate"]) == {"rate", "sample", "conversions", "ci_low", "ci_high",
                                                            "weights_source"}
        _assert_feasible({c: out["recommended_weights"][c] for c in ww.COMPONENTS})
        assert out["top_quintile_conversion_rate"]["weights_source"] == out["recommended_weights"]["source"]
        for v in (out["weights_validation"]["cv_auc_learned"], out["top_quintile_conversion_rate"]["rate"]):
            assert isinstance(v, float) and round(v, 6) == v
    assert shipped["weights_validation"]["shipped"] and shipped["recommended_weights"]["source"] == "learned"
    assert not null["weights_validation"]["shipped"] and null["recommended_weights"]["source"] == "default"
    assert {c: null["recommended_weights"][c] for c in ww.COMPONENTS} == ww.DEFAULT_WEIGHTS
    tiny = ww.learn_weights(_frame([(10, 10, 10, 10, 1, 20, 5), (5, 5, 5, 5, 1, 9, 4)]))
    assert tiny["weights_validation"]["cv_auc_learned"] is None and tiny["recommended_weights"]["source"] == "default"
