"""WHO detector against planted truth (docs/synthetic_world.md): recovery in an effects world, silence in
null worlds, the minimum-data gate, and learned weights that ship only when the components carry a
signal the defaults miss.

One database per module holds several synthetic worlds at once (client ids depend on the seed), built
with one `dbt build` at a fixed ``as_of``; the detector then runs on ``load_who_inputs`` per client:

* effects world — seed 101, 4 clients, 40,000 leads (≈ 3,800–8,800 leads with a final outcome per client);
* null worlds — seeds 202, 203, 204, 8 clients each, 12,000 leads per seed (24 null clients,
  ≈ 500–2,300 leads with a final outcome each);
* a tiny world — seed 303, 1 client, 60 leads: 6 conversions, below the WHO gate;
* a weights world — seed 515, 2 clients, 16,000 leads, ``als_signal="independent"``: the world of the
  learned-weights test at the end (moved here from tests/test_who_weights_world.py so that it shares
  this database and its dbt build; a build of its own cost the suite a dbt parse and build).

Everything is deterministic (seeds and ``as_of`` fixed), so the measured fractions below are exact for
these worlds; the thresholds are set so that a random or inverted ranking, or a detector that labels
without multiplicity control, fails them (checked by inverting / permuting the shrunk rates: mean
Spearman −0.68 / −0.03, planted best above planted worst in 0 / 5 of 12 client-dimensions).

What "planted" means here. The synthetic world plants log-odds effects on a *per-touch* booking hazard
(title, industry, size bucket, timing signals, ...). The detector reports *lead-level* booking rates of
leads with a final outcome. The two are not the same quantity: a lead reaches several touches (the
hazard compounds and depletes), other lead effects (ALS scale 2–3 log-odds, first channel) make leads
heterogeneous, and in-flight leads are censored (a recent lead enters the marts only once it books or
fails), all of which pull a lead-level lift toward 1. Hence:

* categories are compared by *order* (planted log-odds vs the detector's shrunk rates) and by *label
  direction*, never by value;
* for timing signals the per-touch odds ratio ``exp(β)`` is an *upper bound* of the lead-level lift
  (with a constant competing failure hazard, a hazard raised by at most ``exp(β)`` raises the cumulative
  booking probability by at most ``exp(β)``, and censoring only attenuates further): the interval must
  point the planted way and its lower end must not exceed ``exp(β)``; the realised lift (recounted from
  ``fct_who_leads``) must be the detector's point estimate, inside its interval;
* in the null worlds the lead-level lift *is* well defined — exactly 1 for every category and signal —
  so there the intervals' coverage of the planted value is tested directly.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from scipy import stats

from dagster_pipelines.marts.who import load_who_inputs
from detectors.result import DetectorResult
from detectors.who import MIN_CONVERSIONS, WhoInputs, detect_who
from detectors.who_weights import COMPONENT_MAX, COMPONENTS, DEFAULT_WEIGHTS, WEIGHT_SUM, als_score
from support import dbt_or_fail, generate_worlds

pytestmark = pytest.mark.slow

SCHEMA = "dbt_who_recovery_test"
AS_OF = datetime(2025, 6, 30, tzinfo=timezone.utc)
DBT_VARS = json.dumps({"as_of": AS_OF.isoformat(), "stale_after_days": 30})

EFFECT_SEED, EFFECT_CLIENTS, EFFECT_LEADS = 101, 4, 40_000
NULL_SEEDS, NULL_CLIENTS_PER_SEED, NULL_LEADS_PER_SEED = (202, 203, 204), 8, 12_000
TINY_SEED, TINY_LEADS = 303, 60
WEIGHTS_SEED, WEIGHTS_CLIENTS, WEIGHTS_LEADS = 515, 2, 16_000

# The synth's planted gap (docs/synthetic_world.md): winners >= +0.30, losers <= -0.30, others within ±0.12.
EFFECTIVE = 0.30
# BH family (= the truth's log-odds key) -> where its entries sit in the who pattern.
FAMILIES: dict[str, tuple[str, ...]] = {
    "title": ("title_rankings", "by_title"),
    "seniority": ("title_rankings", "by_seniority"),
    "industry": ("industry_rankings",),
    "size_bucket": ("size_analysis", "distribution"),
}
RANKED_DIMENSIONS = ("title", "industry", "size_bucket")   # the planted categorical dimensions
SIGNALS = {"new_role_lift": ("new_role", "is_new_role"), "hiring_lift": ("hiring", "is_hiring"),
           "funded_lift": ("funded", "is_recently_funded")}
WELL_SAMPLED = 100            # leads behind a category for the Spearman check


@dataclass(frozen=True)
class Client:
    world: str                # "effects", "null", "tiny" or "weights"
    seed: int
    truth: dict[str, Any]     # the truth file's entry of this client
    inputs: WhoInputs
    result: DetectorResult

    @property
    def planted(self) -> dict[str, Any]:
        return self.truth["planted"]["log_odds"]

    def entries(self, family: str) -> list[dict[str, Any]]:
        node: Any = self.result.patterns
        for key in FAMILIES[family]:
            node = node[key]
        return node


@pytest.fixture(scope="module")
def worlds(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """All worlds in one database, one dbt build, the detector run once per client."""
    url = module_db_url
    tmp = tmp_path_factory.mktemp("who_recovery")
    specs = [("effects", EFFECT_SEED, EFFECT_CLIENTS, EFFECT_LEADS, False)]
    specs += [("null", seed, NULL_CLIENTS_PER_SEED, NULL_LEADS_PER_SEED, True) for seed in NULL_SEEDS]
    specs += [("tiny", TINY_SEED, 1, TINY_LEADS, False)]
    specs += [("weights", WEIGHTS_SEED, WEIGHTS_CLIENTS, WEIGHTS_LEADS, False, {"als_signal": "independent"})]
    truth = generate_worlds(url, tmp, specs, AS_OF)
    dbt_or_fail(["build", "--select", "+path:models/marts/who", "--indirect-selection", "cautious", "--vars", DBT_VARS], url, tmp / "target", schema=SCHEMA)
    with psycopg.connect(url) as conn:
        inputs = list(load_who_inputs(conn, SCHEMA))
        signal_counts = conn.execute(
            "select client_id::text, "
            + ", ".join(
                f"sum(case when {col} then 1 else 0 end), sum(case when {col} and is_converted then 1 else 0 end)"
                for _, col in SIGNALS.values())
            + ", count(*), sum(case when is_converted then 1 else 0 end)"
            f" from {SCHEMA}.fct_who_leads group by client_id").fetchall()
    clients = []
    for item in inputs:
        world, seed, entry = truth[str(item.client_id)]
        clients.append(Client(world, seed, entry, item, detect_who(item, computed_at=AS_OF)))
    return {
        "url": url,
        "clients": clients,
        "truth_clients": truth,
        "weights_parameters": json.loads((tmp / f"truth_{WEIGHTS_SEED}.json").read_text())["parameters"],
        # client id -> {column: (leads with the signal, their conversions)} and the totals
        "signal_counts": {
            row[0]: {**{col: (int(row[1 + 2 * i]), int(row[2 + 2 * i])) for i, (_, col) in enumerate(SIGNALS.values())},
                     "total": (int(row[-2]), int(row[-1]))}
            for row in signal_counts
        },
    }


def _world(worlds: dict, name: str) -> list[Client]:
    return [c for c in worlds["clients"] if c.world == name]


# -- the worlds themselves ----------------------------------------------------------------------------

def test_every_synthetic_client_reaches_the_detector(worlds: dict) -> None:
    seen = {str(c.inputs.client_id) for c in worlds["clients"]}
    assert seen == set(worlds["truth_clients"])
    effects, null = _world(worlds, "effects"), _world(worlds, "null")
    assert len(effects) == EFFECT_CLIENTS and len(null) == len(NULL_SEEDS) * NULL_CLIENTS_PER_SEED
    assert all(c.result.patterns is not None for c in effects + null)   # all above the gate
    # Truth sanity: the null worlds plant nothing, the effects world plants the documented gaps.
    assert all(v == 0 for c in null for d in RANKED_DIMENSIONS for v in c.planted[d].values())
    for c in effects:
        for dimension in ("title", "industry"):
            values = sorted(c.planted[dimension].values())
            assert values[0] <= -EFFECTIVE and values[-1] >= EFFECTIVE
            assert all(abs(v) <= 0.12 for v in values[1:-1])


# -- recovery: categories -----------------------------------------------------------------------------

def test_planted_best_category_ranks_first_and_above_the_planted_worst(worlds: dict) -> None:
    """Title, industry and size bucket: the planted best category's shrunk rate beats the planted
    worst's in every client, and the planted best is ranked first in at least 3 of 4 clients (measured:
    4 of 4 for each dimension). The size sweet spot is the planted best bucket in ≥ 3 of 4 (measured 4)."""
    effects = _world(worlds, "effects")
    for dimension in RANKED_DIMENSIONS:
        first = 0
        for c in effects:
            planted = c.planted[dimension]
            best, worst = max(planted, key=planted.get), min(planted, key=planted.get)
            ranked = {e["category"]: e for e in c.entries(dimension) if e["is_ranked"]}
            assert best in ranked and worst in ranked, (dimension, best, worst, sorted(ranked))
            assert ranked[best]["shrunk_rate"] > ranked[worst]["shrunk_rate"], (dimension, c.truth["name"])
            first += ranked[best]["rank"] == 1
        assert first >= len(effects) - 1, (dimension, first)
    spots = [c.result.patterns["size_analysis"]["sweet_spot"]["bucket"] == c.truth["planted"]["best"]["size_bucket"]
             for c in effects]
    assert sum(spots) >= len(effects) - 1, spots


def test_planted_winners_are_never_losing_and_losers_never_winning(worlds: dict) -> None:
    """Label direction: a category planted at ≥ +0.30 is never labelled "losing", one at ≤ −0.30 never
    "winning" (title, industry, size). Power: the planted best title, industry and size bucket are
    labelled "winning" in at least 3 of 4 clients each (measured 4 of 4), the planted worst title and
    industry "losing" in at least 3 of 4 (measured: title 4, industry 3 — the fourth, in the smallest
    client, ranks last among its industries but is not significant)."""
    effects = _world(worlds, "effects")
    for dimension in RANKED_DIMENSIONS:
        best_winning = worst_losing = 0
        for c in effects:
            planted = c.planted[dimension]
            labels = {e["category"]: e["label"] for e in c.entries(dimension)}
            inverted = [(cat, labels.get(cat), v) for cat, v in planted.items()
                        if (v >= EFFECTIVE and labels.get(cat) == "losing")
                        or (v <= -EFFECTIVE and labels.get(cat) == "winning")]
            assert not inverted, (dimension, c.truth["name"], inverted)
            best_winning += labels.get(max(planted, key=planted.get)) == "winning"
            worst_losing += labels.get(min(planted, key=planted.get)) == "losing"
        assert best_winning >= len(effects) - 1, (dimension, best_winning)
        if dimension != "size_bucket":     # size has no planted loser beyond −0.30, only a sweet spot
            assert worst_losing >= len(effects) - 1, (dimension, worst_losing)


def test_shrunk_rates_rank_like_the_planted_log_odds(worlds: dict) -> None:
    """Spearman correlation between planted log-odds and shrunk rates over categories with ≥ 100 leads,
    per client and dimension (12 pairs): mean ≥ 0.4 and positive in ≥ 3/4 of the pairs. Measured: mean
    0.68, all 12 positive (0.25–0.93). Most categories are planted neutral (within ±0.07), so one pair's
    correlation is noisy; a random ranking gives a mean near 0, an inverted one −0.68."""
    rhos = []
    for c in _world(worlds, "effects"):
        for dimension in RANKED_DIMENSIONS:
            planted = c.planted[dimension]
            rows = [e for e in c.entries(dimension)
                    if e["is_ranked"] and e["category"] in planted and e["sample"] >= WELL_SAMPLED]
            assert len(rows) >= 5, (dimension, c.truth["name"], len(rows))
            rhos.append(stats.spearmanr([planted[e["category"]] for e in rows],
                                        [e["shrunk_rate"] for e in rows]).statistic)
    assert np.mean(rhos) >= 0.4, np.round(rhos, 2)
    assert np.mean(np.array(rhos) > 0) >= 0.75, np.round(rhos, 2)


def test_lead_scores_carry_the_planted_als_signal(worlds: dict) -> None:
    """The effects world plants ALS components worth 2–3 log-odds: the default-weight score ranks leads
    better than chance out of sample and its top quintile books above the client's baseline (measured:
    CV AUC 0.56–0.60, top quintile 1.3–1.4× the baseline; null worlds 0.45–0.55). Whether learned weights
    ship there is not asserted: the components share a latent quality, so the true weights barely beat
    the defaults (who_weights.py); measured: none of the 4 ships."""
    for c in _world(worlds, "effects"):
        p = c.result.patterns
        assert p["weights_validation"]["cv_auc_default"] > 0.54, p["weights_validation"]
        top = p["top_quintile_conversion_rate"]
        assert top["ci_low"] > p["baseline_rate"], (top, p["baseline_rate"])
        if p["weights_validation"]["shipped"]:
            assert p["weights_validation"]["cv_auc_learned"] > p["weights_validation"]["cv_auc_default"]


# -- recovery: timing signals -------------------------------------------------------------------------

def test_timing_signal_lifts_point_the_planted_way_below_the_planted_odds_ratio(worlds: dict) -> None:
    """Per client and signal (planted β ≥ 0 for all three, docs/synthetic_world.md):

    * the lift is the realised lift recounted from fct_who_leads and lies in its interval;
    * never labelled "losing"; the interval's lower end ≤ exp(β), the per-touch odds ratio, which
      bounds the lead-level lift from above (module docstring) — measured: all 12;
    * signals planted at β ≥ 0.30: lift > 1 in every case and the interval above 1 in ≥ 3/4 of them
      (measured: all 9 such cases "winning").
    """
    cases = strong = strong_significant = 0
    for c in _world(worlds, "effects"):
        counts = worlds["signal_counts"][str(c.inputs.client_id)]
        leads, conversions = counts["total"]
        for key, (planted_key, column) in SIGNALS.items():
            entry = c.result.patterns["timing_signals"][key]
            beta = c.planted["timing_signals"][planted_key]
            n_in, k_in = counts[column]
            realised = (k_in / n_in) / ((conversions - k_in) / (leads - n_in))
            assert entry["lift"] == pytest.approx(realised, rel=1e-5)
            assert entry["ci_low"] <= entry["lift"] <= entry["ci_high"]
            assert beta >= 0 and entry["label"] != "losing", (key, beta, entry)
            assert entry["ci_low"] <= np.exp(beta), (key, beta, entry)
            cases += 1
            if beta >= EFFECTIVE:
                strong += 1
                assert entry["lift"] > 1, (key, beta, entry)
                strong_significant += entry["ci_low"] > 1 and entry["label"] == "winning"
    assert cases == 3 * EFFECT_CLIENTS
    assert strong >= EFFECT_CLIENTS          # new role is always planted at ≥ +0.30
    assert strong_significant >= 0.75 * strong, (strong_significant, strong)


def test_timing_signal_intervals_cover_the_lead_level_lift_the_planted_model_implies(worlds: dict) -> None:
    """The truth file carries, per client and signal, the lead-level lift the planted hazard model implies
    among leads with a final outcome (``expected_lead_level``: each lead evaluated with the signal off and
    on under the competing booking/failure hazards, as_of cut and staleness of the synth). That is the
    detector's estimand, so its 95% intervals must cover it in about 95% of cases; with 12 cases, at least
    10 (a binomial(12, 0.95) falls below 10 with probability 2%) — measured: 12 of 12. The expected lift
    also lies between 1 and exp(β), the module docstring's bound."""
    covered, cases, report = 0, 0, []
    for c in _world(worlds, "effects"):
        expected = c.truth["expected_lead_level"]["timing_signal_lifts"]
        for key, (planted_key, _) in SIGNALS.items():
            entry = c.result.patterns["timing_signals"][key]
            lift = expected[key]["lift"]
            beta = c.planted["timing_signals"][planted_key]
            assert 1.0 <= lift <= np.exp(beta) + 1e-9, (key, beta, lift)
            hit = entry["ci_low"] <= lift <= entry["ci_high"]
            covered += hit
            cases += 1
            report.append(f"{key}: expected {lift:.3f}, interval [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"
                          f"{'' if hit else ' MISSED'}")
    assert cases == 3 * EFFECT_CLIENTS
    assert covered >= 10, "\n".join(report)


