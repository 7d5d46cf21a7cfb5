"""One factory for the four detector assets (group ``detectors``): each detector declares what it reads
and how it runs in a ``DetectorSpec``; the asset, its config, its metadata and its run timestamp are the
same for all of them."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import psycopg
from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, Config, MetadataValue, asset
from pydantic import Field

from convintel import settings
from dagster_pipelines.resources import DatabaseResource
from detectors.result import DetectorResult, PatternType


class LearningConfig(Config):
    client_ids: list[str] = Field(default_factory=list, description="learn only these clients (default: all)")


@dataclass(frozen=True)
class DetectorSpec:
    """What one detector reads and how it runs.

    ``run(conn, dbt_schema, client_ids, computed_at)`` returns one result per client with data (all
    clients when ``client_ids`` is empty); ``findings`` renders the passed results as a markdown table for
    the asset's metadata; ``summary_lines`` turns one stored pattern into a few lines for people (CLI).
    """

    pattern_type: PatternType
    marts: tuple[str, ...]
    description: str
    run: Callable[[psycopg.Connection, str, Sequence[UUID], datetime], list[DetectorResult]]
    findings: Callable[[list[DetectorResult]], str]
    summary_lines: Callable[[dict[str, Any]], list[str]]

    @property
    def asset_name(self) -> str:
        return f"{self.pattern_type}_patterns"


def detector_asset(spec: DetectorSpec) -> AssetsDefinition:
    @asset(name=spec.asset_name, group_name="detectors", deps=[AssetKey(name) for name in spec.marts],
           description=spec.description)
    def _detector(context: AssetExecutionContext, config: LearningConfig, database: DatabaseResource) -> list[DetectorResult]:
        client_ids = [UUID(value) for value in config.client_ids]
        schema = database.dbt_schema or settings.dbt_schema()
        with psycopg.connect(database.resolved_url()) as conn:
            results = spec.run(conn, schema, client_ids, run_timestamp(context))
        passed = [r for r in results if r.patterns is not None]
        context.add_output_metadata({
            "clients": len(results),
            "gate_passed": len(passed),
            "gate_failed": len(results) - len(passed),
            "top_findings": MetadataValue.md(spec.findings(passed)),
            **({"weights_shipped": sum(r.learned_weights is not None for r in passed)} if spec.pattern_type == "who" else {}),
        })
        return results

    return _detector


def run_timestamp(context: AssetExecutionContext) -> datetime:
    """One instant per learning run (its creation time): the patterns' computed_at and the stored rows'
    computed_at agree, whichever asset reads it and however long the run takes."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    created = record.create_timestamp if record else datetime.now(timezone.utc)
    return created.astimezone(timezone.utc).replace(microsecond=0)


def top_ranked(entries: list[dict], key: str = "category") -> str:
    """The rank-1 entry of a ranking as 'name rate (n=…)', or '-' when nothing is ranked."""
    ranked = [e for e in entries if e.get("rank") == 1]
    if not ranked:
        return "-"
    e = ranked[0]
    return f"{e[key]} {e['rate']:.1%} (n={e['sample']})"


def ranked_entries(entries: list[dict], limit: int = 3, key: str = "category") -> str:
    """The first ``limit`` ranked entries with rate, 95% interval, n and label, for people."""
    ranked = sorted((e for e in entries if e.get("is_ranked")), key=lambda e: e["rank"])[:limit]
    return " · ".join(
        f"{e[key]} {e['rate']:.1%} [{e['ci_low']:.1%}, {e['ci_high']:.1%}] n={e['sample']}"
        + (f" {e['label']}" if e.get("label") else "")
        for e in ranked
    ) or "-"
