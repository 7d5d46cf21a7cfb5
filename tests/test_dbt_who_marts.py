"""The WHO marts (SPEC §7 who) against a real database: a small synthetic world plus a hand-made client
with known answers, one `dbt build` per module (seeds, models, data tests, unit tests).

Checks that the marts count exactly the converted/failed/stale leads of int_lead_outcomes, that every
title the synthetic world writes normalises to its own title group, that the timing signals are
measured at the first touch, and exact rows for the hand-made leads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal

import psycopg
import pytest
from psycopg.types.json import Jsonb

from convintel.synth import generate
from convintel.synth.catalog import TITLE_GROUPS
from support import dbt_or_fail

pytestmark = pytest.mark.slow

SCHEMA = "dbt_who_marts_test"
AS_OF = datetime(2025, 6, 30, tzinfo=timezone.utc)
DBT_VARS = json.dumps({"as_of": AS_OF.isoformat(), "stale_after_days": 30})
UTC = timezone.utc

CLIENT_H = "4a4d0000-0000-0000-0000-000000000001"


def lead_uuid(n: int) -> str:
    return f"4a4d1ead-0000-0000-0000-{n:012d}"


def act_uuid(n: int) -> str:
    return f"4a4dac70-0000-0000-0000-{n:012d}"


PERFECT_ALS = {"data_quality": 20, "authority": 25, "company_fit": 25, "timing": 15, "risk": 0}  # 85 hot
MIDDLE_ALS = {"data_quality": 16, "authority": 20, "company_fit": 15, "timing": 9, "risk": 5}      # 55 cool

# (n, title, seniority_level, industry, employees, hiring, funding, employment_start, status, converted_at, als)
HAND_MADE_LEADS = [
    # converted; funding exactly 12 months before the first touch (counts), role exactly 6 months (not new)
    (1, " Founder & CEO ", None, " Computer  Software ", 5, True, "2024-06-01", "2024-12-01",
     "converted", "2025-06-05T10:00:00Z", PERFECT_ALS),
    # failed (first touch 2025-05-01); own seniority wins; role one day inside 6 months (new); hiring unknown
    (2, "VP of Sales", "VP", None, 501, None, None, "2024-11-02", "bounced", None, MIDDLE_ALS),
    # stale (last touch 2025-04-01); no ALS snapshot
    (3, "Mktg Manager", None, "retail", 6, False, None, None, "in_sequence", None, None),
    # in flight (touched 2025-06-25): censored, not in the WHO marts
    (4, "Product Owner", None, "retail", 40, True, None, None, "in_sequence", None, PERFECT_ALS),
]

# (activity, lead, channel, action, created_at)
HAND_MADE_ACTIVITIES = [
    (101, 1, "email", "email_sent", "2025-06-01T09:00:00Z"),
    (102, 1, "email", "meeting_booked", "2025-06-05T10:00:00Z"),
    (201, 2, "email", "email_sent", "2025-05-01T09:00:00Z"),
    (202, 2, "email", "email_bounced", "2025-05-01T09:05:00Z"),
    (301, 3, "linkedin", "linkedin_sent", "2025-04-01T09:00:00Z"),
    (401, 4, "email", "email_sent", "2025-06-25T09:00:00Z"),
]


def insert_hand_made(url: str) -> None:
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(
            "insert into clients (id, name, timezone, created_at) values (%s, 'WHO hand-made', 'UTC', %s)",
            (CLIENT_H, "2024-01-01T00:00:00Z"),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into leads (id, client_id, email, title, seniority_level, organization_industry,"
                " organization_employee_count, organization_is_hiring, organization_latest_funding_date,"
                " employment_start_date, status, converted_at, als_components, created_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (lead_uuid(n), CLIENT_H, f"who{n}@example.com", title, seniority, industry, employees,
                     hiring, funding, started, status, converted_at, Jsonb(als) if als else None,
                     "2025-03-01T00:00:00Z")
                    for n, title, seniority, industry, employees, hiring, funding, started, status,
                    converted_at, als in HAND_MADE_LEADS
                ],
            )
            cur.executemany(
                "insert into activities (id, lead_id, client_id, channel, action, created_at)"
                " values (%s, %s, %s, %s, %s, %s)",
                [(act_uuid(a), lead_uuid(n), CLIENT_H, channel, action, at)
                 for a, n, channel, action, at in HAND_MADE_ACTIVITIES],
            )


@pytest.fixture(scope="module")
def built(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One database with a synthetic world and the hand-made client, built once for the module."""
    url = module_db_url
    target = tmp_path_factory.mktemp("dbt_who_target")
    summary = generate(url, clients=2, leads=1500, seed=3, as_of=AS_OF)
    insert_hand_made(url)
    result = dbt_or_fail(["build", "--select", "+path:models/marts/who", "--indirect-selection", "cautious", "--vars", DBT_VARS], url, target, SCHEMA)
    yield {"url": url, "summary": summary, "build": result}