# -- null worlds --------------------------------------------------------------------------------------

def _null_families(client: Client) -> dict[str, bool]:
    """Per BH family of the client: is any entry labelled?"""
    labelled = {family: any(e["label"] for e in client.entries(family)) for family in FAMILIES}
    labelled["timing"] = any(e["label"] for e in client.result.patterns["timing_signals"].values())
    return labelled


def test_null_world_labels_at_most_the_false_discovery_rate_per_family(worlds: dict) -> None:
    """Each (client, field) is one Benjamini–Hochberg family at q < 0.10 (SPEC §6); with nothing planted
    every label is false, and BH keeps the chance of any label in a family at about 0.10 (simulated for
    the detector's tests: 0.09–0.10 per family at 800–8,000 leads). Over the 24 null clients × 5
    families (title, seniority, industry, size, timing) the share of families with a label must be
    consistent with ≤ 10%: one-sided binomial p ≥ 0.01, and at most 20%. Measured: 11 of 120 (9%); on
    120 more null clients 65 of 600 (11%). Labels without multiplicity control would label most families
    (≈ 1 − 0.9^13 for titles)."""
    null = _world(worlds, "null")
    flags = [flag for c in null for flag in _null_families(c).values()]
    assert len(flags) == 5 * len(null)
    labelled = int(sum(flags))
    p_value = stats.binomtest(labelled, len(flags), 0.10, alternative="greater").pvalue
    assert p_value >= 0.01, (labelled, len(flags), p_value)
    assert labelled / len(flags) <= 0.20, (labelled, len(flags))


