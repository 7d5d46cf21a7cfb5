"""The ``client_kpis`` asset (group ``patterns``): business KPIs and learning health per client and week
(docs/kpis.md), computed after the pattern store (so the history holds this run's rows) and stored in
``client_kpis``; its metadata is a markdown table of each client's latest cohort week and learning health."""

import uuid
from typing import Any

from dagster import AssetExecutionContext, AssetKey, MetadataValue, asset

from convintel import settings
from dagster_pipelines.assets.detector_factory import run_timestamp
from dagster_pipelines.kpi_store import KPI_MARTS, refresh_client_kpis
from dagster_pipelines.resources import DatabaseResource, LearningScope

KPI_ASSET = "client_kpis"
METADATA_ROW_LIMIT = 20


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def kpi_markdown(documents: dict[uuid.UUID, dict], limit: int = METADATA_ROW_LIMIT) -> str:
    """One row per client (the first ``limit``): its latest cohort week's KPIs and its learning health."""
    header = ["client", "week", "booked / resolved", "booking rate (95% CI)", "median days", "touches",
              "multi-channel lift", "top quintile", "WHO confidence", "weights converged at"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for client_id, document in sorted(documents.items(), key=lambda item: str(item[0]))[:limit]:
        cohorts = [week for week in document["weeks"] if week.get("booking_rate")]
        health = document["learning_health"]
        stability = health["weight_stability"]
        who = health["latest_confidence"].get("who")
        converged = (f"{stability['outcomes_to_converge']} outcomes" if stability.get("confirmed")
                     else stability.get("status", "–"))
        if not cohorts:
            lines.append(f"| {client_id} | – | – | – | – | – | – | – | {_num(who and who['confidence'])} | {converged} |")
            continue
        week = cohorts[-1]
        rate, lift, top = week["booking_rate"], week["multi_channel_lift"] or {}, week["top_quintile"] or {}
        lines.append(
            f"| {client_id} | {week['iso_week']} | {week['conversions']} / {week['leads_with_outcome']} "
            f"(+{week['in_flight']} in flight) | {_pct(rate['rate'])} ({_pct(rate['ci_low'])}–{_pct(rate['ci_high'])}) "
            f"| {_num(week['median_days_to_convert'], 1)} | {_num(week['avg_touches_to_convert'], 1)} "
            f"| {_num(lift.get('lift'))} | {_pct(top.get('rate'))} ({top.get('weights_source', '–')}) "
            f"| {_num(who and who['confidence'])} | {converged} |")
    if len(documents) > limit:
        lines.append(f"| … {len(documents) - limit} more clients | | | | | | | | | |")
    return "\n".join(lines)


@asset(name=KPI_ASSET, group_name="patterns", deps=[AssetKey("conversion_patterns"), *map(AssetKey, KPI_MARTS)],
       description="Business KPIs and learning health per client and cohort week (docs/kpis.md), stored in client_kpis.")
def client_kpis(context: AssetExecutionContext, database: DatabaseResource, learning_scope: LearningScope) -> None:
    schema = database.dbt_schema or settings.dbt_schema()
    client_ids = [uuid.UUID(c) for c in learning_scope.client_ids]
    documents = refresh_client_kpis(database.resolved_url(), schema, client_ids, computed_at=run_timestamp(context),
                                    run_id=uuid.UUID(context.run.run_id))
    converged = sum(1 for d in documents.values() if d["learning_health"]["weight_stability"].get("confirmed"))
    context.add_output_metadata({
        "clients": len(documents),
        "clients_with_converged_weights": converged,
        "latest_week_and_learning_health": MetadataValue.md(kpi_markdown(documents)) if documents else "no client with a cohort",
    })
