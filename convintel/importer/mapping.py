"""The declared column mapping of an import (YAML), parsed and checked before any row is read.

A mapping says, per file, which CSV column feeds which target field, how CSV values translate to the
platform's vocabulary (value maps), which columns are the external ids, and how timestamps are written.
Every mistake is reported at once, each with the path of the key it concerns (``leads.columns.Stage``).
"""

from __future__ import annotations

from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from convintel.importer.vocab import ACTIONS, CHANNELS, LEAD_STATUSES, OUTBOUND

# Target fields per file and their types. Types: text, int, bool, date, timestamp, timezone, and the
# vocabularies status / channel / action (value-mapped, then checked against the dbt seeds).
LEAD_FIELDS: dict[str, str] = {
    "email": "text", "phone": "text", "first_name": "text", "last_name": "text", "title": "text",
    "company": "text", "linkedin_url": "text", "domain": "text", "timezone": "timezone",
    "organization_industry": "text", "organization_employee_count": "int", "organization_country": "text",
    "organization_is_hiring": "bool", "organization_latest_funding_date": "date",
    "employment_start_date": "date", "seniority_level": "text", "als_score": "int", "als_tier": "text",
    "status": "status", "created_at": "timestamp", "converted_at": "timestamp",
}
TOUCH_FIELDS: dict[str, str] = {
    "channel": "channel", "action": "action", "created_at": "timestamp", "sequence_step": "int",
    "subject": "text", "body": "text",
}
REQUIRED_TOUCH_FIELDS = ("channel", "created_at")
VOCABULARIES: dict[str, frozenset[str]] = {
    "status": LEAD_STATUSES, "channel": CHANNELS, "action": ACTIONS | {OUTBOUND},
}
DEFAULT_TIMESTAMP_FORMAT = "iso"
DEFAULT_DATE_FORMAT = "%Y-%m-%d"


