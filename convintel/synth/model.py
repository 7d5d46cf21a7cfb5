"""The planted truth: a per-touch booking hazard with per-client effects (docs/synthetic_world.md).

    logit P(book at touch k | lead reached touch k, no earlier outcome)
        = baseline[k] + intercept[client]
        + lead effects   (title, industry, size bucket, timing signals, ALS components, first channel)
        + touch effects  (channel, local day, local hour, subject template, pain point, first CTA,
                          angles, length bin, personalisation)

Every effect is a log-odds shift, drawn per client, with a clear gap between planted winners/losers
(|effect| >= EFFECTIVE_THRESHOLD) and neutral categories (|effect| <= NEUTRAL_BOUND), so a detector can
be checked per client. The null world sets every effect to 0 and the baseline to one constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from convintel.synth.catalog import INDUSTRIES, TITLE_GROUPS
from convintel.synth.vocab import Vocabulary

CHANNELS: tuple[str, ...] = ("email", "linkedin", "sms", "voice", "mail")
EMAIL, LINKEDIN, SMS, VOICE, MAIL = range(5)
OUTBOUND_ACTIONS: tuple[str, ...] = ("email_sent", "linkedin_sent", "sms_sent", "voice_completed", "mail_sent")
MAX_TOUCHES = 10
DAY_NAMES: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BUSINESS_HOURS: tuple[int, ...] = tuple(range(8, 18))

# SPEC §7 size ranges; 101-500 includes 500, so "500+" starts at 501.
SIZE_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("1-5", 1, 5), ("6-15", 6, 15), ("16-30", 16, 30), ("31-50", 31, 50),
    ("51-100", 51, 100), ("101-500", 101, 500), ("500+", 501, 20_000),
)
TIMING_SIGNALS: tuple[str, ...] = ("new_role", "hiring", "funded")
ALS_COMPONENTS: tuple[tuple[str, int], ...] = (("data_quality", 20), ("authority", 25), ("company_fit", 25), ("timing", 15))
ALS_RISK_MAX = 15
DEFAULT_ALS_WEIGHTS: dict[str, float] = {"data_quality": 0.20, "authority": 0.25, "company_fit": 0.25, "timing": 0.15}
# SPEC §4 tiers: the first whose minimum the score reaches.
ALS_TIERS: tuple[tuple[str, int], ...] = (("hot", 85), ("warm", 60), ("cool", 35), ("cold", 20), ("dead", 0))
PERSONALIZATION: tuple[str, ...] = ("company_mention", "first_name", "recent_news", "mutual_connection", "industry_specific")

# Length bins: email and LinkedIn bodies in words, SMS in characters; (label, min, max inclusive).
LENGTH_BINS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "email": (("0-59", 0, 59), ("60-99", 60, 99), ("100-149", 100, 149), ("150-199", 150, 199), ("200+", 200, 260)),
    "linkedin": (("0-39", 0, 39), ("40-69", 40, 69), ("70-99", 70, 99), ("100+", 100, 130)),
    "sms": (("0-99", 0, 99), ("100-139", 100, 139), ("140-179", 140, 179), ("180+", 180, 230)),
}
LENGTH_UNIT: dict[str, str] = {"email": "words", "linkedin": "words", "sms": "chars"}
LENGTH_CHANNELS: tuple[str, ...] = ("email", "linkedin", "sms")

# Per-touch booking probabilities before effects: touch 3 has the highest hazard; touch 1 is close
# behind (every lead reaches it, so it still collects many bookings).
# The client intercept is calibrated so that, averaged over the client's leads and touches, the hazard
# stays close to these (see calibrated_intercept).
BASELINE_PROBABILITY: tuple[float, ...] = (0.0240, 0.0200, 0.0300, 0.0220, 0.0180, 0.0160, 0.0140, 0.0125, 0.0110, 0.0100)
NULL_PROBABILITY = 0.0210
FAILURE_HAZARD_RANGE = (0.020, 0.035)   # per touch, constant within a client (both worlds)

EFFECTIVE_THRESHOLD = 0.30   # planted winners/losers have |log-odds| >= this
NEUTRAL_BOUND = 0.12         # every other category of a ranked dimension stays within +-this


def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p / (1.0 - p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def categorical_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) matrix of non-negative weights."""
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cumulative[:, -1]
    return np.minimum((cumulative <= u[:, None]).sum(axis=1), weights.shape[1] - 1)


