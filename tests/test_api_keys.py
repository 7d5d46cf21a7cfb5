"""API keys from the command line, and migration 004 (keys, runs, scoped views)."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from api.keys import authenticate, create_key, revoke_key, token_digest
from convintel.cli import app
from convintel.settings import MIGRATIONS_DIR

pytestmark = pytest.mark.slow


def test_keys_create_prints_the_token_once_list_hides_it_and_revoke_stops_it(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        client = conn.execute("insert into clients (name) values ('A') returning id").fetchone()[0]
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--client", str(client), "--name", "engine"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("ci_") and len(token) > 40
    with psycopg.connect(db_url) as conn:
        key = authenticate(conn, token)
        assert key is not None and key.client_ids == (client,) and not key.is_admin
        assert conn.execute("select token_sha256 from api_keys").fetchone()[0] == token_digest(token)

    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and str(key.id) in listed.output and token not in listed.output
    assert runner.invoke(app, ["keys", "revoke", str(key.id)]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", str(key.id)]).exit_code == 1  # already revoked
    with psycopg.connect(db_url) as conn:
        assert authenticate(conn, token) is None

    assert runner.invoke(app, ["keys", "create"]).exit_code == 2                      # neither scope nor admin
    assert runner.invoke(app, ["keys", "create", "--admin", "--client", str(client)]).exit_code == 2
    unknown = runner.invoke(app, ["keys", "create", "--client", "00000000-0000-0000-0000-000000000001"])
    assert unknown.exit_code == 1 and "unknown client ids" in unknown.output
    admin = runner.invoke(app, ["keys", "create", "--admin"])
    with psycopg.connect(db_url) as conn:
        assert authenticate(conn, admin.output.strip().splitlines()[-1]).is_admin


def test_migration_004_runs_again_without_error(conn: psycopg.Connection) -> None:
    sql = (MIGRATIONS_DIR / "004_api_keys.sql").read_text()
    conn.execute(sql)
    conn.execute(sql)
    privileges = conn.execute(
        "select has_table_privilege('convintel_app', 'api_keys', 'select'), "
        "has_table_privilege('convintel_app', 'api_runs', 'select'), "
        "has_table_privilege('convintel_app', 'convintel_api_clients', 'select')"
    ).fetchone()
    assert privileges == (False, False, True)


def test_convintel_serve_starts_the_api(db_url: str, tmp_path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": db_url, "DAGSTER_HOME": str(tmp_path / "dagster")}
    convintel = Path(sys.executable).with_name("convintel")
    server = subprocess.Popen([str(convintel), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, "convintel serve exited"
                time.sleep(0.2)
        assert response.json() == {"status": "ok", "database": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/patterns/{'0' * 8}-0000-0000-0000-{'0' * 12}").status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_key_cache_reuses_a_key_until_its_ttl_and_then_sees_the_revocation(db_url: str) -> None:
    from api.keys import KeyCache

    with psycopg.connect(db_url, autocommit=True) as conn:
        client = conn.execute("insert into clients (name) values ('A') returning id").fetchone()[0]
        key_id, token = create_key(conn, client_ids=[client], name="engine")
    now = [100.0]
    lookups = []

    def connect():
        lookups.append(1)
        return psycopg.connect(db_url, autocommit=True)

    cache = KeyCache(ttl=5, clock=lambda: now[0])
    assert cache.authenticate(connect, token).id == key_id and len(lookups) == 1
    assert cache.authenticate(connect, token).id == key_id and len(lookups) == 1      # served from the cache
    assert cache.authenticate(connect, token + "x") is None and len(lookups) == 2     # refusals are not cached
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert revoke_key(conn, key_id)
    now[0] = 104.9
    assert cache.authenticate(connect, token).id == key_id and len(lookups) == 2      # within the ttl
    now[0] = 105.0
    assert cache.authenticate(connect, token) is None and len(lookups) == 3           # looked up again: revoked
    assert cache.authenticate(connect, token) is None and len(lookups) == 4

    uncached = KeyCache(ttl=0)
    with psycopg.connect(db_url, autocommit=True) as conn:
        _, fresh = create_key(conn, client_ids=[client], name="fresh")
    assert uncached.authenticate(connect, fresh) is not None and len(lookups) == 5
    assert uncached.authenticate(connect, fresh) is not None and len(lookups) == 6
