"""The agency-wide patterns as an asset (group ``patterns``): after the marts, before the detectors,
which read the stored agency pattern as their shrinkage prior (issue 10 part 3)."""

import uuid
from collections import Counter

import psycopg
from dagster import AssetExecutionContext, AssetKey, MetadataValue, asset

from convintel import settings
from dagster_pipelines.agency import AGENCY_MARTS, compute_agency_patterns
from dagster_pipelines.assets.detector_factory import clients_in_scope, run_timestamp
from dagster_pipelines.pattern_store import store_agency_patterns
from dagster_pipelines.resources import DatabaseResource

AGENCY_ASSET = "agency_patterns"


@asset(name=AGENCY_ASSET, group_name="patterns", deps=[AssetKey(name) for name in AGENCY_MARTS],
       description="One agency-wide pattern per type from every live client's summed sufficient statistics, "
                   "stored in agency_patterns in its own transaction; the detectors' prior and the fallback "
                   "for clients below a gate.")
def agency_patterns(context: AssetExecutionContext, database: DatabaseResource) -> None:
    # Always every live client, whatever the run's learning scope: the pattern is agency-wide.
    schema = database.dbt_schema or settings.dbt_schema()
    with psycopg.connect(database.resolved_url(), autocommit=True) as conn:
        client_ids = [uuid.UUID(c) for c in clients_in_scope(conn, [])]
        computed_at = run_timestamp(context)
        patterns = compute_agency_patterns(conn, schema, client_ids, computed_at)
        outcomes = store_agency_patterns(conn, patterns, run_id=uuid.UUID(context.run.run_id), computed_at=computed_at)
    actions = Counter(o.action for o in outcomes)
    rows = [f"| {o.pattern_type} | {o.action} | {o.clients_pooled} | {o.reason or ''} |" for o in outcomes]
    context.add_output_metadata({
        "clients": len(client_ids),
        "patterns_stored": actions["stored"],
        "patterns_kept_previous": actions["kept_previous"],
        "nothing_stored": actions["nothing_stored"],
        "by_type": MetadataValue.md("\n".join(["| type | action | clients pooled | why |", "|---|---|---|---|", *rows])),
    })
