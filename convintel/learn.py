"""A learning run from the command line or the demo: dbt build → detectors → pattern store, in-process
on the local Dagster instance (so `make ui` shows the run), and a readable summary of what was stored."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from uuid import UUID

import psycopg
from rich.console import Console

from convintel import settings


def run_learning(url: str, client_ids: Sequence[UUID] = (), *, log_path: Path | None = None, dbt_schema: str | None = None,
                 as_of: datetime | None = None):
    """Materialise the learning path; the run's log goes to ``log_path`` (its events to the instance).
    ``as_of``: the instant the models learn as of (default: the start of the dbt build)."""
    settings.ensure_dagster_home()
    from dagster import DagsterInstance, materialize

    from convintel.dbt import prepare_manifest

    log_path = log_path or settings.STATE_DIR / "logs" / "learning.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log, contextlib.redirect_stdout(log):
        prepare_manifest(url)  # before importing the dbt assets: they read the manifest at import time

    from dagster_pipelines.assets.dbt import dbt_models
    from dagster_pipelines.assets.kpi import client_kpis
    from dagster_pipelines.assets.patterns import DETECTOR_ASSETS, conversion_patterns
    from dagster_pipelines.resources import build_resources

    run_config: dict = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}  # the full log is in the UI
    if as_of is not None:
        run_config["ops"] = {"dbt_models": {"config": {"as_of": as_of.isoformat()}}}
    with log_path.open("a") as log, contextlib.redirect_stdout(log):
        return materialize(
            [dbt_models, *DETECTOR_ASSETS, conversion_patterns, client_kpis],
            resources=build_resources(url, dbt_schema, client_ids=[str(c) for c in client_ids]),
            instance=DagsterInstance.get(),
            run_config=run_config, raise_on_error=False,
        )


def print_summary(console: Console, url: str, client_ids: Sequence[UUID] = ()) -> None:
    """Each client's stored patterns, type by type, in the words of each detector's ``summary_lines``."""
    from dagster_pipelines.assets.patterns import DETECTORS

    with psycopg.connect(url) as conn:
        ids = list(client_ids) or [row[0] for row in conn.execute("select id from clients order by name")]
        conn.execute("select set_config('app.client_ids', %s, false)", (",".join(map(str, ids)),))
        clients = conn.execute("select id, name from clients where id = any(%s) order by name", (ids,)).fetchall()
        agency = dict(conn.execute("select pattern_type, clients_pooled from agency_patterns").fetchall())
        stored = {
            (client_id, pattern_type): (patterns, confidence)
            for client_id, pattern_type, patterns, confidence in conn.execute(
                "select client_id, pattern_type, patterns, confidence from conversion_patterns where client_id = any(%s)",
                (ids,),
            )
        }
    console.print("\n[bold]Stored patterns[/bold] — rate [95% interval] and n; a label only when q < 0.10")
    for client_id, name in clients:
        console.print(f"\n[bold]{name}[/bold]")
        for spec in DETECTORS:
            patterns, confidence = stored.get((client_id, spec.pattern_type), (None, None))
            if patterns is None:
                fallback = (f"; served the agency-wide pattern ({agency[spec.pattern_type]} clients pooled)"
                            if spec.pattern_type in agency else "")
                console.print(f"  {spec.pattern_type.upper():<5} no pattern stored (not enough data yet){fallback}",
                              style="dim")
                continue
            lines = spec.summary_lines(patterns)
            console.print(f"  {spec.pattern_type.upper():<5} confidence {confidence:.2f} · {lines[0]}")
            for line in lines[1:]:
                console.print(f"        {line}")
