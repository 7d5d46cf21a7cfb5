"""The one Dagster ``Definitions`` object of the project (`dagster dev -m dagster_pipelines.definitions`)."""

from dagster import Definitions, define_asset_job

from dagster_pipelines.assets.dbt import dbt_models
from dagster_pipelines.resources import build_resources

dbt_build_job = define_asset_job("dbt_build", selection=[dbt_models], description="Seeds, models and tests of the dbt project.")

defs = Definitions(
    assets=[dbt_models],
    jobs=[dbt_build_job],
    resources=build_resources(),
)
