"""Learned ALS lead-score weights for the WHO detector (SPEC §7 who, §9 score formula).

Input
-----
One client's leads with a final outcome (converted, failed or stale; SPEC §4), aggregated to
DISTINCT component combinations: a DataFrame with columns ``data_quality`` (0–20), ``authority``
(0–25), ``company_fit`` (0–25), ``timing`` (0–15), ``risk`` (0–15), ``leads`` (≥ 1) and
``conversions`` (0..leads). Every computation works on these weighted rows: cost grows with the number
of distinct combinations (at most 21·26·26·16·16), never with the number of leads.

Score (SPEC §9)
---------------
``score = Σ_j component_j / max_j × weight_j × 100 − risk``, clipped to [0, 100]. With the default
weights (0.20, 0.25, 0.25, 0.15) each term is exactly the component's points. Scores are rounded to
1e-9 so that mathematically equal scores tie exactly (no floating-point noise in AUC ties or in the
top-quintile boundary).

Model and fit
-------------
``P(convert) = sigmoid(a + b · s / 100)`` with ``s = Σ_j x_j w_j 100 − risk`` the *unclipped* score,
``x_j = component_j / max_j``. Constraints: each ``w_j ∈ [0.05, 0.50]``, ``Σ w_j = 0.85`` (risk keeps
its 0.15 share: it enters with the fixed unit coefficient of the SPEC formula, so its log-odds per
point is ``b / 100``), and ``b ≥ 0`` (a higher score never means a lower booking probability; if the
data say otherwise the fit ends at ``b = 0`` where the weights are unidentified, and the defaults are
returned).

The fit is done in the equivalent linear parameters ``β_j = b · w_j`` (so ``b = Σβ / 0.85``,
``w = β / b``): the log-odds become ``a + Σ_j β_j (x_j − risk / 85)``, which is linear, and the weight
bounds become the linear cone ``0.05 · Σβ/0.85 ≤ β_j ≤ 0.50 · Σβ/0.85``. The problem is therefore a
*convex* logistic regression under linear inequality constraints: SLSQP (``scipy.optimize.minimize``,
analytic gradients) finds the global optimum, and the start (the defaults, with ``a`` and ``b`` fitted
at the defaults first) is fixed, so the result is deterministic. Clipping at 0 (risk above the weighted
components) is ignored in the fit — it keeps the loss smooth and convex and binds for very few leads;
the clip at 100 never binds (Σw = 0.85 caps the score at 85). Evaluation (AUC, top quintile) uses the
SPEC's clipped score, i.e. exactly what the engines will compute.

Loss = binomial negative log-likelihood weighted by counts (``conversions`` successes and
``leads − conversions`` failures per row) plus a small ridge ``RIDGE · Σ_j (β_j − b · w0_j)²`` toward
the defaults ``w0`` (= ``RIDGE · b² · ‖w − w0‖²``; log-likelihood units, so it does not grow with the
data and vanishes relative to the likelihood for any real client; it only stabilises nearly flat
directions, e.g. a component that barely varies). The reported ``loss`` is the mean NLL per lead
without the ridge. Returned weights are rounded to 4 decimals by largest remainder in units of 1e-4,
so they still satisfy the bounds and sum to exactly 8,500 units (0.85).

Cross-validation (the unit is the LEAD)
---------------------------------------
Each row's converted and non-converted leads are split over ``k`` folds as a uniformly random,
balanced assignment of leads to folds: fold sizes are fixed first (converted leads: ``C // k`` per
fold plus one for ``C % k`` folds; the remainder of the non-converted leads goes to the following folds
cyclically, so fold sizes differ by at most one), then for folds 0..k−2 the per-row counts are drawn
with numpy's seeded ``Generator.multivariate_hypergeometric`` (rows are the "colours", the fold's size
the sample) from what remains; the last fold takes the rest. Totals per row are conserved exactly.
For each fold the weights are fitted on the other k−1 folds; the held-out leads are scored with the
learned (rounded) and with the default weights.

- ``cv_auc_learned`` / ``cv_auc_default``: AUC (Mann–Whitney, ties ½) **pooled** over all held-out
  leads (each scored by the model that did not see it) — more stable than a mean of k small-fold AUCs.
  Per-fold AUCs are kept for the majority rule.
- Ship rule: the learned weights are shipped only if (1) the gate holds (SPEC §7 who: ≥ 10 converted
  and ≥ 30 terminal leads; also ≥ k of each outcome so every fold has both), (2) ``cv_auc_learned >
  cv_auc_default + MARGIN`` (0.005), (3) learned beats default in a strict majority of folds, (4) the
  improvement is significant: one-sided paired DeLong test on the pooled held-out leads (exact on
  weighted rows) with its variance inflated by Nadeau & Bengio's CV correction ``1 + k/(k−1)``
  (folds share training data, so the plain test is anti-conservative), ``p < ALPHA`` (0.05) — without
  (4) a null world ships noise for about a quarter of the clients, and (5) the fit on all data converged.
  Otherwise ``reason`` says which condition failed. Shipped weights are the fit on all data.
- Measured on simulated clients of 10,000 leads, 5 folds: null worlds (conversions independent of the
  components) ship in 2.5–3% of clients (0.7% at 3,000 leads); a strong planted signal (slope 10 per 100
  points, authority 0.45 / timing 0.05) ships in 60 of 60. In the synthetic world of
  docs/synthetic_world.md the components share a latent quality, so they are strongly correlated and
  even the TRUE planted weights rank leads only 0.001–0.003 AUC better than the defaults: expect the
  defaults to be kept there (correctly — learned weights would change tiers without a measurable gain).

Top quintile
------------
Booking rate among the top 20% of leads by (clipped) score under the shipped weights, in sample:
``n = round(N / 5)`` leads; leads of a score group that straddles the boundary are taken
proportionally, i.e. the expected rate under a random order within ties, so ``conversions`` may be
fractional. The 95% interval is the Jeffreys Beta posterior interval (SPEC §6 "Beta posterior"). With
learned weights the rate is slightly optimistic (4 fitted parameters, in sample), negligibly so at the
sample sizes where they ship.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

# --- constants --------------------------------------------------------------------------------------

# The score's shape lives in detectors.als (importable without numpy/scipy); re-exported here.
from detectors.als import (COMPONENT_MAX, COMPONENTS, DEFAULT_WEIGHTS, RISK_MAX,  # noqa: E402,F401
                           WEIGHT_MAX, WEIGHT_MIN, WEIGHT_SUM)
WEIGHT_DECIMALS = 4
SCORE_DECIMALS = 9           # removes floating-point noise so equal scores tie exactly

RIDGE = 1.0                  # ridge toward the defaults, log-likelihood units per (log-odds weight)²
MARGIN = 0.005               # learned CV AUC must exceed default CV AUC by more than this
ALPHA = 0.05                 # one-sided paired DeLong test level for the AUC improvement
MIN_CONVERSIONS = 10         # SPEC §7 who gate
MIN_LEADS = 30
TOP_SHARE = 0.20

_COLUMNS = (*COMPONENTS, "risk", "leads", "conversions")
_MAXIMA = np.array([COMPONENT_MAX[c] for c in COMPONENTS], dtype=float)
_W0 = np.array([DEFAULT_WEIGHTS[c] for c in COMPONENTS], dtype=float)


# --- results ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FitResult:
    weights: dict[str, float]          # rounded to 4 decimals, bounds hold, sum exactly 0.85 (8,500 units)
    raw_weights: dict[str, float]      # the optimum before rounding
    intercept: float                   # a
    slope: float                       # b (log-odds per 100 score points), ≥ 0
    loss: float                        # mean binomial NLL per lead at the optimum (without the ridge)
    loss_default: float                # mean NLL per lead with the default weights (a, b refitted)
    converged: bool
    identified: bool                   # False when b ≈ 0: weights unidentified, defaults returned
    iterations: int
    message: str
    leads: int
    conversions: int


@dataclass(frozen=True)
class ValidationResult:
    cv_auc_learned: float | None       # pooled over held-out folds; None when the gate fails
    cv_auc_default: float | None
    folds: int
    shipped: bool
    reason: str
    fold_auc_learned: tuple[float, ...] = ()
    fold_auc_default: tuple[float, ...] = ()
    folds_won: int = 0
    p_value: float | None = None       # one-sided paired DeLong test, learned > default
    fold_weights: tuple[dict[str, float], ...] = ()
    fit: FitResult | None = None       # the fit on all data (what is shipped), when the gate holds


@dataclass(frozen=True)
class TopQuintile:
    rate: float | None
    sample: int                        # round(N / 5) leads
    conversions: float                 # expected conversions among them (ties split proportionally)
    ci_low: float | None
    ci_high: float | None


# --- scoring ----------------------------------------------------------------------------------------

def _weight_vector(weights: Mapping[str, float]) -> np.ndarray:
    missing = [c for c in COMPONENTS if c not in weights]
    if missing:
        raise ValueError(f"weights lack {missing}")
    return np.array([float(weights[c]) for c in COMPONENTS])


def als_score(components: pd.DataFrame | Mapping[str, Any], weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> np.ndarray:
    """SPEC §9: ``Σ component/max × weight × 100 − risk``, clipped to [0, 100], vectorised.

    ``components``: a DataFrame (or mapping of arrays/scalars) with the four component columns and
    ``risk``. Returns float64 scores rounded to 1e-9 (so equal scores tie exactly)."""
    w = _weight_vector(weights)
    total = np.zeros(np.broadcast_shapes(*(np.shape(np.asarray(components[c])) for c in (*COMPONENTS, "risk"))))
    for j, name in enumerate(COMPONENTS):
        total = total + np.asarray(components[name], dtype=float) / _MAXIMA[j] * w[j] * 100.0
    total = total - np.asarray(components["risk"], dtype=float)
    return np.round(np.clip(total, 0.0, 100.0), SCORE_DECIMALS)


# --- input ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Data:
    points: np.ndarray  # (n, 4) component points
    risk: np.ndarray    # (n,) points
    pos: np.ndarray    # (n,) converted leads
    neg: np.ndarray    # (n,) non-converted leads

    @property
    def x(self) -> np.ndarray:
        """Normalised components, component / max."""
        return self.points / _MAXIMA

    @property
    def z(self) -> np.ndarray:
        """Design of the linear parameterisation: x_j − risk / 85 (risk's unit coefficient, tied to b)."""
        return self.x - (self.risk / (WEIGHT_SUM * 100.0))[:, None]

    def with_counts(self, pos: np.ndarray, neg: np.ndarray) -> _Data:
        keep = (pos + neg) > 0
        return _Data(self.points[keep], self.risk[keep], pos[keep], neg[keep])

    def frame(self) -> dict[str, np.ndarray]:
        out = {c: self.points[:, j] for j, c in enumerate(COMPONENTS)}
        out["risk"] = self.risk
        return out


def _prepare(combos: pd.DataFrame) -> _Data:
    missing = [c for c in _COLUMNS if c not in combos.columns]
    if missing:
        raise ValueError(f"combos lack columns {missing}")
    values = {c: combos[c].to_numpy(dtype=float) for c in _COLUMNS}
    for c, v in values.items():
        if not np.all(np.isfinite(v)):
            raise ValueError(f"column {c!r} has missing or non-finite values")
    for c, maximum in (*COMPONENT_MAX.items(), ("risk", RISK_MAX)):
        if np.any(values[c] < 0) or np.any(values[c] > maximum):
            raise ValueError(f"column {c!r} outside [0, {maximum}]")
    leads, conv = values["leads"], values["conversions"]
    if np.any(leads != np.round(leads)) or np.any(conv != np.round(conv)):
        raise ValueError("leads and conversions must be integers")
    if np.any(leads < 1) or np.any(conv < 0) or np.any(conv > leads):
        raise ValueError("need leads >= 1 and 0 <= conversions <= leads")
    points = np.column_stack([values[c] for c in COMPONENTS])
    return _Data(points, values["risk"], conv.astype(np.int64), (leads - conv).astype(np.int64))


# --- fit --------------------------------------------------------------------------------------------

def _nll(eta: np.ndarray, pos: np.ndarray, n: np.ndarray) -> float:
    return float(np.sum(n * np.logaddexp(0.0, eta) - pos * eta))


def _fit_ab(z_score: np.ndarray, pos: np.ndarray, n: np.ndarray, total: float) -> tuple[float, float, float, bool]:
    """Fit (a, b ≥ 0) for a fixed score direction ``z_score`` (= s/100). Returns a, b, mean NLL, ok."""
    rate = float(pos.sum()) / total

    def fun(p: np.ndarray) -> tuple[float, np.ndarray]:
        eta = p[0] + p[1] * z_score
        r = n * special.expit(eta) - pos
        return _nll(eta, pos, n) / total, np.array([r.sum(), r @ z_score]) / total

    res = optimize.minimize(fun, np.array([special.logit(rate), 0.0]), jac=True, method="L-BFGS-B",
                            bounds=[(None, None), (0.0, None)], options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 500})
    return float(res.x[0]), float(res.x[1]), float(res.fun), bool(res.success)