def test_null_world_labels_no_category_for_90_percent_of_clients(worlds: dict) -> None:
    """Issue 3: with nothing planted, >= 90% of clients show no labelled title/industry/size category.
    Met because the detector labels its profile fields as one BH family (detectors/who.py)."""
    null = _world(worlds, "null")
    any_label = [any(_null_families(c)[family] for family in RANKED_DIMENSIONS) for c in null]
    assert np.mean(any_label) <= 0.10, f"{sum(any_label)} of {len(null)} null clients have a labelled category"


def test_null_world_lift_intervals_cover_the_planted_lift_of_one(worlds: dict) -> None:
    """Nothing planted: every category's and every timing signal's lead-level lift is exactly 1. The 95%
    intervals (Katz) must cover it at about the nominal rate: ≥ 90% of the ranked categories' lift
    intervals (measured 95.9% of 960) and ≥ 85% of the 72 timing-signal intervals (measured 94.4%)."""
    null = _world(worlds, "null")
    categories = [e["lift_ci_low"] <= 1 <= e["lift_ci_high"]
                  for c in null for family in FAMILIES for e in c.entries(family) if e["is_ranked"]]
    timing = [e["ci_low"] <= 1 <= e["ci_high"] for c in null for e in c.result.patterns["timing_signals"].values()]
    assert len(categories) > 500 and len(timing) == 3 * len(null)
    assert np.mean(categories) >= 0.90, np.mean(categories)
    assert np.mean(timing) >= 0.85, np.mean(timing)