def baseline_logit(null_world: bool) -> np.ndarray:
    """Baseline log-odds per touch number 1..MAX_TOUCHES (index 0 = touch 1)."""
    if null_world:
        return np.full(MAX_TOUCHES, float(logit(NULL_PROBABILITY)))
    return logit(np.array(BASELINE_PROBABILITY))


def als_score(components: np.ndarray, risk: np.ndarray) -> np.ndarray:
    """SPEC §9 score with the default weights: sum(component / max * weight * 100) - risk, clipped.

    ``components``: (n, 4) points in ALS_COMPONENTS order. With the default weights each term is
    exactly the component's points (weight * 100 == max), so the score is an exact integer.
    """
    total = np.zeros(len(components))
    for j, (name, maximum) in enumerate(ALS_COMPONENTS):
        total += components[:, j] / maximum * DEFAULT_ALS_WEIGHTS[name] * 100
    return np.clip(np.rint(total - risk), 0, 100).astype(np.int64)


def als_tier(score: np.ndarray) -> np.ndarray:
    tiers = np.full(len(score), ALS_TIERS[-1][0], dtype=object)
    for name, minimum in reversed(ALS_TIERS[:-1]):
        tiers[score >= minimum] = name
    return tiers


# How world.py draws ALS components: points ~ Binomial(max, p) with p = ALS_CENTER + spread * (q - 0.5)
# for a latent lead quality q ~ Beta(a, a), and risk ~ Binomial(15, RISK_CENTER). The ALS effect is
# centred on these means so that it does not move the client's overall booking rate.
ALS_CENTER = np.array([0.75, 0.55, 0.50, 0.40])
ALS_QUALITY_SPREAD = 0.6
ALS_QUALITY_BETA = 1.5
# als_signal="independent" (generate): each component gets its own latent quality (no shared one), the
# true weights sit far from the defaults and the scale is strong, so learned lead-score weights can win.
ALS_SIGNALS: tuple[str, ...] = ("correlated", "independent")
INDEPENDENT_ALS_SCALE_RANGE = (8.0, 10.0)
INDEPENDENT_ALS_MIN_SHIFT = 0.15   # at least two true weights this far from DEFAULT_ALS_WEIGHTS
RISK_CENTER = 0.12


@dataclass
class ClientEffects:
    """One client's planted log-odds effects. Arrays are indexed like the category tuples above."""

    null_world: bool
    intercept: float
    failure_hazard: float
    title: np.ndarray            # TITLE_GROUPS
    industry: np.ndarray         # INDUSTRIES
    size_bucket: np.ndarray      # SIZE_BUCKETS
    timing: np.ndarray           # TIMING_SIGNALS (added when the signal is present)
    als_weights: np.ndarray      # true relative weights of ALS_COMPONENTS (sum 0.85)
    als_scale: float             # log-odds per unit of sum(weight * (component/max - centre))
    risk_scale: float            # log-odds per unit of (risk/15 - centre), subtracted
    first_channel: np.ndarray    # CHANNELS, lead-level: the channel of touch 1
    channel: np.ndarray          # CHANNELS, per touch
    day: np.ndarray              # 0 = Monday .. 6 = Sunday, local
    hour: np.ndarray             # 0..23, local
    subject_template: np.ndarray # vocabulary.subject_templates (email touches only)
    pain_point: np.ndarray       # vocabulary.pain_points
    cta: np.ndarray              # vocabulary.cta_phrases (the first CTA in the text)
    angle: np.ndarray            # vocabulary.angles (summed over the angles present)
    length_bin: dict[str, np.ndarray]  # LENGTH_BINS per channel
    personalization: np.ndarray  # PERSONALIZATION (summed over the flags present)
    als_independent: bool = False   # components drawn without the shared latent quality