def query(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        conn.execute(f"set search_path = {SCHEMA}")
        return conn.execute(sql, params).fetchall()


# -- the build ---------------------------------------------------------------------------------------

def test_build_passes_with_who_unit_tests_and_invariants(built: dict) -> None:
    out = built["build"].stdout
    assert "Completed successfully" in out and " ERROR=0 " in out and " SKIP=0 " in out
    for name in (
        "ut_lead_profiles_title_normalisation",
        "ut_lead_profiles_size_buckets_and_industry",
        "ut_lead_profiles_timing_signal_boundaries",
        "ut_who_dimension_stats_counts",
        "ut_who_component_combinations_keep_incomplete_leads",
        "ut_who_client_summary_counts",
        "assert_who_dimension_stats_sum_to_client_summary",
        "assert_who_component_combinations_sum_to_client_summary",
        "assert_who_leads_match_lead_outcomes",
    ):
        assert any(name in line and "PASS" in line for line in out.splitlines()), name


# -- totals ------------------------------------------------------------------------------------------

def test_marts_count_exactly_the_leads_with_a_final_outcome(built: dict) -> None:
    url = built["url"]
    outcomes = {
        (str(client), outcome): n
        for client, outcome, n in query(
            url, "select client_id, outcome, count(*) from int_lead_outcomes group by client_id, outcome")
    }
    clients = {client for client, _ in outcomes}
    summary = {
        str(r[0]): r[1:]
        for r in query(url, "select client_id, analysed_leads, leads_with_outcome, conversions, failed, stale,"
                            " in_flight, baseline_rate from fct_who_client_summary")
    }
    assert set(summary) == clients
    for client in clients:
        conv, failed, stale, in_flight = (outcomes.get((client, o), 0)
                                          for o in ("converted", "failed", "stale", "in_flight"))
        with_outcome = conv + failed + stale
        assert summary[client][:6] == (with_outcome + in_flight, with_outcome, conv, failed, stale, in_flight)
        assert summary[client][6] == pytest.approx(conv / with_outcome)

    who_leads = {
        (str(client), outcome): n
        for client, outcome, n in query(
            url, "select client_id, outcome, count(*) from fct_who_leads group by client_id, outcome")
    }
    assert who_leads == {key: n for key, n in outcomes.items() if key[1] != "in_flight"}

    # Every dimension and the component combinations sum to the client's leads and conversions.
    per_dimension = query(
        url, "select client_id, dimension, sum(leads), sum(conversions) from fct_who_dimension_stats"
             " group by client_id, dimension")
    assert len(per_dimension) == 8 * len(clients)
    for client, _, leads, conversions in per_dimension:
        assert (leads, conversions) == summary[str(client)][1:3]
    combos = query(url, "select client_id, sum(leads), sum(conversions) from fct_who_component_combinations"
                        " group by client_id")
    assert {str(c): (leads, conv) for c, leads, conv in combos} == {c: s[1:3] for c, s in summary.items()}

    # The synthetic world's own counts (its clients only).
    synth = built["summary"]
    totals = query(url, "select sum(conversions), sum(failed), sum(stale), sum(in_flight)"
                        " from fct_who_client_summary where client_id <> %s", CLIENT_H)
    assert totals == [(synth.conversions, synth.failures, synth.stale, synth.in_flight)]


# -- the synthetic world's titles and timing signals -------------------------------------------------------

def test_every_synthetic_title_normalises_to_its_title_group(built: dict) -> None:
    groups = {spelling.lower(): (g.key, g.seniority) for g in TITLE_GROUPS for spelling in g.spellings}
    rows = query(
        built["url"],
        "select title, normalized_title, seniority, seniority_source from int_lead_profiles where client_id <> %s",
        CLIENT_H,
    )
    assert len(rows) == built["summary"].leads
    wrong = [(title, got) for title, got, _, _ in rows if groups[title.strip().lower()][0] != got]
    assert not wrong, wrong[:10]
    assert all(got != "other" for _, got, _, _ in rows)
    # The lead's own seniority (96%) or, without it, the title's: both are the group's.
    assert all(seniority == groups[title.strip().lower()][1] for title, _, seniority, _ in rows)
    assert {source for *_, source in rows} == {"lead", "title"}
    # Every spelling occurs, so each pattern was exercised by the world.
    assert {title.strip().lower() for title, *_ in rows} == set(groups)


def test_timing_signals_are_measured_at_the_first_touch(built: dict) -> None:
    # The world draws new roles 5-170 days and other roles 200-3650 days before the first touch's
    # (UTC) day; recent funding 10-350 days, older funding 380-2000 days.
    rows = query(
        built["url"],
        "select is_new_role, days_in_role_at_first_touch, is_recently_funded, days_since_funding_at_first_touch"
        " from int_lead_profiles where client_id <> %s and signals_reference = 'first_touch'",
        CLIENT_H,
    )
    roles = [(new, days) for new, days, _, _ in rows if days is not None]
    assert roles and all(new == (5 <= days <= 170) for new, days in roles)
    assert all(5 <= days <= 170 or 200 <= days <= 3650 for _, days in roles)
    funded = [(f, days) for _, _, f, days in rows if days is not None]
    assert funded and all(f == (10 <= days <= 350) for f, days in funded)
    assert all(10 <= days <= 350 or 380 <= days <= 2000 for _, days in funded)


# -- exact values on the hand-made client -------------------------------------------------------------------

def test_hand_made_who_leads_exact(built: dict) -> None:
    rows = query(
        built["url"],
        "select lead_id, outcome, is_converted, normalized_title, seniority, seniority_source, industry,"
        " employee_count, size_bucket, is_new_role, is_hiring, has_hiring_data, is_recently_funded,"
        " data_quality, authority, company_fit, timing, risk, has_all_als_components, als_score_at_first_touch,"
        " als_tier, first_touch_at, booked_at, touches from fct_who_leads where client_id = %s order by lead_id",
        CLIENT_H,
    )
    got = {str(r[0]): r[1:] for r in rows}
    d = Decimal
    assert got == {
        lead_uuid(1): ("converted", True, "ceo", "c_suite", "title", "computer software", 5, "1-5",
                       False, True, True, True, d(20), d(25), d(25), d(15), d(0), True, 85, "hot",
                       datetime(2025, 6, 1, 9, tzinfo=UTC), datetime(2025, 6, 5, 10, tzinfo=UTC), 1),
        lead_uuid(2): ("failed", False, "vp_sales", "vp", "lead", "unknown", 501, "500+",
                       True, False, False, False, d(16), d(20), d(15), d(9), d(5), True, 55, "cool",
                       datetime(2025, 5, 1, 9, tzinfo=UTC), None, 1),
        lead_uuid(3): ("stale", False, "marketing_manager", "manager", "title", "retail", 6, "6-15",
                       False, False, True, False, None, None, None, None, None, False, None, "unknown",
                       datetime(2025, 4, 1, 9, tzinfo=UTC), None, 1),
    }


def test_hand_made_aggregates_exact(built: dict) -> None:
    url = built["url"]
    summary = query(
        url,
        "select analysed_leads, leads_with_outcome, conversions, failed, stale, in_flight, baseline_rate,"
        " leads_without_components, first_touch_min, first_touch_max from fct_who_client_summary"
        " where client_id = %s",
        CLIENT_H,
    )
    assert summary == [(4, 3, 1, 1, 1, 1, pytest.approx(1 / 3), 1,
                        datetime(2025, 4, 1, 9, tzinfo=UTC), datetime(2025, 6, 1, 9, tzinfo=UTC))]
    stats = {
        (dimension, category): (leads, conversions)
        for dimension, category, leads, conversions in query(
            url, "select dimension, category, leads, conversions from fct_who_dimension_stats where client_id = %s",
            CLIENT_H)
    }
    assert stats == {
        ("normalized_title", "ceo"): (1, 1),
        ("normalized_title", "vp_sales"): (1, 0),
        ("normalized_title", "marketing_manager"): (1, 0),
        ("seniority", "c_suite"): (1, 1),
        ("seniority", "vp"): (1, 0),
        ("seniority", "manager"): (1, 0),
        ("industry", "computer software"): (1, 1),
        ("industry", "unknown"): (1, 0),
        ("industry", "retail"): (1, 0),
        ("size_bucket", "1-5"): (1, 1),
        ("size_bucket", "500+"): (1, 0),
        ("size_bucket", "6-15"): (1, 0),
        ("is_new_role", "false"): (2, 1),
        ("is_new_role", "true"): (1, 0),
        ("is_hiring", "true"): (1, 1),
        ("is_hiring", "false"): (2, 0),
        ("is_recently_funded", "true"): (1, 1),
        ("is_recently_funded", "false"): (2, 0),
        ("als_tier", "hot"): (1, 1),
        ("als_tier", "cool"): (1, 0),
        ("als_tier", "unknown"): (1, 0),
    }
    combos = query(
        url,
        "select has_all_components, data_quality, authority, company_fit, timing, risk, leads, conversions"
        " from fct_who_component_combinations where client_id = %s order by has_all_components, risk",
        CLIENT_H,
    )
    d = Decimal
    assert combos == [
        (False, None, None, None, None, None, 1, 0),
        (True, d(20), d(25), d(25), d(15), d(0), 1, 1),
        (True, d(16), d(20), d(15), d(9), d(5), 1, 0),
    ]
    profile = query(
        url, "select signals_reference_date, days_in_role_at_first_touch, days_since_funding_at_first_touch"
             " from int_lead_profiles where lead_id = %s", lead_uuid(1))
    assert profile == [(date(2025, 6, 1), 182, 365)]
