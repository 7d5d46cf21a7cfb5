"""`make demo`: the main job on the embedded database, end to end, with a summary at the end."""

from __future__ import annotations

import time

import psycopg
from rich.console import Console
from rich.table import Table

from convintel import settings
from convintel.migrate import migrate


def run_demo(console: Console, url: str, *, clients: int, leads: int, seed: int) -> None:
    started = time.monotonic()
    applied = migrate(url)
    console.print(f"[bold]1. migrations[/bold]: {len(applied)} applied" if applied else "[bold]1. migrations[/bold]: up to date")

    with psycopg.connect(url) as conn:
        existing = conn.execute("select count(*) from clients").fetchone()[0]
    truth_path = settings.STATE_DIR / f"truth-seed{seed}.json"
    if existing:
        console.print(f"[bold]2. synthetic world[/bold]: {existing} clients already loaded, kept (`make clean` starts over)")
    else:
        from convintel.badrows import insert_bad_rows
        from convintel.synth import generate

        with console.status("2. synthesising a world with planted truth..."):
            summary = generate(url, clients=clients, leads=leads, seed=seed, truth_path=truth_path)
        bad_rows = insert_bad_rows(url)
        console.print(
            f"[bold]2. synthetic world[/bold]: {summary.clients} clients, {summary.leads:,} leads, "
            f"{summary.outbound_touches:,} touches, {summary.conversions:,} bookings "
            f"(planted truth: {truth_path}), plus {sum(bad_rows.values())} deliberately bad rows"
        )

    from convintel.learn import print_summary, run_learning

    log_path = settings.STATE_DIR / "logs" / "demo-learning.log"
    with console.status("3. learning through Dagster: dbt build (seeds, models, uniqueness tests), detectors, pattern store..."):
        result = run_learning(url, log_path=log_path)
    console.print(f"[bold]3. learning[/bold] Dagster run {result.run_id}: "
                  f"{'success' if result.success else 'FAILED'} (log: {log_path})")
    if not result.success:
        console.print(log_path.read_text()[-4000:])
        raise SystemExit(1)

    _summarise(console, url)
    print_summary(console, url)

    from convintel.health import print_findings, recorded_run, run_health_job
    from dagster_pipelines.health import DEFAULT_DOCS_DIR

    health_log = settings.STATE_DIR / "logs" / "demo-health.log"
    with console.status("4. pattern health: rules and Great Expectations over the stored patterns..."):
        health = run_health_job(url, log_path=health_log, docs_dir=DEFAULT_DOCS_DIR)
    run, findings = recorded_run(url, health.run_id) if health.success else (None, [])
    if run is None:
        console.print(f"[red]4. pattern health run {health.run_id} failed[/red] (log: {health_log})")
        raise SystemExit(1)
    console.print(f"\n[bold]4. pattern health[/bold] Dagster run {health.run_id}")
    print_findings(console, run, findings, limit=20)

    console.print(f"\ndone in {time.monotonic() - started:.0f} s. Where to look next:")
    console.print("  make ui     Dagster UI on http://127.0.0.1:3000: assets and lineage, these two runs, asset checks,")
    console.print("              the schedules (learning Sun 02:00 UTC, health daily 06:00 UTC)")
    console.print("  make docs   dbt docs with lineage (dbt_project/target/index.html)")
    console.print(f"  data docs   Great Expectations results: {DEFAULT_DOCS_DIR / 'index.html'}")
    console.print(f"  psql {url}   then e.g. select * from {settings.dbt_schema()}.fct_data_quality_exclusions")


def _summarise(console: Console, url: str) -> None:
    schema = settings.dbt_schema()
    with psycopg.connect(url) as conn:
        outcomes = conn.execute(
            f"""
            select c.name, count(*) filter (where o.outcome = 'converted'),
                   count(*) filter (where o.outcome = 'failed'), count(*) filter (where o.outcome = 'stale'),
                   count(*) filter (where o.outcome = 'in_flight'), count(*)
            from {schema}.int_lead_outcomes as o join clients as c on c.id = o.client_id
            group by c.name order by c.name
            """
        ).fetchall()
        exclusions = conn.execute(
            f"select source_table, reason, disposition, sum(row_count)::bigint from {schema}.fct_data_quality_exclusions "
            "group by 1, 2, 3 order by 1, 2"
        ).fetchall()
    table = Table(title="lead outcomes per client (SPEC §4)")
    for column in ("client", "converted", "failed", "stale", "in flight", "leads"):
        table.add_column(column, justify="left" if column == "client" else "right")
    for row in outcomes:
        table.add_row(row[0], *(f"{value:,}" for value in row[1:]))
    console.print(table)
    quality = Table(title="rows excluded or corrected (fct_data_quality_exclusions)")
    for column in ("table", "reason", "disposition", "rows"):
        quality.add_column(column)
    for row in exclusions:
        quality.add_row(row[0], row[1], row[2], f"{row[3]:,}")
    console.print(quality if exclusions else "no rows excluded or corrected")
