"""Where things live and how to reach the database.

Everything reads ``DATABASE_URL`` (a libpq URL). Without it, the URL of the embedded local cluster
started by ``convintel db up`` is used (SPEC §3.1).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

PROJECT_DIR = Path(os.environ.get("CONVINTEL_PROJECT_DIR", Path(__file__).resolve().parents[1]))
STATE_DIR = Path(os.environ.get("CONVINTEL_STATE_DIR", PROJECT_DIR / ".convintel"))
MIGRATIONS_DIR = PROJECT_DIR / "migrations"
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
LOCAL_CLUSTER_DIR = STATE_DIR / "pg"
DAGSTER_HOME = Path(os.environ.get("DAGSTER_HOME", STATE_DIR / "dagster"))

# dbt writes its models here (override with DBT_SCHEMA); sources stay in the platform's schema.
DEFAULT_DBT_SCHEMA = "analytics"


def dbt_schema() -> str:
    """The schema dbt builds into and the detectors read from."""
    return os.environ.get("DBT_SCHEMA", DEFAULT_DBT_SCHEMA)


def detector_workers() -> int:
    """Worker processes a detector step may spread its clients over (``CONVINTEL_DETECTOR_WORKERS``;
    default: the cores this process may use, at most 4). 1 keeps every step in its own process."""
    value = os.environ.get("CONVINTEL_DETECTOR_WORKERS")
    if value is None:
        return max(1, min(len(os.sched_getaffinity(0)), 4))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"CONVINTEL_DETECTOR_WORKERS must be a whole number ≥ 1, got {value!r}")
    return int(value)


class DatabaseNotConfigured(RuntimeError):
    """Neither DATABASE_URL nor a running local cluster."""


def database_url() -> str:
    """The database to use: ``DATABASE_URL``, else the running embedded cluster."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from convintel.localdb import LocalCluster

    recorded = LocalCluster(LOCAL_CLUSTER_DIR).recorded_url()
    if recorded:
        return recorded
    raise DatabaseNotConfigured(
        "DATABASE_URL is not set and no local cluster is running: run `convintel db up` "
        "(or `make db`) first, or export DATABASE_URL=postgresql://user@host:port/dbname"
    )


def libpq_env(url: str, schema: str | None = None) -> dict[str, str]:
    """PG* variables for a URL: what dbt's profiles.yml and psql read (one source of settings)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}")
    env = {
        "PGHOST": parts.hostname or "localhost",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": unquote(parts.username or os.environ.get("USER", "postgres")),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGDATABASE": unquote(parts.path.lstrip("/")) or "postgres",
        "DBT_SCHEMA": schema or dbt_schema(),
        # Sessions in UTC: day boundaries and "N days before as_of" must not move with the server's zone.
        "PGTZ": "UTC",
    }
    for pair in filter(None, parts.query.split("&")):
        key, _, value = pair.partition("=")
        if key == "sslmode":
            env["PGSSLMODE"] = value
    return env


_DAGSTER_YAML_MARKER = "# Local Dagster instance of this checkout (git-ignored)."


def dagster_yaml(home: Path) -> str:
    """The dagster.yaml of the instance in ``home``: Dagster's SQLite storage in that folder (its default
    layout), with an event log that keeps its connections open between events
    (dagster_pipelines/instance_storage.py); no telemetry. The folder is written out, not read from
    DAGSTER_HOME: a process that opens this instance with another DAGSTER_HOME (a test reading an API
    worker's instance) must still find its runs."""
    return f"""{_DAGSTER_YAML_MARKER} Written by convintel (settings.ensure_dagster_home).
telemetry:
  enabled: false
storage:
  custom:
    module: dagster_pipelines.instance_storage
    class: PooledSqliteStorage
    config:
      base_dir: {json.dumps(str(home.resolve()))}
"""


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME with its dagster.yaml (``dagster_yaml``: local storage, no telemetry), exported for Dagster."""
    DAGSTER_HOME.mkdir(parents=True, exist_ok=True)
    config = DAGSTER_HOME / "dagster.yaml"
    # Rewritten while it is ours (starts with the marker line), so a checkout's instance follows this code; a
    # file someone wrote themselves is left alone. Atomically: another process may be reading it.
    current, wanted = (config.read_text() if config.exists() else None), dagster_yaml(DAGSTER_HOME)
    if current is None or (current.startswith(_DAGSTER_YAML_MARKER) and current != wanted):
        written = config.with_name(f".dagster.yaml.{os.getpid()}")
        written.write_text(wanted)
        os.replace(written, config)
    os.environ["DAGSTER_HOME"] = str(DAGSTER_HOME)
    return DAGSTER_HOME
