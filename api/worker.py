"""``python -m api.worker RUN_ID``: execute one run recorded in ``api_runs`` on the Dagster instance.

Started detached by the API (api/runs.py). The Dagster run gets the API's run id, so the API's status
and the Dagster UI name the same run. Its client scope is the ``learning_scope`` resource, set through
the run config; the job is reconstructable, so the multiprocess executor can run steps in parallel.
"""

from __future__ import annotations

import fcntl
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import psycopg

from convintel import settings


def _record(url: str, run_id: UUID, sql: str, *params: object) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql, (*params, run_id))


@contextmanager
def _instance_lock(dagster_home: Path) -> Iterator[None]:
    dagster_home.mkdir(parents=True, exist_ok=True)
    with (dagster_home / ".convintel-instance.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def execute(run_id: UUID) -> bool:
    url = settings.database_url()
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "update api_runs set status = 'running', started_at = now() where run_id = %s and status = 'queued' "
            "returning job_name, kind, client_ids",
            (run_id,),
        ).fetchone()
    if row is None:
        print(f"run {run_id}: not queued (unknown or already started)", file=sys.stderr)
        return False
    job_name, kind, client_ids = row
    try:
        settings.ensure_dagster_home()
        from dagster import DagsterInstance, build_reconstructable_job
        from dagster._core.execution.api import execute_run  # what execute_job runs, for a run we created

        from convintel.dbt import prepare_manifest

        # @dbt_assets reads the manifest when the definitions are imported; `make serve` and
        # `convintel manifest` write it, so a run parses only when it is missing.
        if not (settings.DBT_PROJECT_DIR / "target" / "manifest.json").exists():
            prepare_manifest(url)
        job = build_reconstructable_job(
            "dagster_pipelines.definitions", "resolved_job", reconstructable_kwargs={"name": job_name})
        run_config: dict = {"resources": {"learning_scope": {"config": {"client_ids": [str(c) for c in client_ids]}}}}
        # CONVINTEL_API_RUN_EXECUTOR=in_process runs every step in the worker (small machines, tests);
        # the default is the job's own executor (multiprocess: shards in parallel).
        if os.environ.get("CONVINTEL_API_RUN_EXECUTOR", "").strip() == "in_process":
            run_config["execution"] = {"config": {"in_process": {}}}
        with _instance_lock(settings.DAGSTER_HOME):
            # A fresh instance creates its storage on first use: two workers doing that at once corrupt it.
            instance = DagsterInstance.get()
        with instance:
            dagster_run = instance.create_run_for_job(
                job_def=job.get_definition(), run_id=str(run_id), run_config=run_config,
                tags={"convintel/source": "api", "convintel/kind": kind},
            )
            result = execute_run(job, dagster_run, instance)
        status = "success" if result.success else "failure"
        error = None if result.success else "the Dagster run failed; see its events in the Dagster UI"
    except Exception:  # the run must end recorded, whatever broke
        status, error = "failure", traceback.format_exc(limit=20)[-4000:]
        print(error, file=sys.stderr)
    _record(url, run_id, "update api_runs set status = %s, error = %s, finished_at = now() where run_id = %s",
            status, error)
    return status == "success"


if __name__ == "__main__":
    sys.exit(0 if execute(UUID(sys.argv[1])) else 1)