def _ranked(rng: np.random.Generator, n: int, winners: int, losers: int, win: float, lose: float,
            eligible: np.ndarray | None = None) -> np.ndarray:
    """Effects for a categorical dimension: ``winners`` categories at about +win, ``losers`` at about
    -lose, all others neutral (within +-NEUTRAL_BOUND). Winners come from ``eligible`` (by default all)."""
    effects = rng.uniform(-0.6, 0.6, n) * NEUTRAL_BOUND
    pool = np.flatnonzero(eligible) if eligible is not None else np.arange(n)
    chosen = rng.permutation(pool)[:winners]
    rest = rng.permutation(np.setdiff1d(np.arange(n), chosen))[:losers]
    effects[chosen] = win + rng.uniform(0.0, 0.1, len(chosen))
    effects[rest] = -lose - rng.uniform(0.0, 0.1, len(rest))
    return effects


def _true_als_weights(rng: np.random.Generator) -> np.ndarray:
    """Weights within [0.08, 0.45] summing to 0.85 (the WHO detector's feasible set, shrunk a little)."""
    weights = rng.dirichlet(np.full(len(ALS_COMPONENTS), 2.0)) * 0.85
    for _ in range(50):
        weights = np.clip(weights, 0.08, 0.45)
        weights *= 0.85 / weights.sum()
        if weights.min() >= 0.08 - 1e-9 and weights.max() <= 0.45 + 1e-9:
            break
    return np.round(weights, 4)


def _independent_als_weights(rng: np.random.Generator) -> np.ndarray:
    """Weights within [0.05, 0.45] summing to 0.85 with at least two of them at least
    INDEPENDENT_ALS_MIN_SHIFT away from the defaults (the "independent" ALS signal)."""
    defaults = np.array([DEFAULT_ALS_WEIGHTS[name] for name, _ in ALS_COMPONENTS])
    while True:
        weights = rng.dirichlet(np.full(len(ALS_COMPONENTS), 0.8)) * 0.85
        for _ in range(50):
            weights = np.clip(weights, 0.05, 0.45)
            weights *= 0.85 / weights.sum()
        weights = np.round(weights, 4)
        if (weights.min() >= 0.05 - 1e-9 and weights.max() <= 0.45 + 1e-9
                and int((np.abs(weights - defaults) >= INDEPENDENT_ALS_MIN_SHIFT).sum()) >= 2):
            return weights


