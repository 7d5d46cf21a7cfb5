"""``convintel import`` (docs/import.md): the mapping's checks, every row validated, exactly the good rows
loaded in one transaction, idempotent re-import, and dbt seeing the imported history with SPEC §4 outcomes.

The loading tests import the documented example (examples/import/: 10 lead rows of which 5 are bad,
19 touch rows of which 7 are bad, each bad for one stated reason) into fresh migrated databases.
"""

from __future__ import annotations

import csv
import json
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from convintel.importer import (ClientNotFound, ImportDatabaseError, ImportFileError, MappingError, load_mapping,
                                parse_mapping, run_import, write_rejects)
from convintel.importer.mapping import FileMapping
from convintel.importer.validate import BadValue, Existing, parse_timestamp, parse_value
from support import dbt_or_fail

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "import"
MAPPING = EXAMPLES / "mapping.yml"
LEADS = EXAMPLES / "leads.csv"
TOUCHES = EXAMPLES / "touches.csv"
NOW = datetime(2025, 6, 30, tzinfo=timezone.utc)

# Every bad row of the example, with the reason it must be reported with: (file, row, column, reason).
EXPECTED_REJECTS = [
    ("leads", 7, "Time Zone", "invalid_lead_timezone"),
    ("leads", 8, "Stage", "unknown_lead_status"),
    ("leads", 9, "Lead ID", "duplicate_in_file"),
    ("leads", 10, "Stage", "converted_without_booking_time"),
    ("leads", 11, "Employees", "invalid_integer"),
    ("touches", 5, "Sent", "touch_at_or_after_booking"),
    ("touches", 15, "Lead ID", "lead_rejected"),
    ("touches", 16, "Lead ID", "unknown_lead"),
    ("touches", 17, "Channel", "unknown_channel"),
    ("touches", 18, "Sent", "invalid_timestamp"),
    ("touches", 19, "Touch ID", "duplicate_in_file"),
    ("touches", 20, "Type", "channel_action_mismatch"),
]
# The good rows as they must be in the database: lead -> (status, converted_at UTC or None).
EXPECTED_LEADS = {
    "Ana": ("converted", datetime(2025, 3, 14, 15, 30, tzinfo=timezone.utc)),   # Won On, London = UTC in March
    "Ben": ("not_interested", None),
    "Chloe": ("in_sequence", None),
    "Dev": ("converted", datetime(2025, 3, 18, 11, 0, tzinfo=timezone.utc)),    # from the Meeting touch
    "Eva": ("unsubscribed", None),
}
# (lead, action, created_at UTC, led_to_booking); Ana's meeting_booked is recorded by the import.
EXPECTED_ACTIVITIES = [
    ("Ana", "email_sent", "2025-03-03 09:12", False), ("Ana", "linkedin_sent", "2025-03-06 16:40", False),
    ("Ana", "email_sent", "2025-03-10 08:05", True), ("Ana", "meeting_booked", "2025-03-14 15:30", False),
    ("Ben", "email_sent", "2025-03-03 10:00", False), ("Ben", "voice_completed", "2025-03-07 14:20", False),
    ("Chloe", "email_sent", "2025-03-04 09:30", False), ("Chloe", "replied", "2025-03-05 17:02", False),
    ("Dev", "linkedin_sent", "2025-03-04 07:15", False), ("Dev", "email_sent", "2025-03-11 07:20", True),
    ("Dev", "meeting_booked", "2025-03-18 11:00", False),
    ("Eva", "email_sent", "2025-03-05 12:00", False), ("Eva", "unsubscribed", "2025-03-06 08:00", False),
]


def _mapping(**overrides) -> dict:
    raw = yaml.safe_load(MAPPING.read_text())
    raw.update(overrides)
    return raw


def _activities(conn: psycopg.Connection) -> list[tuple]:
    rows = conn.execute(
        "select l.first_name, a.action, to_char(a.created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI'), a.led_to_booking"
        " from activities a join leads l on l.id = a.lead_id order by 1, a.created_at, a.action").fetchall()
    return [tuple(r) for r in rows]


# ---- the mapping ----------------------------------------------------------------------------------

