"""Migrations, the converting-touch trigger and tenant isolation, on a real PostgreSQL."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from convintel.migrate import MigrationError, applied, discover, migrate

T0 = "2026-03-02 09:00:00+00"  # a Monday


def test_migrations_apply_twice_and_are_recorded(db_url: str) -> None:
    # db_url is already migrated (template); a second run applies nothing and changes nothing.
    assert migrate(db_url) == []
    versions = [row[0] for row in applied(db_url)]
    assert versions == [m.version for m in discover()]


def test_every_migration_file_is_itself_idempotent(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for migration in discover():
            conn.execute(migration.sql)
            conn.execute(migration.sql)


def test_changed_migration_is_refused(db_url: str, tmp_path) -> None:
    for migration in discover():
        (tmp_path / migration.path.name).write_text(migration.sql)
    first = discover()[0]
    (tmp_path / first.path.name).write_text(first.sql + "\n-- edited after it was applied\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(db_url, tmp_path)


def test_badly_named_migration_is_refused(tmp_path) -> None:
    (tmp_path / "create_things.sql").write_text("select 1")
    with pytest.raises(MigrationError, match="NNN_lower_snake"):
        discover(tmp_path)


# -- converting-touch trigger ---------------------------------------------------------------------

def _client(conn: psycopg.Connection, name: str = "Acme") -> uuid.UUID:
    return conn.execute("insert into clients (name) values (%s) returning id", (name,)).fetchone()[0]


def _lead(conn: psycopg.Connection, client_id: uuid.UUID, status: str = "in_sequence", converted_at: str | None = None) -> uuid.UUID:
    return conn.execute(
        "insert into leads (client_id, email, status, converted_at) values (%s, %s, %s, %s) returning id",
        (client_id, f"{uuid.uuid4().hex}@example.com", status, converted_at),
    ).fetchone()[0]


def _activity(conn, client_id, lead_id, action: str, at: str, activity_id: uuid.UUID | None = None) -> uuid.UUID:
    channel = action.split("_")[0] if action.split("_")[0] in ("email", "linkedin", "sms", "voice", "mail") else "email"
    return conn.execute(
        "insert into activities (id, client_id, lead_id, channel, action, created_at) "
        "values (coalesce(%s, gen_random_uuid()), %s, %s, %s, %s, %s) returning id",
        (activity_id, client_id, lead_id, channel, action, at),
    ).fetchone()[0]


def _marked(conn, lead_id) -> list[uuid.UUID]:
    return [r[0] for r in conn.execute(
        "select id from activities where lead_id = %s and led_to_booking order by id", (lead_id,))]


def test_trigger_marks_last_outbound_touch_strictly_before_booking(conn) -> None:
    client = _client(conn)
    lead = _lead(conn, client)
    _activity(conn, client, lead, "email_sent", "2026-03-02 09:00+00")
    second = _activity(conn, client, lead, "linkedin_sent", "2026-03-04 10:00+00")
    _activity(conn, client, lead, "email_opened", "2026-03-04 11:00+00")  # an event, not a touch
    at_booking = _activity(conn, client, lead, "sms_sent", "2026-03-05 12:00+00")
    after = _activity(conn, client, lead, "email_sent", "2026-03-06 09:00+00")

    conn.execute("update leads set status = 'converted', converted_at = '2026-03-05 12:00+00' where id = %s", (lead,))

    assert _marked(conn, lead) == [second]
    assert at_booking not in _marked(conn, lead) and after not in _marked(conn, lead)


def test_trigger_breaks_ties_on_created_at_by_larger_id(conn) -> None:
    client = _client(conn)
    lead = _lead(conn, client)
    low = uuid.UUID("00000000-0000-4000-8000-000000000001")
    high = uuid.UUID("ffffffff-0000-4000-8000-000000000001")
    _activity(conn, client, lead, "email_sent", "2026-03-02 09:00+00", high)
    _activity(conn, client, lead, "sms_sent", "2026-03-02 09:00+00", low)
    conn.execute("update leads set status = 'converted', converted_at = '2026-03-03 09:00+00' where id = %s", (lead,))
    assert _marked(conn, lead) == [high]


def test_meeting_booked_activity_is_the_authoritative_booking_time(conn) -> None:
    client = _client(conn)
    lead = _lead(conn, client)
    first = _activity(conn, client, lead, "email_sent", "2026-03-02 09:00+00")
    _activity(conn, client, lead, "email_sent", "2026-03-09 09:00+00")
    _activity(conn, client, lead, "meeting_booked", "2026-03-05 15:00+00")
    # The platform writes a later converted_at; the meeting_booked row wins.
    conn.execute("update leads set status = 'converted', converted_at = '2026-03-10 09:00+00' where id = %s", (lead,))
    converted_at = conn.execute("select converted_at::text from leads where id = %s", (lead,)).fetchone()[0]
    assert converted_at == "2026-03-05 15:00:00+00"
    assert _marked(conn, lead) == [first]


def test_meeting_booked_arriving_after_conversion_moves_the_mark(conn) -> None:
    client = _client(conn)
    lead = _lead(conn, client)
    first = _activity(conn, client, lead, "email_sent", "2026-03-02 09:00+00")
    second = _activity(conn, client, lead, "email_sent", "2026-03-09 09:00+00")
    conn.execute("update leads set status = 'converted', converted_at = '2026-03-10 09:00+00' where id = %s", (lead,))
    assert _marked(conn, lead) == [second]
    _activity(conn, client, lead, "meeting_booked", "2026-03-05 15:00+00")
    assert _marked(conn, lead) == [first]


def test_converted_without_time_gets_now_and_a_mark(conn) -> None:
    client = _client(conn)
    lead = _lead(conn, client)
    touch = _activity(conn, client, lead, "voice_completed", "2026-03-02 09:00+00")
    conn.execute("update leads set status = 'converted' where id = %s", (lead,))
    has_time = conn.execute("select converted_at > '2026-03-02 09:00+00' from leads where id = %s", (lead,)).fetchone()[0]
    assert has_time is True
    assert _marked(conn, lead) == [touch]


def test_late_arriving_touch_before_booking_becomes_the_converting_touch(conn) -> None:
    client = _client(conn)
    lead = _lead(conn, client)
    _activity(conn, client, lead, "email_sent", "2026-03-02 09:00+00")
    conn.execute("update leads set status = 'converted', converted_at = '2026-03-05 09:00+00' where id = %s", (lead,))
    late = _activity(conn, client, lead, "mail_sent", "2026-03-04 09:00+00")
    _activity(conn, client, lead, "mail_sent", "2026-03-06 09:00+00")  # after booking: never marked
    assert _marked(conn, lead) == [late]


def test_lead_leaving_converted_status_loses_its_mark(conn) -> None:
    client = _client(conn)
    lead = _lead(conn, client)
    _activity(conn, client, lead, "email_sent", "2026-03-02 09:00+00")
    conn.execute("update leads set status = 'converted', converted_at = '2026-03-05 09:00+00' where id = %s", (lead,))
    assert len(_marked(conn, lead)) == 1
    conn.execute("update leads set status = 'not_interested' where id = %s", (lead,))
    assert _marked(conn, lead) == []


def test_bulk_load_marks_exactly_one_touch_per_converted_lead(conn) -> None:
    client = _client(conn)
    conn.execute(
        """
        insert into leads (id, client_id, email, status, converted_at)
        select md5('lead' || g)::uuid, %s, 'lead' || g || '@example.com',
               case when g %% 3 = 0 then 'converted' else 'in_sequence' end,
               case when g %% 3 = 0 then timestamptz '2026-03-01' + interval '1 day' * (g %% 5) + interval '12 hours' end
        from generate_series(1, 300) as g
        """,
        (client,),
    )
    conn.execute(
        """
        insert into activities (client_id, lead_id, channel, action, created_at)
        select %s, md5('lead' || g)::uuid, 'email', 'email_sent', timestamptz '2026-03-01' + interval '1 day' * k
        from generate_series(1, 300) as g, generate_series(0, 6) as k
        """,
        (client,),
    )
    rows = conn.execute(
        """
        select l.id, count(a.id) filter (where a.led_to_booking),
               max(a.created_at) filter (where a.led_to_booking),
               max(a.created_at) filter (where a.action = 'email_sent' and a.created_at < l.converted_at)
        from leads l left join activities a on a.lead_id = l.id
        where l.status = 'converted' group by l.id
        """
    ).fetchall()
    assert len(rows) == 100
    assert all(marked == 1 and marked_at == expected for _, marked, marked_at, expected in rows)
    not_converted = conn.execute(
        "select count(*) from activities a join leads l on l.id = a.lead_id where l.status <> 'converted' and a.led_to_booking"
    ).fetchone()[0]
    assert not_converted == 0


def test_outbound_actions_function_lists_the_platform_send_actions(conn) -> None:
    actions = conn.execute("select unnest(convintel_outbound_actions()) order by 1").fetchall()
    assert [a[0] for a in actions] == ["email_sent", "linkedin_sent", "mail_sent", "sms_sent", "voice_completed"]


# -- row-level security -----------------------------------------------------------------------------

def _store_patterns(conn, client_ids) -> None:
    conn.execute("select set_config('app.client_ids', %s, false)", (",".join(map(str, client_ids)),))
    for client in client_ids:
        conn.execute(
            "insert into conversion_patterns (client_id, pattern_type, patterns, valid_until) "
            "values (%s, 'who', '{}'::jsonb, now() + interval '14 days')",
            (client,),
        )
        conn.execute(
            "insert into conversion_pattern_history (client_id, pattern_type, patterns, sample_size, confidence, computed_at, run_id) "
            "values (%s, 'who', '{}'::jsonb, 0, 0, now(), gen_random_uuid())",
            (client,),
        )
    conn.execute("reset app.client_ids")


def _visible(conn, table: str) -> set[uuid.UUID]:
    return {r[0] for r in conn.execute(f"select client_id from {table}")}


@pytest.mark.parametrize("table", ["conversion_patterns", "conversion_pattern_history"])
def test_app_role_sees_only_its_scoped_clients(conn, table: str) -> None:
    a, b = _client(conn, "A"), _client(conn, "B")
    _store_patterns(conn, [a, b])
    conn.execute("set role convintel_app")
    assert _visible(conn, table) == set()  # unscoped sees nothing, not everything
    conn.execute("set app.client_ids = %s" % psycopg.sql.quote(str(a)))
    assert _visible(conn, table) == {a}
    conn.execute(f"set app.client_ids = '{a}, {b}'")
    assert _visible(conn, table) == {a, b}


def test_app_role_cannot_bypass_rls_or_write_patterns(conn) -> None:
    a, b = _client(conn, "A"), _client(conn, "B")
    _store_patterns(conn, [a, b])
    bypass = conn.execute("select rolbypassrls, rolsuper from pg_roles where rolname = 'convintel_app'").fetchone()
    assert bypass == (False, False)
    conn.execute("set role convintel_app")
    conn.execute(f"set app.client_ids = '{a}'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("update conversion_patterns set confidence = 1")


def test_table_owner_is_subject_to_the_policy(conn) -> None:
    a, b = _client(conn, "A"), _client(conn, "B")
    _store_patterns(conn, [a, b])
    owner = conn.execute("select tableowner from pg_tables where tablename = 'conversion_patterns'").fetchone()[0]
    is_super = conn.execute("select rolsuper from pg_roles where rolname = %s", (owner,)).fetchone()[0]
    assert is_super is False, "the embedded database must not run the project as a superuser"
    forced = conn.execute(
        "select relforcerowsecurity from pg_class where relname in ('conversion_patterns', 'conversion_pattern_history')"
    ).fetchall()
    assert forced == [(True,), (True,)]
    conn.execute(f"set app.client_ids = '{a}'")
    assert _visible(conn, "conversion_patterns") == {a}
    # Writing another tenant's row while scoped to A is refused by the policy's WITH CHECK.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "insert into conversion_patterns (client_id, pattern_type, patterns, valid_until) "
            "values (%s, 'how', '{}'::jsonb, now())",
            (b,),
        )
