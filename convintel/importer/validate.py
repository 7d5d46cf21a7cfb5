"""Row validation: CSV rows → typed lead and touch records, or rejects with row, column and reason.

Pure functions (no database): what the database already holds arrives as ``Existing``. Validation runs
in two steps — each row on its own (``parse_leads`` / ``parse_touches``), then the rows together
(``cross_check``: touches ↔ leads, booking times, duplicates, what is already imported).
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from convintel.importer.mapping import (LEAD_FIELDS, REQUIRED_TOUCH_FIELDS, TOUCH_FIELDS, VOCABULARIES, FileMapping,
                                       value_key)
from convintel.importer.vocab import (ACTION_CHANNEL, BOOKING_ACTION, OUTBOUND, OUTBOUND_ACTIONS, SEND_ACTION,
                                      STATUS_CLASS)

# The reasons a row is rejected: one vocabulary (names shared with dbt's data_quality_reasons where
# the meaning is the same). docs/import.md lists them.
REASONS: dict[str, str] = {
    "malformed_row": "the row has more or fewer fields than the header",
    "missing_external_id": "the external id column is empty",
    "missing_value": "a required field is empty",
    "invalid_text": "contains a NUL character (PostgreSQL text cannot hold one)",
    "invalid_integer": "not a whole number",
    "out_of_range": "a number outside its allowed range",
    "invalid_boolean": "not one of true/false, yes/no, y/n, 1/0",
    "invalid_date": "not a date in the mapping's date format",
    "invalid_timestamp": "not a timestamp in the mapping's timestamp format",
    "timestamp_in_future": "a timestamp after the moment of the import",
    "invalid_lead_timezone": "not a PostgreSQL time zone name",
    "unknown_lead_status": "the status (after the value map) is not a platform lead status",
    "unknown_channel": "the channel (after the value map) is not email, linkedin, sms, voice or mail",
    "unknown_action": "the action (after the value map) is not a platform action",
    "channel_action_mismatch": "the action belongs to another channel (e.g. sms_sent on email)",
    "duplicate_in_file": "the same external id (or, without one, the same touch) appears earlier in the file",
    "duplicate_email": "another lead of this import has the same email",
    "email_already_exists": "the client already has another lead with this email",
    "booking_time_on_open_lead": "converted_at is given but the status is not converted",
    "converted_without_booking_time": "status converted, but no converted_at and no meeting_booked touch",
    "missing_lead_external_id": "the touch's lead external id is empty",
    "unknown_lead": "the touch's lead is neither in the leads file nor already imported for this client",
    "lead_rejected": "the touch's lead was rejected (see the lead's row)",
    "touch_at_or_after_booking": "an outbound touch at or after the lead's booking time (SPEC §4 cuts it)",
}

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_INT_MAX = 2**31 - 1   # PostgreSQL integer
_RANGES: dict[str, tuple[int, int]] = {
    "als_score": (0, 100), "organization_employee_count": (0, _INT_MAX), "sequence_step": (1, _INT_MAX)}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NAMESPACE = uuid.UUID("7b0c7c52-55a5-4d7e-9a3e-2f1f8e0b6c11")  # fixed: ids must be stable across imports


class ImportFileError(ValueError):
    """A CSV file cannot be imported at all (unreadable, or lacks a column the mapping names)."""


@dataclass(frozen=True)
class Reject:
    file: str              # leads or touches
    row: int               # spreadsheet row number: the header is row 1
    column: str | None     # the CSV column at fault (None: the row as a whole)
    value: str | None
    reason: str
    detail: str = ""
    external_id: str | None = None   # the row's external id (a touch: its lead's), when it has one


@dataclass
class CsvTable:
    name: str
    header: list[str]
    rows: list[tuple[int, list[str]]]      # (row number, fields)


@dataclass
class LeadRecord:
    row: int
    external_id: str
    values: dict[str, Any]                 # target field -> parsed value (only fields given)
    id: uuid.UUID = field(default=uuid.UUID(int=0))


@dataclass
class TouchRecord:
    row: int
    external_id: str | None
    lead_external_id: str
    channel: str
    action: str
    created_at: datetime
    sequence_step: int | None
    subject: str | None
    body: str | None
    id: uuid.UUID = field(default=uuid.UUID(int=0))

    @property
    def is_outbound(self) -> bool:
        return self.action in OUTBOUND_ACTIONS


@dataclass(frozen=True)
class ExistingLead:
    status: str | None
    converted_at: datetime | None
    first_name: str | None = None
    company: str | None = None
    organization_industry: str | None = None
    first_booking_at: datetime | None = None   # its earliest stored meeting_booked activity


@dataclass
class Existing:
    """What the database holds for this import's candidate ids (fetched by load.fetch_existing)."""

    leads: dict[uuid.UUID, ExistingLead] = field(default_factory=dict)
    activity_ids: set[uuid.UUID] = field(default_factory=set)
    emails: dict[str, uuid.UUID] = field(default_factory=dict)       # email -> lead id
    timezones: frozenset[str] = frozenset()                          # lowercased pg_timezone_names


