"""Business KPIs and learning health (issue 10 part 2, docs/kpis.md) on a hand-made world whose every
KPI is computed by hand below; weight convergence on hand-made history; the stored document through the
Dagster asset, the API (tenant auth, RLS) and the HTML report. One dbt build of the KPI marts per module.

The world (as_of 2024-06-30 00:00 UTC, stale after 30 days: last touch on or before 2024-05-31 00:00),
client K in UTC. Components are (data_quality, authority, company_fit, timing, risk); MID = (10,10,10,10,0).

Cohort 2024-W22 (Monday 2024-05-27):
  L1  e May27 10h, l May28 10h, e May29 10h, meeting_booked May30 10h   converted, 3.00 days, 3 touches  MID
  L2  e May28 10h, status converted at May28 16h                       converted, 0.25 days, 1 touch    MID
  L3  e May27, e May28, e May29 (10h), unsubscribed                     failed                           MID
  L4  e May28 10h                                                       stale                            MID
  L5  e May31, e Jun1, e Jun2 (10h), converted at Jun2 16h              converted, 2.25 days, 3 touches  MID
  L9  e May27, l May28, e May29 (11h), not_interested                   failed                           HOT (20,25,25,15,0)
  L10 e May27, e May28, e May29 (12h)                                   stale                            MID
  -> leads 7, with outcome 7, booked 3, failed 2, stale 2, in flight 0; booking rate 3/7;
     median days (0.25, 2.25, 3.00) = 2.25; touches to convert (3 + 1 + 3) / 3 = 7/3.
  Multi-channel (touches; strata touch_number:channel:first channel; channels so far):
     3:email:email  multi  L1 (booked), L9          a = 1, n1 = 2
                    single L3, L5 (booked), L10     c = 1, n0 = 3     N = 5, the only stratum with both
     RR_MH = (a·n0/N) / (c·n1/N) = (3/5) / (2/5) = 1.5
     Var(log RR) = (n1·n0·M1 − a·c·N)/N² / ((a·n0/N)(c·n1/N)) = (12 − 5)/25 / 0.24 = 7/6
     CMH: E = n1·M1/N = 0.8, |a − E| = 0.2 < 0.5 (no correction), V = n1·n0·M1·(N−M1)/(N²(N−1)) = 0.36,
          χ² = 0.04 / 0.36 = 1/9
     totals: multi 4 touches (L1 t2 t3, L9 t2 t3), 1 booking; single 13 touches, 2 bookings.
  Top quintile: weights in force on Monday May 27 = defaults (first shipped weights: Jun 2 02:00);
     round(7/5) = 1 lead: L9 (score 85, the others 40) -> 0 of 1.

Cohort 2024-W23 (Monday 2024-06-03):
  L6  e Jun3, s Jun5, e Jun7 (10h), converted at Jun9 10h   converted, 6.00 days, 3 touches  (10,25,5,5,0)
  L7  e Jun4 10h, dead                                      failed                           (20,5,25,15,0)
  L8  l Jun5 10h, e Jun25 10h                               in flight                        MID
  L11 e Jun4 11h, dead; L12 e Jun4 12h, bounced; L13 e Jun6 10h, not_interested   failed     (5,5,5,5,0)
  -> leads 6, with outcome 5, booked 1, failed 4, in flight 1; rate 1/5; median 6.0; touches 3.0.
  Multi-channel: L6's multi touches (2:sms:email, 3:email:email) meet no single-channel touch in their
     strata -> lift undefined (None, 0 strata); totals multi 2 touches / 1 booking, single 6 / 0
     (L8's last touch is left out: in flight).
  Top quintile under the learned weights shipped Jun 2 02:00, W_L = (0.05, 0.50, 0.15, 0.15):
     L6 = 2.5 + 50 + 3 + 5 = 60.5, L7 = 5 + 10 + 15 + 15 = 45, L11-13 = 19.25 -> top 1 = L6: 1 of 1
     (under the defaults L7 = 65 > L6 = 45 would give 0 of 1).

History of K (conversion_pattern_history):
  H1 who  May29 02h  n 5   conf 0.30  defaults, not shipped
  H2 who  Jun2  02h  n 7   conf 0.45  W_L shipped
  H3 when Jun2  02h  n 3   conf 0.20
  H4 who  Jun9  02h  n 12  conf 0.50  W_L2 = (0.07, 0.48, 0.15, 0.15) shipped (= clients.als_learned_weights)
  Pattern confidence W22: who 0.45 (H2, the latest WHO run that week), when 0.20; W23: who 0.50.
  Weights in force after each WHO run: defaults, W_L, W_L2; distance to W_L2: 0.18, 0.02, 0 ->
  converged from H2: 7 terminal outcomes, confirmed by H4; last change 0.02.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pandas as pd
import psycopg
import pytest
from psycopg.types.json import Jsonb
from scipy import stats

from detectors.kpi import weight_convergence
from support import dbt_or_fail

SCHEMA = "kpi_test"
AS_OF = "2024-06-30T00:00:00+00:00"
DBT_VARS = json.dumps({"as_of": AS_OF, "stale_after_days": 30})

CLIENT_K = uuid.UUID("c0000000-0000-0000-0000-000000000001")
CLIENT_O = uuid.UUID("c0000000-0000-0000-0000-000000000002")   # another tenant
MID = (10, 10, 10, 10, 0)
HOT = (20, 25, 25, 15, 0)
LOW = (5, 5, 5, 5, 0)
DEFAULTS = {"data_quality": 0.20, "authority": 0.25, "company_fit": 0.25, "timing": 0.15}
W_L = {"data_quality": 0.05, "authority": 0.50, "company_fit": 0.15, "timing": 0.15}
W_L2 = {"data_quality": 0.07, "authority": 0.48, "company_fit": 0.15, "timing": 0.15}

# lead: (client, status, converted_at, components, [(channel, action, created_at)])
LEADS = {
    1: (CLIENT_K, "in_sequence", None, MID, [("email", "email_sent", "2024-05-27T10:00Z"), ("linkedin", "linkedin_sent", "2024-05-28T10:00Z"),
                                           ("email", "email_sent", "2024-05-29T10:00Z"), ("email", "meeting_booked", "2024-05-30T10:00Z")]),
    2: (CLIENT_K, "converted", "2024-05-28T16:00Z", MID, [("email", "email_sent", "2024-05-28T10:00Z")]),
    3: (CLIENT_K, "unsubscribed", None, MID, [("email", "email_sent", f"2024-05-{d}T10:00Z") for d in (27, 28, 29)]),
    4: (CLIENT_K, "in_sequence", None, MID, [("email", "email_sent", "2024-05-28T10:00Z")]),
    5: (CLIENT_K, "converted", "2024-06-02T16:00Z", MID, [("email", "email_sent", t) for t in
                                                        ("2024-05-31T10:00Z", "2024-06-01T10:00Z", "2024-06-02T10:00Z")]),
    9: (CLIENT_K, "not_interested", None, HOT, [("email", "email_sent", "2024-05-27T11:00Z"), ("linkedin", "linkedin_sent", "2024-05-28T11:00Z"),
                                               ("email", "email_sent", "2024-05-29T11:00Z")]),
    10: (CLIENT_K, "in_sequence", None, MID, [("email", "email_sent", f"2024-05-{d}T12:00Z") for d in (27, 28, 29)]),
    6: (CLIENT_K, "converted", "2024-06-09T10:00Z", (10, 25, 5, 5, 0), [("email", "email_sent", "2024-06-03T10:00Z"),
                                                                       ("sms", "sms_sent", "2024-06-05T10:00Z"),
                                                                       ("email", "email_sent", "2024-06-07T10:00Z")]),
    7: (CLIENT_K, "dead", None, (20, 5, 25, 15, 0), [("email", "email_sent", "2024-06-04T10:00Z")]),
    8: (CLIENT_K, "in_sequence", None, MID, [("linkedin", "linkedin_sent", "2024-06-05T10:00Z"), ("email", "email_sent", "2024-06-25T10:00Z")]),
    11: (CLIENT_K, "dead", None, LOW, [("email", "email_sent", "2024-06-04T11:00Z")]),
    12: (CLIENT_K, "bounced", None, LOW, [("email", "email_sent", "2024-06-04T12:00Z")]),
    13: (CLIENT_K, "not_interested", None, LOW, [("email", "email_sent", "2024-06-06T10:00Z")]),
    20: (CLIENT_O, "converted", "2024-06-05T10:00Z", MID, [("email", "email_sent", "2024-06-04T10:00Z")]),
}

# (client, pattern type, computed_at, sample size, confidence, recommended weights or None, shipped)
HISTORY = [
    (CLIENT_K, "who", "2024-05-29T02:00Z", 5, 0.30, {**DEFAULTS, "source": "default"}, False),
    (CLIENT_K, "who", "2024-06-02T02:00Z", 7, 0.45, {**W_L, "source": "learned"}, True),
    (CLIENT_K, "when", "2024-06-02T02:00Z", 3, 0.20, None, False),
    (CLIENT_K, "who", "2024-06-09T02:00Z", 12, 0.50, {**W_L2, "source": "learned"}, True),
    # Malformed weights (a string): the run counts for confidence, its weights are ignored, nothing crashes.
    (CLIENT_O, "who", "2024-06-05T02:00Z", 1, 0.10, {**W_L, "authority": "high", "source": "learned"}, True),
]

pytestmark = pytest.mark.slow


def lead_id(n: int) -> uuid.UUID:
    return uuid.UUID(f"1ead0000-0000-0000-0000-{n:012d}")


def insert_world(url: str) -> None:
    components = ("data_quality", "authority", "company_fit", "timing", "risk")
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("insert into clients (id, name, timezone, created_at, als_learned_weights, als_weights_updated_at) values "
                     "(%s, 'Client K', 'UTC', '2024-01-01', %s, '2024-06-09T02:00Z'), (%s, 'Client O', 'UTC', '2024-01-01', null, null)",
                     (CLIENT_K, Jsonb(W_L2), CLIENT_O))
        number = 0
        for n, (client, status, converted_at, comps, activities) in LEADS.items():
            conn.execute("insert into leads (id, client_id, email, status, converted_at, als_components, created_at) "
                         "values (%s, %s, %s, %s, %s, %s, '2024-05-01')",
                         (lead_id(n), client, f"lead{n}@example.com", status, converted_at, Jsonb(dict(zip(components, comps)))))
            for channel, action, at in activities:
                number += 1
                conn.execute("insert into activities (id, lead_id, client_id, channel, action, subject, created_at) "
                             "values (%s, %s, %s, %s, %s, %s, %s)",
                             (uuid.UUID(int=number), lead_id(n), client, channel, action, f"subject {number}", at))
        conn.execute("select set_config('app.client_ids', %s, true)", (f"{CLIENT_K},{CLIENT_O}",))
        for client, pattern_type, at, sample, confidence, weights, shipped in HISTORY:
            patterns = {"type": pattern_type} if weights is None else {
                "type": "who", "recommended_weights": weights, "weights_validation": {"shipped": shipped}}
            conn.execute("insert into conversion_pattern_history (client_id, pattern_type, patterns, sample_size, confidence, "
                         "computed_at, run_id) values (%s, %s, %s, %s, %s, %s, %s)",
                         (client, pattern_type, Jsonb(patterns), sample, confidence, at, uuid.uuid4()))


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The hand-made world, the KPI marts built once, the KPI asset materialised once (stores client_kpis)."""
    from dagster import materialize

    from dagster_pipelines.assets.kpi import client_kpis
    from dagster_pipelines.resources import build_resources

    url = module_db_url
    insert_world(url)
    # The KPI marts, what they read and the KPI marts' own tests (not the upstream models' tests: their modules run them).
    dbt_or_fail(["build", "--select", "+path:models/marts/kpi", "+fct_how_touch_stats", "path:tests/kpi",
                 "--indirect-selection", "empty", "--vars", DBT_VARS], url, tmp_path_factory.mktemp("dbt_target"), SCHEMA)
    result = materialize([client_kpis], resources=build_resources(url, SCHEMA))
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    with psycopg.connect(url) as conn:
        conn.execute("select set_config('app.client_ids', %s, false)", (f"{CLIENT_K},{CLIENT_O}",))
        documents = {row[0]: row[1] for row in conn.execute("select client_id, kpis from client_kpis")}
    yield {"url": url, "documents": documents, "metadata": metadata}


