"""Running dbt against a database URL: one place that turns DATABASE_URL into dbt's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from convintel.settings import DBT_PROJECT_DIR, libpq_env


def dbt_executable() -> str:
    """The dbt of this environment (the venv's), whether or not its bin/ is on PATH."""
    beside = Path(sys.prefix) / "bin" / "dbt"
    return str(beside) if beside.exists() else "dbt"


def dbt_env(url: str, schema: str | None = None) -> dict[str, str]:
    """Environment for a dbt process: the caller's, plus the PG* settings profiles.yml reads."""
    env = dict(os.environ)
    env.update(libpq_env(url, schema))
    env.setdefault("DBT_PROFILES_DIR", str(DBT_PROJECT_DIR))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def run_dbt(
    args: list[str],
    url: str,
    schema: str | None = None,
    capture: bool = False,
    target_path: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run ``dbt ARGS`` in the project folder against ``url``; raises CalledProcessError on failure.

    ``target_path`` keeps concurrent builds (tests, several databases) from sharing dbt's target/.
    """
    env = dbt_env(url, schema)
    if target_path is not None:
        env["DBT_TARGET_PATH"] = str(target_path)
        env["DBT_LOG_PATH"] = str(target_path / "logs")
    return subprocess.run(
        [dbt_executable(), *args],
        cwd=DBT_PROJECT_DIR,
        env=env,
        check=True,
        text=True,
        capture_output=capture,
    )


def prepare_manifest(url: str | None = None) -> Path:
    """`dbt parse`, so @dbt_assets can read target/manifest.json at import time (STACK.md).

    Parsing does not connect; without a URL the profile gets placeholder settings.
    """
    url = url or "postgresql://convintel@127.0.0.1:5432/convintel"
    run_dbt(["parse", "--quiet"], url)
    return DBT_PROJECT_DIR / "target" / "manifest.json"
