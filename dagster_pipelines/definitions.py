"""The one Dagster ``Definitions`` object of the project (`dagster dev -m dagster_pipelines.definitions`)."""

from dagster import Definitions, JobDefinition, ScheduleDefinition, define_asset_job

from dagster_pipelines.assets.backfill import content_snapshot_backfill
from dagster_pipelines.assets.dbt import dbt_models
from dagster_pipelines.assets.health import pattern_health
from dagster_pipelines.assets.kpi import client_kpis
from dagster_pipelines.assets.patterns import DETECTOR_ASSETS, conversion_patterns
from dagster_pipelines.resources import build_resources

LEARNING_ASSETS = [dbt_models, *DETECTOR_ASSETS, conversion_patterns, client_kpis]

dbt_build_job = define_asset_job("dbt_build", selection=[dbt_models], description="Seeds, models and tests of the dbt project.")
learning_job = define_asset_job(
    "learning", selection=LEARNING_ASSETS, description="dbt build, then every detector, then the pattern store.",
)
backfill_job = define_asset_job(
    "backfill", selection=[content_snapshot_backfill, *LEARNING_ASSETS],
    description="One client (resources.learning_scope.config.client_ids = [id]): rebuild its missing content "
                "snapshots from activity fields, then dbt build, the detectors and the store for that client.",
)
pattern_health_job = define_asset_job(
    "health", selection=[pattern_health],
    description="Rules and Great Expectations over the stored patterns (SPEC §8); findings and alerts.",
)
# SPEC §8 schedules, in UTC.
weekly_learning_schedule = ScheduleDefinition(
    name="weekly_learning", job=learning_job, cron_schedule="0 2 * * 0", execution_timezone="UTC",
    description="Learning every Sunday at 02:00 UTC.",
)
daily_health_schedule = ScheduleDefinition(
    name="daily_pattern_health", job=pattern_health_job, cron_schedule="0 6 * * *", execution_timezone="UTC",
    description="Pattern health every day at 06:00 UTC.",
)

defs = Definitions(
    assets=[*LEARNING_ASSETS, content_snapshot_backfill, pattern_health],
    jobs=[dbt_build_job, learning_job, backfill_job, pattern_health_job],
    schedules=[weekly_learning_schedule, daily_health_schedule],
    resources=build_resources(),
)


def resolved_job(name: str = "learning") -> JobDefinition:
    """A job of ``defs``, resolved: what ``build_reconstructable_job("dagster_pipelines.definitions",
    "resolved_job", reconstructable_kwargs={"name": ...})`` rebuilds in each step process when a job runs
    outside the webserver under the multiprocess executor."""
    return defs.resolve_job_def(name)