def draw_client_effects(rng: np.random.Generator, vocab: Vocabulary, *, null_world: bool,
                        first_channel_share: np.ndarray,
                        als_rng: np.random.Generator | None = None) -> ClientEffects:
    """Draw one client's planted truth. The RNG is consumed identically in both worlds, so a null
    world differs from its seed's effect world only in the hazard, not in leads or schedules."""
    failure_hazard = float(rng.uniform(*FAILURE_HAZARD_RANGE))
    title_share = np.array([g.share for g in TITLE_GROUPS])
    industry_share = np.array([share for _, share in INDUSTRIES])
    effects = ClientEffects(
        null_world=null_world,
        intercept=float(rng.normal(0.0, 0.15)),  # an offset until calibrated_intercept() replaces it
        failure_hazard=failure_hazard,
        title=_ranked(rng, len(TITLE_GROUPS), 1, 1, 0.70, 0.50, eligible=title_share >= 0.06),
        industry=_ranked(rng, len(INDUSTRIES), 1, 1, 0.75, 0.50, eligible=industry_share >= 0.06),
        size_bucket=_size_effects(rng),
        timing=np.array([rng.uniform(0.30, 0.70), rng.uniform(0.15, 0.45), rng.uniform(0.0, 0.50)]),
        als_weights=_true_als_weights(rng),
        als_scale=float(rng.uniform(2.0, 3.0)),
        risk_scale=float(rng.uniform(0.5, 1.0)),
        first_channel=_first_channel_effects(rng, first_channel_share),
        channel=rng.uniform(-0.2, 0.2, len(CHANNELS)),
        day=_day_effects(rng),
        hour=_hour_effects(rng),
        subject_template=_ranked(rng, len(vocab.subject_templates), 2, 2, 0.50, 0.45),
        pain_point=_ranked(rng, len(vocab.pain_points), 2, 2, 0.50, 0.45),
        cta=_ranked(rng, len(vocab.cta_phrases), 3, 3, 0.50, 0.45),
        angle=_ranked(rng, len(vocab.angles), 2, 2, 0.40, 0.35),
        length_bin={ch: _ranked(rng, len(LENGTH_BINS[ch]), 1, 1, 0.45, 0.35) for ch in LENGTH_CHANNELS},
        personalization=_personalization_effects(rng),
    )
    if als_rng is not None:  # the "independent" ALS signal: its own stream, ``rng`` is consumed as always
        effects.als_independent = True
        effects.als_weights = _independent_als_weights(als_rng)
        effects.als_scale = float(als_rng.uniform(*INDEPENDENT_ALS_SCALE_RANGE))
    if null_world:
        effects.intercept = 0.0
        for name in ("title", "industry", "size_bucket", "timing", "first_channel", "channel", "day", "hour",
                     "subject_template", "pain_point", "cta", "angle", "personalization"):
            setattr(effects, name, np.zeros_like(getattr(effects, name)))
        effects.length_bin = {ch: np.zeros_like(v) for ch, v in effects.length_bin.items()}
        effects.als_scale = 0.0
        effects.risk_scale = 0.0
    return effects


def _size_effects(rng: np.random.Generator) -> np.ndarray:
    """A sweet spot: one bucket (never the extremes) at +0.65, its neighbours mildly positive."""
    n = len(SIZE_BUCKETS)
    effects = -rng.uniform(0.05, 0.30, n)
    best = int(rng.integers(1, n - 1))
    effects[best] = 0.65 + rng.uniform(0.0, 0.1)
    for neighbour in (best - 1, best + 1):
        effects[neighbour] = rng.uniform(0.10, 0.20)
    return effects


def _first_channel_effects(rng: np.random.Generator, share: np.ndarray) -> np.ndarray:
    """Lead-level effect of the first channel; the best one is a channel that starts >= 20% of sequences."""
    effects = -rng.uniform(0.0, 0.2, len(CHANNELS))
    candidates = np.flatnonzero(share >= 0.20)
    effects[rng.choice(candidates)] = 0.55 + rng.uniform(0.0, 0.1)
    return effects


def _day_effects(rng: np.random.Generator) -> np.ndarray:
    effects = np.concatenate([rng.uniform(-0.1, 0.1, 5), -rng.uniform(0.15, 0.35, 2)])
    effects[rng.integers(0, 5)] = 0.45 + rng.uniform(0.0, 0.1)
    return effects


def _hour_effects(rng: np.random.Generator) -> np.ndarray:
    effects = -rng.uniform(0.15, 0.35, 24)
    business = np.array(BUSINESS_HOURS)
    effects[business] = rng.uniform(-0.1, 0.1, len(business))
    best = int(rng.choice(business))
    effects[best] = 0.50 + rng.uniform(0.0, 0.1)
    for neighbour in (best - 1, best + 1):
        if neighbour in BUSINESS_HOURS:
            effects[neighbour] = rng.uniform(0.12, 0.2)
    return effects


def _personalization_effects(rng: np.random.Generator) -> np.ndarray:
    """One strong lift (~+0.5), one with none (0), the others moderate."""
    effects = rng.uniform(0.10, 0.35, len(PERSONALIZATION))
    strong, none = rng.permutation(len(PERSONALIZATION))[:2]
    effects[strong] = 0.50 + rng.uniform(0.0, 0.1)
    effects[none] = 0.0
    return effects