def test_example_mapping_parses() -> None:
    mapping = load_mapping(MAPPING)
    assert mapping.leads is not None and mapping.touches is not None
    assert mapping.leads.column_of("status") == "Stage"
    assert mapping.leads.values["status"]["won"] == "converted"
    assert mapping.touches.values["channel"]["linkedin inmail"] == "linkedin"
    assert (mapping.touches.timestamp_format, mapping.touches.timestamp_timezone) == ("%d/%m/%Y %H:%M", "Europe/London")


def test_mapping_errors_are_listed_each_with_its_key() -> None:
    raw = {
        "timestamps": {"timezone": "Europe/Lodnon"},
        "leads": {"columns": {"Mail": "emial", "Stage": "status"},
                  "values": {"status": {"Won": "won", "Open": True}}},
        "touches": {"columns": {"When": "created_at"}, "colums": {}},
        "extra": 1,
    }
    with pytest.raises(MappingError) as caught:
        parse_mapping(raw)
    assert caught.value.problems == [
        "extra: unknown key (known: client, dates, leads, timestamps, touches, version)",
        "leads.columns.Mail: unknown target field 'emial' (known: email, phone, first_name, last_name, title, company, "
        "linkedin_url, domain, timezone, organization_industry, organization_employee_count, organization_country, "
        "organization_is_hiring, organization_latest_funding_date, employment_start_date, seniority_level, "
        "als_score, als_tier, status, created_at, converted_at)",
        "leads.values.status.Open: write yes/no/true/false values in quotes",
        "leads.values.status.Won: 'won' is not a known status (known: bounced, converted, dead, enriched, in_sequence, "
        "new, not_interested, nurturing, scored, unsubscribed)",
        "leads.external_id: required (the column that identifies a lead; touches join on it)",
        "leads.timestamps.timezone: 'Europe/Lodnon' is not an IANA time zone (e.g. Europe/Berlin)",
        "touches.colums: unknown key (known: columns, dates, defaults, delimiter, external_id, lead_external_id, timestamps, values)",
        "touches.lead_external_id: required (the column holding the lead's external id)",
        "touches: map a column to 'channel' (required)",
        "touches.timestamps.timezone: 'Europe/Lodnon' is not an IANA time zone (e.g. Europe/Berlin)",
    ]
    with pytest.raises(MappingError, match="map a column to 'status' or give defaults.status"):
        parse_mapping({"leads": {"external_id": "id", "columns": {"Mail": "email"}}})
    with pytest.raises(MappingError, match="neither 'leads' nor 'touches'"):
        parse_mapping({"version": 1})


def test_mapping_file_that_is_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    path.write_text("leads: [unclosed\n")
    with pytest.raises(MappingError, match="m.yml is not valid YAML"):
        load_mapping(path)
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "missing.yml")


# ---- single values --------------------------------------------------------------------------------

def test_timestamps_are_read_in_the_mapping_zone_unless_they_carry_an_offset() -> None:
    assert parse_timestamp("30/03/2025 01:30", "%d/%m/%Y %H:%M", "Europe/London").isoformat() == "2025-03-30T01:30:00+00:00"
    assert parse_timestamp("30/03/2025 02:30", "%d/%m/%Y %H:%M", "Europe/London").isoformat() == "2025-03-30T01:30:00+00:00"
    assert parse_timestamp("2025-07-01 09:00", "iso", "Europe/Berlin").isoformat() == "2025-07-01T07:00:00+00:00"
    assert parse_timestamp("2025-07-01T09:00:00Z", "iso", "Europe/Berlin").isoformat() == "2025-07-01T09:00:00+00:00"


