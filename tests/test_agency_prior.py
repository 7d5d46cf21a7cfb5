"""The agency-wide pattern (issue 10 part 3): pooled counts, the agency prior, and the fallback the API
serves to a client below the gates ("a client with 3 conversions gets the agency-wide pattern, flagged
as such")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import psycopg
import pytest

from detectors.agency import (AGENCY_ID, MIN_CLIENTS_POOLED, as_agency_pattern, how_agency_priors, leave_one_out_rate,
                              pool_how_inputs, pool_when_inputs, pool_who_inputs, when_agency_priors, who_agency_priors)
from detectors.how import HowInputs
from detectors.stats import AgencyPrior, agency_prior_means, rank_categories, standardised_rate
from detectors.when import WhenInputs
from detectors.who import WhoInputs, detect_who
from support import eventually

COMPUTED_AT = datetime(2026, 6, 1, tzinfo=timezone.utc)
A, B = uuid.UUID(int=1), uuid.UUID(int=2)
COMPONENTS = ["data_quality", "authority", "company_fit", "timing", "risk"]


def _who(client: uuid.UUID, dimension_rows: list[tuple], combos: list[tuple]) -> WhoInputs:
    dimensions = pd.DataFrame(dimension_rows, columns=["dimension", "category", "leads", "conversions"])
    combinations = pd.DataFrame(combos, columns=[*COMPONENTS, "leads", "conversions"])
    leads = int(dimensions.loc[dimensions["dimension"] == "industry", "leads"].sum())
    conversions = int(dimensions.loc[dimensions["dimension"] == "industry", "conversions"].sum())
    return WhoInputs(client, leads, conversions, dimensions, combinations)


CLIENT_A = _who(A, [
    ("industry", "saas", 20, 5), ("industry", "retail", 30, 6),
    ("normalized_title", "ceo", 10, 4), ("normalized_title", "cto", 40, 7),
    ("seniority", "c_level", 50, 11),
    ("size_bucket", "6-15", 25, 3), ("size_bucket", "51-100", 25, 8),
    ("is_hiring", "true", 15, 6), ("is_hiring", "false", 35, 5),
], [(10, 20, 20, 10, 0, 30, 8), (15, 15, 10, 5, 3, 20, 3)])
CLIENT_B = _who(B, [
    ("industry", "saas", 30, 7), ("industry", "health", 40, 5),
    ("normalized_title", "ceo", 25, 6), ("normalized_title", "vp_sales", 45, 6),
    ("seniority", "c_level", 25, 6), ("seniority", "vp", 45, 6),
    ("size_bucket", "6-15", 35, 3), ("size_bucket", "51-100", 35, 9),
    ("is_hiring", "true", 20, 7), ("is_hiring", "false", 50, 5),
], [(10, 20, 20, 10, 0, 40, 8), (20, 25, 25, 15, 0, 30, 4)])
# The same two clients summed by hand, in the pooled frames' (sorted) key order.
SUMMED = WhoInputs(AGENCY_ID, 120, 23, pd.DataFrame([
    ("industry", "health", 40, 5), ("industry", "retail", 30, 6), ("industry", "saas", 50, 12),
    ("is_hiring", "false", 85, 10), ("is_hiring", "true", 35, 13),
    ("normalized_title", "ceo", 35, 10), ("normalized_title", "cto", 40, 7), ("normalized_title", "vp_sales", 45, 6),
    ("seniority", "c_level", 75, 17), ("seniority", "vp", 45, 6),
    ("size_bucket", "51-100", 60, 17), ("size_bucket", "6-15", 60, 6),
], columns=["dimension", "category", "leads", "conversions"]), pd.DataFrame([
    (10, 20, 20, 10, 0, 70, 16), (15, 15, 10, 5, 3, 20, 3), (20, 25, 25, 15, 0, 30, 4),
], columns=[*COMPONENTS, "leads", "conversions"]))


# --- pooling -------------------------------------------------------------------------------------------

def test_pooled_who_inputs_are_the_summed_counts_and_give_the_detector_result_on_them() -> None:
    pooled = pool_who_inputs([CLIENT_A, CLIENT_B])
    assert (pooled.client_id, pooled.leads_with_outcome, pooled.conversions) == (AGENCY_ID, 120, 23)
    pd.testing.assert_frame_equal(pooled.dimension_stats, SUMMED.dimension_stats, check_dtype=False)
    pd.testing.assert_frame_equal(pooled.component_combinations, SUMMED.component_combinations, check_dtype=False)

    on_pool = detect_who(pooled, computed_at=COMPUTED_AT)
    on_sums = detect_who(SUMMED, computed_at=COMPUTED_AT)
    assert on_pool.patterns == on_sums.patterns and on_pool.patterns is not None
    saas = next(e for e in on_pool.patterns["industry_rankings"] if e["category"] == "saas")
    assert (saas["sample"], saas["conversions"], round(saas["rate"], 6)) == (50, 12, 0.24)
    assert on_pool.patterns["baseline_rate"] == round(23 / 120, 6)  # JSON values are rounded to 6 decimals

    # Marked as agency scope; with fewer than MIN_CLIENTS_POOLED clients nothing is stored.
    assert MIN_CLIENTS_POOLED == 3
    agency = as_agency_pattern(on_pool, clients_pooled=3)
    assert (agency.result.patterns["scope"], agency.result.patterns["clients_pooled"]) == ("agency", 3)
    too_few = as_agency_pattern(on_pool, clients_pooled=2)
    assert too_few.result.patterns is None and "only 2 clients" in too_few.result.gate_reason


def test_pooled_when_and_how_inputs_sum_counts_and_weight_the_order_statistics() -> None:
    def when(client: uuid.UUID, sequences: int, median: float, conversions: int, median_days: float) -> WhenInputs:
        hazard = pd.DataFrame({"touch_number": [1, 2], "leads_reached": [100, 60], "bookings": [conversions, 1],
                               "censored_after": [5, 5], "failed_after": [10, 10], "stale_after": [1, 1]})
        slots = pd.DataFrame({"dimension": ["day"], "slot": [2], "touch_stratum": [1], "touches": [100], "bookings": [3]})
        gaps = pd.DataFrame({"gap_number": [1], "sequences": [sequences], "mean_days": [median + 1], "median_days": [median],
                             "p25_days": [median - 1], "p75_days": [median + 2]})
        timing = {"avg_days_to_convert": median_days + 2, "median_days_to_convert": median_days,
                  "p80_days_to_convert": median_days * 2, "p95_days_to_convert": median_days * 3}
        return WhenInputs(client, 100, 160, conversions + 1, 5, hazard, slots, gaps, timing,
                          timezones={"leads_timezone_lead": 90, "client_timezone": "UTC", "has_valid_client_timezone": True})

    pooled = pool_when_inputs([when(A, 10, 2.0, 5, 10.0), when(B, 30, 4.0, 15, 20.0)])
    assert (pooled.touched_leads, pooled.touches, pooled.conversions, pooled.in_flight) == (200, 320, 22, 10)
    assert pooled.hazard.to_dict("list") == {"touch_number": [1, 2], "leads_reached": [200, 120], "bookings": [20, 2],
                                             "censored_after": [10, 10], "failed_after": [20, 20], "stale_after": [2, 2]}
    gap = pooled.gaps.iloc[0]
    # Means exactly (weighted by sequences); medians and quartiles as the sequence-weighted mean: (10·2 + 30·4)/40.
    assert (gap["sequences"], gap["mean_days"], gap["median_days"], gap["p25_days"]) == (40, 4.5, 3.5, 2.5)
    # Timing weighted by the clients' conversions (6 and 16): (6·10 + 16·20)/22.
    assert round(pooled.timing["median_days_to_convert"], 6) == round((6 * 10 + 16 * 20) / 22, 6) == 17.272727
    assert pooled.timezones == {"leads_timezone_lead": 180, "client_timezone": None, "has_valid_client_timezone": True}

    def how(client: uuid.UUID, leads: int) -> HowInputs:
        paths = pd.DataFrame({"channel_path": ["email>linkedin"], "touches": [2], "distinct_channels": [2],
                              "first_channel": ["email"], "leads": [leads], "conversions": [2]})
        touches = pd.DataFrame({"touch_number": [1], "channel": ["email"], "channels_so_far": [1], "first_channel": ["email"],
                                "als_tier": ["hot"], "touches": [leads], "bookings": [1]})
        transitions = pd.DataFrame({"from_channel": ["email"], "to_channel": ["linkedin"], "transitions": [leads], "bookings": [1]})
        return HowInputs(client, leads, 2, paths, touches, transitions)

    pooled_how = pool_how_inputs([how(A, 30), how(B, 50)])
    assert (pooled_how.leads_with_outcome, pooled_how.conversions) == (80, 4)
    assert pooled_how.paths[["leads", "conversions"]].values.tolist() == [[80, 4]]
    assert pooled_how.transitions[["transitions", "bookings"]].values.tolist() == [[80, 2]]


# --- the prior -----------------------------------------------------------------------------------------

def test_agency_prior_mean_is_the_client_baseline_times_the_agency_lift_clipped() -> None:
    means = agency_prior_means(0.2, {"a": 0.15, "b": 0.05, "c": 0.6, "d": float("nan")}, 0.1)
    assert {k: round(v, 12) for k, v in means.items()} == {"a": 0.3, "b": 0.1, "c": 1.0}  # c: 1.2 clipped, d: unknown
    assert agency_prior_means(0.2, {"a": 0.15}, 0.0) == {}  # an agency without bookings says nothing
    with pytest.raises(ValueError):
        agency_prior_means(1.5, {"a": 0.1}, 0.1)


def test_rankings_shrink_each_category_toward_its_agency_prior() -> None:
    frame = pd.DataFrame({"category": ["a", "b"], "sample": [10, 40], "conversions": [2, 8]})
    plain = rank_categories(frame, category_col="category", baseline_rate=0.2)
    # Two categories: the fixed κ = 20. Without a prior both shrink toward 0.2: (2+4)/30 and (8+4)/60.
    assert plain.set_index("category")["shrunk_rate"].round(6).to_dict() == {"a": 0.2, "b": 0.2}
    prior = AgencyPrior(rates={"a": 0.15, "b": 0.05}, baseline=0.1)  # lifts 1.5 and 0.5 → means 0.3 and 0.1
    with_prior = rank_categories(frame, category_col="category", baseline_rate=0.2, agency_prior=prior)
    # (2 + 20·0.3)/30 = 0.266667, (8 + 20·0.1)/60 = 0.166667
    assert with_prior.set_index("category")["shrunk_rate"].round(6).to_dict() == {"a": 0.266667, "b": 0.166667}
    assert (with_prior.attrs["agency_prior_categories"], plain.attrs["agency_prior_categories"]) == (2, 0)
    assert with_prior["category"].tolist() == ["a", "b"]  # the ranking follows the shrunk rate
    # Everything else is the client's own data: rates, intervals, p- and q-values unchanged.
    pd.testing.assert_frame_equal(with_prior.drop(columns=["shrunk_rate", "rank"]).sort_values("category").reset_index(drop=True),
                                  plain.drop(columns=["shrunk_rate", "rank"]).sort_values("category").reset_index(drop=True))


def test_standardised_rate_takes_a_prior_mean_per_category() -> None:
    # One stratum: E = n·m, so m·(O + κ·p)/(E + κ·m) = (O + κ·p)/(n + κ). m = 12/50 = 0.24.
    conversions, sample = np.array([[2.0], [10.0]]), np.array([[10.0], [40.0]])
    rates = standardised_rate(conversions, sample, np.array([12.0]), np.array([50.0]), 20.0, np.array([0.3, 0.1]))
    assert np.round(rates, 6).tolist() == [round(8 / 30, 6), round(12 / 60, 6)]
    same = standardised_rate(conversions, sample, np.array([12.0]), np.array([50.0]), 20.0)
    assert np.allclose(same, standardised_rate(conversions, sample, np.array([12.0]), np.array([50.0]), 20.0, [0.24, 0.24]))


def test_the_who_prior_leaves_the_client_out_of_the_agency_counts() -> None:
    assert leave_one_out_rate(120, 23, 50, 11) == pytest.approx(12 / 70)
    assert leave_one_out_rate(50, 11, 50, 11) is None  # the agency is this client alone
    agency = detect_who(SUMMED, computed_at=COMPUTED_AT).patterns
    priors = who_agency_priors(agency, CLIENT_A)
    # The others (client B): baseline 12/70; saas 7/30; retail has no other client: no prior for it.
    assert priors["industry"].baseline == pytest.approx(12 / 70)
    assert {k: round(v, 6) for k, v in priors["industry"].rates.items()} == {"health": 0.125, "saas": 0.233333}
    assert priors["normalized_title"].rates == {"ceo": pytest.approx(6 / 25), "vp_sales": pytest.approx(6 / 45)}
    assert who_agency_priors(detect_who(CLIENT_A, computed_at=COMPUTED_AT).patterns, CLIENT_A) == {}
    assert who_agency_priors(None, CLIENT_A) == {}
    with_prior = detect_who(CLIENT_A, computed_at=COMPUTED_AT, agency_priors=priors).patterns
    without = detect_who(CLIENT_A, computed_at=COMPUTED_AT).patterns
    assert "shrinkage_prior" in with_prior and "shrinkage_prior" not in without
    saas = {p: next(e for e in x["industry_rankings"] if e["category"] == "saas") for p, x in (("with", with_prior), ("without", without))}
    assert saas["with"]["rate"] == saas["without"]["rate"] == 0.25
    assert saas["with"]["shrunk_rate"] > saas["without"]["shrunk_rate"]  # the others' saas lift (7/30)/(12/70) > 1


def test_the_when_and_how_priors_leave_the_client_out_too() -> None:
    agency_when = {"touch_hazard": [{"touch_number": 1, "leads_reached": 300, "bookings": 30},
                                    {"touch_number": 2, "leads_reached": 200, "bookings": 30}]}
    hazard = pd.DataFrame({"touch_number": [1, 2], "leads_reached": [100, 50], "bookings": [10, 5]})
    own_when = WhenInputs(A, 100, 150, 15, 0, hazard, pd.DataFrame(), pd.DataFrame())
    [when_prior] = when_agency_priors(agency_when, own_when).values()
    # Others: touch 1 20/200, touch 2 25/150; their per-touch rate (60 − 15)/(500 − 150).
    assert round(when_prior.baseline, 6) == round(45 / 350, 6) and when_prior.rates == {1: 0.1, 2: pytest.approx(25 / 150)}

    agency_how = {"sample_size": 100, "conversions": 20, "first_touch_effectiveness": {
        "email_first": {"channel": "email", "sample": 60, "conversions": 15},
        "linkedin_first": {"channel": "linkedin", "sample": 40, "conversions": 5}}}
    paths = pd.DataFrame({"channel_path": ["email", "linkedin"], "touches": [1, 1], "distinct_channels": [1, 1],
                          "first_channel": ["email", "linkedin"], "leads": [20, 10], "conversions": [5, 0]})
    own_how = HowInputs(A, 30, 5, paths, pd.DataFrame(), pd.DataFrame())
    [how_prior] = how_agency_priors(agency_how, own_how).values()
    assert how_prior.baseline == pytest.approx(15 / 70) and how_prior.rates == {"email": 0.25, "linkedin": pytest.approx(5 / 30)}


# --- the learning run and the API ------------------------------------------------------------------------

SMALL_SEED = 704  # one client, 30 leads: 3 bookings (measured: SynthSummary.conversions)


@dataclass
class World:
    url: str
    big: list[uuid.UUID]
    small: uuid.UUID
    client: object  # fastapi TestClient
    key_small: str
    key_big: str


@pytest.fixture(scope="module")
def world(module_db_url: str) -> World:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.keys import create_key
    from api.settings import ApiSettings
    from convintel.synth import generate
    from support import learn_all

    generate(module_db_url, clients=3, leads=1200, seed=61, as_of=COMPUTED_AT)
    summary = generate(module_db_url, clients=1, leads=30, seed=SMALL_SEED, as_of=COMPUTED_AT)
    assert summary.conversions == 3
    learn_all(module_db_url, shards=1)
    with psycopg.connect(module_db_url, autocommit=True) as conn:
        counts = dict(conn.execute("select client_id, conversions from analytics.fct_who_client_summary").fetchall())
        small = next(c for c, n in counts.items() if n == 3)
        big = sorted(c for c in counts if c != small)
        _, key_small = create_key(conn, client_ids=[small], name="small")
        _, key_big = create_key(conn, client_ids=[big[0]], name="big")
    client = TestClient(create_app(ApiSettings(database_url=module_db_url)))
    return World(module_db_url, big, small, client, key_small, key_big)


def _get(world: World, path: str, key: str, **headers):
    return world.client.get(path, headers={"Authorization": f"Bearer {key}", **headers})


@pytest.mark.slow
def test_the_agency_patterns_have_their_own_scope_and_no_fake_client(world: World) -> None:
    with psycopg.connect(world.url) as conn:
        agency = conn.execute("select pattern_type, clients_pooled, sample_size, patterns->>'scope' from agency_patterns "
                              "order by pattern_type").fetchall()
        history = conn.execute("select count(*) from agency_pattern_history").fetchone()[0]
        conn.execute("select set_config('app.client_ids', %s, false)", (",".join(map(str, [*world.big, world.small])),))
        stored_clients = {r[0] for r in conn.execute("select client_id from conversion_patterns")}
        real_clients = {r[0] for r in conn.execute("select id from clients")}
        who = {r[0]: r[1] for r in conn.execute("select client_id, patterns from conversion_patterns where pattern_type = 'who'")}
        served_when_how = {(r[0], r[1]): r[2] for r in conn.execute(
            "select client_id, pattern_type, patterns from conversion_patterns where pattern_type in ('when', 'how')")}
    assert [(t, n, s) for t, n, _, s in agency] == [(t, 4, "agency") for t in ("how", "what", "when", "who")]
    assert history == 4
    # Every stored client pattern belongs to a real client; the small client has none of its own.
    assert stored_clients == set(world.big) and stored_clients <= real_clients and AGENCY_ID not in real_clients
    # The big clients' rankings were shrunk toward the agency prior (the other clients pooled).
    assert all("shrinkage_prior" in who[c] for c in world.big)
    assert all("shrinkage_prior" in p for p in served_when_how.values())


@pytest.mark.slow
def test_a_client_with_3_conversions_gets_the_agency_patterns_flagged_as_such(world: World) -> None:
    small = _get(world, f"/patterns/{world.small}", world.key_small)
    assert small.status_code == 200
    served = small.json()["patterns"]
    assert {t: (p["scope"], p["clients_pooled"]) for t, p in served.items()} == {t: ("agency", 4) for t in ("who", "what", "when", "how")}
    one = _get(world, f"/patterns/{world.small}/who", world.key_small).json()
    assert (one["scope"], one["patterns"]["scope"], one["patterns"]["type"]) == ("agency", "agency", "who")

    big = _get(world, f"/patterns/{world.big[0]}", world.key_big).json()["patterns"]
    assert {p["scope"] for p in big.values()} == {"client"} and "clients_pooled" not in big["who"]

    score = world.client.post(f"/clients/{world.small}/score", headers={"Authorization": f"Bearer {world.key_small}"},
                              json={"components": {"data_quality": 10, "authority": 20, "company_fit": 15, "timing": 12}}).json()
    assert (score["weights_scope"], score["clients_pooled"]) == ("agency", 4) and "agency-wide" in score["reason"]
    assert score["who_confidence"] == pytest.approx(served["who"]["confidence"])
    big_score = world.client.post(f"/clients/{world.big[0]}/score", headers={"Authorization": f"Bearer {world.key_big}"},
                                  json={"components": {"data_quality": 10, "authority": 20, "company_fit": 15, "timing": 12}}).json()
    assert big_score["weights_scope"] == "client"

    plan = world.client.post(f"/clients/{world.small}/allocate", headers={"Authorization": f"Bearer {world.key_small}"},
                             json={"start_at": "2026-06-01T08:00:00Z"}).json()
    assert {plan[k]["scope"] for k in ("channels", "gaps", "send_times")} == {"agency"}

    # Tenant isolation unchanged: the small client's key reads the big client as not found.
    assert _get(world, f"/patterns/{world.big[0]}", world.key_small).status_code == 404


@pytest.mark.slow
def test_an_agency_pattern_change_changes_the_etag_of_the_clients_it_serves_only(world: World) -> None:
    small_before = _get(world, f"/patterns/{world.small}", world.key_small)
    big_before = _get(world, f"/patterns/{world.big[0]}", world.key_big)
    assert _get(world, f"/patterns/{world.small}", world.key_small,
                **{"If-None-Match": small_before.headers["etag"]}).status_code == 304
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("update agency_patterns set patterns = patterns || '{\"edited\": true}' where pattern_type = 'who'")
    eventually(lambda: _get(world, f"/patterns/{world.small}", world.key_small,
                            **{"If-None-Match": small_before.headers["etag"]}).status_code == 200)
    small_after = _get(world, f"/patterns/{world.small}", world.key_small, **{"If-None-Match": small_before.headers["etag"]})
    assert small_after.status_code == 200 and small_after.json()["patterns"]["who"]["patterns"]["edited"] is True
    big_after = _get(world, f"/patterns/{world.big[0]}", world.key_big)
    assert big_after.headers["etag"] == big_before.headers["etag"]  # served by its own patterns


@pytest.mark.slow
def test_agency_patterns_recompute_identically_on_unchanged_data(world: World) -> None:
    from dagster_pipelines.agency import compute_agency_patterns

    with psycopg.connect(world.url) as conn:
        stored = {t: (p, n, at) for t, p, n, at in conn.execute(
            "select pattern_type, patterns, clients_pooled, computed_at from agency_patterns where pattern_type <> 'who'")}
        [computed_at] = {at for _, _, at in stored.values()}
        again = compute_agency_patterns(conn, "analytics", list(reversed([*world.big, world.small])), computed_at)
    again = {a.pattern_type: a for a in again if a.pattern_type in stored}
    assert set(again) == set(stored)
    assert all(stored[t][0] == again[t].result.patterns and stored[t][1] == again[t].clients_pooled for t in stored)


@pytest.mark.slow
def test_the_agent_context_of_a_client_served_by_the_agency_says_so_in_the_api_and_the_cli(world: World) -> None:
    from api.context import build_context, read_stored

    served = _get(world, f"/patterns/{world.small}/context", world.key_small)
    assert served.status_code == 200
    consumers = served.json()["consumers"]
    assert {(c, s["pattern_type"], s["scope"]) for c, block in consumers.items() for s in block["sources"]} == {
        (c, s["pattern_type"], "agency") for c, block in consumers.items() for s in block["sources"]}
    assert all("scope agency" in block["text"] for block in consumers.values())
    # The CLI reads through the same served-scope rule (api/scopes.py) and prints the same text.
    with psycopg.connect(world.url) as conn:
        direct = build_context(read_stored(conn, world.small))
    assert {name: block["text"] for name, block in consumers.items()} == {name: b.text for name, b in direct.items()}
    big = _get(world, f"/patterns/{world.big[0]}/context", world.key_big).json()["consumers"]
    assert {s["scope"] for block in big.values() for s in block["sources"]} == {"client"}


@pytest.mark.slow
def test_convintel_learn_says_which_types_the_agency_serves_a_thin_client(world: World) -> None:
    from rich.console import Console

    from convintel.learn import print_summary

    console = Console(record=True, width=200)
    print_summary(console, world.url, [world.small, world.big[0]])
    text = console.export_text()
    assert text.count("no pattern stored (not enough data yet); served the agency-wide pattern (4 clients pooled)") == 4
    assert "WHO   confidence" in text  # the big client's own patterns are printed as before
