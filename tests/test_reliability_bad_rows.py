"""Bad source rows in a learned world (SPEC §11, issue 11 part 2): every case planted by hand into the
clients of a synthetic world, then the learning run completes, counts each case under its reason and
reports the counts, and the patterns of the clean rows equal those of the same world without the bad
rows (nothing lost, nothing leaked in). The same module then learns a third time, unchanged data,
while the API serves GET /patterns, /score and /allocate under sustained concurrent load: zero server
or connection errors, never another tenant's data, and identical patterns with one history row per run.

One world, three learning runs: clean, with the bad rows, and the detectors and store again on
unchanged data (under load).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from convintel.synth import generate
from support import learn_all, run_metadata, serve_api, stored_patterns

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
FUTURE = datetime(2035, 1, 1, tzinfo=timezone.utc)  # after any analysis instant of this suite
SCHEMA = "analytics"

# What each planted case must add to fct_data_quality_exclusions: (client, source table, reason) -> rows.
# "a" is the client the rows are planted into; "b" gets the activity whose lead belongs to "a"
# (counted under the activity's own client_id). Clients b and c have timezone 'UTC' in the clean world,
# so their blank / invalid timezone falls back to the same zone.
EXPECTED_EXCLUSIONS: dict[tuple[str, str, str], int] = {
    ("a", "activities", "null_lead_id"): 2,             # lead_id NULL (one also without created_at)
    ("a", "activities", "lead_not_found"): 1,           # lead_id of no lead (the platform has no FK)
    ("a", "activities", "lead_excluded"): 5,            # 2 of the deleted lead, 1 of the future lead,
                                                        # 2 of the converted lead without a booking time
    ("b", "activities", "lead_client_mismatch"): 1,     # client b's activity on a lead of client a
    ("a", "activities", "null_created_at"): 1,
    ("a", "activities", "unknown_channel"): 3,          # 'fax', NULL, '  Carrier Pigeon '
    ("a", "activities", "unknown_action"): 2,           # 'email_teleported', NULL
    ("a", "activities", "channel_action_mismatch"): 1,  # email_sent on sms
    ("a", "activities", "future_activity"): 1,          # dated 2035
    ("a", "activities", "duplicate_activity"): 3,       # exact copies of a touch and of a booking event,
                                                        # and a copy spelled ' EMAIL ' / 'Email_Sent '
    ("a", "activities", "touch_at_or_after_booking"): 2,  # touches of a converted lead at / after booking
    ("a", "activities", "snapshot_not_object"): 4,      # array, string, number, JSON null (kept rows)
    ("a", "leads", "lead_deleted"): 1,
    ("a", "leads", "future_lead"): 1,
    ("a", "leads", "converted_without_booking_time"): 1,  # status converted, no converted_at, no booking
    ("a", "leads", "invalid_lead_timezone"): 2,         # 'Mars/Olympus_Mons', 'GMT+99' (a blank one: not
                                                        # counted, it is simply missing)
    ("a", "leads", "unknown_lead_status"): 1,           # 'Zombie' on an open lead
    ("a", "leads", "invalid_als_components"): 1,        # a JSON array
    ("b", "clients", "invalid_client_timezone"): 1,     # '   '
    ("c", "clients", "invalid_client_timezone"): 1,     # 'Not/AZone'
}
# Touches whose content now comes from subject/content_preview instead of the snapshot (same text):
# the four non-object snapshots, an object snapshot without subject/body, and a missing (NULL) one.
SNAPSHOT_FALLBACKS = {"not_object": 4, "object_without_text": 1, "missing": 1}
LEADS_INVALID_TIMEZONE = 2


@dataclass
class Runs:
    url: str
    clients: dict[str, uuid.UUID]
    clean: dict              # stored patterns after the clean run
    dirty: dict              # ... after the run with the bad rows
    clean_exclusions: dict   # fct_data_quality_exclusions after each run
    dirty_exclusions: dict
    dirty_metadata: dict     # conversion_patterns asset metadata of the run with the bad rows
    dirty_run_id: str
    state: Path


def _exclusions(conn: psycopg.Connection, names: dict[uuid.UUID, str]) -> dict[tuple[str, str, str], int]:
    rows = conn.execute(f"select client_id, source_table, reason, row_count from {SCHEMA}.fct_data_quality_exclusions")
    return {(names[c], t, r): n for c, t, r, n in rows}


def _one(conn: psycopg.Connection, sql: str, *params):
    row = conn.execute(sql, params).fetchone()
    assert row is not None, f"the world has no row for: {sql}"
    return row


def plant_bad_rows(conn: psycopg.Connection, a: uuid.UUID, b: uuid.UUID, c: uuid.UUID) -> None:
    """Every SPEC §11 case, by hand, into clients a/b/c of the learned world (see EXPECTED_EXCLUSIONS).
    Rows are added, or changed only in ways whose corrected reading equals the clean one."""
    campaign = _one(conn, "select id from campaigns where client_id = %s order by id", a)[0]
    # An open, touched lead of a (its activities carry the junk), and another for status 'Zombie'.
    open_leads = [r[0] for r in conn.execute(
        f"select lead_id from {SCHEMA}.fct_when_leads w join leads l on l.id = w.lead_id "
        "where w.client_id = %s and l.status = 'in_sequence' order by lead_id limit 2", (a,))]
    lead, zombie = open_leads
    conn.execute("update leads set status = 'Zombie' where id = %s", (zombie,))
    # Touched leads without a timezone (local time from the client's): invalid names fall back the same way.
    no_tz = [r[0] for r in conn.execute(
        f"select lead_id from {SCHEMA}.fct_when_leads w join leads l on l.id = w.lead_id "
        "where w.client_id = %s and l.timezone is null order by lead_id limit 3", (a,))]
    for lead_id, tz in zip(no_tz, ["Mars/Olympus_Mons", "GMT+99", "   "]):
        conn.execute("update leads set timezone = %s where id = %s", (tz, lead_id))
    conn.execute("update clients set timezone = '   ' where id = %s", (b,))
    conn.execute("update clients set timezone = 'Not/AZone' where id = %s", (c,))

    # Snapshots: analysed touches whose snapshot text equals the columns (body <= 200 characters).
    touches = [r[0] for r in conn.execute(
        f"select t.touch_id from {SCHEMA}.fct_what_touches t join activities x on x.id = t.touch_id "
        "where t.client_id = %s and t.what_status = 'analysed' and t.content_source = 'snapshot' "
        "and x.content_snapshot->>'body' = x.content_preview "
        "and x.content_snapshot->>'subject' is not distinct from x.subject order by t.touch_id limit 6", (a,))]
    for touch, snapshot in zip(touches, [Jsonb([1, 2]), Jsonb("just a string"), Jsonb(42), Jsonb(None),
                                         Jsonb({"note": "no subject, no body"}), None]):
        conn.execute("update activities set content_snapshot = %s where id = %s", (snapshot, touch))

    def day(days: float) -> datetime:
        return AS_OF - timedelta(days=days)

    def activity(lead_id, channel, action, at, *, client=a, subject="Planted", preview=None) -> None:
        conn.execute("insert into activities (client_id, campaign_id, lead_id, channel, action, subject, "
                     "content_preview, created_at) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                     (client, campaign, lead_id, channel, action, subject, preview, at))

    def new_lead(key: str, status: str, created_at: datetime, **columns) -> uuid.UUID:
        names = ["client_id", "campaign_id", "email", "status", "created_at", *columns]
        values = [a, campaign, f"{key}@planted.invalid", status, created_at, *columns.values()]
        return conn.execute(f"insert into leads ({', '.join(names)}) values ({', '.join(['%s'] * len(names))}) "
                            "returning id", values).fetchone()[0]

    # The platform's database has no foreign key from activities to leads: drop this copy's.
    conn.execute("alter table activities drop constraint activities_lead_id_fkey")
    activity(None, "email", "email_sent", day(20))
    activity(None, "email", "email_sent", None)
    activity(uuid.uuid4(), "email", "email_sent", day(20))
    activity(lead, "email", "email_sent", day(20), client=b)
    activity(lead, "email", "email_sent", None)
    activity(lead, "fax", "fax_sent", day(19))
    activity(lead, None, "email_sent", day(19))
    activity(lead, "  Carrier Pigeon ", "email_sent", day(19))
    activity(lead, "email", "email_teleported", day(18))
    activity(lead, "sms", None, day(18))
    activity(lead, "sms", "email_sent", day(18))
    activity(lead, "email", "email_sent", FUTURE)

    # Duplicates: an email touch of an unconverted lead and a booking event, copied with new ids.
    copy = ("insert into activities (client_id, campaign_id, lead_id, channel, action, sequence_step, subject, "
            "content_preview, metadata, created_at, led_to_booking, content_snapshot) select client_id, campaign_id, "
            "lead_id, {channel}, {action}, sequence_step, subject, content_preview, metadata, created_at, "
            "led_to_booking, content_snapshot from activities where id = %s")
    touch = _one(conn, "select x.id from activities x join leads l on l.id = x.lead_id where x.client_id = %s "
                 "and x.action = 'email_sent' and l.status <> 'converted' order by x.id", a)[0]
    booking = _one(conn, "select id from activities where client_id = %s and action = 'meeting_booked' order by id", a)[0]
    conn.execute(copy.format(channel="channel", action="action"), (touch,))
    conn.execute(copy.format(channel="' EMAIL '", action="'Email_Sent '"), (touch,))
    conn.execute(copy.format(channel="channel", action="action"), (booking,))

    converted, booked_at = _one(conn, "select id, converted_at from leads where client_id = %s and status = 'converted' "
                                      "order by id", a)
    activity(converted, "email", "email_sent", booked_at)
    activity(converted, "sms", "sms_sent", booked_at + timedelta(days=1))

    deleted = new_lead("deleted", "in_sequence", day(60), deleted_at=day(5))
    activity(deleted, "email", "email_sent", day(40))
    activity(deleted, "email", "meeting_booked", day(35))
    future = new_lead("future", "new", FUTURE)
    activity(future, "email", "email_sent", FUTURE + timedelta(days=1))
    # The store's trigger fills converted_at of converted leads; the platform's database has none.
    conn.execute("alter table leads disable trigger convintel_leads_set_converted_at")
    unplaced = new_lead("unplaced", "converted", day(60))
    conn.execute("alter table leads enable trigger convintel_leads_set_converted_at")
    activity(unplaced, "email", "email_sent", day(50))
    activity(unplaced, "email", "email_sent", day(45))
    # Created after the last activity of the world and never touched: in flight, in no analysis.
    new_lead("bad_als", "new", datetime.now(timezone.utc) - timedelta(days=1), als_components=Jsonb([1, 2, 3]))


@pytest.fixture(scope="module")
def runs(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    url = module_db_url
    generate(url, clients=3, leads=1800, seed=61, as_of=AS_OF)
    with psycopg.connect(url, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("select id from clients order by id")]
        clients = dict(zip("abc", ids))
        names = {v: k for k, v in clients.items()}
        # Clients b and c in UTC, so that their blank / invalid timezone later reads the same.
        conn.execute("update clients set timezone = 'UTC' where id = any(%s)", ([clients["b"], clients["c"]],))
    learn_all(url)
    with psycopg.connect(url, autocommit=True) as conn:
        clean = stored_patterns(conn, ids)
        clean_exclusions = _exclusions(conn, names)
        with conn.transaction():
            plant_bad_rows(conn, clients["a"], clients["b"], clients["c"])
    dirty_result = learn_all(url)
    with psycopg.connect(url, autocommit=True) as conn:
        dirty = stored_patterns(conn, ids)
        dirty_exclusions = _exclusions(conn, names)
    yield Runs(url, clients, clean, dirty, clean_exclusions, dirty_exclusions,
               run_metadata(dirty_result, "conversion_patterns"), dirty_result.run_id,
               tmp_path_factory.mktemp("reliability-api"))


def test_every_planted_case_is_counted_under_its_reason(runs: Runs) -> None:
    added = {key: runs.dirty_exclusions.get(key, 0) - runs.clean_exclusions.get(key, 0)
             for key in {*runs.dirty_exclusions, *runs.clean_exclusions}}
    assert {key: n for key, n in added.items() if n} == EXPECTED_EXCLUSIONS


def test_the_run_reports_the_counts_in_the_store_metadata(runs: Runs) -> None:
    total = sum(runs.dirty_exclusions.values())
    assert runs.dirty_metadata["excluded_rows"] == total == sum(runs.clean_exclusions.values()) + sum(EXPECTED_EXCLUSIONS.values())
    reported = {}
    for line in str(runs.dirty_metadata["exclusions_by_reason"]).splitlines()[2:]:
        table, reason, _disposition, rows = [cell.strip() for cell in line.strip("|").split("|")]
        reported[(table, reason)] = int(rows.replace(",", ""))
    summed: Counter = Counter()
    for (_client, table, reason), n in runs.dirty_exclusions.items():
        summed[(table, reason)] += n
    assert reported == dict(summed)
    assert {(table, reason) for _c, table, reason in EXPECTED_EXCLUSIONS} <= set(reported)


def _without(patterns: dict, pattern_type: str) -> dict:
    """A stored pattern without the counted fallbacks the bad rows change on purpose."""
    dropped = {"what": "exclusions", "when": "timezone_fallbacks"}.get(pattern_type)
    return {k: v for k, v in patterns.items() if k != dropped}


def test_the_clean_rows_patterns_equal_those_of_the_world_without_the_bad_rows(runs: Runs) -> None:
    assert set(runs.dirty) == set(runs.clean) and len(runs.clean) == 12  # 3 clients x 4 types, all stored
    for (client, pattern_type), (patterns, sample, confidence) in runs.clean.items():
        dirty_patterns, dirty_sample, dirty_confidence = runs.dirty[(client, pattern_type)]
        assert (_without(dirty_patterns, pattern_type), dirty_sample, dirty_confidence) == (
            _without(patterns, pattern_type), sample, confidence), (client, pattern_type)


def test_what_and_when_count_their_fallbacks(runs: Runs) -> None:
    a, b, c = (runs.clients[k] for k in "abc")
    clean_what, dirty_what = runs.clean[(a, "what")][0]["exclusions"], runs.dirty[(a, "what")][0]["exclusions"]
    moved = sum(SNAPSHOT_FALLBACKS.values())
    assert {key: dirty_what[key] - clean_what[key] for key in clean_what} == {
        **{key: 0 for key in clean_what},
        "snapshot_ignored_touches": SNAPSHOT_FALLBACKS["not_object"],
        "content_from_snapshot": -moved,
        "content_from_columns": moved,
    }
    for client in (b, c):
        assert runs.clean[(client, "what")][0]["exclusions"] == runs.dirty[(client, "what")][0]["exclusions"]

    def fallbacks(client) -> tuple[dict, dict]:
        return runs.clean[(client, "when")][0]["timezone_fallbacks"], runs.dirty[(client, "when")][0]["timezone_fallbacks"]

    clean_a, dirty_a = fallbacks(a)
    # Two leads without a timezone got an invalid one: no longer missing, now invalid; same fallback.
    assert dirty_a == {**clean_a,
                       "leads_missing_timezone": clean_a["leads_missing_timezone"] - LEADS_INVALID_TIMEZONE,
                       "leads_invalid_timezone": clean_a["leads_invalid_timezone"] + LEADS_INVALID_TIMEZONE}
    for client in (b, c):
        clean_tz, dirty_tz = fallbacks(client)
        # The client's own zone (UTC) is gone: its leads without a valid zone of their own now read UTC
        # by default instead of through the client.
        assert clean_tz["leads_timezone_default"] == 0 and clean_tz["leads_timezone_client"] > 0
        assert dirty_tz == {**clean_tz, "leads_timezone_client": 0,
                            "leads_timezone_default": clean_tz["leads_timezone_client"],
                            "client_timezone": None, "has_valid_client_timezone": False}


# --- the API under sustained concurrent load while the third run learns again --------------------------

LOAD_SECONDS = 10
LOAD_THREADS = 6
COMPONENTS = {"data_quality": 12, "authority": 18, "company_fit": 20, "timing": 9, "risk": 2}


@pytest.fixture(scope="module")
def api(runs: Runs) -> Iterator[tuple[str, dict[str, str]]]:
    """The real API (uvicorn, one worker) on loopback; a key for tenant a and one for tenant b + c."""
    from api.keys import create_key

    with psycopg.connect(runs.url, autocommit=True) as conn:
        keys = {"a": create_key(conn, client_ids=[runs.clients["a"]], name="tenant a")[1],
                "bc": create_key(conn, client_ids=[runs.clients["b"], runs.clients["c"]], name="tenant bc")[1]}
    env = {"CONVINTEL_STATE_DIR": str(runs.state), "DATABASE_URL": runs.url, "DBT_SCHEMA": SCHEMA,
           "DAGSTER_HOME": str(runs.state / "dagster")}
    with serve_api(env, runs.state) as base:
        yield base, keys


class Load:
    """Client threads mixing every read path of two tenants; every response is checked at once."""

    def __init__(self, base: str, keys: dict[str, str], runs: Runs) -> None:
        self.base, self.runs = base, runs
        own = {"a": [runs.clients["a"]], "bc": [runs.clients["b"], runs.clients["c"]]}
        foreign = {"a": runs.clients["b"], "bc": runs.clients["a"]}
        self.tenants = [(keys[t], own[t], foreign[t]) for t in ("a", "bc")]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def check_patterns(self, client: uuid.UUID, body: dict, what: str) -> None:
        if body.get("client_id") != str(client):
            return self.problem(f"{what}: client_id {body.get('client_id')}")
        expected = {t: v for (c, t), v in self.runs.dirty.items() if c == client}
        got = {t: ({k: v for k, v in p["patterns"].items() if k != "computed_at"}, p["sample_size"], p["confidence"])
               for t, p in body["patterns"].items()}
        if got != expected:
            self.problem(f"{what}: patterns differ from the stored ones")

    def worker(self, number: int) -> None:
        key, own, foreign = self.tenants[number % 2]
        etags: dict[uuid.UUID, str] = {}
        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            step = number
            while not self.stop.is_set():
                client = own[step % len(own)]
                kind = step % 6
                step += 1
                try:
                    if kind in (0, 1):
                        headers = {"If-None-Match": etags[client]} if kind == 1 and client in etags else {}
                        response = http.get(f"/patterns/{client}", headers=headers)
                        if response.status_code == 200:
                            etags[client] = response.headers["etag"]
                            self.check_patterns(client, response.json(), f"GET /patterns/{client}")
                        elif not (response.status_code == 304 and headers):
                            self.problem(f"GET /patterns: {response.status_code}")
                    elif kind == 2:
                        response = http.get(f"/patterns/{client}/when")
                        body = response.json()
                        if response.status_code != 200 or body["client_id"] != str(client) or body["patterns"]["type"] != "when":
                            self.problem(f"GET /patterns/{client}/when: {response.status_code}")
                    elif kind == 3:
                        response = http.post(f"/clients/{client}/score", json={"components": COMPONENTS})
                        if response.status_code != 200 or response.json()["client_id"] != str(client):
                            self.problem(f"POST score: {response.status_code} {response.text[:200]}")
                    elif kind == 4:
                        response = http.post(f"/clients/{client}/allocate",
                                             json={"start_at": "2026-06-01T12:00:00Z", "touches": 4})
                        if response.status_code != 200 or response.json()["client_id"] != str(client):
                            self.problem(f"POST allocate: {response.status_code} {response.text[:200]}")
                    else:  # another tenant's client reads as unknown
                        response = http.get(f"/patterns/{foreign}")
                        if response.status_code != 404 or str(foreign) in response.text:
                            self.problem(f"GET another tenant's patterns: {response.status_code}")
                except Exception as exc:  # a transport error, or a body that is not what the route promises
                    self.problem(f"{type(exc).__name__}: {exc}")
                    continue
                with self.lock:
                    self.statuses[response.status_code] += 1


def detect_and_store(url: str):
    """The part of a learning run that writes patterns (every detector, the store) on the marts as the
    last run left them. A whole second run on unchanged data (dbt included) is checked in
    test_learning_run and test_learning_scope_and_concurrency; here the time goes to the load."""
    from dagster import materialize

    from dagster_pipelines.assets.patterns import DETECTOR_ASSETS, conversion_patterns
    from dagster_pipelines.resources import build_resources

    result = materialize([*DETECTOR_ASSETS, conversion_patterns], resources=build_resources(url, SCHEMA))
    assert result.success
    return result


def test_api_under_load_while_learning_again_serves_only_own_data_and_the_rerun_is_identical(
        runs: Runs, api: tuple[str, dict[str, str]]) -> None:
    base, keys = api
    load = Load(base, keys, runs)
    threads = [threading.Thread(target=load.worker, args=(n,), daemon=True) for n in range(LOAD_THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        rerun = detect_and_store(runs.url)  # unchanged data: the third run stores the same patterns again
        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    elapsed = time.monotonic() - started
    print(f"API load: {sum(load.statuses.values())} responses in {elapsed:.1f} s, {dict(load.statuses)}")
    assert load.problems == []
    assert sum(load.statuses.values()) > 100 and set(load.statuses) <= {200, 304, 404}, load.statuses
    assert load.statuses[404] > 0 and load.statuses[200] > 0

    ids = list(runs.clients.values())
    with psycopg.connect(runs.url, autocommit=True) as conn:
        assert stored_patterns(conn, ids) == runs.dirty
        conn.execute("select set_config('app.client_ids', %s, false)", (",".join(map(str, ids)),))
        history = conn.execute(
            "select client_id, pattern_type, count(*), count(distinct run_id), "
            "count(distinct patterns - 'computed_at') filter (where run_id = any(%s::uuid[])) "
            "from conversion_pattern_history group by 1, 2", ([runs.dirty_run_id, rerun.run_id],)).fetchall()
    # One history row per run (clean, with bad rows, again); the last two runs stored the same JSON.
    assert {(c, t): rest for c, t, *rest in history} == {key: [3, 3, 1] for key in runs.dirty}