def _round_weights(w: np.ndarray) -> np.ndarray:
    """Round to 1e-4 by largest remainder: integer units in [500, 5000] summing to exactly 8,500."""
    scale = 10 ** WEIGHT_DECIMALS
    lo, hi, target = round(WEIGHT_MIN * scale), round(WEIGHT_MAX * scale), round(WEIGHT_SUM * scale)
    w = np.asarray(w, dtype=float)
    for _ in range(20):                 # project onto the feasible set (a no-op up to solver tolerance)
        w = np.clip(w, WEIGHT_MIN, WEIGHT_MAX)
        w = w * (WEIGHT_SUM / w.sum())
    exact = w * scale
    units = np.clip(np.floor(exact + 1e-9).astype(np.int64), lo, hi)
    order = np.argsort(-(exact - units), kind="stable")   # largest remainder first
    for j in np.concatenate([order, order]):
        if units.sum() >= target:
            break
        if units[j] < hi:
            units[j] += 1
    for j in order[::-1]:
        if units.sum() <= target:
            break
        if units[j] > lo:
            units[j] -= 1
    if units.sum() != target:
        raise AssertionError(f"weight rounding failed: {units}")
    return units / scale


def fit_weights(combos: pd.DataFrame) -> FitResult:
    """Constrained logistic fit of the four ALS weights (see the module docstring)."""
    return _fit(_prepare(combos))


