"""A learning run from the command line or the demo: dbt build → detectors → pattern store, in-process
on the local Dagster instance (so `make ui` shows the run), and a readable summary of what was stored."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

import psycopg
from rich.console import Console
from rich.table import Table

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
    table = Table(title="WHO patterns (rate [95% interval], n; label when q < 0.10)", show_lines=True)
    for column in ("client", "top titles", "top industries", "size sweet spot", "weights (cv AUC learned / default)"):
        table.add_column(column)
    for name, patterns, confidence, _ in rows:
        if patterns is None:
            table.add_row(name, "no pattern stored (not enough data)", "", "", "")
            continue
        validation = patterns["weights_validation"]
        weights = patterns["recommended_weights"]
        spot = patterns["size_analysis"]["sweet_spot"]
        table.add_row(
            f"{name}\nconfidence {confidence:.2f}\n{patterns['conversions']} / {patterns['sample_size']} booked",
            _top_entries(patterns["title_rankings"]["by_title"]),
            _top_entries(patterns["industry_rankings"]),
            f"{spot['bucket']} employees: {spot['conversion_rate']:.1%}" if spot else "-",
            f"{weights['source']}: " + ", ".join(f"{k} {weights[k]:.2f}" for k in ("data_quality", "authority", "company_fit", "timing"))
            + f"\n{validation['cv_auc_learned']:.3f} / {validation['cv_auc_default']:.3f}\n{validation['reason']}",
        )
    console.print(table)


def _top_entries(entries: list[dict], limit: int = 3) -> str:
    ranked = sorted((e for e in entries if e.get("is_ranked")), key=lambda e: e["rank"])[:limit]
    return "\n".join(
        f"{e['category']}: {e['rate']:.1%} [{e['ci_low']:.1%}, {e['ci_high']:.1%}] n={e['sample']}"
        + (f" {e['label']}" if e.get("label") else "")
        for e in ranked
    ) or "-"
