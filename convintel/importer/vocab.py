"""The platform vocabularies an import checks against, read from the dbt seeds dbt itself uses
(``activity_actions``, ``lead_statuses``), so importer and pipeline agree on what is known."""

from __future__ import annotations

import csv
from pathlib import Path

from convintel.synth.vocab import SEEDS_DIR

# The action value meaning "the channel's outbound send action" (email -> email_sent, ...).
OUTBOUND = "outbound"
BOOKING_ACTION = "meeting_booked"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]


_ACTION_ROWS = _rows(SEEDS_DIR / "activity_actions.csv")
_STATUS_ROWS = _rows(SEEDS_DIR / "lead_statuses.csv")

ACTIONS: frozenset[str] = frozenset(r["action"] for r in _ACTION_ROWS)
CHANNELS: frozenset[str] = frozenset(r["channel"] for r in _ACTION_ROWS if r["channel"])
# The channel an action belongs to; None: any channel (generic events such as replied, meeting_booked).
ACTION_CHANNEL: dict[str, str | None] = {r["action"]: r["channel"] or None for r in _ACTION_ROWS}
OUTBOUND_ACTIONS: frozenset[str] = frozenset(r["action"] for r in _ACTION_ROWS if r["is_outbound"] == "true")
SEND_ACTION: dict[str, str] = {r["channel"]: r["action"] for r in _ACTION_ROWS if r["is_outbound"] == "true"}
LEAD_STATUSES: frozenset[str] = frozenset(r["status"] for r in _STATUS_ROWS)
STATUS_CLASS: dict[str, str] = {r["status"]: r["status_class"] for r in _STATUS_ROWS}
