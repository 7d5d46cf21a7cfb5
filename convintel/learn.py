"""A learning run from the command line or the demo: dbt build → detectors → pattern store, in-process
on the local Dagster instance (so `make ui` shows the run), and a readable summary of what was stored."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

import psycopg
from rich.console import Console

from convintel import settings


def run_learning(url: str, client_ids: Sequence[UUID] = (), *, log_path: Path | None = None, dbt_schema: str | None = None):
    """Materialise the learning path; the run's log goes to ``log_path`` (its events to the instance)."""
    settings.ensure_dagster_home()
    from dagster import DagsterInstance, materialize

    from convintel.dbt import prepare_manifest
    from dagster_pipelines.assets.dbt import dbt_models
    from dagster_pipelines.assets.detectors import conversion_patterns, who_patterns
    from dagster_pipelines.resources import build_resources

    run_config = {
        "ops": {"who_patterns": {"config": {"client_ids": [str(c) for c in client_ids]}}},
        "loggers": {"console": {"config": {"log_level": "ERROR"}}},  # the full log is in the UI
    }
    log_path = log_path or settings.STATE_DIR / "logs" / "learning.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log, contextlib.redirect_stdout(log):
        prepare_manifest(url)
        return materialize(
            [dbt_models, who_patterns, conversion_patterns],
            resources=build_resources(url, dbt_schema), instance=DagsterInstance.get(),
            run_config=run_config, raise_on_error=False,
        )


def print_who_summary(console: Console, url: str, client_ids: Sequence[UUID] = ()) -> None:
    """Each client's stored WHO pattern: top titles and industries with intervals, weights and validation."""
    with psycopg.connect(url) as conn:
        ids = list(client_ids) or [row[0] for row in conn.execute("select id from clients order by name")]
        conn.execute("select set_config('app.client_ids', %s, false)", (",".join(map(str, ids)),))
        rows = conn.execute(
            """
            select c.name, p.patterns, p.confidence, p.computed_at
            from clients as c left join conversion_patterns as p on p.client_id = c.id and p.pattern_type = 'who'
            where c.id = any(%s) order by c.name
            """,
            (ids,),
        ).fetchall()
    console.print("\n[bold]WHO patterns[/bold] — rate [95% interval] and n; a label only when q < 0.10")
    for name, patterns, confidence, _ in rows:
        if patterns is None:
            console.print(f"\n[bold]{name}[/bold]: no WHO pattern stored (not enough data yet)")
            continue
        validation = patterns["weights_validation"]
        weights = patterns["recommended_weights"]
        spot = patterns["size_analysis"]["sweet_spot"]
        console.print(
            f"\n[bold]{name}[/bold]: {patterns['conversions']} booked of {patterns['sample_size']} leads with an "
            f"outcome ({patterns['baseline_rate']:.1%}), confidence {confidence:.2f}"
        )
        console.print(f"  titles      {_top_entries(patterns['title_rankings']['by_title'])}")
        console.print(f"  industries  {_top_entries(patterns['industry_rankings'])}")
        if spot:
            console.print(f"  size        sweet spot {spot['bucket']} employees: {spot['conversion_rate']:.1%} (n={spot['sample']})")
        console.print(
            f"  weights     {weights['source']}: "
            + ", ".join(f"{k} {weights[k]:.2f}" for k in ("data_quality", "authority", "company_fit", "timing"))
            + f"; cv AUC learned {validation['cv_auc_learned']:.3f} vs default {validation['cv_auc_default']:.3f}"
        )
        console.print(f"              {validation['reason']}", style="dim")


def _top_entries(entries: list[dict], limit: int = 3) -> str:
    ranked = sorted((e for e in entries if e.get("is_ranked")), key=lambda e: e["rank"])[:limit]
    return " · ".join(
        f"{e['category']} {e['rate']:.1%} [{e['ci_low']:.1%}, {e['ci_high']:.1%}] n={e['sample']}"
        + (f" {e['label']}" if e.get("label") else "")
        for e in ranked
    ) or "-"