@pytest.mark.parametrize(("kind", "target", "text", "expected"), [
    ("int", "organization_employee_count", "120", 120),
    ("int", "organization_employee_count", "1_000", "invalid_integer"),
    ("int", "organization_employee_count", "-1", "out_of_range"),
    ("int", "als_score", "101", "out_of_range"),
    ("int", "sequence_step", "0", "out_of_range"),
    ("int", "organization_employee_count", "2147483648", "out_of_range"),
    ("bool", "organization_is_hiring", "Yes", True),
    ("bool", "organization_is_hiring", "0", False),
    ("bool", "organization_is_hiring", "maybe", "invalid_boolean"),
    ("date", "employment_start_date", "2024-02-29", datetime(2024, 2, 29).date()),
    ("date", "employment_start_date", "2023-02-29", "invalid_date"),
    ("timestamp", "created_at", "2025-07-01T00:00:00Z", "timestamp_in_future"),
    ("timezone", "timezone", "europe/paris", "europe/paris"),
    ("timezone", "timezone", "Mars/Olympus", "invalid_lead_timezone"),
    ("status", "status", "Converted", "converted"),
    ("channel", "channel", "fax", "unknown_channel"),
    ("action", "action", "email_sent", "email_sent"),
    ("action", "action", "sent", "unknown_action"),
])
def test_parse_value(kind: str, target: str, text: str, expected) -> None:
    mapping = FileMapping(kind="leads", external_id="id", lead_external_id=None, columns={}, values={}, defaults={})
    existing = Existing(timezones=frozenset({"europe/paris", "utc"}))
    if isinstance(expected, str) and expected not in (text, text.lower()):
        with pytest.raises(BadValue) as caught:
            parse_value(kind, target, text, mapping, existing, NOW)
        assert caught.value.reason == expected
    else:
        assert parse_value(kind, target, text, mapping, existing, NOW) == expected


# ---- loading ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_import_loads_exactly_the_good_rows_and_reports_each_bad_one(db_url: str, tmp_path: Path) -> None:
    report = run_import(db_url, "Northwind Agency", load_mapping(MAPPING), leads_path=LEADS, touches_path=TOUCHES,
                        create_client=True, now=NOW)
    assert [(r.file, r.row, r.column, r.reason) for r in report.rejects] == EXPECTED_REJECTS
    assert report.rows_read == {"leads": 10, "touches": 19}
    assert report.loaded == {"leads": 5, "touches": 12, "bookings": 1}
    assert report.already_imported == {"leads": 0, "touches": 0}
    assert report.client_created

    with psycopg.connect(db_url) as conn:
        client = conn.execute("select name, timezone from clients where id = %s", (report.client_id,)).fetchone()
        assert client == ("Northwind Agency", "Europe/London")
        leads = conn.execute("select first_name, status, converted_at from leads where client_id = %s",
                             (report.client_id,)).fetchall()
        assert {r[0]: (r[1], r[2]) for r in leads} == EXPECTED_LEADS
        assert _activities(conn) == EXPECTED_ACTIVITIES
        # Content: the engines' snapshot builder labelled the text (same seeds as dbt).
        snapshot = conn.execute(
            "select content_snapshot, subject, content_preview from activities where metadata->'import'->>'external_id' = 'T003'").fetchone()
        assert snapshot[0]["features"]["cta_phrase"] == "do you have 15 minutes this week"
        assert snapshot[0]["features"]["angles"] == ["roi_focused"]
        assert snapshot[0]["personalization"]["first_name"] is True
        assert snapshot[1:] == ("Re: Northwind", "Ana, do you have 15 minutes this week? Return on investment in weeks, not months.")
        assert conn.execute("select count(*) from activities where content_snapshot is not null").fetchone()[0] == 8

    path = tmp_path / "rejects.csv"
    write_rejects(path, report.rejects)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["file"], int(r["row"]), r["column"], r["reason"]) for r in rows] == EXPECTED_REJECTS
    assert rows[0] == {"file": "leads", "row": "7", "external_id": "L006", "column": "Time Zone",
                       "value": "Mars/Olympus", "reason": "invalid_lead_timezone", "detail": ""}


@pytest.mark.slow
def test_reimport_is_idempotent_and_says_already_imported(db_url: str) -> None:
    mapping = load_mapping(MAPPING)
    first = run_import(db_url, "Northwind Agency", mapping, leads_path=LEADS, touches_path=TOUCHES,
                       create_client=True, now=NOW)
    with psycopg.connect(db_url) as conn:
        before = _activities(conn)
    again = run_import(db_url, str(first.client_id), mapping, leads_path=LEADS, touches_path=TOUCHES, now=NOW)
    assert again.loaded == {"leads": 0, "touches": 0, "bookings": 0}
    assert again.already_imported == {"leads": 5, "touches": 12}
    assert [(r.file, r.row, r.reason) for r in again.rejects] == [(f, r, reason) for f, r, _, reason in EXPECTED_REJECTS]
    with psycopg.connect(db_url) as conn:
        assert _activities(conn) == before
        assert conn.execute("select count(*) from leads").fetchone()[0] == 5
        assert conn.execute("select count(*) from clients").fetchone()[0] == 1


