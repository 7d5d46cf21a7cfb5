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


# Seconds of the modules that run dbt builds or whole learning runs, measured in one suite run before
# the session-3 trims (`-n 2 --dist loadfile` on a heavily shared machine, 2026-11-26) and scaled by the
# work each trim removed or moved; only their order matters. xdist's loadfile hands out modules in
# collection order (with `--no-loadscope-reorder`, pyproject.toml; by default it sorts them by number of
# tests): the longest go first, so that the last module to start is a short one and the two workers finish
# together (longest-processing-time-first). Unlisted modules follow in their own order: add a new module
# here when it builds dbt on a large world or runs a learning run.
HEAVY_MODULES = {
    "test_learning_scope_and_concurrency": 937, "test_learning_interrupted": 300, "test_who_recovery": 530,
    "test_dagster": 500, "test_api": 463, "test_learning_run": 450, "test_when_recovery": 353,
    "test_backfill": 304, "test_what_pipeline": 300, "test_report": 237, "test_how_recovery": 211,
    "test_health_job": 180, "test_synth": 147, "test_dbt_models": 136, "test_when_marts": 108,
    "test_dbt_who_marts": 87, "test_reliability_bad_rows": 330, "test_reliability_database_stopped": 463,
    "test_agency_prior": 300, "test_kpi": 145, "test_api_context": 120, "test_import": 94,
    "test_dbt_parse_state": 90, "test_api_memory_path": 40, "test_what_incremental": 80,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Heaviest modules first (a stable sort: each module's tests stay together and in order)."""
    weight = {module: -seconds for module, seconds in HEAVY_MODULES.items()}
    items.sort(key=lambda item: weight.get(item.path.stem, 0.0))
