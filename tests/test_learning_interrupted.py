"""A learning run killed part way through storing (SPEC §7 storage, issue 7): every pattern stored before
stays intact, each client is either fully stored by the killed run or untouched by it, and the next run
completes. The kill is made deterministic by a fault-injection trigger that stalls the history insert of
one client inside its store transaction; the run's process is then killed with SIGKILL and its stalled
server session terminated, as when a worker machine dies mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from convintel.synth import generate

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
STALL = """
create function test_stall_history() returns trigger language plpgsql as $$
begin
    if new.client_id = '{client}'::uuid then perform pg_sleep(300); end if;
    return new;
end $$;
create trigger test_stall_history before insert on conversion_pattern_history
    for each row execute function test_stall_history();
"""


def _state(conn: psycopg.Connection) -> dict:
    """Per (client, pattern type): (the stored row's computed_at, the latest history row's computed_at)."""
    conn.execute("select set_config('app.client_ids', string_agg(id::text, ','), false) from clients")
    return {
        (client, pattern_type): (computed_at, latest)
        for client, pattern_type, computed_at, latest in conn.execute(
            "select p.client_id, p.pattern_type, p.computed_at, max(h.computed_at) from conversion_patterns p "
            "join conversion_pattern_history h using (client_id, pattern_type) group by 1, 2, 3")
    }


def _of(state: dict, client) -> dict:
    return {pattern_type: value for (c, pattern_type), value in state.items() if c == client}


def test_a_run_killed_while_storing_leaves_previous_patterns_intact_and_the_next_run_completes(
        db_url: str, tmp_path: Path) -> None:
    generate(db_url, clients=3, leads=1800, seed=31, as_of=AS_OF)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "DATABASE_URL": db_url}
    _learn(db_url, env)
    with psycopg.connect(db_url, autocommit=True) as conn:
        first = _state(conn)
        clients = sorted({client for client, _ in first})
        assert len(clients) == 3 and all(stored == latest for stored, latest in first.values())
        conn.execute(STALL.format(client=clients[1]))   # the store handles clients in id order

    time.sleep(1.1)  # the next run's timestamp (second precision) differs from the first run's
    run = subprocess.Popen([sys.executable, "-c", DETECT_AND_STORE.format(url=db_url)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            stalled = _wait_for_stalled_backend(conn, run)
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
            conn.execute("select pg_terminate_backend(%s)", (stalled,))
            _wait_until_gone(conn, stalled)
            after_kill = _state(conn)
            conn.execute("drop trigger test_stall_history on conversion_pattern_history")
    finally:
        if run.poll() is None:
            run.kill()

    # Client 0 was stored by the killed run (its own committed transaction); client 1's transaction was
    # cut and rolled back; client 2 was never reached. Nothing lost, nothing half-written.
    assert set(after_kill) == set(first)
    assert all(after_kill[key][0] > first[key][0] for key in first if key[0] == clients[0])
    assert _of(after_kill, clients[1]) == _of(first, clients[1])
    assert _of(after_kill, clients[2]) == _of(first, clients[2])
    assert all(stored == latest for stored, latest in after_kill.values())

    time.sleep(1.1)
    _learn(db_url, env, DETECT_AND_STORE)
    with psycopg.connect(db_url, autocommit=True) as conn:
        final = _state(conn)
    assert set(final) == set(first) and all(final[key][0] > after_kill[key][0] for key in final)
    assert all(stored == latest for stored, latest in final.values())


# The detectors and the store as a run of their own (the marts are built once, by the first run's dbt
# build, and do not change): the part of a learning run that writes patterns.
DETECT_AND_STORE = (
    "from dagster import DagsterInstance, materialize\n"
    "from dagster_pipelines.assets.patterns import DETECTOR_ASSETS, conversion_patterns\n"
    "from dagster_pipelines.resources import build_resources\n"
    "r = materialize([*DETECTOR_ASSETS, conversion_patterns], resources=build_resources({url!r}, 'analytics'),\n"
    "                instance=DagsterInstance.get(), raise_on_error=False)\n"
    "raise SystemExit(0 if r.success else 1)\n"
)
LEARN = "from convintel.learn import run_learning; r = run_learning({url!r}, dbt_schema='analytics'); raise SystemExit(0 if r.success else 1)"


def _learn(url: str, env: dict[str, str], script: str = LEARN) -> None:
    """A learning run in its own process (by default a whole one, as `convintel learn` does it)."""
    subprocess.run([sys.executable, "-c", script.format(url=url)], env=env, check=True, timeout=600,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_stalled_backend(conn: psycopg.Connection, run: subprocess.Popen, timeout: float = 240) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute("select pid from pg_stat_activity where wait_event = 'PgSleep' and pid <> pg_backend_pid()").fetchone()
        if row:
            return row[0]
        assert run.poll() is None, "the learning run ended before reaching the stalled client"
        time.sleep(0.2)
    pytest.fail("the learning run never reached the stalled client")


def _wait_until_gone(conn: psycopg.Connection, pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while conn.execute("select count(*) from pg_stat_activity where pid = %s", (pid,)).fetchone()[0]:
        assert time.monotonic() < deadline, "the terminated session did not end"
        time.sleep(0.1)