@dataclass
class EffectUsage:
    """How often each category occurs for a client (expected shares), to calibrate its intercept."""

    title: np.ndarray
    industry: np.ndarray
    size_bucket: np.ndarray
    timing: np.ndarray           # rates of the three signals
    first_channel: np.ndarray
    channel: np.ndarray
    day: np.ndarray
    hour: np.ndarray
    subject_template: np.ndarray  # among email touches
    pain_point: np.ndarray
    cta: np.ndarray
    angle: np.ndarray            # rate of each angle per touch
    length_bin: dict[str, np.ndarray]
    personalization: np.ndarray  # rate of each flag per touch


def _categorical_moments(share: np.ndarray, effect: np.ndarray) -> tuple[float, float]:
    share = share / share.sum()
    mean = float(share @ effect)
    return mean, float(share @ (effect - mean) ** 2)


def _bernoulli_moments(rate: np.ndarray, effect: np.ndarray) -> tuple[float, float]:
    return float(rate @ effect), float((rate * (1 - rate)) @ effect ** 2)


def calibrated_intercept(fx: ClientEffects, usage: EffectUsage, offset: float) -> float:
    """The intercept that keeps the client's average hazard near the baseline.

    Planted effects shift the mean log-odds (e.g. personalisation lifts are mostly positive) and their
    spread raises the mean probability (for small p, E[sigmoid(b + X)] ~ sigmoid(b) * exp(var(X) / 2)).
    Both are removed; ``offset`` (drawn per client) keeps clients' base rates apart.
    """
    if fx.null_world:
        return 0.0
    email_share = usage.channel[CHANNELS.index("email")]
    parts = [
        _categorical_moments(usage.title, fx.title),
        _categorical_moments(usage.industry, fx.industry),
        _categorical_moments(usage.size_bucket, fx.size_bucket),
        _bernoulli_moments(usage.timing, fx.timing),
        _categorical_moments(usage.first_channel, fx.first_channel),
        _categorical_moments(usage.channel, fx.channel),
        _categorical_moments(usage.day, fx.day),
        _categorical_moments(usage.hour, fx.hour),
        _categorical_moments(np.append(usage.subject_template * email_share, 1 - email_share),
                             np.append(fx.subject_template, 0.0)),
        _categorical_moments(usage.pain_point, fx.pain_point),
        _categorical_moments(usage.cta, fx.cta),
        _bernoulli_moments(usage.angle, fx.angle),
        _bernoulli_moments(usage.personalization, fx.personalization),
    ]
    for name in LENGTH_CHANNELS:
        share = usage.channel[CHANNELS.index(name)]
        parts.append(_categorical_moments(np.append(usage.length_bin[name] * share, 1 - share),
                                          np.append(fx.length_bin[name], 0.0)))
    # ALS term: centred, so only its spread matters: binomial noise plus the shared latent quality.
    maxima = np.array([m for _, m in ALS_COMPONENTS], dtype=float)
    coefficients = fx.als_scale * fx.als_weights
    quality_var = ALS_QUALITY_SPREAD ** 2 / (4 * (2 * ALS_QUALITY_BETA + 1))
    quality_spread = float(coefficients @ coefficients) if fx.als_independent else float(coefficients.sum()) ** 2
    als_var = float(coefficients ** 2 @ (ALS_CENTER * (1 - ALS_CENTER) / maxima) + quality_spread * quality_var)
    risk_var = fx.risk_scale ** 2 * RISK_CENTER * (1 - RISK_CENTER) / ALS_RISK_MAX
    mean = sum(m for m, _ in parts)
    var = sum(v for _, v in parts) + als_var + risk_var
    return offset - mean - var / 2


