"""Re-derive missing content snapshots of one client's outbound touches from the activity's own fields
(issue 7 backfill, SPEC §8): the touches an engine sent before it recorded snapshots, or recorded
without one, get the snapshot the engines' builder (``detectors.snapshot``) would have written, from
``subject``/``content_preview`` and the lead's context. Plain psycopg, no Dagster, so the asset, the
command line and the tests share it.

Only NULL snapshots are filled: a snapshot that exists, even a malformed one, is the platform's record
and is never overwritten (the WHAT marts exclude malformed ones with a counted reason); the counts of
what was filled, left malformed and left without text are returned for the run's metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

import psycopg

BATCH_ROWS = 5_000

_CANDIDATES = """
select a.id, a.channel, a.subject, a.content_preview, a.sequence_step,
       l.first_name, l.company, l.organization_industry
from activities as a
left join leads as l on l.id = a.lead_id
where a.client_id = %(client_id)s
  and a.action = any(convintel_outbound_actions())
  and a.content_snapshot is null
  and (nullif(btrim(a.subject), '') is not null or nullif(btrim(a.content_preview), '') is not null)
order by a.id
"""

_COUNTS = """
select
    count(*) filter (where a.content_snapshot is null
                     and nullif(btrim(a.subject), '') is null and nullif(btrim(a.content_preview), '') is null),
    count(*) filter (where a.content_snapshot is not null and jsonb_typeof(a.content_snapshot) <> 'object')
from activities as a
where a.client_id = %(client_id)s and a.action = any(convintel_outbound_actions())
"""


@dataclass(frozen=True)
class SnapshotBackfill:
    client_id: UUID
    filled: int                # NULL snapshots rebuilt from subject/content_preview
    without_text: int          # NULL snapshots left NULL: the activity holds no text to rebuild from
    malformed_kept: int        # existing non-object snapshots, kept as recorded (excluded by the marts)


def backfill_content_snapshots(conn: psycopg.Connection, client_id: UUID) -> SnapshotBackfill:
    """Fill the client's missing outbound snapshots, in batches, one transaction for the whole client
    (all or nothing: a failure leaves the activities as they were)."""
    from detectors.snapshot import build_content_snapshot, load_content_vocabulary

    vocabulary = load_content_vocabulary()
    filled = 0
    with conn.transaction():
        with conn.cursor(name="snapshot_backfill_candidates") as candidates, conn.cursor() as writer:
            candidates.execute(_CANDIDATES, {"client_id": client_id})
            while rows := candidates.fetchmany(BATCH_ROWS):
                updates = [
                    (json.dumps(build_content_snapshot(
                        channel=channel, subject=subject, body=preview, sequence_step=step, vocabulary=vocabulary,
                        lead={"first_name": first_name, "company": company, "organization_industry": industry},
                    )), activity_id)
                    for activity_id, channel, subject, preview, step, first_name, company, industry in rows
                ]
                writer.executemany("update activities set content_snapshot = %s::jsonb where id = %s", updates)
                filled += len(updates)
        without_text, malformed = conn.execute(_COUNTS, {"client_id": client_id}).fetchone()
    return SnapshotBackfill(client_id, filled, int(without_text), int(malformed))