def profile_loss(combos: pd.DataFrame, weights: Mapping[str, float]) -> float:
    """Mean binomial NLL per lead of ``sigmoid(a + b · s/100)`` with the given weights, a and b ≥ 0 fitted."""
    data = _prepare(combos)
    n = data.pos + data.neg
    return _fit_ab(data.x @ _weight_vector(weights) - data.risk / 100.0, data.pos, n, float(n.sum()))[2]


def _fit(data: _Data) -> FitResult:
    pos, n = data.pos, data.pos + data.neg
    total, conversions = float(n.sum()), int(pos.sum())
    if conversions == 0 or conversions == total:
        raise ValueError("fit_weights needs both converted and non-converted leads")
    z = data.z
    a0, b0, loss_default, _ = _fit_ab(data.x @ _W0 - data.risk / 100.0, pos, n, total)

    # Parameters p = (a, β_1..β_4); b = Σβ / 0.85.
    s = np.zeros(5)
    s[1:] = 1.0 / WEIGHT_SUM                    # b = s @ p
    d = np.zeros((4, 5))                        # d @ p = β − b · w0
    d[:, 1:] = np.eye(4) - np.outer(_W0, np.ones(4)) / WEIGHT_SUM
    design = np.column_stack([np.ones(len(z)), z])
    lower = np.zeros((4, 5))
    lower[:, 1:] = np.eye(4)
    cons_matrix = np.vstack([lower - WEIGHT_MIN * s, WEIGHT_MAX * s - lower])    # ≥ 0 (implies b ≥ 0)
    ridge = RIDGE / total

    def fun(p: np.ndarray) -> tuple[float, np.ndarray]:
        eta = design @ p
        r = n * special.expit(eta) - pos
        dev = d @ p
        value = _nll(eta, pos, n) / total + ridge * float(dev @ dev)
        grad = design.T @ r / total + 2.0 * ridge * (d.T @ dev)
        return value, grad

    start = np.concatenate([[a0], max(b0, 1e-3) * _W0])
    res = optimize.minimize(fun, start, jac=True, method="SLSQP",
                            constraints=[{"type": "ineq", "fun": lambda p: cons_matrix @ p, "jac": lambda p: cons_matrix}],
                            options={"ftol": 1e-14, "maxiter": 1000})
    p = res.x
    b = float(s @ p)
    identified = b > 1e-6
    raw = p[1:] / b if identified else _W0.copy()
    loss = _nll(design @ p, pos, n) / total
    rounded = _round_weights(raw)
    return FitResult(
        weights={c: float(v) for c, v in zip(COMPONENTS, rounded)},
        raw_weights={c: float(v) for c, v in zip(COMPONENTS, raw)},
        intercept=float(p[0]), slope=b, loss=float(loss), loss_default=float(loss_default),
        converged=bool(res.success), identified=bool(identified), iterations=int(res.nit),
        message=str(res.message), leads=int(total), conversions=conversions)


