"""The dbt models as Dagster assets, grouped by layer (staging, intermediate, marts, seeds)."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Optional

import psycopg
from dagster import AssetExecutionContext, Config
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets
from pydantic import Field

from convintel import settings
from convintel.dbt import (LEARNING_BUILD_EXCLUDES, LEARNING_BUILD_OUTPUT_FLAGS, discard_run_target, keep_parse_state,
                           parse_state_key, prune_run_targets, runs_in_learning_build, seed_parse_state)
from dagster_pipelines.dbt_project import dbt_project
from dagster_pipelines.resources import DatabaseResource


class LayeredTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "dbt_seeds"
        fqn = dbt_resource_props.get("fqn", [])
        return f"dbt_{fqn[1]}" if len(fqn) > 2 else "dbt"

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        """Only the tests a learning build runs (the uniqueness tests) gate the steps after it; the others
        run in the health job, so here they are checks that never block (and are not waited for)."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or runs_in_learning_build(manifest["nodes"].get(unique_id, {})):
            return spec
        return spec._replace(blocking=False)


# First key of the two-key advisory lock "dbt build into a schema" (second key: the schema's hash).
DBT_BUILD_LOCK_CLASS = 716_015

class DbtBuildConfig(Config):
    all_tests: bool = Field(default=False, description="run every dbt test (data and unit) in the build, "
                                                       "not only the uniqueness tests a learning run needs")
    as_of: Optional[str] = Field(default=None, description="the instant the models learn as of (ISO timestamp, "
                                                           "e.g. 2026-06-01T00:00:00+00:00; without an offset: UTC); "
                                                           "default: the start of the build")


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=LayeredTranslator())
def dbt_models(context: AssetExecutionContext, config: DbtBuildConfig, dbt: DbtCliResource,
               database: DatabaseResource) -> Iterator:
    """`dbt build` of the selected models: seeds, models and the uniqueness tests (LEARNING_BUILD_EXCLUDES;
    tests show as asset checks, those not run are not evaluated).

    Two builds into one schema at once would drop and swap each other's tables, so a build holds a
    session advisory lock on the schema for its whole duration; a second learning run waits for it.
    Each build has its own target folder, seeded with the latest parse state of this connection
    (convintel.dbt) so that dbt parses only what changed, and that state is kept for the next build."""
    schema = database.dbt_schema or settings.dbt_schema()
    args = ["build"] if config.all_tests else ["build", *LEARNING_BUILD_OUTPUT_FLAGS,
                                              "--exclude", " ".join(LEARNING_BUILD_EXCLUDES)]
    if config.as_of:
        args += ["--vars", json.dumps({"as_of": config.as_of})]
    environment = settings.libpq_env(database.resolved_url(), database.dbt_schema)
    key = parse_state_key(environment, args)
    target = dbt_project.project_dir / "target" / f"{context.op_def.name}-{context.run.run_id[:8]}-{uuid.uuid4().hex[:7]}"
    with psycopg.connect(database.resolved_url(), autocommit=True) as lock:
        lock_key = (DBT_BUILD_LOCK_CLASS, schema)
        if not lock.execute("select pg_try_advisory_lock(%s, hashtext(%s))", lock_key).fetchone()[0]:
            context.log.info(f"another dbt build into schema {schema!r} is running; waiting for it to finish")
            lock.execute("select pg_advisory_lock(%s, hashtext(%s))", lock_key)
        try:
            seed_parse_state(target, key, environment)
            with database.dbt_environment():
                invocation = dbt.cli(args, context=context, target_path=target)
            yield from invocation.stream()
            keep_parse_state(target, key)
            discard_run_target(target)  # nothing reads it any more; a failed build's folder stays for a day
            prune_run_targets()
        finally:
            lock.execute("select pg_advisory_unlock(%s, hashtext(%s))", lock_key)