def test_null_world_ships_learned_weights_no_more_often_than_the_ship_rule_allows(worlds: dict) -> None:
    """With nothing planted, learned weights can only ship by chance: the ship rule's one-sided paired
    DeLong test at α = 0.05 (plus margin and fold majority) keeps that rare — 0.7–3% of simulated null
    clients (detectors/who_weights.py); 1 of 144 synthetic null clients measured (this module's 24 and
    120 more). "Never" cannot be promised for 24 clients, so: the share shipped must be consistent with
    ≤ 5% (one-sided binomial p ≥ 0.01; a ship rule without its significance test ships about a quarter of
    null clients), and a client that does ship gains little out of sample. Measured here: 1 of 24 (seed
    202, 2,301 leads: CV AUC 0.528 vs 0.513, DeLong p = 0.029). Every client that keeps the defaults
    reports them and writes nothing."""
    null = _world(worlds, "null")
    shipped = [c for c in null if c.result.patterns["weights_validation"]["shipped"]]
    assert stats.binomtest(len(shipped), len(null), 0.05, alternative="greater").pvalue >= 0.01, len(shipped)
    for c in shipped:
        v = c.result.patterns["weights_validation"]
        assert v["cv_auc_learned"] - v["cv_auc_default"] < 0.03, v
        assert c.result.learned_weights is not None
    for c in null:
        if c in shipped:
            continue
        p = c.result.patterns
        assert c.result.learned_weights is None
        assert p["recommended_weights"]["source"] == "default"
        assert {k: p["recommended_weights"][k] for k in COMPONENTS} == DEFAULT_WEIGHTS