# --- AUC --------------------------------------------------------------------------------------------

def _grouped(scores: np.ndarray, positives: np.ndarray, negatives: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores ascending, with positives and negatives per distinct score, and the inverse map."""
    uniq, inverse = np.unique(scores, return_inverse=True)
    pos = np.bincount(inverse, weights=positives, minlength=len(uniq))
    neg = np.bincount(inverse, weights=negatives, minlength=len(uniq))
    return uniq, pos, neg, inverse


def _as_arrays(scores: Any, positives: Any, negatives: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float).ravel()
    p = np.asarray(positives, dtype=float).ravel()
    q = np.asarray(negatives, dtype=float).ravel()
    if not (len(s) == len(p) == len(q)):
        raise ValueError("scores, positives and negatives must have the same length")
    if np.any(p < 0) or np.any(q < 0) or not np.all(np.isfinite(s)):
        raise ValueError("counts must be >= 0 and scores finite")
    return s, p, q


def weighted_auc(scores: Any, positives: Any, negatives: Any) -> float:
    """AUC = P(score of a random positive > that of a random negative) + ½ P(tie), from counts per row.

    Exact on weighted rows (Mann–Whitney U / (P·N)); O(n log n). NaN if a class is empty."""
    s, p, q = _as_arrays(scores, positives, negatives)
    total_p, total_q = p.sum(), q.sum()
    if total_p == 0 or total_q == 0:
        return float("nan")
    _, pos, neg, _ = _grouped(s, p, q)
    neg_below = np.cumsum(neg) - neg
    return float(pos @ (neg_below + 0.5 * neg) / (total_p * total_q))


def _placements(s: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row DeLong placements: V10 (share of negatives a positive here beats, ties ½) and V01 (share
    of positives that beat a negative here, ties ½)."""
    _, pos, neg, inv = _grouped(s, p, q)
    neg_below = np.cumsum(neg) - neg
    pos_above = pos.sum() - np.cumsum(pos)
    v10 = (neg_below + 0.5 * neg) / neg.sum()
    v01 = (pos_above + 0.5 * pos) / pos.sum()
    return v10[inv], v01[inv]


def paired_auc_test(scores_a: Any, scores_b: Any, positives: Any, negatives: Any,
                    variance_factor: float = 1.0) -> tuple[float, float, float, float]:
    """DeLong et al. (1988) paired comparison of two scores on the same leads, exact on weighted rows.

    ``variance_factor`` multiplies DeLong's variance of the AUC difference (1 = the plain test; see
    ``cv_variance_factor`` for pooled cross-validated scores). Returns (auc_a, auc_b, z, one-sided p for
    auc_a > auc_b); z = 0, p = 1 when the difference has no variance (e.g. identical rankings)."""
    sa, p, q = _as_arrays(scores_a, positives, negatives)
    sb = np.asarray(scores_b, dtype=float).ravel()
    if len(sb) != len(sa):
        raise ValueError("scores_a and scores_b must have the same length")
    m, k = p.sum(), q.sum()
    if m < 2 or k < 2:
        return float("nan"), float("nan"), 0.0, 1.0
    v10a, v01a = _placements(sa, p, q)
    v10b, v01b = _placements(sb, p, q)
    auc_a, auc_b = float(p @ v10a / m), float(p @ v10b / m)
    d10 = v10a - v10b          # per-positive placement difference; its weighted mean is auc_a − auc_b
    d01 = v01a - v01b
    var10 = float(p @ (d10 - (auc_a - auc_b)) ** 2) / (m - 1)
    var01 = float(q @ (d01 - (auc_a - auc_b)) ** 2) / (k - 1)
    var = (var10 / m + var01 / k) * variance_factor
    diff = auc_a - auc_b
    if var <= 1e-18:
        return auc_a, auc_b, 0.0, 1.0
    z = diff / math.sqrt(var)
    return auc_a, auc_b, float(z), float(stats.norm.sf(z))


# --- cross-validation -------------------------------------------------------------------------------

def cv_variance_factor(folds: int) -> float:
    """Nadeau & Bengio's (2003) correction for the dependence between cross-validation folds (their
    training sets overlap), applied to the pooled held-out DeLong variance: the variance of one fold's
    estimate (≈ k × pooled) times (1/k + n_test/n_train) = 1 + k/(k−1); 2.25 for 5 folds. Without it the
    test is anti-conservative: on simulated null worlds the plain pooled z has sd ≈ 1.13 and about 9%
    of clients would ship noise at α = 0.05; with it about 2.5%."""
    return 1.0 + folds / (folds - 1.0)


def _fold_sizes(total: int, folds: int, offset: int) -> np.ndarray:
    sizes = np.full(folds, total // folds, dtype=np.int64)
    sizes[(offset + np.arange(total % folds)) % folds] += 1
    return sizes


def _split(counts: np.ndarray, sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-row counts (n_rows, folds) of a uniformly random assignment of the leads to folds of the given sizes."""
    remaining = counts.astype(np.int64).copy()
    out = np.zeros((len(counts), len(sizes)), dtype=np.int64)
    for f, size in enumerate(sizes[:-1]):
        out[:, f] = rng.multivariate_hypergeometric(remaining, int(size), method="marginals")
        remaining -= out[:, f]
    out[:, -1] = remaining
    return out


def lead_folds(positives: Any, negatives: Any, folds: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split each row's converted and non-converted leads over ``folds`` folds (lead-level k-fold).

    Returns (pos, neg), each (n_rows, folds) int64: row sums equal the inputs exactly; fold totals of
    each class differ by at most one and fold sizes overall by at most one. Deterministic for a seed."""
    if folds < 2:
        raise ValueError("folds must be >= 2")
    p = np.asarray(positives, dtype=np.int64).ravel()
    q = np.asarray(negatives, dtype=np.int64).ravel()
    rng = np.random.default_rng(seed)
    total_p = int(p.sum())
    pos = _split(p, _fold_sizes(total_p, folds, 0), rng)
    neg = _split(q, _fold_sizes(int(q.sum()), folds, total_p % folds), rng)
    return pos, neg


def _gate(leads: int, conversions: int, folds: int) -> str | None:
    if conversions < MIN_CONVERSIONS or leads < MIN_LEADS:
        return (f"insufficient data: {conversions} converted of {leads} terminal leads "
                f"(gate: >= {MIN_CONVERSIONS} converted and >= {MIN_LEADS} terminal leads)")
    if conversions < folds or leads - conversions < folds:
        return f"insufficient data: fewer than {folds} leads of each outcome for {folds}-fold validation"
    return None


def cross_validate(combos: pd.DataFrame, folds: int = 5, seed: int = 0, *,
                   margin: float = MARGIN, alpha: float = ALPHA) -> ValidationResult:
    """Lead-level k-fold validation of learned vs default weights and the ship decision (module docstring).

    When the gate fails nothing is fitted: both AUCs are None and ``reason`` says why."""
    if folds < 2:
        raise ValueError("folds must be >= 2")
    data = _prepare(combos)
    leads, conversions = int((data.pos + data.neg).sum()), int(data.pos.sum())
    failed = _gate(leads, conversions, folds)
    if failed:
        return ValidationResult(None, None, folds, False, failed)

    pos_f, neg_f = lead_folds(data.pos, data.neg, folds, seed)
    frame = data.frame()
    default_scores = als_score(frame, DEFAULT_WEIGHTS)
    held_s_learned, held_s_default, held_p, held_q = [], [], [], []
    auc_l, auc_d, fold_weights = [], [], []
    for f in range(folds):
        train = data.with_counts(data.pos - pos_f[:, f], data.neg - neg_f[:, f])
        weights = _fit(train).weights
        fold_weights.append(weights)
        keep = (pos_f[:, f] + neg_f[:, f]) > 0
        sl = als_score({k: v[keep] for k, v in frame.items()}, weights)
        sd = default_scores[keep]
        p, q = pos_f[keep, f], neg_f[keep, f]
        auc_l.append(weighted_auc(sl, p, q))
        auc_d.append(weighted_auc(sd, p, q))
        held_s_learned.append(sl), held_s_default.append(sd), held_p.append(p), held_q.append(q)

    cv_l, cv_d, _, p_value = paired_auc_test(np.concatenate(held_s_learned), np.concatenate(held_s_default),
                                             np.concatenate(held_p), np.concatenate(held_q),
                                             variance_factor=cv_variance_factor(folds))
    won = sum(1 for a, b in zip(auc_l, auc_d) if a > b)
    full = _fit(data)
    vs = f"({cv_l:.3f} vs {cv_d:.3f})"
    if not cv_l > cv_d + margin:
        shipped, reason = False, f"learned weights do not beat defaults out of sample {vs}; margin {margin}"
    elif not won > folds / 2:
        shipped, reason = False, f"learned weights beat defaults in only {won} of {folds} folds {vs}"
    elif not p_value < alpha:
        shipped, reason = False, (f"improvement out of sample not significant {vs}; "
                                  f"paired DeLong p = {p_value:.3g} >= {alpha}")
    elif not full.converged:
        shipped, reason = False, f"fit on all data did not converge: {full.message}"
    else:
        shipped, reason = True, (f"learned weights beat defaults out of sample {vs}; won {won} of {folds} folds; "
                                 f"paired DeLong p = {p_value:.3g}")
    return ValidationResult(
        cv_auc_learned=cv_l, cv_auc_default=cv_d, folds=folds, shipped=shipped, reason=reason,
        fold_auc_learned=tuple(auc_l), fold_auc_default=tuple(auc_d), folds_won=won, p_value=p_value,
        fold_weights=tuple(fold_weights), fit=full)


# --- top quintile -----------------------------------------------------------------------------------

def top_quintile_conversion_rate(combos: pd.DataFrame, weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> TopQuintile:
    """Booking rate of the top 20% of leads by score; ties at the boundary are taken proportionally."""
    data = _prepare(combos)
    n = data.pos + data.neg
    total = int(n.sum())
    sample = int(round(total * TOP_SHARE))
    if sample == 0:
        return TopQuintile(None, 0, 0.0, None, None)
    uniq, pos, cnt, _ = _grouped(als_score(data.frame(), weights), data.pos, n)
    pos, cnt = pos[::-1], cnt[::-1]                       # descending score
    before = np.cumsum(cnt) - cnt                         # leads strictly above each group
    take = np.clip(sample - before, 0, cnt)               # leads taken from each group
    conversions = float(np.sum(pos * take / cnt))
    rate = conversions / sample
    lo, hi = stats.beta.ppf([0.025, 0.975], conversions + 0.5, sample - conversions + 0.5)
    return TopQuintile(rate=float(rate), sample=sample, conversions=conversions,
                       ci_low=float(lo) if conversions > 0 else 0.0,
                       ci_high=float(hi) if conversions < sample else 1.0)


# --- JSON ---------------------------------------------------------------------------------------------

def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def learn_weights(combos: pd.DataFrame, folds: int = 5, seed: int = 0, *,
                  margin: float = MARGIN, alpha: float = ALPHA) -> dict[str, Any]:
    """The SPEC §7 who fields ``recommended_weights``, ``weights_validation`` and
    ``top_quintile_conversion_rate`` as JSON-safe Python values (floats rounded to 6 decimals).

    ``recommended_weights`` are the all-data fit when shipped, else the defaults; ``source`` says which."""
    validation = cross_validate(combos, folds=folds, seed=seed, margin=margin, alpha=alpha)
    if validation.shipped and validation.fit is not None:
        weights, source = validation.fit.weights, "learned"
    else:
        weights, source = dict(DEFAULT_WEIGHTS), "default"
    top = top_quintile_conversion_rate(combos, weights)
    return {
        "recommended_weights": {**{c: _r(weights[c]) for c in COMPONENTS}, "source": source},
        "weights_validation": {
            "cv_auc_learned": _r(validation.cv_auc_learned),
            "cv_auc_default": _r(validation.cv_auc_default),
            "folds": int(validation.folds),
            "shipped": bool(validation.shipped),
            "reason": validation.reason,
        },
        "top_quintile_conversion_rate": {
            "rate": _r(top.rate), "sample": int(top.sample), "conversions": _r(top.conversions),
            "ci_low": _r(top.ci_low), "ci_high": _r(top.ci_high), "weights_source": source,
        },
    }
