"""``convintel``: the command line that ties the pieces together for humans."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from convintel import settings
from convintel.health import FailOn
from convintel.localdb import LocalCluster, LocalDatabaseError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Conversion Intelligence: learn who, what, when and how leads book meetings.")
db_app = typer.Typer(no_args_is_help=True, help="The embedded local PostgreSQL cluster (used when DATABASE_URL is not set).")
app.add_typer(db_app, name="db")
console = Console()


def _cluster() -> LocalCluster:
    return LocalCluster(settings.LOCAL_CLUSTER_DIR)


def _url(start_local: bool = True) -> str:
    """DATABASE_URL, else the local cluster (started on demand)."""
    try:
        return settings.database_url()
    except settings.DatabaseNotConfigured:
        if not start_local:
            raise
    try:
        url = _cluster().up()
    except LocalDatabaseError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"[dim]local database: {url}[/dim]")
    return url


@db_app.command("up")
def db_up() -> None:
    """Start the local cluster (creating it on first use) and print its URL."""
    try:
        url = _cluster().up()
    except LocalDatabaseError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(url)


@db_app.command("down")
def db_down() -> None:
    """Stop the local cluster; its data stays for the next `db up`."""
    console.print("stopped" if _cluster().down() else "not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the local cluster runs, where, and how to reach it."""
    status = _cluster().status()
    if not status["created"]:
        console.print("no local cluster yet (run `convintel db up`)")
        raise typer.Exit(3)
    console.print_json(json.dumps(status))
    if not status["running"]:
        raise typer.Exit(3)


@db_app.command("url")
def db_url() -> None:
    """Print the URL every command uses (DATABASE_URL or the local cluster)."""
    try:
        print(settings.database_url())
    except settings.DatabaseNotConfigured as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@app.command()
def migrate() -> None:
    """Apply the SQL migrations in order; safe to run again."""
    from convintel.migrate import MigrationError, migrate as run_migrations

    url = _url()
    try:
        applied = run_migrations(url)
    except MigrationError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if applied:
        for migration in applied:
            console.print(f"applied {migration.path.name}")
    else:
        console.print("database is up to date")


@app.command()
def synth(
    clients: Annotated[int, typer.Option(min=1, help="number of client businesses")] = 5,
    leads: Annotated[int, typer.Option(min=1, help="total leads over all clients")] = 5_000,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same world")] = 7,
    null: Annotated[bool, typer.Option("--null", help="plant no effects at all")] = False,
    truth: Annotated[Optional[Path], typer.Option(help="where to write the planted truth JSON")] = None,
    as_of: Annotated[Optional[datetime], typer.Option(help="the world's 'now' (UTC); default today 00:00")] = None,
    bad_rows: Annotated[bool, typer.Option("--bad-rows", help="also add the documented corpus of bad rows")] = False,
    als_signal: Annotated[str, typer.Option(
        help="ALS components: 'correlated' (shared latent quality) or 'independent'")] = "correlated",
) -> None:
    """Write a synthetic platform history with planted truth into the source tables."""
    from convintel.synth import SynthError, generate

    url = _url()
    truth = truth or settings.STATE_DIR / f"truth-seed{seed}.json"
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=timezone.utc)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  TimeElapsedColumn(), console=console) as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        try:
            summary = generate(url, clients=clients, leads=leads, seed=seed, null_world=null,
                               truth_path=truth, as_of=as_of, progress=report,
                               als_signal=als_signal)
        except SynthError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    _print_mapping("synthetic world", vars(summary))
    if bad_rows:
        from convintel.badrows import insert_bad_rows

        _print_mapping("bad rows added (expected exclusions / corrections)", insert_bad_rows(url))
    console.print(f"planted truth: {truth}")


