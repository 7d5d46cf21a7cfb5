"""The dbt models as Dagster assets, grouped by layer (staging, intermediate, marts, seeds)."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from convintel import settings
from dagster_pipelines.dbt_project import dbt_project
from dagster_pipelines.resources import DatabaseResource


class LayeredTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "dbt_seeds"
        fqn = dbt_resource_props.get("fqn", [])
        return f"dbt_{fqn[1]}" if len(fqn) > 2 else "dbt"


# First key of the two-key advisory lock "dbt build into a schema" (second key: the schema's hash).
DBT_BUILD_LOCK_CLASS = 716_015


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=LayeredTranslator())
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, database: DatabaseResource) -> Iterator:
    """`dbt build` of the selected models: seeds, models and their tests (tests show as asset checks).

    Two builds into one schema at once would drop and swap each other's tables, so a build holds a
    session advisory lock on the schema for its whole duration; a second learning run waits for it."""
    schema = database.dbt_schema or settings.dbt_schema()
    with psycopg.connect(database.resolved_url(), autocommit=True) as lock:
        key = (DBT_BUILD_LOCK_CLASS, schema)
        if not lock.execute("select pg_try_advisory_lock(%s, hashtext(%s))", key).fetchone()[0]:
            context.log.info(f"another dbt build into schema {schema!r} is running; waiting for it to finish")
            lock.execute("select pg_advisory_lock(%s, hashtext(%s))", key)
        try:
            with database.dbt_environment():
                invocation = dbt.cli(["build"], context=context)
            yield from invocation.stream()
        finally:
            lock.execute("select pg_advisory_unlock(%s, hashtext(%s))", key)
