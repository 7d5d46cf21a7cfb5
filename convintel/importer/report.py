"""The import's summary on the terminal: counts per file, rejected rows by reason, the first rejects."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from convintel.importer.run import FILES, ImportReport
from convintel.importer.validate import REASONS

SHOWN_REJECTS = 20


def report_lines(report: ImportReport, rejects_path: Path | None = None) -> list[str]:
    verb = "would load" if report.dry_run else "loaded"
    head = f"import into client {report.client_name!r} ({report.client_id})"
    if report.client_created:
        head += ", created" if not report.dry_run else ", to be created"
    lines = [head + (" — DRY RUN, nothing written" if report.dry_run else "")]
    lines.append(f"{'':<9}{'read':>8}{verb:>12}{'already imported':>18}{'rejected':>10}")
    for name in FILES:
        lines.append(f"{name:<9}{report.rows_read[name]:>8,}{report.loaded[name]:>12,}"
                     f"{report.already_imported[name]:>18,}{report.rejected_rows(name):>10,}")
    if report.loaded["bookings"]:
        lines.append(f"meeting_booked activities recorded for converted leads: {report.loaded['bookings']:,}")
    if any(report.already_imported.values()):
        lines.append("already imported rows were skipped (an import never updates or duplicates a row)")
    reasons = report.reasons()
    if reasons:
        lines.append("rejected rows by reason:")
        for (file, reason), count in sorted(reasons.items()):
            lines.append(f"  {file:<8} {reason:<32} {count:>6,}  {REASONS.get(reason, '')}")
        for r in report.rejects[:SHOWN_REJECTS]:
            where = f"column {r.column!r}" if r.column else "row"
            value = f" value {r.value!r}" if r.value else ""
            detail = f" ({r.detail})" if r.detail else ""
            lines.append(f"  {r.file} row {r.row}, {where}{value}: {r.reason}{detail}")
        if len(report.rejects) > SHOWN_REJECTS:
            lines.append(f"  … {len(report.rejects) - SHOWN_REJECTS:,} more" +
                         ("" if rejects_path else " (write them all with --rejects FILE)"))
    if rejects_path is not None:
        lines.append(f"rejects: {rejects_path} ({len(report.rejects):,} problems)")
    return lines


def print_import_report(console: Console, report: ImportReport, rejects_path: Path | None = None) -> None:
    for line in report_lines(report, rejects_path):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
