"""Learning runs started through the API: recorded in ``api_runs``, executed by a worker process.

The request only inserts the run's row and starts ``python -m api.worker RUN_ID`` detached, then
answers 202: no Dagster import and no waiting on the request path. The worker creates the Dagster run
with the same id on the configured instance (DAGSTER_HOME, so ``make ui`` shows it), executes the job
and records the outcome in ``api_runs``, which the status endpoint reads with one query.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID, uuid4

import psycopg

from convintel import settings as project_settings

# Backfill of one client runs the learning job scoped to that client (the job of the same data path).
JOB_FOR_KIND = {"learn": "learning", "backfill": "backfill"}


@dataclass(frozen=True)
class RunRecord:
    run_id: UUID
    job_name: str
    kind: str
    client_ids: tuple[UUID, ...]
    status: str
    error: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def run_log_path(run_id: UUID) -> Path:
    return project_settings.STATE_DIR / "logs" / f"api-run-{run_id}.log"


def launch(conn: psycopg.Connection, database_url: str, *, kind: str, client_ids: Sequence[UUID],
           requested_by: UUID | None) -> UUID:
    run_id = uuid4()
    conn.execute(
        "insert into api_runs (run_id, job_name, kind, client_ids, requested_by) values (%s, %s, %s, %s, %s)",
        (run_id, JOB_FOR_KIND[kind], kind, list(client_ids), requested_by),
    )
    log_path = run_log_path(run_id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DATABASE_URL": database_url}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.worker", str(run_id)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            cwd=str(project_settings.PROJECT_DIR), start_new_session=True,
        )
    conn.execute("update api_runs set worker_pid = %s where run_id = %s", (process.pid, run_id))
    # Reap the child when it ends (no zombie processes); the worker records its own outcome.
    threading.Thread(target=process.wait, name=f"reap-{run_id}", daemon=True).start()
    return run_id


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def get_run(conn: psycopg.Connection, run_id: UUID) -> RunRecord | None:
    """The run's record. A run still marked queued/running whose worker process is gone (killed, or the
    machine restarted) is recorded as failed here, so a status poller never waits forever. Workers run
    on the API's host, so the pid check is meaningful."""
    row = conn.execute(
        "select worker_pid from api_runs where run_id = %s and status in ('queued', 'running')", (run_id,)
    ).fetchone()
    if row is not None and row[0] is not None and not _alive(row[0]):
        conn.execute(
            "update api_runs set status = 'failure', finished_at = now(), "
            "error = 'the worker process ended without recording an outcome' "
            "where run_id = %s and status in ('queued', 'running') and worker_pid = %s",
            (run_id, row[0]),
        )
    row = conn.execute(
        "select run_id, job_name, kind, client_ids, status, error, requested_at, started_at, finished_at "
        "from api_runs where run_id = %s",
        (run_id,),
    ).fetchone()
    return None if row is None else RunRecord(row[0], row[1], row[2], tuple(row[3]), *row[4:])
