"""One import, end to end: read the files, validate every row, write the good ones in one transaction."""

from __future__ import annotations

import csv
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from convintel.importer.load import ClientNotFound, fetch_existing, resolve_client, timezone_names, write_plan
from convintel.importer.mapping import ImportMapping, MappingError
from convintel.importer.validate import (Existing, ImportFileError, Reject, candidate_ids, cross_check, parse_leads,
                                         parse_touches, read_csv)

FILES = ("leads", "touches")


class ImportDatabaseError(RuntimeError):
    """The database refused the write; nothing of this import was kept."""


@dataclass
class ImportReport:
    client_id: uuid.UUID
    client_name: str
    client_created: bool
    dry_run: bool
    rows_read: dict[str, int]
    loaded: dict[str, int]                 # leads, touches, bookings (would be loaded, in a dry run)
    already_imported: dict[str, int]
    rejects: list[Reject] = field(default_factory=list)

    def rejected_rows(self, file: str) -> int:
        return len({r.row for r in self.rejects if r.file == file})

    def reasons(self) -> Counter[tuple[str, str]]:
        """(file, reason) -> number of rows rejected for it."""
        return Counter({key: len(rows) for key, rows in _rows_by_reason(self.rejects).items()})


def _rows_by_reason(rejects: list[Reject]) -> dict[tuple[str, str], set[int]]:
    out: dict[tuple[str, str], set[int]] = {}
    for r in rejects:
        out.setdefault((r.file, r.reason), set()).add(r.row)
    return out


def run_import(url: str, client: str, mapping: ImportMapping, *, leads_path: Path | None = None,
               touches_path: Path | None = None, dry_run: bool = False, create_client: bool = False,
               now: datetime | None = None) -> ImportReport:
    """Validate and load; raises MappingError / ImportFileError / ClientNotFound / ImportDatabaseError."""
    now = now or datetime.now(timezone.utc)
    paths = {"leads": leads_path, "touches": touches_path}
    file_mappings = {"leads": mapping.leads, "touches": mapping.touches}
    for name in FILES:
        if paths[name] is not None and file_mappings[name] is None:
            raise MappingError([f"a {name} file was given but the mapping has no '{name}' section"])
    if leads_path is None and touches_path is None:
        raise ImportFileError("give a leads file, a touches file, or both")
    tables = {name: read_csv(paths[name], name, file_mappings[name])  # type: ignore[arg-type]
              for name in FILES if paths[name] is not None}
    rows_read = {name: len(tables[name].rows) if name in tables else 0 for name in FILES}

    try:
        with psycopg.connect(url) as conn:
            with conn.transaction():
                resolved = resolve_client(conn, client, create=create_client, timezone=mapping.client_timezone)
                rejects: list[Reject] = []
                shape = Existing(timezones=timezone_names(conn))
                leads = (parse_leads(tables["leads"], mapping.leads, shape, now, rejects)
                         if "leads" in tables and mapping.leads else [])
                touches = (parse_touches(tables["touches"], mapping.touches, shape, now, rejects)
                           if "touches" in tables and mapping.touches else [])
                lead_ids, activity_ids = candidate_ids(resolved.id, leads, touches)
                emails = {r.values["email"] for r in leads if r.values.get("email") is not None}
                existing = fetch_existing(conn, resolved.id, lead_ids, activity_ids, emails, shape.timezones)
                plan = cross_check(resolved.id, leads, touches, mapping.leads, mapping.touches, existing, rejects)
                written = write_plan(conn, resolved.id, plan, now=now,
                                     leads_file=leads_path.name if leads_path else None,
                                     touches_file=touches_path.name if touches_path else None)
                if dry_run:
                    raise psycopg.Rollback()   # leaves the block, undoing everything (client included)
    except psycopg.Error as exc:
        raise ImportDatabaseError(f"the database refused the import, nothing was loaded: {exc}") from exc

    # Rows the database skipped (a concurrent import got there first) count as already imported.
    already = dict(plan.already_imported)
    already["leads"] += len(plan.leads) - written.leads
    already["touches"] += len(plan.touches) + len(plan.bookings) - written.touches - written.bookings
    return ImportReport(client_id=resolved.id, client_name=resolved.name, client_created=resolved.created,
                        dry_run=dry_run, rows_read=rows_read,
                        loaded={"leads": written.leads, "touches": written.touches, "bookings": written.bookings},
                        already_imported=already, rejects=plan.rejects)


REJECT_COLUMNS = ("file", "row", "external_id", "column", "value", "reason", "detail")


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    """One line per problem: file, spreadsheet row, the row's external id, column, value, reason, detail."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECT_COLUMNS)
        for r in rejects:
            writer.writerow((r.file, r.row, r.external_id or "", r.column or "", r.value or "", r.reason, r.detail))


__all__ = ["ClientNotFound", "ImportDatabaseError", "ImportReport", "run_import", "write_rejects"]
