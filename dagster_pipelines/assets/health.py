"""The ``pattern_health`` asset (group ``health``): SPEC §8 rules and Great Expectations over the stored
patterns, findings recorded in ``pattern_health_findings``, high severity to the alert hook.

It depends on ``conversion_patterns`` by key only (it reads the table, not the learning run's output),
so the daily health job runs without a learning run. Its asset checks are emitted by the asset itself
(one evaluation per run) and sit on ``pattern_health``: learning runs, however they are partitioned,
stay free of health work, and the UI shows the checks next to the findings they summarise.
"""

from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from convintel import settings
from dagster_pipelines.health import DEFAULT_DOCS_DIR
from dagster_pipelines.health.report import HealthReport, findings_markdown, run_health
from dagster_pipelines.resources import DatabaseResource

HEALTH_ASSET = "pattern_health"
CHECK_NO_HIGH = "no_high_severity_findings"
CHECK_NO_MEDIUM = "no_medium_severity_findings"
CHECK_EXPECTATIONS = "expectations_pass"


class HealthConfig(Config):
    docs_dir: str = Field(default="", description="where GX data docs go; empty: .convintel/gx_docs")
    webhook_url: str = Field(default="", description="alert webhook; empty: CONVINTEL_ALERT_WEBHOOK_URL (if set)")


@asset(
    name=HEALTH_ASSET, group_name="health", deps=[AssetKey("conversion_patterns")],
    description="Pattern health (SPEC §8): rules + Great Expectations over conversion_patterns and its history; "
                "findings in pattern_health_findings, high severity to the alert hook.",
    check_specs=[
        AssetCheckSpec(CHECK_NO_HIGH, asset=HEALTH_ASSET,
                       description="No high-severity finding (expired pattern, extreme WHO weight, failed expectation)."),
        AssetCheckSpec(CHECK_NO_MEDIUM, asset=HEALTH_ASSET,
                       description="No medium-severity finding (expiring, small sample, low confidence, missing type, drift)."),
        AssetCheckSpec(CHECK_EXPECTATIONS, asset=HEALTH_ASSET,
                       description="Every Great Expectations table expectation on conversion_patterns and its history passes."),
    ],
)
def pattern_health(context: AssetExecutionContext, config: HealthConfig, database: DatabaseResource) -> MaterializeResult:
    docs_dir = Path(config.docs_dir) if config.docs_dir else DEFAULT_DOCS_DIR
    report = run_health(
        database.resolved_url(), dbt_schema=database.dbt_schema or settings.dbt_schema(), docs_dir=docs_dir,
        dagster_run_id=context.run.run_id, webhook_url=config.webhook_url or None, log=context.log,
    )
    return MaterializeResult(metadata=_metadata(report), check_results=_check_results(report))


def _metadata(report: HealthReport) -> dict[str, object]:
    counts = report.counts
    docs = report.expectations.data_docs_index
    return {
        "health_run_id": str(report.run_id),
        "checked_at": report.checked_at.isoformat(),
        "clients_checked": report.clients_checked,
        "patterns_checked": report.patterns_checked,
        "high": counts["high"],
        "medium": counts["medium"],
        "low": counts["low"],
        "expectations": f"{report.expectations.successful}/{report.expectations.evaluated} passed",
        "findings": MetadataValue.md(findings_markdown(report.findings)),
        "data_docs": MetadataValue.path(str(docs)) if docs else "not generated",
        "webhook": report.alert.webhook if report.alert else "not called",
    }


def _check_results(report: HealthReport) -> list[AssetCheckResult]:
    high, medium = report.by_severity("high"), report.by_severity("medium")
    expectations = report.expectations
    return [
        AssetCheckResult(check_name=CHECK_NO_HIGH, passed=not high, severity=AssetCheckSeverity.ERROR,
                         metadata={"count": len(high), "findings": MetadataValue.md(findings_markdown(high, 20))}),
        AssetCheckResult(check_name=CHECK_NO_MEDIUM, passed=not medium, severity=AssetCheckSeverity.WARN,
                         metadata={"count": len(medium), "findings": MetadataValue.md(findings_markdown(medium, 20))}),
        AssetCheckResult(
            check_name=CHECK_EXPECTATIONS, passed=expectations.success, severity=AssetCheckSeverity.ERROR,
            metadata={"evaluated": expectations.evaluated, "failed": expectations.failed,
                      "per_suite": MetadataValue.json(expectations.per_suite)},
        ),
    ]