# -- the gate -----------------------------------------------------------------------------------------

def test_client_below_the_gate_gets_no_pattern_and_a_reason(worlds: dict) -> None:
    (tiny,) = _world(worlds, "tiny")
    assert 0 < tiny.inputs.conversions < MIN_CONVERSIONS, tiny.inputs
    assert tiny.result.patterns is None
    assert tiny.result.learned_weights is None
    assert tiny.result.gate_reason == (
        f"not enough data: {tiny.inputs.conversions} conversions (needs {MIN_CONVERSIONS})")
    assert tiny.result.sample_size == tiny.inputs.leads_with_outcome
    assert tiny.result.conversions == tiny.inputs.conversions


# -- learned weights where the components carry a signal the defaults miss ---------------------------

TRUE_WEIGHTS = {"data_quality": 0.05, "authority": 0.45, "company_fit": 0.30, "timing": 0.05}
CENTRE = np.array([0.75, 0.55, 0.50, 0.40])     # the synthetic world's component centres


def hand_made_inputs(seed: int, leads: int, weights: dict[str, float] | None, slope: float = 10.0,
                     rate: float = 0.12) -> WhoInputs:
    """One client's WHO inputs from ``leads`` hand-made leads: components drawn independently around the
    synthetic world's centres (no shared latent quality), conversions from
    ``logit P = logit(rate) + slope · (score − mean score) / 100`` with the score under ``weights``
    (None: conversions independent of everything), a title and a hiring flag at random. Both frames are
    aggregated from the same leads, so they are consistent (sums per dimension = the totals)."""
    rng = np.random.default_rng(seed)
    maxima = np.array([COMPONENT_MAX[c] for c in COMPONENTS])
    lead = pd.DataFrame(rng.binomial(maxima, CENTRE, size=(leads, 4)), columns=list(COMPONENTS))
    lead["risk"] = rng.binomial(15, 0.12, leads)
    eta = np.full(leads, np.log(rate / (1 - rate)))
    if weights is not None:
        score = als_score(lead, weights)
        eta += slope * (score - score.mean()) / 100
    lead["conversions"] = rng.random(leads) < 1 / (1 + np.exp(-eta))
    lead["normalized_title"] = rng.choice(["ceo", "vp_sales", "sdr"], leads)
    lead["is_hiring"] = np.where(rng.random(leads) < 0.35, "true", "false")
    combos = (lead.groupby([*COMPONENTS, "risk"]).agg(leads=("conversions", "size"), conversions=("conversions", "sum"))
              .reset_index())
    dimension_stats = pd.concat([
        lead.groupby(dim)["conversions"].agg(leads="size", conversions="sum").rename_axis("category").reset_index()
        .assign(dimension=dim) for dim in ("normalized_title", "is_hiring")
    ])[["dimension", "category", "leads", "conversions"]]
    return WhoInputs(uuid.UUID(int=seed), leads, int(lead["conversions"].sum()), dimension_stats.reset_index(drop=True),
                     combos.astype({"conversions": int}))


