"""Detector assets (group ``detectors``) and the stored ``conversion_patterns`` (group ``patterns``)."""

import uuid
from collections import Counter
from datetime import datetime, timezone

import psycopg
from dagster import AssetExecutionContext, AssetKey, Config, MetadataValue, asset
from pydantic import Field

from convintel import settings
from dagster_pipelines.marts import load_who_inputs
from dagster_pipelines.pattern_store import store_client_results
from dagster_pipelines.resources import DatabaseResource
from detectors.result import DetectorResult
from detectors.who import detect_who

WHO_MARTS = [AssetKey("fct_who_client_summary"), AssetKey("fct_who_dimension_stats"), AssetKey("fct_who_component_combinations")]


class LearningConfig(Config):
    client_ids: list[str] = Field(default_factory=list, description="learn only these clients (default: all)")


@asset(group_name="detectors", deps=WHO_MARTS, description="WHO patterns per client from the WHO marts (SPEC §7 who).")
def who_patterns(context: AssetExecutionContext, config: LearningConfig, database: DatabaseResource) -> list[DetectorResult]:
    client_ids = [uuid.UUID(value) for value in config.client_ids]
    computed_at = _run_timestamp(context)
    schema = database.dbt_schema or settings.dbt_schema()
    with psycopg.connect(database.resolved_url()) as conn:
        results = [detect_who(inputs, computed_at=computed_at) for inputs in load_who_inputs(conn, schema, client_ids)]
    passed = [r for r in results if r.patterns is not None]
    context.add_output_metadata({
        "clients": len(results),
        "gate_passed": len(passed),
        "gate_failed": len(results) - len(passed),
        "weights_shipped": sum(r.learned_weights is not None for r in passed),
        "top_findings": MetadataValue.md(_who_findings_table(passed)),
    })
    return results


@asset(group_name="patterns", description="Stores every detector's patterns: one transaction per client (SPEC §7 storage).")
def conversion_patterns(context: AssetExecutionContext, database: DatabaseResource, who_patterns: list[DetectorResult]) -> None:
    run_id = uuid.UUID(context.run.run_id)
    computed_at = _run_timestamp(context)
    by_client: dict[uuid.UUID, list[DetectorResult]] = {}
    for result in who_patterns:
        by_client.setdefault(result.client_id, []).append(result)
    actions: Counter[str] = Counter()
    kept_reasons: list[str] = []
    with psycopg.connect(database.resolved_url(), autocommit=True) as conn:
        for client_id, results in sorted(by_client.items()):
            for outcome in store_client_results(conn, client_id, results, run_id=run_id, computed_at=computed_at):
                actions[outcome.action] += 1
                if outcome.reason:
                    kept_reasons.append(f"| {client_id} | {outcome.pattern_type} | {outcome.action} | {outcome.reason} |")
    context.add_output_metadata({
        "run_id": str(run_id),
        "clients": len(by_client),
        "patterns_stored": actions["stored"],
        "patterns_kept_previous": actions["kept_previous"],
        "nothing_stored": actions["nothing_stored"],
        "gate_failures": MetadataValue.md("\n".join(["| client | type | action | why |", "|---|---|---|---|", *kept_reasons]))
        if kept_reasons else "none",
    })


def _run_timestamp(context: AssetExecutionContext) -> datetime:
    """One instant per learning run (its creation time): the patterns' computed_at and the stored rows'
    computed_at agree, whichever asset reads it and however long the run takes."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    created = record.create_timestamp if record else datetime.now(timezone.utc)
    return created.astimezone(timezone.utc).replace(microsecond=0)


def _who_findings_table(results: list[DetectorResult], limit: int = 20) -> str:
    lines = ["| client | top title | top industry | weights | cv AUC learned / default |", "|---|---|---|---|---|"]
    for result in results[:limit]:
        p = result.patterns
        title = _top(p["title_rankings"]["by_title"])
        industry = _top(p["industry_rankings"])
        validation = p["weights_validation"]
        lines.append(
            f"| {result.client_id} | {title} | {industry} | {p['recommended_weights']['source']} | "
            f"{validation['cv_auc_learned']} / {validation['cv_auc_default']} |"
        )
    return "\n".join(lines)


def _top(entries: list[dict]) -> str:
    ranked = [e for e in entries if e.get("rank") == 1]
    if not ranked:
        return "-"
    e = ranked[0]
    return f"{e['category']} {e['rate']:.1%} (n={e['sample']})"
