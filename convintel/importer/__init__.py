"""``convintel import``: CSV history (leads with outcomes, touches with content) into the source tables.

mapping  — the declared column mapping (YAML) and its checks
vocab    — channels, actions and statuses, from the dbt seeds
validate — every row checked; rejects with row, column and reason (pure, no database)
load     — client resolution, what already exists, the write (COPY + insert … on conflict do nothing)
run      — one import end to end, in one transaction; the report and the rejects CSV
See docs/import.md.
"""

from convintel.importer.load import ClientNotFound
from convintel.importer.mapping import ImportMapping, MappingError, load_mapping, parse_mapping
from convintel.importer.run import ImportDatabaseError, ImportReport, run_import, write_rejects
from convintel.importer.validate import REASONS, ImportFileError, Reject, lead_id

__all__ = ["REASONS", "ClientNotFound", "ImportDatabaseError", "ImportFileError", "ImportMapping", "ImportReport",
           "MappingError", "Reject", "lead_id", "load_mapping", "parse_mapping", "run_import", "write_rejects"]