@app.command("import")
def import_history(
    client: Annotated[str, typer.Option("--client", help="the client's id or exact name")],
    mapping: Annotated[Path, typer.Option("--mapping", help="the column mapping (YAML); see docs/import.md")],
    leads: Annotated[Optional[Path], typer.Option("--leads", help="leads CSV (one row per lead, with its outcome)")] = None,
    touches: Annotated[Optional[Path], typer.Option("--touches", help="touches CSV (one row per touch or event)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and count, write nothing")] = False,
    rejects: Annotated[Optional[Path], typer.Option("--rejects", help="write every rejected row's problems to this CSV")] = None,
    create_client: Annotated[bool, typer.Option("--create-client", help="create the client (by name) if it does not exist")] = False,
) -> None:
    """Import CSV history (leads with outcomes, touches with content) through a declared column mapping."""
    from convintel.importer import (ClientNotFound, ImportDatabaseError, ImportFileError, MappingError,
                                    load_mapping, run_import, write_rejects)
    from convintel.importer.report import print_import_report

    try:
        parsed = load_mapping(mapping)
        result = run_import(_url(), client, parsed, leads_path=leads, touches_path=touches, dry_run=dry_run,
                            create_client=create_client)
    except (MappingError, ImportFileError, ClientNotFound) as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)   # CSV text may look like markup
        raise typer.Exit(2) from exc
    except ImportDatabaseError as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    if rejects is not None:
        write_rejects(rejects, result.rejects)
    print_import_report(console, result, rejects_path=rejects)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def dbt(ctx: typer.Context) -> None:
    """Run dbt with the connection settings filled in, e.g. `convintel dbt build`."""
    from convintel.dbt import run_dbt

    try:
        run_dbt(list(ctx.args), _url())
    except subprocess.CalledProcessError as exc:
        raise typer.Exit(exc.returncode) from exc