class MappingError(ValueError):
    """The mapping file is wrong; ``problems`` lists every mistake found, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid mapping:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class FileMapping:
    """How one CSV file maps onto one target table."""

    kind: str                              # leads or touches
    external_id: str | None                # the column holding the row's own external id
    lead_external_id: str | None           # touches: the column joining a touch to its lead
    columns: dict[str, str]                # CSV column -> target field
    values: dict[str, dict[str, str | None]]  # target field -> {normalised CSV value -> platform value or None}
    defaults: dict[str, str]               # target field -> value used when the column is absent/empty
    delimiter: str = ","
    timestamp_format: str = DEFAULT_TIMESTAMP_FORMAT
    timestamp_timezone: str = "UTC"
    date_format: str = DEFAULT_DATE_FORMAT
    booking_activity: bool = True          # leads: record a meeting_booked activity for converted leads
    # leads: the booking time of converted leads for which the files give none (e.g. the export date)
    converted_at_when_missing: datetime | None = None

    def column_of(self, target: str) -> str | None:
        return next((column for column, t in self.columns.items() if t == target), None)

    def maps(self, target: str) -> bool:
        return self.column_of(target) is not None or target in self.defaults

    def source_columns(self) -> list[str]:
        ids = [c for c in (self.external_id, self.lead_external_id) if c]
        return list(dict.fromkeys(ids + list(self.columns)))


@dataclass(frozen=True)
class ImportMapping:
    leads: FileMapping | None
    touches: FileMapping | None
    client_timezone: str = "UTC"           # only used when the import creates the client
    source: str = field(default="", compare=False)


def value_key(value: str) -> str:
    """Value maps match case-insensitively on the trimmed value."""
    return " ".join(value.split()).lower()


def _timezone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _text_map(raw: Any, where: str, problems: list[str], allow_null: bool = False) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, AnyMapping):
        problems.append(f"{where}: expected a mapping of names to names, got {type(raw).__name__}")
        return {}
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or isinstance(key, bool):
            # YAML 1.1 reads yes/no/on/off as booleans: ask for quotes rather than guess.
            problems.append(f"{where}.{key}: write yes/no/true/false values in quotes")
        elif value is None and allow_null:
            out[str(key)] = None   # a value map to null: the CSV value means "no value" ("Select", "N/A")
        elif value is None:
            problems.append(f"{where}.{key}: has no value")
        else:
            out[str(key)] = str(value)
    return out


def _file_mapping(kind: str, raw: Any, defaults: dict[str, Any], problems: list[str]) -> FileMapping | None:
    if raw is None:
        return None
    if not isinstance(raw, AnyMapping):
        problems.append(f"{kind}: expected a mapping, got {type(raw).__name__}")
        return None
    fields = LEAD_FIELDS if kind == "leads" else TOUCH_FIELDS
    known_keys = {"external_id", "lead_external_id", "columns", "values", "defaults", "delimiter",
                  "timestamps", "dates", "booking_activity", "converted_at_when_missing"}
    if kind == "leads":
        known_keys -= {"lead_external_id"}
    else:
        known_keys -= {"booking_activity", "converted_at_when_missing"}
    for key in raw:
        if key not in known_keys:
            problems.append(f"{kind}.{key}: unknown key (known: {', '.join(sorted(known_keys))})")

    columns = _text_map(raw.get("columns"), f"{kind}.columns", problems)
    seen: dict[str, str] = {}
    for column, target in columns.items():
        if target not in fields:
            problems.append(f"{kind}.columns.{column}: unknown target field {target!r} "
                            f"(known: {', '.join(fields)})")
        elif target in seen:
            problems.append(f"{kind}.columns.{column}: field {target!r} is already fed by column {seen[target]!r}")
        else:
            seen[target] = column

    values_raw = raw.get("values") or {}
    values: dict[str, dict[str, str]] = {}
    if not isinstance(values_raw, AnyMapping):
        problems.append(f"{kind}.values: expected a mapping of field -> value map")
        values_raw = {}
    for target, value_map in values_raw.items():
        where = f"{kind}.values.{target}"
        if target not in fields:
            problems.append(f"{where}: unknown target field {target!r}")
            continue
        parsed = _text_map(value_map, where, problems, allow_null=True)
        vocabulary = VOCABULARIES.get(fields[target])
        for source_value, platform_value in parsed.items():
            if vocabulary is not None and platform_value is not None and platform_value not in vocabulary:
                problems.append(f"{where}.{source_value}: {platform_value!r} is not a known {fields[target]} "
                                f"(known: {', '.join(sorted(vocabulary))})")
        values[target] = {value_key(k): v for k, v in parsed.items()}

    file_defaults = _text_map(raw.get("defaults"), f"{kind}.defaults", problems)
    for target, value in file_defaults.items():
        vocabulary = VOCABULARIES.get(fields.get(target, ""))
        if target not in fields:
            problems.append(f"{kind}.defaults.{target}: unknown target field {target!r}")
        elif vocabulary is not None and value not in vocabulary:
            problems.append(f"{kind}.defaults.{target}: {value!r} is not a known {fields[target]}")

    external_id = raw.get("external_id")
    lead_external_id = raw.get("lead_external_id")
    if kind == "leads" and not external_id:
        problems.append("leads.external_id: required (the column that identifies a lead; touches join on it)")
    if kind == "touches" and not lead_external_id:
        problems.append("touches.lead_external_id: required (the column holding the lead's external id)")
    for name, value in (("external_id", external_id), ("lead_external_id", lead_external_id)):
        if value is not None and not isinstance(value, str):
            problems.append(f"{kind}.{name}: expected a column name")
    if kind == "leads" and "status" not in seen and "status" not in file_defaults:
        problems.append("leads: map a column to 'status' or give defaults.status (the outcome is what is learnt)")
    if kind == "touches":
        for target in REQUIRED_TOUCH_FIELDS:
            if target not in seen and target not in file_defaults:
                problems.append(f"touches: map a column to {target!r} (required)")

    timestamps = {**defaults.get("timestamps", {}), **(raw.get("timestamps") or {})}
    dates = {**defaults.get("dates", {}), **(raw.get("dates") or {})}
    ts_zone = str(timestamps.get("timezone", "UTC"))
    if not _timezone_ok(ts_zone):
        problems.append(f"{kind}.timestamps.timezone: {ts_zone!r} is not an IANA time zone (e.g. Europe/Berlin)")
    delimiter = str(raw.get("delimiter", ","))
    if len(delimiter) != 1:
        problems.append(f"{kind}.delimiter: one character expected, got {delimiter!r}")
    when_missing = raw.get("converted_at_when_missing")
    converted_at_when_missing: datetime | None = None
    if isinstance(when_missing, datetime):     # YAML reads an unquoted ISO timestamp itself
        when_missing = when_missing.isoformat()
    if when_missing is not None:
        try:
            converted_at_when_missing = datetime.fromisoformat(str(when_missing))
        except ValueError:
            problems.append(f"{kind}.converted_at_when_missing: an ISO 8601 timestamp with offset expected "
                            f"(e.g. '2020-01-31T00:00:00+00:00'), got {when_missing!r}")
        else:
            if converted_at_when_missing.tzinfo is None:
                problems.append(f"{kind}.converted_at_when_missing: give the offset (e.g. +00:00)")
                converted_at_when_missing = None
    booking_activity = raw.get("booking_activity", True)
    if not isinstance(booking_activity, bool):
        problems.append(f"{kind}.booking_activity: true or false expected")
    return FileMapping(
        kind=kind, external_id=external_id if isinstance(external_id, str) else None,
        lead_external_id=lead_external_id if isinstance(lead_external_id, str) else None,
        columns={c: t for c, t in columns.items() if t in fields}, values=values, defaults=file_defaults,
        delimiter=delimiter, timestamp_format=str(timestamps.get("format", DEFAULT_TIMESTAMP_FORMAT)),
        timestamp_timezone=ts_zone, date_format=str(dates.get("format", DEFAULT_DATE_FORMAT)),
        booking_activity=bool(booking_activity), converted_at_when_missing=converted_at_when_missing)


def parse_mapping(raw: Any, source: str = "") -> ImportMapping:
    """An ImportMapping from the loaded YAML document; MappingError lists every problem."""
    problems: list[str] = []
    if not isinstance(raw, AnyMapping):
        raise MappingError([f"the mapping must be a YAML mapping with 'leads' and/or 'touches' (got {type(raw).__name__})"])
    known = {"version", "timestamps", "dates", "client", "leads", "touches"}
    for key in raw:
        if key not in known:
            problems.append(f"{key}: unknown key (known: {', '.join(sorted(known))})")
    if raw.get("version", 1) != 1:
        problems.append(f"version: only version 1 is known (got {raw.get('version')!r})")
    shared: dict[str, Any] = {}
    for key in ("timestamps", "dates"):
        value = raw.get(key)
        if value is not None and not isinstance(value, AnyMapping):
            problems.append(f"{key}: expected a mapping with 'format' (and for timestamps 'timezone')")
        elif value:
            shared[key] = dict(value)
    client = raw.get("client") or {}
    client_timezone = str(client.get("timezone", "UTC")) if isinstance(client, AnyMapping) else "UTC"
    if not _timezone_ok(client_timezone):
        problems.append(f"client.timezone: {client_timezone!r} is not an IANA time zone")
    leads = _file_mapping("leads", raw.get("leads"), shared, problems)
    touches = _file_mapping("touches", raw.get("touches"), shared, problems)
    if leads is None and touches is None:
        problems.append("the mapping has neither 'leads' nor 'touches'")
    if problems:
        raise MappingError(problems)
    return ImportMapping(leads=leads, touches=touches, client_timezone=client_timezone, source=source)


def load_mapping(path: Path) -> ImportMapping:
    """Read and check a mapping file (YAML)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError([f"cannot read {path}: {exc.strerror or exc}"]) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError([f"{path.name} is not valid YAML: {exc}"]) from exc
    return parse_mapping(raw, source=str(path))
