"""The embedded PostgreSQL cluster and connection settings (SPEC §3.1)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from convintel.localdb import LocalCluster
from convintel.settings import libpq_env


@pytest.fixture
def cluster(tmp_path: Path):
    local = LocalCluster(tmp_path / "state")
    try:
        yield local
    finally:
        local.destroy()


def test_cluster_up_down_restart_keeps_data_and_avoids_a_taken_port(cluster: LocalCluster) -> None:
    url = cluster.up()
    assert url.startswith("postgresql://convintel@127.0.0.1:") and url.endswith("/convintel")
    assert cluster.up() == url  # already running: same cluster, same URL
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (False,)
        conn.execute("create table kept (x int); insert into kept values (42)")
    status = cluster.status()
    assert status["running"] is True
    assert json.loads(cluster.record_path.read_text())["url"] == url

    assert cluster.down() is True
    assert cluster.down() is False
    assert cluster.status()["running"] is False
    assert cluster.recorded_url() is None

    # Someone else takes the recorded port while the cluster is down: it must move, not fail.
    old_port = status["port"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        new_url = cluster.up()
    assert f":{old_port}/" not in new_url
    with psycopg.connect(new_url) as conn:
        assert conn.execute("select x from kept").fetchone() == (42,)


def test_two_clusters_run_side_by_side(tmp_path: Path) -> None:
    first, second = LocalCluster(tmp_path / "one"), LocalCluster(tmp_path / "two")
    try:
        assert first.up() != second.up()
    finally:
        first.destroy()
        second.destroy()


def test_cli_db_status_reports_a_missing_cluster(tmp_path: Path) -> None:
    env = {"CONVINTEL_STATE_DIR": str(tmp_path / "nothing"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "convintel.cli", "db", "status"], env=env, capture_output=True, text=True)
    assert proc.returncode == 3
    assert "no local cluster yet" in proc.stdout


def test_libpq_env_reads_every_part_of_the_url() -> None:
    env = libpq_env("postgresql://ana%40corp:s3cr%2Ft@db.example:6543/platform?sslmode=require", "marts")
    assert env == {
        "PGHOST": "db.example", "PGPORT": "6543", "PGUSER": "ana@corp", "PGPASSWORD": "s3cr/t",
        "PGDATABASE": "platform", "DBT_SCHEMA": "marts", "PGTZ": "UTC", "PGSSLMODE": "require",
    }


def test_libpq_env_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        libpq_env("mysql://root@localhost/db")