def weeks_of(world: dict, client: uuid.UUID = CLIENT_K) -> dict[str, dict]:
    return {week["iso_week"]: week for week in world["documents"][client]["weeks"]}


def wilson(x: int, n: int, z: float = stats.norm.ppf(0.975)) -> tuple[float, float]:
    centre, half = (x + z * z / 2) / (n + z * z), z * math.sqrt(x * (n - x) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half


def test_weekly_outcomes_booking_rate_days_and_touches(world: dict) -> None:
    weeks = weeks_of(world)
    assert list(weeks) == ["2024-W22", "2024-W23"]
    w22, w23 = weeks["2024-W22"], weeks["2024-W23"]
    assert (w22["week_start"], w23["week_start"]) == ("2024-05-27", "2024-06-03")
    assert {k: w22[k] for k in ("leads", "leads_with_outcome", "conversions", "failed", "stale", "in_flight")} == \
        {"leads": 7, "leads_with_outcome": 7, "conversions": 3, "failed": 2, "stale": 2, "in_flight": 0}
    assert {k: w23[k] for k in ("leads", "leads_with_outcome", "conversions", "failed", "stale", "in_flight")} == \
        {"leads": 6, "leads_with_outcome": 5, "conversions": 1, "failed": 4, "stale": 0, "in_flight": 1}
    assert w23["share_resolved"] == pytest.approx(5 / 6, abs=1e-6)
    for week, (x, n) in ((w22, (3, 7)), (w23, (1, 5))):
        rate = week["booking_rate"]
        assert (rate["sample"], rate["conversions"]) == (n, x)
        assert rate["rate"] == pytest.approx(x / n, abs=1e-6)
        assert (rate["ci_low"], rate["ci_high"]) == pytest.approx(wilson(x, n), abs=1e-6)
    assert w22["median_days_to_convert"] == pytest.approx(2.25, abs=1e-9)
    assert w23["median_days_to_convert"] == pytest.approx(6.0, abs=1e-9)
    assert w22["avg_touches_to_convert"] == pytest.approx(7 / 3, abs=1e-6)
    assert w23["avg_touches_to_convert"] == pytest.approx(3.0, abs=1e-9)
    assert world["documents"][CLIENT_K]["as_of"].startswith("2024-06-30T00:00:00")


def test_multi_channel_lift_at_equal_exposure(world: dict) -> None:
    w22, w23 = weeks_of(world)["2024-W22"]["multi_channel_lift"], weeks_of(world)["2024-W23"]["multi_channel_lift"]
    margin = stats.norm.ppf(0.975) * math.sqrt(7 / 6)
    assert w22["lift"] == pytest.approx(1.5, abs=1e-6)
    assert (w22["ci_low"], w22["ci_high"]) == pytest.approx((1.5 * math.exp(-margin), 1.5 * math.exp(margin)), abs=1e-6)
    assert w22["p_value"] == pytest.approx(stats.chi2.sf(1 / 9, df=1), abs=1e-6)
    assert w22["strata_used"] == 1
    assert (w22["multi_touches"], w22["multi_bookings"], w22["single_touches"], w22["single_bookings"]) == (4, 1, 13, 2)
    assert (w23["lift"], w23["ci_low"], w23["ci_high"], w23["strata_used"]) == (None, None, None, 0)
    assert (w23["multi_touches"], w23["multi_bookings"], w23["single_touches"], w23["single_bookings"]) == (2, 1, 6, 0)


def test_top_quintile_under_the_weights_in_force_that_week(world: dict) -> None:
    weeks = weeks_of(world)
    w22, w23 = weeks["2024-W22"]["top_quintile"], weeks["2024-W23"]["top_quintile"]
    assert (w22["weights_source"], w22["weights"], w22["weights_shipped_at"]) == ("default", DEFAULTS, None)
    assert (w22["rate"], w22["sample"], w22["conversions"], w22["scored_leads"]) == (0.0, 1, 0.0, 7)
    assert w22["ci_low"] == 0.0 and w22["ci_high"] == pytest.approx(stats.beta.ppf(0.975, 0.5, 1.5), abs=1e-6)
    assert (w23["weights_source"], w23["weights"]) == ("learned", W_L)
    assert w23["weights_shipped_at"].startswith("2024-06-02T02:00:00")
    assert (w23["rate"], w23["sample"], w23["conversions"], w23["scored_leads"]) == (1.0, 1, 1.0, 5)
    assert weeks["2024-W23"]["weights_in_force"]["source"] == "learned"


def test_pattern_confidence_is_the_latest_run_of_the_week(world: dict) -> None:
    weeks = weeks_of(world)
    w22, w23 = weeks["2024-W22"]["pattern_confidence"], weeks["2024-W23"]["pattern_confidence"]
    assert (w22["who"]["confidence"], w22["who"]["sample_size"]) == (0.45, 7)
    assert (w22["when"]["confidence"], w22["what"], w22["how"]) == (0.2, None, None)
    assert (w23["who"]["confidence"], w23["who"]["sample_size"], w23["when"]) == (0.5, 12, None)


def test_learning_health_weight_convergence_from_the_history(world: dict) -> None:
    health = world["documents"][CLIENT_K]["learning_health"]
    stability = health["weight_stability"]
    assert (stability["runs"], stability["outcomes_to_converge"], stability["confirmed"]) == (3, 7, True)
    assert stability["converged_at"].startswith("2024-06-02T02:00:00")
    assert stability["latest_weights"] == W_L2 and stability["latest_weights_source"] == "learned"
    assert stability["max_abs_change_last_run"] == pytest.approx(0.02, abs=1e-9)
    assert (health["latest_confidence"]["who"]["confidence"], health["latest_confidence"]["who"]["runs"]) == (0.5, 3)
    other = world["documents"][CLIENT_O]["learning_health"]
    assert (other["weight_stability"]["runs"], other["weight_stability"]["outcomes_to_converge"]) == (0, None)
    assert other["latest_confidence"]["who"]["confidence"] == 0.1      # the malformed run still counts here
    assert weeks_of(world, CLIENT_O)["2024-W23"]["top_quintile"]["weights_source"] == "default"


def _runs(*rows: tuple[int, bool, tuple[float, float, float, float]]) -> pd.DataFrame:
    start = datetime(2024, 1, 7, 2, tzinfo=timezone.utc)
    return pd.DataFrame([
        {"computed_at": start + pd.Timedelta(weeks=i), "sample_size": n, "is_shipped": shipped,
         **dict(zip(("data_quality", "authority", "company_fit", "timing"), w))}
        for i, (n, shipped, w) in enumerate(rows)])


def test_weight_convergence_on_hand_made_histories() -> None:
    a, b, d = (0.10, 0.40, 0.20, 0.15), (0.30, 0.20, 0.20, 0.15), (0.10, 0.40, 0.20, 0.15)
    c = (0.15, 0.35, 0.20, 0.15)          # exactly 0.05 from d: within the tolerance
    # In force after each run: a, a (not shipped: a stays), b, c, d. Distances to d: 0, 0, 0.20, 0.05, 0.
    # a is close to d, but b in between breaks it: the earliest run from which ALL later runs stay close is c.
    result = weight_convergence(_runs((40, True, a), (60, False, b), (90, True, b), (120, True, c), (150, True, d)))
    assert (result["outcomes_to_converge"], result["confirmed"], result["runs"]) == (120, True, 5)
    assert result["max_abs_change_last_run"] == pytest.approx(0.05, abs=1e-9)
    # The unshipped run's own weights never count: runs in force a, a, a, a -> converged from the first.
    steady = weight_convergence(_runs((40, True, a), (60, False, b), (90, False, b), (120, True, a)))
    assert (steady["outcomes_to_converge"], steady["confirmed"]) == (40, True)
    moved = weight_convergence(_runs((40, True, a), (80, True, b)))
    assert (moved["outcomes_to_converge"], moved["confirmed"]) == (80, False)
    assert moved["status"].startswith("not converged yet")
    single = weight_convergence(_runs((40, True, a)))
    assert (single["outcomes_to_converge"], single["confirmed"], single["status"]) == (40, False, "one run only: convergence cannot be shown yet")
    never = weight_convergence(_runs((40, False, a), (80, False, b)))
    assert (never["outcomes_to_converge"], never["confirmed"], never["latest_weights_source"]) == (None, False, "default")
    assert "defaults" in never["status"]


def test_asset_metadata_lists_the_latest_week_and_learning_health(world: dict) -> None:
    metadata = world["metadata"]
    assert (metadata["clients"], metadata["clients_with_converged_weights"]) == (2, 1)
    table = metadata["latest_week_and_learning_health"]
    [row_k] = [line for line in table.splitlines() if line.startswith(f"| {CLIENT_K} ")]
    assert "| 2024-W23 | 1 / 5 (+1 in flight) | 20.0% (" in row_k and "| 7 outcomes |" in row_k and "(learned)" in row_k


def test_endpoint_serves_the_kpis_to_their_tenant_only(world: dict) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.keys import create_key
    from api.settings import ApiSettings

    with psycopg.connect(world["url"], autocommit=True) as conn:
        _, key_k = create_key(conn, client_ids=[CLIENT_K])
        _, key_o = create_key(conn, client_ids=[CLIENT_O])
    with TestClient(create_app(ApiSettings(database_url=world["url"]))) as client:
        response = client.get(f"/clients/{CLIENT_K}/kpis", headers={"Authorization": f"Bearer {key_k}"})
        assert response.status_code == 200
        body = response.json()
        assert [w["iso_week"] for w in body["weeks"]] == ["2024-W22", "2024-W23"]
        assert body["weeks"][0]["multi_channel_lift"]["lift"] == pytest.approx(1.5, abs=1e-6)
        assert body["weeks"][1]["top_quintile"]["weights_source"] == "learned"
        assert body["learning_health"]["weight_stability"]["outcomes_to_converge"] == 7
        # Another tenant's client reads as a client that does not exist.
        assert client.get(f"/clients/{CLIENT_O}/kpis", headers={"Authorization": f"Bearer {key_k}"}).status_code == 404
        assert client.get(f"/clients/{CLIENT_O}/kpis", headers={"Authorization": f"Bearer {key_o}"}).status_code == 200
        assert client.get(f"/clients/{CLIENT_K}/kpis").status_code == 401
        html = client.get(f"/clients/{CLIENT_K}/report", headers={"Authorization": f"Bearer {key_k}"}).text
    assert 'data-section="kpis"' in html
    assert 'data-week="2024-W22"' in html and 'data-week="2024-W23"' in html
    assert "42.9% (15.8%–75.0%)" in html                  # W22: 3/7 with its Wilson interval
    assert "1.50× (" in html and "converged at 7 terminal outcomes" in html
    assert html.count('data-key="kpi.week.') == 2


def test_kpis_table_is_tenant_isolated_for_the_app_role(world: dict) -> None:
    with psycopg.connect(world["url"]) as conn, conn.transaction():
        conn.execute("set local role convintel_app")
        conn.execute("select set_config('app.client_ids', %s, true)", (str(CLIENT_O),))
        assert [row[0] for row in conn.execute("select client_id from client_kpis")] == [CLIENT_O]


def test_the_learning_job_computes_the_kpis_after_the_pattern_store() -> None:
    from dagster import AssetKey

    from dagster_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    parents = graph.get(AssetKey("client_kpis")).parent_keys
    assert {AssetKey("conversion_patterns"), AssetKey("fct_kpi_weekly_outcomes"), AssetKey("fct_kpi_weekly_channel_touches"),
            AssetKey("fct_kpi_weekly_als_combinations")} <= parents
    assert graph.get(AssetKey("fct_kpi_weekly_outcomes")).is_materializable      # a dbt model, not an external key
    assert AssetKey("client_kpis") in defs.resolve_job_def("learning").asset_layer.asset_graph.get_all_asset_keys()


def test_report_section_says_plainly_when_no_kpis_were_computed() -> None:
    from convintel.report.data import ClientReport
    from convintel.report.render import render_report

    page = render_report(ClientReport(CLIENT_K, "Client <K>", datetime(2024, 6, 30, tzinfo=timezone.utc)))
    assert 'data-section="kpis"' in page and "No business KPIs computed for this client yet" in page
    assert '<a href="#kpis" class="off">' in page
