"""`convintel health`: the pattern-health job in-process on the local Dagster instance (so `make ui` shows
the run and its asset checks), then the findings it recorded as a table.

Exit codes (for cron and CI): 0 — no finding at or above ``--fail-on`` (default ``high``); 2 — such
findings exist; 1 — the job itself failed.
"""

from __future__ import annotations

import contextlib
from enum import Enum
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from rich.console import Console
from rich.table import Table

from convintel import settings



class FailOn(str, Enum):
    """The least severe finding that makes ``convintel health`` exit 2."""

    high = "high"
    medium = "medium"
    low = "low"
    never = "never"

_SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}


def run_health_job(url: str, *, log_path: Path | None = None, dbt_schema: str | None = None,
                   docs_dir: Path | None = None, webhook_url: str = ""):
    """Materialise ``pattern_health`` (with its checks); the run's log goes to ``log_path``."""
    settings.ensure_dagster_home()
    from dagster import DagsterInstance, materialize

    from dagster_pipelines.assets.health import pattern_health
    from dagster_pipelines.resources import build_resources

    run_config = {
        "ops": {"pattern_health": {"config": {"docs_dir": str(docs_dir or ""), "webhook_url": webhook_url}}},
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},  # the log is in the UI; findings are printed
    }
    log_path = log_path or settings.STATE_DIR / "logs" / "health.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log, contextlib.redirect_stdout(log):
        return materialize([pattern_health], resources=build_resources(url, dbt_schema),
                           instance=DagsterInstance.get(), run_config=run_config, raise_on_error=False)


def recorded_run(url: str, dagster_run_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The health run recorded by a Dagster run and its findings (most severe first), with client names."""
    from dagster_pipelines.health.store import SCOPE_TRANSACTION_TO_ALL_CLIENTS

    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(SCOPE_TRANSACTION_TO_ALL_CLIENTS)
        with conn.cursor(row_factory=dict_row) as cursor:
            run = cursor.execute("select * from pattern_health_runs where dagster_run_id = %s", (dagster_run_id,)).fetchone()
            if run is None:
                return None, []
            findings = cursor.execute(
                """
                select f.severity, coalesce(c.name, '(store)') as client, f.pattern_type, f.rule, f.message
                from pattern_health_findings as f
                left join clients as c on c.id = f.client_id
                where f.run_id = %s
                order by array_position(array['high', 'medium', 'low'], f.severity), client, f.pattern_type, f.rule, f.id
                """,
                (run["id"],),
            ).fetchall()
    return run, findings


def print_findings(console: Console, run: dict[str, Any], findings: list[dict[str, Any]], limit: int = 200) -> None:
    console.print(
        f"pattern health {run['id']}: {run['clients_checked']} clients, {run['patterns_checked']} patterns; "
        f"[bold red]{run['high_count']} high[/bold red], [yellow]{run['medium_count']} medium[/yellow], "
        f"{run['low_count']} low; expectations {run['expectations_evaluated'] - run['expectations_failed']}"
        f"/{run['expectations_evaluated']} passed"
    )
    if findings:
        table = Table(title="findings (all of them: select * from pattern_health_findings)")
        for column in ("severity", "client", "type", "rule", "message"):
            table.add_column(column, overflow="fold")
        for row in findings[:limit]:
            table.add_row(row["severity"], row["client"], row["pattern_type"] or "-", row["rule"], row["message"],
                          style=_STYLE[row["severity"]])
        console.print(table)
        if len(findings) > limit:
            console.print(f"… and {len(findings) - limit} more")
    if run["data_docs_path"]:
        console.print(f"Great Expectations data docs: {run['data_docs_path']}", soft_wrap=True)  # a path to copy whole


def exit_code(run: dict[str, Any], fail_on: FailOn | str) -> int:
    """2 when a finding at or above ``fail_on`` exists, else 0."""
    fail_on = FailOn(fail_on)
    if fail_on is FailOn.never:
        return 0
    counts = {"high": run["high_count"], "medium": run["medium_count"], "low": run["low_count"]}
    threshold = _SEVERITY_RANK[fail_on.value]
    return 2 if any(count for severity, count in counts.items() if _SEVERITY_RANK[severity] <= threshold) else 0
