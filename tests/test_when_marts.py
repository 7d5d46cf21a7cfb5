"""The WHEN marts (SPEC §4 local time and censoring, §7 when) on hand-made leads with known answers, one
`dbt build` per module (models, contracts, data tests, singular invariants), then the WHEN detector's
inputs loaded from them.

Client A (timezone Europe/Berlin):
  1  Australia/Sydney   Mon 2025-06-09 23:00Z = Tue 09:00 AEST; Thu 23:30Z = Fri 09:30; booked Sat 01:00Z
  2  america/new_york   Fri 2025-03-07 14:00Z = Fri 09:00 EST; Mon 2025-03-10 13:00Z = Mon 09:00 EDT
                        (DST began Sun 2025-03-09: same local hour from different UTC hours); bounced
  3  'Mars/Olympus'     invalid -> client zone: Mon 2025-06-23 07:00Z = Mon 09:00 CEST; in flight
  4  NULL               missing -> client zone: Tue 2025-06-24 07:00Z = Tue 09:00 CEST; in flight
  6  UTC                touches May 1, 3, 7 10:00Z, booked May 8 10:00Z, one touch after (cut)
Client B (timezone 'Nowhere/Land', invalid):
  5  '  '               blank -> client zone invalid -> UTC: Wed 2025-06-25 07:00Z = Wed 07:00 UTC; in flight
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

import psycopg
import pytest

from dagster_pipelines.marts.when import load_when_inputs
from detectors.when import detect_when
from support import dbt_or_fail

pytestmark = pytest.mark.slow

SCHEMA = "dbt_when_marts_test"
AS_OF = datetime(2025, 6, 30, tzinfo=timezone.utc)
DBT_VARS = json.dumps({"as_of": AS_OF.isoformat(), "stale_after_days": 30})

# The WHEN marts, everything upstream and the data-quality report; tests that also need an unselected
# model (e.g. the WHO marts) are left out (cautious), the rest of the graph is not built.
WHEN_SELECTION = ["--select", "+path:models/marts/when+", "+fct_data_quality_exclusions",
                  "--indirect-selection", "cautious"]

CLIENT_A = "5e5e0000-0000-0000-0000-00000000000a"
CLIENT_B = "5e5e0000-0000-0000-0000-00000000000b"


def lead_uuid(n: int) -> str:
    return f"5e5e1ead-0000-0000-0000-{n:012d}"


def act_uuid(n: int) -> str:
    return f"5e5eac70-0000-0000-0000-{n:012d}"


# (n, client, timezone, status, converted_at)
LEADS = [
    (1, CLIENT_A, "Australia/Sydney", "converted", "2025-06-14T01:00:00Z"),
    (2, CLIENT_A, "america/new_york", "bounced", None),
    (3, CLIENT_A, "Mars/Olympus", "in_sequence", None),
    (4, CLIENT_A, None, "in_sequence", None),
    (5, CLIENT_B, "  ", "in_sequence", None),
    (6, CLIENT_A, "UTC", "converted", "2025-05-08T10:00:00Z"),
]
# (activity, lead, channel, action, created_at)
ACTIVITIES = [
    (101, 1, "email", "email_sent", "2025-06-09T23:00:00Z"),
    (102, 1, "email", "email_sent", "2025-06-12T23:30:00Z"),
    (103, 1, "email", "meeting_booked", "2025-06-14T01:00:00Z"),
    (201, 2, "email", "email_sent", "2025-03-07T14:00:00Z"),
    (202, 2, "email", "email_sent", "2025-03-10T13:00:00Z"),
    (301, 3, "email", "email_sent", "2025-06-23T07:00:00Z"),
    (401, 4, "email", "email_sent", "2025-06-24T07:00:00Z"),
    (501, 5, "email", "email_sent", "2025-06-25T07:00:00Z"),
    (601, 6, "email", "email_sent", "2025-05-01T10:00:00Z"),
    (602, 6, "linkedin", "linkedin_sent", "2025-05-03T10:00:00Z"),
    (603, 6, "email", "email_sent", "2025-05-07T10:00:00Z"),
    (604, 6, "email", "meeting_booked", "2025-05-08T10:00:00Z"),
    (605, 6, "email", "email_sent", "2025-05-09T10:00:00Z"),
]


def insert_hand_made(url: str) -> None:
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("insert into clients (id, name, timezone, created_at) values"
                     " (%s, 'WHEN A', 'Europe/Berlin', '2024-01-01'), (%s, 'WHEN B', 'Nowhere/Land', '2024-01-01')",
                     (CLIENT_A, CLIENT_B))
        with conn.cursor() as cur:
            cur.executemany(
                "insert into leads (id, client_id, email, timezone, status, converted_at, created_at)"
                " values (%s, %s, %s, %s, %s, %s, '2025-01-01T00:00:00Z')",
                [(lead_uuid(n), client, f"when{n}@example.com", tz, status, converted)
                 for n, client, tz, status, converted in LEADS])
            cur.executemany(
                "insert into activities (id, lead_id, client_id, channel, action, created_at)"
                " values (%s, %s, %s, %s, %s, %s)",
                [(act_uuid(a), lead_uuid(n), next(c for m, c, *_ in LEADS if m == n), channel, action, at)
                 for a, n, channel, action, at in ACTIVITIES])


@pytest.fixture(scope="module")
def built(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    url = module_db_url
    insert_hand_made(url)
    result = dbt_or_fail(["build", "--vars", DBT_VARS, *WHEN_SELECTION], url,
                         tmp_path_factory.mktemp("dbt_when_target"), SCHEMA)
    yield {"url": url, "build": result}


def query(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        conn.execute(f"set search_path = {SCHEMA}")
        return conn.execute(sql, params).fetchall()


def test_build_passes_with_when_invariants(built: dict) -> None:
    out = built["build"].stdout
    assert "Completed successfully" in out and " ERROR=0 " in out and " SKIP=0 " in out
    for name in ("assert_when_hazard_matches_client_summary", "assert_when_slot_stats_sum_to_client_summary",
                 "assert_when_gaps_match_converted_sequences", "ut_when_touch_hazard_risk_sets",
                 "ut_when_slot_stats_partition_touches"):
        assert any(name in line and "PASS" in line for line in out.splitlines()), name


def test_local_day_and_hour_in_the_leads_timezone_with_fallbacks(built: dict) -> None:
    rows = query(built["url"],
                 "select touch_id::text, touch_number, local_day_of_week, local_hour, effective_timezone, timezone_source"
                 " from fct_when_touches order by touch_id")
    got = {r[0]: r[1:] for r in rows}
    assert got == {
        # Sydney: Monday 23:00 UTC is Tuesday 09:00 local (not Monday 22:00 or 23:00), then Friday 09:30.
        act_uuid(101): (1, 1, 9, "Australia/Sydney", "lead"),
        act_uuid(102): (2, 4, 9, "Australia/Sydney", "lead"),
        # New York across the DST change: 14:00Z (EST) and 13:00Z (EDT) are both 09:00 local.
        act_uuid(201): (1, 4, 9, "America/New_York", "lead"),
        act_uuid(202): (2, 0, 9, "America/New_York", "lead"),
        # Invalid and missing lead zones fall back to the client's zone (CEST in June).
        act_uuid(301): (1, 0, 9, "Europe/Berlin", "client"),
        act_uuid(401): (1, 1, 9, "Europe/Berlin", "client"),
        # Blank lead zone and invalid client zone: UTC.
        act_uuid(501): (1, 2, 7, "UTC", "default"),
        act_uuid(601): (1, 3, 10, "UTC", "lead"),
        act_uuid(602): (2, 5, 10, "UTC", "lead"),
        act_uuid(603): (3, 2, 10, "UTC", "lead"),
        # 605 is after lead 6's booking: cut.
    }


def test_fallbacks_are_counted(built: dict) -> None:
    summary = {str(r[0]): r[1:] for r in query(
        built["url"],
        "select client_id, time_basis, client_timezone, has_valid_client_timezone, leads_timezone_lead,"
        " leads_timezone_client, leads_timezone_default, leads_missing_timezone, leads_invalid_timezone"
        " from fct_when_client_summary")}
    assert summary == {
        CLIENT_A: ("lead_local", "Europe/Berlin", True, 3, 2, 0, 1, 1),
        CLIENT_B: ("lead_local", None, False, 0, 0, 1, 1, 0),
    }
    exclusions = query(built["url"], "select client_id::text, reason, row_count from fct_data_quality_exclusions"
                                     " where reason like 'invalid_%%timezone' order by client_id")
    assert exclusions == [(CLIENT_A, "invalid_lead_timezone", 1), (CLIENT_B, "invalid_client_timezone", 1)]


def test_hazard_censoring_gaps_and_durations(built: dict) -> None:
    url = built["url"]
    hazard = query(url, "select touch_number, leads_reached, bookings, censored_after, failed_after, stale_after"
                        " from fct_when_touch_hazard where client_id = %s order by touch_number", CLIENT_A)
    # Touch 1: all five touched leads (the two in flight are censored after it); touch 2: leads 1, 2, 6.
    assert hazard == [(1, 5, 0, 2, 0, 0), (2, 3, 1, 0, 1, 0), (3, 1, 1, 0, 0, 0)]
    gaps = query(url, "select gap_number, sequences, round(median_days::numeric, 6), round(mean_days::numeric, 6)"
                      " from fct_when_sequence_gaps where client_id = %s order by gap_number", CLIENT_A)
    # Gap 1 of the converted leads: 3 d 0.5 h (lead 1) and 2 d (lead 6); gap 2: 4 d (lead 6). Lead 2 failed.
    assert [tuple(float(v) for v in row) for row in gaps] == [(1, 2, 2.510417, 2.510417), (2, 1, 4.0, 4.0)]
    timing = query(url, "select touched_leads, touches, conversions, in_flight, failed,"
                        " round(avg_days_to_convert::numeric, 6), round(median_days_to_convert::numeric, 6),"
                        " round(p80_days_to_convert::numeric, 6), round(p95_days_to_convert::numeric, 6)"
                        " from fct_when_client_summary where client_id = %s", CLIENT_A)
    # From the FIRST touch: lead 1 4 d 2 h = 4.083333 d, lead 6 7 d (its last touch was 1 d before booking).
    assert [tuple(float(v) for v in row) for row in timing] == [
        (5, 9, 2, 2, 1, 5.541667, 5.541667, 6.416667, 6.854167)]
    leads = query(url, "select lead_id::text, touch_count, converting_touch_number, is_censored from fct_when_leads"
                       " where client_id = %s order by lead_id", CLIENT_A)
    assert leads == [(lead_uuid(1), 2, 2, False), (lead_uuid(2), 2, None, False), (lead_uuid(3), 1, None, True),
                     (lead_uuid(4), 1, None, True), (lead_uuid(6), 3, 3, False)]


def test_loader_hands_the_detector_counts(built: dict) -> None:
    with psycopg.connect(built["url"]) as conn:
        inputs = {str(i.client_id): i for i in load_when_inputs(conn, SCHEMA)}
    a = inputs[CLIENT_A]
    assert (a.touched_leads, a.touches, a.conversions, a.in_flight) == (5, 9, 2, 2)
    assert a.hazard["bookings"].tolist() == [0, 1, 1]
    assert a.slot_stats.groupby("dimension")["touches"].sum().to_dict() == {"day": 9, "hour": 9}
    assert a.timezones == {"leads_timezone_lead": 3, "leads_timezone_client": 2, "leads_timezone_default": 0,
                           "leads_missing_timezone": 1, "leads_invalid_timezone": 1, "client_timezone": "Europe/Berlin",
                           "has_valid_client_timezone": True}
    assert inputs[CLIENT_B].timezones["client_timezone"] is None
    assert a.timing["median_days_to_convert"] == pytest.approx(5.541667, abs=1e-6)
    result = detect_when(a, computed_at=AS_OF)
    assert result.patterns is None and result.gate_reason == "not enough data: 2 conversions (needs 5)"
