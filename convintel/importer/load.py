"""Database side of an import: resolve the client, ask what already exists, write the plan.

Rows are written as the platform writes them (leads with status and converted_at, activities with
channel/action/content_snapshot), through COPY into temporary tables and one ``insert … on conflict do
nothing`` per table, so the platform's statement triggers (converted_at, led_to_booking) run once per
table and a concurrent import of the same rows cannot duplicate them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from convintel.importer.mapping import LEAD_FIELDS
from convintel.importer.validate import Existing, ExistingLead, ImportPlan, TouchRecord, lead_id
from detectors.snapshot import build_content_snapshot

CONTENT_PREVIEW_CHARS = 200   # the platform keeps the first 200 characters of a body as its preview
_LEAD_COLUMNS = ("id", "client_id", *LEAD_FIELDS, "updated_at")
_ACTIVITY_COLUMNS = ("id", "client_id", "lead_id", "channel", "action", "sequence_step", "subject",
                     "content_preview", "metadata", "content_snapshot", "created_at")


class ClientNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ResolvedClient:
    id: uuid.UUID
    name: str
    created: bool


@dataclass(frozen=True)
class Written:
    leads: int
    touches: int
    bookings: int


def resolve_client(conn: psycopg.Connection, client: str, *, create: bool, timezone: str) -> ResolvedClient:
    """The client by id or exact name (locked for the import); created by name when asked to."""
    try:
        client_id: uuid.UUID | None = uuid.UUID(client)
    except ValueError:
        client_id = None
    if client_id is not None:
        row = conn.execute("select id, name from clients where id = %s and deleted_at is null for update",
                           (client_id,)).fetchone()
        if row is None:
            raise ClientNotFound(f"no client with id {client_id}")
        return ResolvedClient(row[0], row[1], False)
    rows = conn.execute("select id, name from clients where name = %s and deleted_at is null for update",
                        (client,)).fetchall()
    if len(rows) > 1:
        raise ClientNotFound(f"{len(rows)} clients are named {client!r}: give the client's id instead")
    if rows:
        return ResolvedClient(rows[0][0], rows[0][1], False)
    if not create:
        raise ClientNotFound(f"no client named {client!r} (add --create-client to create it)")
    row = conn.execute("insert into clients (name, timezone) values (%s, %s) returning id",
                       (client, timezone)).fetchone()
    assert row is not None
    return ResolvedClient(row[0], client, True)


def timezone_names(conn: psycopg.Connection) -> frozenset[str]:
    """PostgreSQL's time zone names, lowercased (dbt's stg_leads matches them case-insensitively)."""
    return frozenset(r[0] for r in conn.execute("select lower(name) from pg_timezone_names"))


def fetch_existing(conn: psycopg.Connection, client_id: uuid.UUID, lead_ids: set[uuid.UUID],
                   activity_ids: set[uuid.UUID], emails: set[str], timezones: frozenset[str]) -> Existing:
    leads = {
        row[0]: ExistingLead(*row[1:])
        for row in conn.execute(
            "select l.id, l.status, l.converted_at, l.first_name, l.company, l.organization_industry,"
            " (select min(a.created_at) from activities a where a.lead_id = l.id and a.action = 'meeting_booked')"
            " from leads l where l.client_id = %s and l.id = any(%s)", (client_id, list(lead_ids)))}
    found = {row[0] for row in conn.execute("select id from activities where id = any(%s)", (list(activity_ids),))}
    by_email = {row[0]: row[1] for row in conn.execute(
        "select email, id from leads where client_id = %s and email = any(%s)", (client_id, list(emails)))}
    return Existing(leads=leads, activity_ids=found, emails=by_email, timezones=timezones)


def _activity_row(client_id: uuid.UUID, touch: TouchRecord, lead_id: uuid.UUID, lead: dict[str, Any],
                  source: dict[str, Any]) -> tuple[Any, ...]:
    has_content = touch.is_outbound and (touch.subject is not None or touch.body is not None)
    snapshot = build_content_snapshot(channel=touch.channel, body=touch.body, subject=touch.subject, lead=lead,
                                      sequence_step=touch.sequence_step) if has_content else None
    metadata = {"import": {**source, "lead_external_id": touch.lead_external_id,
                           "external_id": touch.external_id, "row": touch.row}}
    preview = touch.body[:CONTENT_PREVIEW_CHARS] if touch.body else None
    return (touch.id, client_id, lead_id, touch.channel, touch.action, touch.sequence_step, touch.subject,
            preview, Jsonb(metadata), Jsonb(snapshot) if snapshot is not None else None, touch.created_at)


def write_plan(conn: psycopg.Connection, client_id: uuid.UUID, plan: ImportPlan, *, now: datetime,
               leads_file: str | None, touches_file: str | None) -> Written:
    """Insert the plan's leads, touches and booking activities; returns the rows actually inserted."""
    conn.execute("create temp table import_leads (like leads including defaults) on commit drop")
    conn.execute("create temp table import_activities (like activities including defaults) on commit drop")
    with conn.cursor() as cur:
        with cur.copy(f"copy import_leads ({', '.join(_LEAD_COLUMNS)}) from stdin") as copy:
            for record in plan.leads:
                values = {**record.values, "created_at": record.values.get("created_at") or now}
                copy.write_row((record.id, client_id, *(values.get(f) for f in LEAD_FIELDS), now))
        with cur.copy(f"copy import_activities ({', '.join(_ACTIVITY_COLUMNS)}) from stdin") as copy:
            for touch in plan.touches:
                lid = lead_id(client_id, touch.lead_external_id)
                copy.write_row(_activity_row(client_id, touch, lid, plan.lead_info.get(lid, {}),
                                             {"file": touches_file}))
            for booking in plan.bookings:
                lid = lead_id(client_id, booking.lead_external_id)
                copy.write_row(_activity_row(client_id, booking, lid, {},
                                             {"file": leads_file, "booking": True}))
        columns = ", ".join(_LEAD_COLUMNS)
        leads = cur.execute(f"insert into leads ({columns}) select {columns} from import_leads"
                            " on conflict do nothing").rowcount
        columns = ", ".join(_ACTIVITY_COLUMNS)
        booking_ids = {b.id for b in plan.bookings}
        activities = cur.execute(f"insert into activities ({columns}) select {columns} from import_activities"
                                 " on conflict do nothing returning id").fetchall()
    bookings = sum(1 for (aid,) in activities if aid in booking_ids)
    return Written(leads=leads, touches=len(activities) - bookings, bookings=bookings)