@dataclass
class ImportPlan:
    """What an import will write, what it skips as already imported, and what it rejects."""

    leads: list[LeadRecord]
    touches: list[TouchRecord]
    bookings: list[TouchRecord]                       # meeting_booked activities recorded for converted leads
    lead_info: dict[uuid.UUID, dict[str, Any]]        # lead fields the content snapshots read
    already_imported: dict[str, int]                  # file -> rows skipped
    rejects: list[Reject]


def lead_id(client_id: uuid.UUID, external_id: str) -> uuid.UUID:
    """The id an imported lead gets: derived from client and external id, so re-imports find it."""
    return uuid.uuid5(_NAMESPACE, f"{client_id}|lead|{external_id}")


def touch_id(client_id: uuid.UUID, touch: TouchRecord) -> uuid.UUID:
    """From the touch's external id, or without one from everything the touch says."""
    if touch.external_id:
        return uuid.uuid5(_NAMESPACE, f"{client_id}|touch|{touch.external_id}")
    return uuid.uuid5(_NAMESPACE, f"{client_id}|touch-row|{touch_identity(touch)}")


def booking_id(client_id: uuid.UUID, lead_external_id: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{client_id}|booking|{lead_external_id}")


def touch_identity(touch: TouchRecord) -> str:
    return json.dumps([touch.lead_external_id, touch.created_at.isoformat(), touch.channel, touch.action,
                       touch.sequence_step, touch.subject, touch.body])


# ---- reading ------------------------------------------------------------------------------------

def read_csv(path: Path, name: str, mapping: FileMapping) -> CsvTable:
    """The file's header and rows; ImportFileError when unreadable or a mapped column is missing."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=mapping.delimiter)
            header = [h.strip() for h in next(reader, [])]
            rows: list[tuple[int, list[str]]] = []
            for number, fields in enumerate(reader, start=2):
                if any(f.strip() for f in fields):
                    rows.append((number, fields))
    except OSError as exc:
        raise ImportFileError(f"cannot read {name} file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{name} file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise ImportFileError(f"{name} file {path} is not readable CSV: {exc}") from exc
    if not header or not any(header):
        raise ImportFileError(f"{name} file {path} is empty (no header row)")
    twice = [c for c in mapping.source_columns() if header.count(c) > 1]
    if twice:
        raise ImportFileError(f"{name} file {path.name} has the column {', '.join(map(repr, twice))} more than once")
    missing = [c for c in mapping.source_columns() if c not in header]
    if missing:
        raise ImportFileError(f"{name} file {path.name} has no column {', '.join(map(repr, missing))} "
                              f"(named in the mapping); its columns: {', '.join(h for h in header if h)}")
    return CsvTable(name=name, header=header, rows=rows)


# ---- parsing one value --------------------------------------------------------------------------

class BadValue(Exception):
    """One value cannot be used; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(reason)


def parse_timestamp(text: str, fmt: str, zone: str) -> datetime:
    """A timezone-aware UTC timestamp; text without an offset is read in ``zone``."""
    try:
        value = datetime.fromisoformat(text) if fmt == "iso" else datetime.strptime(text, fmt)
    except ValueError as exc:
        raise BadValue("invalid_timestamp", f"expected {'ISO 8601' if fmt == 'iso' else fmt}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(timezone.utc)


def parse_value(kind: str, target: str, text: str, mapping: FileMapping, existing: Existing,
                now: datetime) -> Any:
    """One non-empty value (after the value map) as its target field's type; BadValue says why not."""
    if kind == "text":
        return text
    if kind == "int":
        if not _INTEGER.fullmatch(text):   # int() would accept "1_000" and " 7": a CSV cell should not
            raise BadValue("invalid_integer")
        number = int(text)
        low, high = _RANGES.get(target, (-_INT_MAX - 1, _INT_MAX))
        if not low <= number <= high:
            raise BadValue("out_of_range", f"allowed {low}..{high}")
        return number
    if kind == "bool":
        key = text.lower()
        if key in _TRUE or key in _FALSE:
            return key in _TRUE
        raise BadValue("invalid_boolean")
    if kind == "date":
        try:
            return datetime.strptime(text, mapping.date_format).date()
        except ValueError as exc:
            raise BadValue("invalid_date", f"expected {mapping.date_format}") from exc
    if kind == "timestamp":
        value = parse_timestamp(text, mapping.timestamp_format, mapping.timestamp_timezone)
        if value > now:
            raise BadValue("timestamp_in_future", f"{value.isoformat()} is after {now.isoformat()}")
        return value
    if kind == "timezone":
        if existing.timezones and text.lower() not in existing.timezones:
            raise BadValue("invalid_lead_timezone")
        return text
    vocabulary = VOCABULARIES[kind]
    if text.lower() in vocabulary:
        return text.lower()
    raise BadValue({"status": "unknown_lead_status", "channel": "unknown_channel", "action": "unknown_action"}[kind],
               f"add it to values.{target} in the mapping (known: {', '.join(sorted(vocabulary))})")


def _well_formed(table: CsvTable, number: int, cells: list[str], rejects: list[Reject]) -> bool:
    if len(cells) == len(table.header):
        return True
    rejects.append(Reject(table.name, number, None, None, "malformed_row",
                          f"{len(cells)} fields, the header has {len(table.header)}"))
    return False


def _parse_row(table: CsvTable, mapping: FileMapping, fields: dict[str, str], number: int, cells: list[str],
               existing: Existing, now: datetime, rejects: list[Reject]) -> dict[str, Any] | None:
    """Target field -> parsed value for one well-formed row, or None (rejects appended) when a field is bad."""
    row = dict(zip(table.header, cells))
    values: dict[str, Any] = {}
    ok = True
    for target, kind in fields.items():
        column = mapping.column_of(target)
        raw = row[column].strip() if column is not None else ""
        value_map = mapping.values.get(target, {})
        text: str | None = value_map.get(value_key(raw), raw) if raw else None
        if not text:   # empty, or mapped to null
            text = mapping.defaults.get(target)
        if text is None:
            continue
        try:
            if "\x00" in text:
                raise BadValue("invalid_text")
            values[target] = parse_value(kind, target, text, mapping, existing, now)
        except BadValue as bad:
            rejects.append(Reject(table.name, number, column, raw or text, bad.reason, bad.detail))
            ok = False
    return values if ok else None


def _cell(table: CsvTable, cells: list[str], column: str | None) -> str:
    if column is None:
        return ""
    return cells[table.header.index(column)].strip()


# ---- step 1: each row on its own ---------------------------------------------------------------

def _tag(rejects: list[Reject], start: int, external_id: str | None) -> None:
    """Give the rejects of one row (from index ``start``) the row's external id."""
    if external_id:
        rejects[start:] = [replace(r, external_id=external_id) for r in rejects[start:]]


def parse_leads(table: CsvTable, mapping: FileMapping, existing: Existing, now: datetime,
                rejects: list[Reject]) -> list[LeadRecord]:
    records: list[LeadRecord] = []
    first_row: dict[str, int] = {}
    email_row: dict[str, int] = {}
    for number, cells in table.rows:
        if not _well_formed(table, number, cells, rejects):
            continue
        start = len(rejects)
        external_id = _cell(table, cells, mapping.external_id)
        record = _lead_row(table, mapping, number, cells, external_id, first_row, email_row, existing, now, rejects)
        first_row.setdefault(external_id, number)
        _tag(rejects, start, external_id)
        if record is not None:
            records.append(record)
    return records


def _lead_row(table: CsvTable, mapping: FileMapping, number: int, cells: list[str], external_id: str,
              first_row: dict[str, int], email_row: dict[str, int], existing: Existing, now: datetime,
              rejects: list[Reject]) -> LeadRecord | None:
    if not external_id:
        rejects.append(Reject(table.name, number, mapping.external_id, None, "missing_external_id"))
        return None
    if external_id in first_row:
        rejects.append(Reject(table.name, number, mapping.external_id, external_id, "duplicate_in_file",
                              f"first at row {first_row[external_id]}"))
        return None
    values = _parse_row(table, mapping, LEAD_FIELDS, number, cells, existing, now, rejects)
    if values is None:
        return None
    status = values.get("status")
    if values.get("converted_at") is not None and STATUS_CLASS.get(status or "") != "converted":
        column = mapping.column_of("converted_at")
        rejects.append(Reject(table.name, number, column, _cell(table, cells, column) or None,
                              "booking_time_on_open_lead", f"status {status!r}"))
        return None
    email = values.get("email")
    if email is not None and email in email_row:
        rejects.append(Reject(table.name, number, mapping.column_of("email"), email, "duplicate_email",
                              f"first at row {email_row[email]}"))
        return None
    if email is not None:
        email_row[email] = number
    return LeadRecord(number, external_id, values)


def parse_touches(table: CsvTable, mapping: FileMapping, existing: Existing, now: datetime,
                  rejects: list[Reject]) -> list[TouchRecord]:
    records: list[TouchRecord] = []
    for number, cells in table.rows:
        if not _well_formed(table, number, cells, rejects):
            continue
        start = len(rejects)
        lead_external_id = _cell(table, cells, mapping.lead_external_id)
        record = _touch_row(table, mapping, number, cells, lead_external_id, existing, now, rejects)
        _tag(rejects, start, lead_external_id)
        if record is not None:
            records.append(record)
    return records


def _touch_row(table: CsvTable, mapping: FileMapping, number: int, cells: list[str], lead_external_id: str,
               existing: Existing, now: datetime, rejects: list[Reject]) -> TouchRecord | None:
    if not lead_external_id:
        rejects.append(Reject(table.name, number, mapping.lead_external_id, None, "missing_lead_external_id"))
        return None
    values = _parse_row(table, mapping, TOUCH_FIELDS, number, cells, existing, now, rejects)
    if values is None:
        return None
    missing = [t for t in REQUIRED_TOUCH_FIELDS if values.get(t) is None]
    for target in missing:
        rejects.append(Reject(table.name, number, mapping.column_of(target), None, "missing_value",
                              f"{target} is required"))
    if missing:
        return None
    channel = values["channel"]
    action = values.get("action") or OUTBOUND
    action = SEND_ACTION[channel] if action == OUTBOUND else action
    if ACTION_CHANNEL.get(action) not in (None, channel):
        column = mapping.column_of("action")
        rejects.append(Reject(table.name, number, column, _cell(table, cells, column) or action,
                              "channel_action_mismatch", f"{action} belongs to {ACTION_CHANNEL[action]}, not {channel}"))
        return None
    return TouchRecord(
        row=number, external_id=_cell(table, cells, mapping.external_id) or None,
        lead_external_id=lead_external_id, channel=channel, action=action, created_at=values["created_at"],
        sequence_step=values.get("sequence_step"), subject=values.get("subject"), body=values.get("body"))


# ---- step 2: the rows together ------------------------------------------------------------------

def candidate_ids(client_id: uuid.UUID, leads: Iterable[LeadRecord],
                  touches: Iterable[TouchRecord]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Lead and activity ids this import may write (to ask the database which already exist)."""
    touches = list(touches)
    lead_ids = {lead_id(client_id, r.external_id) for r in leads}
    lead_ids |= {lead_id(client_id, t.lead_external_id) for t in touches}
    activity_ids = {touch_id(client_id, t) for t in touches}
    activity_ids |= {booking_id(client_id, t.lead_external_id) for t in touches}
    return lead_ids, activity_ids


def cross_check(client_id: uuid.UUID, leads: list[LeadRecord], touches: list[TouchRecord],
                lead_mapping: FileMapping | None, touch_mapping: FileMapping | None, existing: Existing,
                rejects: list[Reject]) -> ImportPlan:
    """The rows together: touches linked to leads, booking times, duplicates, what is already imported."""
    already: dict[str, int] = {"leads": 0, "touches": 0}

    def lead_column(target: str) -> str | None:
        return lead_mapping.column_of(target) if lead_mapping else None

    def touch_column(target: str) -> str | None:
        if touch_mapping is None:
            return None
        return {"external_id": touch_mapping.external_id,
                "lead_external_id": touch_mapping.lead_external_id}.get(target) or touch_mapping.column_of(target)

    def reject_touch(touch: TouchRecord, column: str, value: str | None, reason: str, detail: str = "") -> None:
        rejects.append(Reject("touches", touch.row, touch_column(column), value, reason, detail,
                              touch.lead_external_id))

    # Leads already imported are skipped; the new ones are checked against the client's emails.
    new_leads: dict[str, LeadRecord] = {}
    for record in leads:
        record.id = lead_id(client_id, record.external_id)
        email = record.values.get("email")
        if record.id in existing.leads:
            already["leads"] += 1
        elif email is not None and existing.emails.get(email, record.id) != record.id:
            rejects.append(Reject("leads", record.row, lead_column("email"), email, "email_already_exists",
                                  external_id=record.external_id))
        else:
            new_leads[record.external_id] = record

    def stored(ext: str) -> ExistingLead | None:
        return None if ext in new_leads else existing.leads.get(lead_id(client_id, ext))

    first_rejected_row: dict[str, int] = {}
    for r in rejects:
        if r.file == "leads" and r.external_id:
            first_rejected_row[r.external_id] = min(r.row, first_rejected_row.get(r.external_id, r.row))

    def rejected_lead_row(ext: str) -> int | None:
        return first_rejected_row.get(ext)

    # Touches: linked to a lead of this import or one already imported; duplicates dropped.
    linked: list[TouchRecord] = []
    first_row: dict[str, int] = {}
    for touch in touches:
        touch.id = touch_id(client_id, touch)
        key = touch.external_id or touch_identity(touch)
        if key in first_row:
            reject_touch(touch, "external_id" if touch.external_id else "lead_external_id",
                         touch.external_id or touch.lead_external_id, "duplicate_in_file",
                         f"first at row {first_row[key]}")
            continue
        first_row[key] = touch.row
        if touch.lead_external_id in new_leads or stored(touch.lead_external_id) is not None:
            linked.append(touch)
        elif (row := rejected_lead_row(touch.lead_external_id)) is not None:
            reject_touch(touch, "lead_external_id", touch.lead_external_id, "lead_rejected", f"lead row {row}")
        else:
            reject_touch(touch, "lead_external_id", touch.lead_external_id, "unknown_lead")

    # Booking time per lead: the earliest meeting_booked, else converted_at (as the platform's triggers).
    bookings_in_file: dict[str, datetime] = {}
    for touch in linked:
        if touch.action == BOOKING_ACTION:
            ext = touch.lead_external_id
            bookings_in_file[ext] = min(bookings_in_file.get(ext, touch.created_at), touch.created_at)
    booked_at: dict[str, datetime] = {}
    for ext in {t.lead_external_id for t in linked} | set(new_leads):
        lead = stored(ext)
        status, converted_at = ((lead.status, lead.converted_at) if lead is not None else
                                (new_leads[ext].values.get("status"), new_leads[ext].values.get("converted_at")))
        if ext in bookings_in_file:
            stored_booking = lead.first_booking_at if lead is not None else None
            booked_at[ext] = min(bookings_in_file[ext], stored_booking or bookings_in_file[ext])
        elif STATUS_CLASS.get(status or "") == "converted" and converted_at is not None:
            booked_at[ext] = converted_at
    for ext, record in list(new_leads.items()):
        is_converted = STATUS_CLASS.get(record.values.get("status") or "") == "converted"
        if is_converted and ext not in booked_at and lead_mapping and lead_mapping.converted_at_when_missing:
            booked_at[ext] = lead_mapping.converted_at_when_missing.astimezone(timezone.utc)
        if is_converted and ext not in booked_at:
            rejects.append(Reject("leads", record.row, lead_column("status"), record.values.get("status"),
                                  "converted_without_booking_time", external_id=ext))
            first_rejected_row.setdefault(ext, record.row)
            del new_leads[ext]

    kept: list[TouchRecord] = []
    for touch in linked:
        ext = touch.lead_external_id
        if ext not in new_leads and stored(ext) is None:
            reject_touch(touch, "lead_external_id", ext, "lead_rejected", f"lead row {rejected_lead_row(ext)}")
        elif touch.is_outbound and ext in booked_at and touch.created_at >= booked_at[ext]:
            reject_touch(touch, "created_at", touch.created_at.isoformat(), "touch_at_or_after_booking",
                         f"booked at {booked_at[ext].isoformat()}")
        elif touch.id in existing.activity_ids:
            already["touches"] += 1
        else:
            kept.append(touch)

    # New leads get their booking time, a creation time, and a meeting_booked activity where the
    # platform records one: at the booking, on the channel of the last touch before it.
    bookings: list[TouchRecord] = []
    kept_by_lead: dict[str, list[TouchRecord]] = {}
    for touch in kept:
        kept_by_lead.setdefault(touch.lead_external_id, []).append(touch)
    for ext, record in new_leads.items():
        own = kept_by_lead.get(ext, [])
        if ext in booked_at:
            record.values["converted_at"] = booked_at[ext]
            before = [t for t in own if t.is_outbound and t.created_at < booked_at[ext]]
            if lead_mapping and lead_mapping.booking_activity and ext not in bookings_in_file and before:
                last = max(before, key=lambda t: (t.created_at, t.row))
                bookings.append(TouchRecord(
                    row=record.row, external_id=None, lead_external_id=ext, channel=last.channel,
                    action=BOOKING_ACTION, created_at=booked_at[ext], sequence_step=last.sequence_step,
                    subject=None, body=None, id=booking_id(client_id, ext)))
        if "created_at" not in record.values:
            times = [t.created_at for t in own] + ([booked_at[ext]] if ext in booked_at else [])
            if times:
                record.values["created_at"] = min(times)

    lead_info: dict[uuid.UUID, dict[str, Any]] = {
        lid: {"first_name": s.first_name, "company": s.company, "organization_industry": s.organization_industry}
        for lid, s in existing.leads.items()}
    for record in new_leads.values():
        lead_info[record.id] = {k: record.values.get(k) for k in ("first_name", "company", "organization_industry")}
    return ImportPlan(leads=list(new_leads.values()), touches=kept, bookings=bookings, lead_info=lead_info,
                      already_imported=already, rejects=sorted(rejects, key=lambda r: (r.file, r.row)))
