"""The backfill of one client (issue 7, SPEC §8): re-derive its missing content snapshots, then the
learning path runs on as usual (dbt build → detectors → store) in the same job.

The snapshot step is the asset ``platform/activities`` — the platform table the dbt sources read — so
that in the backfill job dbt's staging models run after it, and the lineage shows what it writes. The
weekly learning job does not select it: only a backfill writes to the platform's table."""

from uuid import UUID

import psycopg
from dagster import AssetExecutionContext, AssetKey, Failure, asset

from dagster_pipelines.backfill import backfill_content_snapshots
from dagster_pipelines.resources import DatabaseResource, LearningScope


@asset(key=AssetKey(["platform", "activities"]), group_name="maintenance",
       description="Backfill only: fills the scoped client's missing content snapshots from subject/"
                   "content_preview with the engines' snapshot builder (never overwrites a recorded one).")
def content_snapshot_backfill(context: AssetExecutionContext, database: DatabaseResource,
                              learning_scope: LearningScope) -> None:
    if len(learning_scope.client_ids) != 1:
        raise Failure(f"a backfill is for exactly one client; the learning scope names {len(learning_scope.client_ids)}"
                      " (set resources.learning_scope.config.client_ids to [<client id>])")
    client_id = UUID(learning_scope.client_ids[0])
    with psycopg.connect(database.resolved_url()) as conn:
        if conn.execute("select 1 from clients where id = %s", (client_id,)).fetchone() is None:
            raise Failure(f"no client with id {client_id}")
        counts = backfill_content_snapshots(conn, client_id)
    context.log.info(f"{counts.filled} snapshots rebuilt for client {client_id}")
    context.add_output_metadata({
        "client_id": str(client_id),
        "snapshots_filled": counts.filled,
        "left_without_text": counts.without_text,
        "malformed_kept": counts.malformed_kept,
    })
