"""Test fixtures: a real PostgreSQL started by the suite (SPEC §11, DEVELOPERS.md "Real parts").

Without DATABASE_URL, each pytest worker starts its own throwaway cluster with the same code as
``convintel db up``; with DATABASE_URL, throwaway databases are created on that server instead.
A migrated template database makes a fresh, empty, migrated database per test cheap (~0.1 s).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from convintel.db import create_database, drop_database
from convintel.localdb import LocalCluster
from convintel.migrate import migrate
from convintel.settings import STATE_DIR


@pytest.fixture(scope="session")
def server_url(worker_id: str) -> Iterator[str]:
    """URL of a server the suite may create databases on (its ``postgres`` database)."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    cluster = LocalCluster(STATE_DIR / f"test-pg-{worker_id}-{os.getpid()}")
    url = cluster.up()
    try:
        yield url
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """pytest-xdist's worker id, or 'main' without xdist."""
    workerinput = getattr(request.config, "workerinput", None)
    return workerinput["workerid"] if workerinput else "main"


@pytest.fixture(scope="session")
def template_url(server_url: str) -> Iterator[str]:
    """A migrated, empty database used as the template of every fresh test database."""
    url = create_database(server_url, f"convintel_tpl_{uuid.uuid4().hex[:8]}")
    migrate(url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def db_url(server_url: str, template_url: str) -> Iterator[str]:
    """A fresh migrated database for one test, dropped afterwards."""
    template = template_url.rsplit("/", 1)[1]
    url = create_database(server_url, template=template)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the fresh test database."""
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


PROJECT_DIR = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session: pytest.Session) -> None:
    """@dbt_assets reads target/manifest.json at import: parse once, before xdist workers start."""
    if hasattr(session.config, "workerinput"):
        return
    from convintel.dbt import prepare_manifest

    prepare_manifest()


@pytest.fixture(scope="module")
def module_db_url(server_url: str, template_url: str) -> Iterator[str]:
    """A fresh migrated database shared by one test module (for modules that build dbt once)."""
    url = create_database(server_url, template=template_url.rsplit("/", 1)[1])
    try:
        yield url
    finally:
        drop_database(url)