@pytest.mark.slow
def test_touches_for_leads_imported_earlier_and_new_rows_only(db_url: str, tmp_path: Path) -> None:
    mapping = load_mapping(MAPPING)
    first = run_import(db_url, "Acme", mapping, leads_path=LEADS, create_client=True, now=NOW)
    # Without the touches file Dev has no booking time (it came from his Meeting touch): rejected too.
    assert first.loaded == {"leads": 4, "touches": 0, "bookings": 0}   # no touches: no booking activity
    assert ("leads", 5, "converted_without_booking_time") in [(r.file, r.row, r.reason) for r in first.rejects]
    touches = tmp_path / "touches.csv"
    touches.write_text(textwrap.dedent("""\
        Touch ID,Lead ID,Channel,Type,Sent,Step,Subject,Message
        X1,L003,E-mail,Sent,20/03/2025 09:00,2,Lumen,"Chloe, a second note."
        X2,L001,E-mail,Sent,13/03/2025 09:00,4,Ana,"Ana, one more thing."
        X3,L001,E-mail,Sent,15/03/2025 09:00,5,Ana,"Ana, the last one."
        X4,L001,E-mail,Meeting,16/03/2025 10:00,,,
        X5,L001,E-mail,Sent,17/03/2025 09:00,6,Ana,after the booking
        """))
    second = run_import(db_url, "Acme", mapping, touches_path=touches, now=NOW)
    # The meeting_booked activity is the authoritative booking time (SPEC §4): it moves Ana's booking
    # from Won On (14/03 15:30) to 16/03 10:00, so X3 is before it and X5 after it.
    assert second.loaded == {"leads": 0, "touches": 4, "bookings": 0}
    assert [(r.row, r.reason, r.detail) for r in second.rejects] == [
        (6, "touch_at_or_after_booking", "booked at 2025-03-16T10:00:00+00:00")]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select converted_at from leads where first_name = 'Ana'").fetchone()[0] == \
            datetime(2025, 3, 16, 10, tzinfo=timezone.utc)
        # The platform's trigger marks the new last touch before Ana's booking as converting.
        marked = conn.execute("select metadata->'import'->>'external_id' from activities where led_to_booking").fetchall()
        assert marked == [("X3",)]


@pytest.mark.slow
def test_dry_run_writes_nothing(db_url: str) -> None:
    report = run_import(db_url, "New Client", load_mapping(MAPPING), leads_path=LEADS, touches_path=TOUCHES,
                        create_client=True, dry_run=True, now=NOW)
    assert report.dry_run and report.client_created
    assert report.loaded == {"leads": 5, "touches": 12, "bookings": 1}
    with psycopg.connect(db_url) as conn:
        counts = conn.execute("select (select count(*) from clients), (select count(*) from leads),"
                              " (select count(*) from activities)").fetchone()
    assert counts == (0, 0, 0)


