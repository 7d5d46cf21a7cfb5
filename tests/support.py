"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from convintel.dbt import run_dbt


def dbt_or_fail(args: list[str], url: str, target: Path, schema: str = "analytics") -> subprocess.CompletedProcess:
    """Run dbt against ``url`` with its own target folder; on failure, fail the test with dbt's report."""
    try:
        return run_dbt(args, url, schema=schema, capture=True, target_path=target)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"dbt {' '.join(args)} failed:\n{exc.stdout}\n{exc.stderr}")


def learn_all(url: str, as_of: datetime | None = None, **scope):
    """A learning run (dbt build, every detector, the store) through Dagster, in process; must succeed.
    ``as_of``: the dbt build's analysis instant (default: the start of the build)."""
    from dagster import materialize

    from dagster_pipelines.assets.dbt import dbt_models
    from dagster_pipelines.assets.patterns import DETECTOR_ASSETS, conversion_patterns
    from dagster_pipelines.resources import build_resources

    run_config = {"ops": {"dbt_models": {"config": {"as_of": as_of.isoformat()}}}} if as_of else None
    result = materialize([dbt_models, *DETECTOR_ASSETS, conversion_patterns], resources=build_resources(url, "analytics", **scope),
                         run_config=run_config)
    assert result.success
    return result


def run_metadata(result, asset: str) -> dict:
    """The metadata of the run's materialisation of ``asset`` (graph-backed or not)."""
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def stored_patterns(conn: psycopg.Connection, client_ids: list[uuid.UUID]) -> dict:
    """(client, type) -> (patterns without computed_at, sample size, confidence), read in the clients' scope."""
    conn.execute("select set_config('app.client_ids', %s, false)", (",".join(map(str, client_ids)),))
    rows = conn.execute("select client_id, pattern_type, patterns, sample_size, confidence from conversion_patterns").fetchall()
    return {(r[0], r[1]): ({k: v for k, v in r[2].items() if k != "computed_at"}, r[3], r[4]) for r in rows}


def generate_worlds(url: str, folder: Path, specs: list[tuple], as_of) -> dict[str, tuple[str, int, dict]]:
    """Several synthetic worlds in one database: ``specs`` are ``(world, seed, clients, leads, null_world[,
    generate keyword options])``; returns each client's ``(world, seed, truth entry)`` by client id."""
    import json

    from convintel.synth import generate

    truth: dict[str, tuple[str, int, dict]] = {}
    for world, seed, clients, leads, null_world, *options in specs:
        path = folder / f"truth_{seed}.json"
        generate(url, clients=clients, leads=leads, seed=seed, null_world=null_world, truth_path=path, as_of=as_of,
                 **(options[0] if options else {}))
        for entry in json.loads(path.read_text())["clients"]:
            truth[entry["client_id"]] = (world, seed, entry)
    return truth


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_api(env: Mapping[str, str], state: Path) -> Iterator[str]:
    """The real API (uvicorn, one worker) in its own process on a free loopback port, with ``env`` on top
    of this process's environment; yields its base URL once /healthz answers, stops it afterwards. Its
    output goes to ``state/server.log`` (quoted when it does not start)."""
    port = free_port()
    with (state / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1],
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"the API did not start: {(state / 'server.log').read_text()}")
            time.sleep(0.2)
        try:
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


def eventually(check, seconds: float = 5.0) -> float:
    """Seconds until ``check()`` held, polled every 10 ms; fails the test after ``seconds``. For what
    another process hears asynchronously, e.g. the API's change notifications (api/notifications.py)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.01)
    return time.monotonic() - start
