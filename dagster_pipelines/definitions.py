"""The one Dagster ``Definitions`` object of the project (`dagster dev -m dagster_pipelines.definitions`)."""

from dagster import Definitions, JobDefinition, define_asset_job

from dagster_pipelines.assets.dbt import dbt_models
from dagster_pipelines.assets.patterns import DETECTOR_ASSETS, conversion_patterns
from dagster_pipelines.resources import build_resources

LEARNING_ASSETS = [dbt_models, *DETECTOR_ASSETS, conversion_patterns]

dbt_build_job = define_asset_job("dbt_build", selection=[dbt_models], description="Seeds, models and tests of the dbt project.")
learning_job = define_asset_job(
    "learning", selection=LEARNING_ASSETS, description="dbt build, then every detector, then the pattern store.",
)

defs = Definitions(
    assets=LEARNING_ASSETS,
    jobs=[dbt_build_job, learning_job],
    resources=build_resources(),
)


def resolved_job(name: str = "learning") -> JobDefinition:
    """A job of ``defs``, resolved: what ``build_reconstructable_job("dagster_pipelines.definitions",
    "resolved_job", reconstructable_kwargs={"name": ...})`` rebuilds in each step process when a job runs
    outside the webserver under the multiprocess executor."""
    return defs.resolve_job_def(name)