@pytest.mark.slow
def test_a_database_error_keeps_nothing(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("insert into clients (name) values ('Acme')")
        # Stands in for any failure of the write (a constraint, a lost connection): after the leads are in.
        conn.execute("""create function fail_activity() returns trigger language plpgsql as
                        $$ begin raise exception 'disk full'; end $$""")
        conn.execute("create trigger fail_activity before insert on activities for each row execute function fail_activity()")
    with pytest.raises(ImportDatabaseError, match="disk full"):
        run_import(db_url, "Acme", load_mapping(MAPPING), leads_path=LEADS, touches_path=TOUCHES, now=NOW)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from leads").fetchone()[0] == 0


@pytest.mark.slow
def test_clients_files_and_emails(db_url: str, tmp_path: Path) -> None:
    mapping = load_mapping(MAPPING)
    with pytest.raises(ClientNotFound, match="no client named 'Nobody' \\(add --create-client"):
        run_import(db_url, "Nobody", mapping, leads_path=LEADS, now=NOW)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("insert into clients (name) values ('Twin'), ('Twin')")
        [(acme,)] = conn.execute("insert into clients (name) values ('Acme') returning id").fetchall()
        conn.execute("insert into leads (client_id, email, status) values (%s, 'ben.okafor@brightpath.example', 'new')", (acme,))
    with pytest.raises(ClientNotFound, match="2 clients are named 'Twin': give the client's id"):
        run_import(db_url, "Twin", mapping, leads_path=LEADS, now=NOW)

    broken = tmp_path / "leads.csv"
    broken.write_text("Lead ID,Mail\nL1,a@b.example\n")
    with pytest.raises(ImportFileError, match="has no column 'Email', 'First Name'.*its columns: Lead ID, Mail"):
        run_import(db_url, "Acme", mapping, leads_path=broken, now=NOW)

    # A platform lead already has Ben's email: Ben is rejected, and his touches with him; the rest load.
    report = run_import(db_url, "Acme", mapping, leads_path=LEADS, touches_path=TOUCHES, now=NOW)
    reasons = [(r.file, r.row, r.reason) for r in report.rejects]
    assert ("leads", 3, "email_already_exists") in reasons
    assert ("touches", 6, "lead_rejected") in reasons and ("touches", 7, "lead_rejected") in reasons
    assert report.loaded == {"leads": 4, "touches": 10, "bookings": 1}


@pytest.mark.slow
def test_cli_import_prints_the_summary_and_exit_codes(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from convintel.cli import app

    monkeypatch.setenv("DATABASE_URL", db_url)
    runner = CliRunner()
    rejects = tmp_path / "rejects.csv"
    args = ["import", "--client", "Northwind Agency", "--mapping", str(MAPPING), "--leads", str(LEADS),
            "--touches", str(TOUCHES), "--create-client", "--rejects", str(rejects)]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].split() == ["leads", "10", "5", "0", "5"]
    assert lines[3].split() == ["touches", "19", "12", "0", "7"]
    assert "  leads row 7, column 'Time Zone' value 'Mars/Olympus': invalid_lead_timezone" in lines
    assert len(list(csv.reader(rejects.open()))) == 1 + len(EXPECTED_REJECTS)

    again = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0 and "already imported rows were skipped" in again.output
    assert again.output.splitlines()[2].split() == ["leads", "10", "0", "5", "5"]

    bad = tmp_path / "bad.yml"
    bad.write_text(json.dumps({"leads": {"columns": {"[A]": "nope"}}}))
    failed = runner.invoke(app, ["import", "--client", "x", "--mapping", str(bad), "--leads", str(LEADS)],
                           env={"COLUMNS": "400"})
    assert failed.exit_code == 2
    assert "leads.columns.[A]: unknown target field 'nope'" in failed.output


# ---- dbt sees the imported history ------------------------------------------------------------------

@pytest.mark.slow
def test_dbt_sees_the_imported_leads_with_their_outcomes(db_url: str, tmp_path: Path) -> None:
    report = run_import(db_url, "Northwind Agency", load_mapping(MAPPING), leads_path=LEADS, touches_path=TOUCHES,
                        create_client=True, now=NOW)
    schema = "dbt_import_test"
    # Seeds and models only: the suite's dbt modules run the data tests on the synthetic world.
    dbt_or_fail(["build", "--select", "+int_touches", "--resource-type", "seed", "--resource-type", "model",
                 "--vars", json.dumps({"as_of": NOW.isoformat()})], db_url, tmp_path / "target", schema)
    with psycopg.connect(db_url) as conn:
        outcomes = conn.execute(
            f"select l.first_name, o.outcome, o.booked_at from {schema}.int_lead_outcomes o join leads l on l.id = o.lead_id"
            " where o.client_id = %s", (report.client_id,)).fetchall()
        assert {r[0]: (r[1], r[2]) for r in outcomes} == {
            "Ana": ("converted", EXPECTED_LEADS["Ana"][1]), "Ben": ("failed", None), "Chloe": ("stale", None),
            "Dev": ("converted", EXPECTED_LEADS["Dev"][1]), "Eva": ("failed", None)}
        touches = conn.execute(
            f"select l.first_name, t.touch_number, t.channel, t.is_converting_touch, t.local_day_of_week, t.local_hour"
            f" from {schema}.int_touches t join leads l on l.id = t.lead_id order by 1, 2").fetchall()
        assert [tuple(r) for r in touches] == [
            ("Ana", 1, "email", False, 0, 9), ("Ana", 2, "linkedin", False, 3, 16), ("Ana", 3, "email", True, 0, 8),
            ("Ben", 1, "email", False, 0, 10), ("Ben", 2, "voice", False, 4, 14),
            ("Chloe", 1, "email", False, 1, 10),
            ("Dev", 1, "linkedin", False, 1, 12), ("Dev", 2, "email", True, 1, 12),
            ("Eva", 1, "email", False, 2, 12)]
        excluded = conn.execute(
            f"select (select count(*) from {schema}.int_activities_cleaned where is_excluded),"
            f" (select count(*) from {schema}.int_leads_cleaned where is_excluded)").fetchone()
        assert excluded == (0, 0)


@pytest.mark.slow
def test_every_other_reason_on_a_hand_made_file(db_url: str, tmp_path: Path) -> None:
    """The reasons the example does not show, a semicolon file, defaults, null value maps and the
    booking time used when an export has none."""
    mapping = parse_mapping({
        "leads": {
            "external_id": "id", "delimiter": ";",
            "columns": {"mail": "email", "won": "converted_at", "stage": "status", "hiring": "organization_is_hiring",
                        "country": "organization_country", "score": "als_score"},
            "values": {"status": {"Yes": "converted"}, "organization_country": {"unknown": None}},
            "defaults": {"status": "new"},
            "converted_at_when_missing": "2025-01-31T00:00:00+00:00",
        },
        "touches": {"lead_external_id": "lead", "delimiter": ";",
                    "columns": {"ch": "channel", "at": "created_at"}},
    })
    leads = tmp_path / "leads.csv"
    leads.write_text(textwrap.dedent("""\
        id;mail;won;stage;hiring;country;score
        A;a@x.example;;Yes;yes;unknown;90
        B;b@x.example;2025-02-01T10:00:00Z;;;Chile;
        ;c@x.example;;;;;
        D;a@x.example;;;;;
        E;e@x.example;;;perhaps;;
        F;f@x.example;;;;;
        G;g@x.example;;;;;;
        H;h@x.example;;;;Ch\x00ile;
        """))
    touches = tmp_path / "touches.csv"
    touches.write_text(textwrap.dedent("""\
        lead;ch;at
        A;email;2025-01-10T09:00:00+01:00
        F;;2025-01-10T09:00:00Z
        F;sms;2025-08-01T00:00:00Z
        F;sms;2025-01-11T00:00:00Z
        """))
    report = run_import(db_url, "Acme", mapping, leads_path=leads, touches_path=touches, create_client=True, now=NOW)
    assert [(r.file, r.row, r.column, r.reason) for r in report.rejects] == [
        ("leads", 3, "won", "booking_time_on_open_lead"),
        ("leads", 4, "id", "missing_external_id"),
        ("leads", 5, "mail", "duplicate_email"),
        ("leads", 6, "hiring", "invalid_boolean"),
        ("leads", 8, None, "malformed_row"),
        ("leads", 9, "country", "invalid_text"),
        ("touches", 3, "ch", "missing_value"),
        ("touches", 4, "at", "timestamp_in_future"),
    ]
    assert report.loaded == {"leads": 2, "touches": 2, "bookings": 1}
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("select email, status, converted_at, created_at, organization_country,"
                            " organization_is_hiring, als_score from leads order by email").fetchall()
        assert rows == [
            ("a@x.example", "converted", datetime(2025, 1, 31, tzinfo=timezone.utc),
             datetime(2025, 1, 10, 8, 0, tzinfo=timezone.utc), None, True, 90),
            ("f@x.example", "new", None, datetime(2025, 1, 11, tzinfo=timezone.utc), None, None, None)]
        assert _activities(conn) == [
            (None, "email_sent", "2025-01-10 08:00", True), (None, "sms_sent", "2025-01-11 00:00", False),
            (None, "meeting_booked", "2025-01-31 00:00", False)]

    twice = tmp_path / "twice.csv"
    twice.write_text("id;mail;mail\nA;a;b\n")
    with pytest.raises(ImportFileError, match="has the column 'mail' more than once"):
        run_import(db_url, "Acme", mapping, leads_path=twice, now=NOW)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("id;mail\nA;m\xfcller@x.example\n".encode("latin-1"))
    with pytest.raises(ImportFileError, match="is not UTF-8 text"):
        run_import(db_url, "Acme", mapping, leads_path=latin1, now=NOW)
