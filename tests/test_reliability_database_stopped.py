"""The database stopped in the middle of a learning run (SPEC §11, issue 11 part 2).

On a cluster of its own (the suite's shared server is never stopped): a world with patterns and
history already stored, then `convintel learn` in a subprocess; while dbt is building the models,
PostgreSQL is stopped with `pg_ctl stop -m immediate` (a crash: no shutdown checkpoint, open
transactions cut), then started again. The stored patterns, their history and the clients' learned
weights are byte-identical to before, the failed run said so in one clear line (no traceback) and
exited 1, and the next run completes and stores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from convintel.localdb import LocalCluster
from convintel.migrate import migrate
from convintel.synth import generate
from dagster_pipelines.pattern_store import store_client_results
from detectors.result import DetectorResult

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
EARLIER_RUNS = [datetime(2026, 5, 1, tzinfo=timezone.utc), datetime(2026, 5, 15, tzinfo=timezone.utc)]
WEIGHTS = {"data_quality": 0.1, "authority": 0.4, "company_fit": 0.3, "timing": 0.2}
# dbt is part way through the build once this model exists (staging and the cleaning models are built,
# the touches, the marts and the tests are not yet).
MID_BUILD_MODEL = "analytics.int_lead_outcomes"


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "cluster")
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.destroy()


def _stored_state(url: str) -> bytes:
    """Every stored pattern, history row and learned weight, as exact text."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select set_config('app.client_ids', string_agg(id::text, ','), false) from clients")
        parts = [
            conn.execute("select id, client_id, pattern_type, patterns::text, sample_size, confidence, computed_at, "
                         "valid_until, created_at from conversion_patterns order by id").fetchall(),
            conn.execute("select id, client_id, pattern_type, patterns::text, sample_size, confidence, computed_at, "
                         "run_id, created_at from conversion_pattern_history order by id").fetchall(),
            conn.execute("select id, als_learned_weights::text, als_weights_updated_at, conversion_sample_count "
                         "from clients order by id").fetchall(),
        ]
    return repr(parts).encode()


def _store_earlier_runs(url: str) -> list[uuid.UUID]:
    """Two earlier runs' patterns (all four types) for every client, stored by the pattern store."""
    with psycopg.connect(url, autocommit=True) as conn:
        clients = [row[0] for row in conn.execute("select id from clients order by id")]
        for computed_at in EARLIER_RUNS:
            run_id = uuid.uuid4()
            for client in clients:
                results = [DetectorResult(client, pattern_type, {"type": pattern_type, "note": f"run of {computed_at:%d %b}"},
                                          500, 0.7, conversions=40, learned_weights=WEIGHTS if pattern_type == "who" else None)
                           for pattern_type in ("who", "what", "when", "how")]
                store_client_results(conn, client, results, run_id=run_id, computed_at=computed_at)
    return clients


def _convintel(env: dict[str, str], *args: str) -> subprocess.Popen:
    executable = Path(sys.executable).with_name("convintel")
    return subprocess.Popen([str(executable), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _stop_immediately(cluster: LocalCluster) -> None:
    """`pg_ctl stop -m immediate`: the server quits at once, as in a crash (recovery on the next start)."""
    record = cluster.status()
    cluster._run([str(Path(record["bin_dir"]) / "pg_ctl"), "-D", record["data_dir"], "-m", "immediate", "-w", "stop"])


def _wait_until_mid_build(url: str, run: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            built, dbt_sessions = conn.execute(
                "select to_regclass(%s) is not null, (select count(*) from pg_stat_activity where application_name = 'dbt' "
                "and state <> 'idle')", (MID_BUILD_MODEL,)).fetchone()
            if built and dbt_sessions:
                return
            assert run.poll() is None, f"the learning run ended before the stop:\n{run.communicate()}"
            time.sleep(0.05)
    pytest.fail("the learning run never reached the middle of the dbt build")


def test_database_stopped_mid_run_loses_nothing_fails_clearly_and_the_next_run_stores(
        own_cluster: LocalCluster, tmp_path: Path) -> None:
    url = own_cluster.up()
    migrate(url)
    generate(url, clients=2, leads=800, seed=71, as_of=AS_OF)
    clients = _store_earlier_runs(url)
    before = _stored_state(url)
    env = {**os.environ, "DATABASE_URL": url, "DBT_SCHEMA": "analytics", "CONVINTEL_STATE_DIR": str(tmp_path / "state"),
           "DAGSTER_HOME": str(tmp_path / "dagster"), "NO_COLOR": "1", "COLUMNS": "200"}

    run = _convintel(env, "learn")
    try:
        _wait_until_mid_build(url, run)
        _stop_immediately(own_cluster)
        stdout, stderr = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1, (stdout, stderr)
    assert "Traceback" not in stdout + stderr
    [message] = [line for line in stdout.splitlines() if "failed" in line]
    assert message.startswith("learning run ") and "failed; log: " in message

    url = own_cluster.up()  # crash recovery; the port may differ
    assert _stored_state(url) == before

    env["DATABASE_URL"] = url
    stdout, stderr = _convintel(env, "learn").communicate(timeout=900)
    assert "success" in stdout, (stdout, stderr)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select set_config('app.client_ids', %s, false)", (",".join(map(str, clients)),))
        stored = conn.execute("select client_id, pattern_type, computed_at from conversion_patterns").fetchall()
        history = conn.execute("select client_id, pattern_type, count(*) from conversion_pattern_history "
                               "group by 1, 2").fetchall()
    # Every client's WHO pattern was learned anew by the next run; nothing was lost on the way.
    assert {(c, t) for c, t, _ in stored} == {(c, t) for c in clients for t in ("who", "what", "when", "how")}
    assert all(computed_at > EARLIER_RUNS[-1] for c, t, computed_at in stored if t == "who")
    assert all(n in (2, 3) for _, _, n in history) and {(c, n) for c, t, n in history if t == "who"} == {(c, 3) for c in clients}
