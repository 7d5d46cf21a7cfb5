"""The dbt models as Dagster assets, grouped by layer (staging, intermediate, marts, seeds)."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from dagster_pipelines.dbt_project import dbt_project
from dagster_pipelines.resources import DatabaseResource


class LayeredTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "dbt_seeds"
        fqn = dbt_resource_props.get("fqn", [])
        return f"dbt_{fqn[1]}" if len(fqn) > 2 else "dbt"


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=LayeredTranslator())
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, database: DatabaseResource) -> Iterator:
    """`dbt build` of the selected models: seeds, models and their tests (tests show as asset checks)."""
    with database.dbt_environment():
        invocation = dbt.cli(["build"], context=context)
    yield from invocation.stream()