def lead_logit(fx: ClientEffects, *, title: np.ndarray, industry: np.ndarray, size_bucket: np.ndarray,
               timing: np.ndarray, als: np.ndarray, risk: np.ndarray, first_channel: np.ndarray) -> np.ndarray:
    """Lead-level log-odds (constant over the lead's touches). ``size_bucket`` -1 = unknown (no effect);
    ``timing``: (n, 3) booleans; ``als``: (n, 4) points; ``risk``: (n,) points."""
    size = np.where(size_bucket >= 0, fx.size_bucket[np.maximum(size_bucket, 0)], 0.0)
    maxima = np.array([m for _, m in ALS_COMPONENTS], dtype=float)
    als_term = fx.als_scale * ((als / maxima - ALS_CENTER) @ fx.als_weights)
    risk_term = fx.risk_scale * (risk / ALS_RISK_MAX - RISK_CENTER)
    return (fx.intercept + fx.title[title] + fx.industry[industry] + size + timing @ fx.timing
            + als_term - risk_term + fx.first_channel[first_channel])


def touch_logit(fx: ClientEffects, baseline: np.ndarray, *, touch_number: np.ndarray, channel: np.ndarray,
                day: np.ndarray, hour: np.ndarray, template: np.ndarray, pain_point: np.ndarray,
                cta: np.ndarray, angles: np.ndarray, length_bin: np.ndarray,
                personalization: np.ndarray) -> np.ndarray:
    """Touch-level log-odds. ``template`` -1 = no subject (non-email); ``length_bin`` -1 = no length
    effect (voice, mail); ``angles`` (n, 7) and ``personalization`` (n, 5) are booleans."""
    length = np.zeros(len(channel))
    for name in LENGTH_CHANNELS:
        mask = channel == CHANNELS.index(name)
        length[mask] = fx.length_bin[name][length_bin[mask]]
    subject = np.where(template >= 0, fx.subject_template[np.maximum(template, 0)], 0.0)
    return (baseline[touch_number - 1] + fx.channel[channel] + fx.day[day] + fx.hour[hour] + subject
            + fx.pain_point[pain_point] + fx.cta[cta] + angles @ fx.angle + length
            + personalization @ fx.personalization)


def _rounded(values: np.ndarray, labels: tuple[str, ...] | list[str]) -> dict[str, float]:
    return {str(label): round(float(v), 4) for label, v in zip(labels, values)}


def _best(values: np.ndarray, labels: tuple[str, ...] | list[str]) -> Any:
    return None if not np.any(values) else labels[int(np.argmax(values))]


def _worst(values: np.ndarray, labels: tuple[str, ...] | list[str]) -> Any:
    return None if not np.any(values) else labels[int(np.argmin(values))]


def _labelled(values: np.ndarray, labels: tuple[str, ...]) -> tuple[list[str], list[str]]:
    effective = [labels[i] for i in np.argsort(-values) if values[i] >= EFFECTIVE_THRESHOLD]
    ineffective = [labels[i] for i in np.argsort(values) if values[i] <= -EFFECTIVE_THRESHOLD]
    return effective, ineffective