def test_learned_weights_ship_when_components_carry_a_signal_the_defaults_miss() -> None:
    """The full detector on hand-made inputs with a known weight vector (authority 0.45, company fit 0.30,
    data quality and timing 0.05) and a strong slope: the learned weights ship, are written as the
    result's learned_weights, and are closer to the truth than the defaults. The same inputs with
    conversions independent of the components do not ship."""
    signal = detect_who(hand_made_inputs(7, 10_000, TRUE_WEIGHTS), computed_at=AS_OF)
    validation = signal.patterns["weights_validation"]
    assert validation["shipped"] is True, validation
    assert validation["cv_auc_learned"] > validation["cv_auc_default"] + 0.005
    learned = signal.learned_weights
    assert learned is not None and learned == {c: signal.patterns["recommended_weights"][c] for c in COMPONENTS}
    assert signal.patterns["recommended_weights"]["source"] == "learned"
    assert sum(learned.values()) == pytest.approx(WEIGHT_SUM)
    assert max(learned, key=learned.get) == "authority"
    distance = lambda w: sum(abs(w[c] - TRUE_WEIGHTS[c]) for c in COMPONENTS)  # noqa: E731
    assert distance(learned) < distance(DEFAULT_WEIGHTS) / 2, learned
    assert signal.patterns["top_quintile_conversion_rate"]["weights_source"] == "learned"

    noise = detect_who(hand_made_inputs(7, 10_000, None), computed_at=AS_OF)
    assert noise.patterns["weights_validation"]["shipped"] is False
    assert noise.learned_weights is None


