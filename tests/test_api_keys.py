"""API keys from the command line, and migration 004 (keys, runs, scoped views)."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from api.keys import authenticate, token_digest
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