def effects_to_json(fx: ClientEffects, vocab: Vocabulary) -> dict[str, Any]:
    """The truth file's view of one client's effects: log-odds, and the best/worst categories."""
    titles = tuple(g.key for g in TITLE_GROUPS)
    industries = tuple(name for name, _ in INDUSTRIES)
    sizes = tuple(label for label, _, _ in SIZE_BUCKETS)
    hours = tuple(str(h) for h in range(24))
    days = tuple(str(d) for d in range(7))
    # Seniority is not planted directly: its effect is the share-weighted mean of its titles' effects.
    seniorities = tuple(dict.fromkeys(g.seniority for g in TITLE_GROUPS))
    seniority = np.array([
        np.average([fx.title[i] for i, g in enumerate(TITLE_GROUPS) if g.seniority == s],
                   weights=[g.share for g in TITLE_GROUPS if g.seniority == s])
        for s in seniorities])
    cta_types = vocab.cta_types
    cta_type = np.array([np.mean([fx.cta[i] for i, t in enumerate(vocab.cta_phrase_types) if t == kind])
                         for kind in cta_types])
    first_channel_total = fx.first_channel + fx.channel  # touch 1 carries both
    size_best = _best(fx.size_bucket, sizes)
    lengths: dict[str, Any] = {}
    for ch in LENGTH_CHANNELS:
        bins = LENGTH_BINS[ch]
        best = int(np.argmax(fx.length_bin[ch])) if np.any(fx.length_bin[ch]) else None
        lengths[ch] = None if best is None else {
            "bin": bins[best][0], "unit": LENGTH_UNIT[ch], "range_min": bins[best][1], "range_max": bins[best][2]}

    pain_eff, pain_ineff = _labelled(fx.pain_point, vocab.pain_points)
    cta_eff, cta_ineff = _labelled(fx.cta, vocab.cta_phrases)
    angle_eff, angle_ineff = _labelled(fx.angle, vocab.angles)
    tpl_eff, tpl_ineff = _labelled(fx.subject_template, vocab.subject_templates)
    return {
        "intercept": round(fx.intercept, 4),
        "failure_hazard": round(fx.failure_hazard, 4),
        "log_odds": {
            "title": _rounded(fx.title, titles),
            "seniority": _rounded(seniority, seniorities),
            "industry": _rounded(fx.industry, industries),
            "size_bucket": _rounded(fx.size_bucket, sizes),
            "timing_signals": _rounded(fx.timing, TIMING_SIGNALS),
            "als": {
                "true_weights": _rounded(fx.als_weights, [n for n, _ in ALS_COMPONENTS]),
                "scale": round(fx.als_scale, 4),
                "risk_scale": round(fx.risk_scale, 4),
                "centre": _rounded(ALS_CENTER, [n for n, _ in ALS_COMPONENTS]),
                "risk_centre": RISK_CENTER,
            },
            "first_channel": _rounded(fx.first_channel, CHANNELS),
            "channel": _rounded(fx.channel, CHANNELS),
            "day": _rounded(fx.day, days),
            "hour": _rounded(fx.hour, hours),
            "subject_template": _rounded(fx.subject_template, vocab.subject_templates),
            "pain_point": _rounded(fx.pain_point, vocab.pain_points),
            "cta": _rounded(fx.cta, vocab.cta_phrases),
            "cta_type": _rounded(cta_type, cta_types),
            "angle": _rounded(fx.angle, vocab.angles),
            "length_bin": {ch: _rounded(fx.length_bin[ch], [b[0] for b in LENGTH_BINS[ch]]) for ch in LENGTH_CHANNELS},
            "personalization": _rounded(fx.personalization, PERSONALIZATION),
        },
        "best": {
            "title": _best(fx.title, titles),
            "seniority": _best(seniority, seniorities),
            "industry": _best(fx.industry, industries),
            "size_bucket": size_best,
            "sweet_spot": None if size_best is None else {
                "min": SIZE_BUCKETS[sizes.index(size_best)][1],
                "max": None if size_best == "500+" else SIZE_BUCKETS[sizes.index(size_best)][2]},
            "timing_signal": _best(fx.timing, TIMING_SIGNALS),
            "day": None if not np.any(fx.day) else int(np.argmax(fx.day)),
            "hour": None if not np.any(fx.hour) else int(np.argmax(fx.hour)),
            "first_channel": _best(first_channel_total, CHANNELS),
            "booking_channel": _best(fx.channel, CHANNELS),
            "cta_type": _best(cta_type, cta_types),
            "personalization": _best(fx.personalization, PERSONALIZATION),
            "length": lengths,
        },
        "worst": {
            "title": _worst(fx.title, titles),
            "industry": _worst(fx.industry, industries),
            "size_bucket": _worst(fx.size_bucket, sizes),
            "day": None if not np.any(fx.day) else int(np.argmin(fx.day)),
            "hour": None if not np.any(fx.hour) else int(np.argmin(fx.hour)),
        },
        "effective": {"pain_points": pain_eff, "ctas": cta_eff, "angles": angle_eff, "subject_templates": tpl_eff},
        "ineffective": {"pain_points": pain_ineff, "ctas": cta_ineff, "angles": angle_ineff, "subject_templates": tpl_ineff},
    }