# -- learned weights in a world built to reward them (tests/test_who_weights_world.py) -------------------

def _l1(weights: dict[str, float], truth: dict[str, float]) -> float:
    return sum(abs(weights[c] - truth[c]) for c in COMPONENTS)


def test_learned_weights_ship_and_recover_the_planted_weights_in_an_independent_world(worlds: dict) -> None:
    """The weights world (module docstring; the claim is tests/test_who_weights_world.py's): the learned
    weights ship for every client, beat the defaults out of sample and land closer (L1) to the planted
    weights than the defaults are."""
    assert worlds["weights_parameters"]["als_signal"] == "independent"
    clients = _world(worlds, "weights")
    assert len(clients) == WEIGHTS_CLIENTS
    report = []
    for c in clients:
        true_weights = c.planted["als"]["true_weights"]
        assert c.inputs.leads_with_outcome >= 3_000, c.inputs.leads_with_outcome
        result = c.result
        assert result.patterns is not None
        validation = result.patterns["weights_validation"]
        learned = result.learned_weights
        report.append((c.inputs.leads_with_outcome, validation, learned, true_weights))
        assert validation["shipped"] is True, validation
        assert validation["cv_auc_learned"] > validation["cv_auc_default"], validation
        assert learned is not None
        assert {k: result.patterns["recommended_weights"][k] for k in COMPONENTS} == learned
        assert _l1(learned, true_weights) < _l1(DEFAULT_WEIGHTS, true_weights), (learned, true_weights)
    print(report)