@app.command()
def learn(
    client: Annotated[Optional[list[str]], typer.Option("--client", help="a client id; repeat for several (default: all)")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="learn as of this instant (ISO timestamp; without an "
                                                                 "offset: UTC; default: now), e.g. to re-learn a past week")] = None,
) -> None:
    """Build the dbt models, run the detectors and store each client's patterns (a Dagster run)."""
    import uuid
    from datetime import datetime, timezone

    from convintel.learn import print_summary, run_learning

    try:
        client_ids = [uuid.UUID(value) for value in client or []]
    except ValueError as exc:
        console.print(f"[red]--client must be a client id (UUID): {exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        instant = datetime.fromisoformat(as_of) if as_of else None
    except ValueError as exc:
        console.print(f"[red]--as-of must be an ISO timestamp such as 2026-06-01T00:00:00+00:00: {exc}[/red]")
        raise typer.Exit(2) from exc
    if instant is not None and instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    url = _url()
    with console.status("learning: dbt build, detectors, pattern store..."):
        result = run_learning(url, client_ids, as_of=instant)
    if not result.success:
        console.print(f"[red]learning run {result.run_id} failed[/red]; log: {settings.STATE_DIR / 'logs' / 'learning.log'}")
        raise typer.Exit(1)
    console.print(f"learning run {result.run_id}: success")
    print_summary(console, url, client_ids)



@app.command()
def health(
    fail_on: Annotated[FailOn, typer.Option(help="exit 2 when a finding of this severity or worse exists")] = FailOn.high,
    docs_dir: Annotated[Optional[Path], typer.Option(help="where the Great Expectations data docs go (default .convintel/gx_docs)")] = None,
) -> None:
    """Check the stored patterns (SPEC §8 rules + Great Expectations) as a Dagster run; print the findings."""
    from convintel.health import exit_code, print_findings, recorded_run, run_health_job

    url = _url()
    log_path = settings.STATE_DIR / "logs" / "health.log"
    with console.status("pattern health: rules, Great Expectations, findings..."):
        result = run_health_job(url, log_path=log_path, docs_dir=docs_dir)
    run, findings = recorded_run(url, result.run_id) if result.success else (None, [])
    if run is None:
        console.print(f"[red]health run {result.run_id} failed[/red]; log: {log_path}")
        raise typer.Exit(1)
    print_findings(console, run, findings)
    raise typer.Exit(exit_code(run, fail_on.value))


@app.command()
def report(
    client: Annotated[str, typer.Argument(help="the client's id or exact name")],
    out: Annotated[Path, typer.Option("--out", help="the HTML file to write")],
) -> None:
    """Write one client's pattern report: a single self-contained HTML file (charts, intervals, n)."""
    from convintel.report import ClientNotFound, build_report_html

    url = _url()
    try:
        page = build_report_html(url, client)
    except ClientNotFound as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    console.print(f"report: {out} ({len(page.encode()):,} bytes)")


@app.command()
def manifest() -> None:
    """Parse the dbt project into target/manifest.json (Dagster reads it at import time)."""
    from convintel.dbt import prepare_manifest

    try:
        url = settings.database_url()
    except settings.DatabaseNotConfigured:
        url = None
    console.print(f"manifest: {prepare_manifest(url)}")
    settings.ensure_dagster_home()


@app.command()
def demo(
    clients: Annotated[int, typer.Option(min=1)] = 4,
    leads: Annotated[int, typer.Option(min=1)] = 4_000,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Start the database, migrate, synthesise a small world (once) and build dbt; then summarise."""
    from convintel.demo import run_demo

    run_demo(console, _url(), clients=clients, leads=leads, seed=seed)


@app.command()
def context(
    client_id: Annotated[str, typer.Argument(help="the client's id")],
    consumer: Annotated[Optional[list[str]], typer.Option(
        "--consumer", help="messaging, sequencing or campaign; repeat for several (default: all three)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the structured blocks as JSON instead of the text")] = False,
) -> None:
    """Print the AI agents' guidance built from a client's stored patterns (docs/agent_context.md)."""
    import uuid

    import psycopg

    from api.context import CONSUMERS, build_context, read_stored

    wanted = consumer or list(CONSUMERS)
    unknown = sorted(set(wanted) - set(CONSUMERS))
    try:
        parsed = uuid.UUID(client_id)
    except ValueError as exc:
        console.print(f"[red]not a client id (UUID): {client_id}[/red]")
        raise typer.Exit(2) from exc
    if unknown:
        console.print(f"[red]unknown consumer {', '.join(unknown)}; expected {', '.join(CONSUMERS)}[/red]")
        raise typer.Exit(2)
    with psycopg.connect(_url()) as conn:
        stored = read_stored(conn, parsed)
    if stored is None:
        console.print(f"[red]no client {client_id}[/red]")
        raise typer.Exit(1)
    blocks = build_context(stored, wanted)
    if as_json:
        print(json.dumps({name: block.as_dict() for name, block in blocks.items()}, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(block.text for block in blocks.values()))


keys_app = typer.Typer(no_args_is_help=True, help="API keys of the Pattern API (shown once, stored hashed).")
app.add_typer(keys_app, name="keys")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log",
                                             help="one log line per request (off where a proxy in front logs them)")] = True,
) -> None:
    """Serve the Pattern API (FastAPI under uvicorn); OpenAPI docs at /docs."""
    import os

    import uvicorn

    os.environ.setdefault("DATABASE_URL", _url())  # the worker processes resolve the same database
    settings.ensure_dagster_home()                 # runs started through the API land on this instance
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, access_log=access_log)


@keys_app.command("create")
def keys_create(
    client: Annotated[Optional[list[str]], typer.Option("--client", help="a client id the key may read; repeat for several")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="an admin key: every client, and may trigger runs")] = False,
    name: Annotated[str, typer.Option(help="a label for the key")] = "",
) -> None:
    """Create an API key and print it (once: only its hash is stored)."""
    import uuid

    import psycopg

    from api.keys import create_key

    try:
        client_ids = [uuid.UUID(value) for value in client or []]
    except ValueError as exc:
        console.print(f"[red]--client must be a client id (UUID): {exc}[/red]")
        raise typer.Exit(2) from exc
    if admin == bool(client_ids):
        console.print("[red]give either --admin or one or more --client ID[/red]")
        raise typer.Exit(2)
    with psycopg.connect(_url(), autocommit=True) as conn:
        try:
            key_id, token = create_key(conn, client_ids=client_ids, admin=admin, name=name)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    console.print(f"key {key_id} created; the token below is shown only now:", style="dim", highlight=False)
    print(token)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their tokens)."""
    import psycopg

    from api.keys import list_keys

    with psycopg.connect(_url()) as conn:
        records = list_keys(conn)
    # One line per key, never wrapped: the id is what `keys revoke` needs.
    for r in records:
        scope = "admin" if r.is_admin else "clients " + ",".join(map(str, r.client_ids))
        state = "active" if r.revoked_at is None else f"revoked {r.revoked_at:%Y-%m-%d %H:%M}"
        print(f"{r.id}  {r.token_prefix}...  {state:<24}  created {r.created_at:%Y-%m-%d %H:%M}  {r.name or '-'}  {scope}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key's id (see `convintel keys list`)")]) -> None:
    """Revoke an API key: it stops working on the next request."""
    import uuid

    import psycopg

    from api.keys import revoke_key

    try:
        parsed = uuid.UUID(key_id)
    except ValueError as exc:
        console.print(f"[red]not a key id: {key_id}[/red]")
        raise typer.Exit(2) from exc
    with psycopg.connect(_url(), autocommit=True) as conn:
        if not revoke_key(conn, parsed):
            console.print(f"[red]no active key {key_id}[/red]")
            raise typer.Exit(1)
    console.print(f"revoked {key_id}")


def _print_mapping(title: str, mapping: dict) -> None:
    table = Table(title=title, show_header=False)
    for key, value in mapping.items():
        table.add_row(str(key), f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)


if __name__ == "__main__":
    app()
