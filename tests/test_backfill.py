"""The backfill job for one client (issue 7): missing content snapshots rebuilt from the activity's own
fields with the engines' builder, recorded ones never overwritten, other clients untouched, then the
detectors and the store run for that client — through Dagster, on a real database."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import psycopg
import pytest
from dagster import DagsterInstance, materialize

from convintel.synth import generate
from dagster_pipelines.assets.backfill import content_snapshot_backfill
from dagster_pipelines.assets.dbt import dbt_models
from dagster_pipelines.assets.patterns import DETECTOR_ASSETS, conversion_patterns
from dagster_pipelines.resources import build_resources
from detectors.snapshot import build_content_snapshot

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
OUTBOUND = "a.action = any(convintel_outbound_actions())"


def _backfill(url: str, client_ids: list[str]):
    return materialize(
        [content_snapshot_backfill, dbt_models, *DETECTOR_ASSETS, conversion_patterns],
        resources=build_resources(url, "analytics", client_ids=client_ids), instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_backfill_rebuilds_missing_snapshots_of_one_client_and_learns_it(db_url: str) -> None:
    generate(db_url, clients=2, leads=2500, seed=41, as_of=AS_OF)
    with psycopg.connect(db_url, autocommit=True) as conn:
        target, other = [str(row[0]) for row in conn.execute("select id from clients order by id")]
        # An engine that recorded no snapshots for a third of its touches, and one malformed record.
        conn.execute(f"update activities a set content_snapshot = null where {OUTBOUND} and a.id::text < '5'")
        malformed = conn.execute(
            f"select a.id from activities a where {OUTBOUND} and a.client_id = %s and a.content_snapshot is not null "
            "order by a.id limit 1", (target,)).fetchone()[0]
        conn.execute("update activities set content_snapshot = '\"not an object\"'::jsonb where id = %s", (malformed,))
        missing = dict(conn.execute(
            f"select a.client_id::text, count(*) from activities a where {OUTBOUND} and a.content_snapshot is null "
            "group by 1").fetchall())
    assert missing[target] > 100 and missing[other] > 100

    result = _backfill(db_url, [target])
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "platform/activities"]
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    assert (metadata["snapshots_filled"], metadata["left_without_text"], metadata["malformed_kept"]) == (missing[target], 0, 1)

    with psycopg.connect(db_url, autocommit=True) as conn:
        still_missing = dict(conn.execute(
            f"select a.client_id::text, count(*) from activities a where {OUTBOUND} and a.content_snapshot is null "
            "group by 1").fetchall())
        assert still_missing == {other: missing[other]}            # the other client is untouched
        assert conn.execute("select content_snapshot from activities where id = %s", (malformed,)).fetchone()[0] == "not an object"
        rows = conn.execute(
            f"select a.channel, a.subject, a.content_preview, a.sequence_step, l.first_name, l.company, "
            f"l.organization_industry, a.content_snapshot from activities a join leads l on l.id = a.lead_id "
            f"where {OUTBOUND} and a.client_id = %s and a.id::text < '5' and a.id <> %s order by a.id limit 200",
            (target, malformed)).fetchall()
        conn.execute("select set_config('app.client_ids', %s, false)", (target,))
        stored = {row[0] for row in conn.execute("select pattern_type from conversion_patterns")}
    for channel, subject, preview, step, first_name, company, industry, snapshot in rows:
        expected = build_content_snapshot(channel=channel, subject=subject, body=preview, sequence_step=step, lead={
            "first_name": first_name, "company": company, "organization_industry": industry})
        assert snapshot == json.loads(json.dumps(expected))
    assert {"who", "what"} <= stored


def test_backfill_refuses_a_scope_that_is_not_one_client(db_url: str) -> None:
    generate(db_url, clients=2, leads=200, seed=42, as_of=AS_OF)
    result = _backfill(db_url, [])
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "exactly one client" in str(failure.step_failure_data.error.message)
