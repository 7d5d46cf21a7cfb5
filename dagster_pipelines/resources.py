"""Resources configured from the environment: DATABASE_URL, else the embedded local cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import Field

from convintel import settings


class DatabaseResource(ConfigurableResource):
    """The platform database. ``url`` defaults to DATABASE_URL or the running local cluster."""

    url: str | None = Field(default=None, description="libpq URL; empty means DATABASE_URL / local cluster")
    dbt_schema: str | None = Field(default=None, description="schema dbt builds into; default DBT_SCHEMA or 'analytics'")

    def resolved_url(self) -> str:
        return self.url or settings.database_url()

    @contextmanager
    def dbt_environment(self) -> Iterator[None]:
        """Expose the connection as the PG* variables dbt's profiles.yml reads, for the duration
        of starting a dbt process (the dbt resource passes os.environ to it)."""
        wanted = settings.libpq_env(self.resolved_url(), self.dbt_schema)
        saved = {key: os.environ.get(key) for key in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class LearningScope(ConfigurableResource):
    """Which clients a learning run covers and in how many shards the detectors split them.

    Each detector plans its clients into ``shards`` groups and runs one step per group, so a run has a
    fixed number of steps however many clients there are (1,000 clients do not mean 1,000 runs or steps),
    and the groups run in parallel under the multiprocess executor (or the Kubernetes/Celery executors)."""

    client_ids: list[str] = Field(default_factory=list, description="learn only these clients (default: all)")
    shards: int = Field(default=4, ge=1, le=256, description="client groups per detector, run as parallel steps")


def build_resources(database_url: str | None = None, dbt_schema: str | None = None,
                    client_ids: Sequence[str] = (), shards: int | None = None) -> dict[str, object]:
    """The resources of every job: one place for the definitions, the demo and the tests."""
    from convintel.dbt import dbt_executable
    from dagster_pipelines.dbt_project import dbt_project
    from dagster_pipelines.dbt_resource import DbtCoreCliResource

    return {
        "dbt": DbtCoreCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        "database": DatabaseResource(url=database_url, dbt_schema=dbt_schema),
        "learning_scope": LearningScope(
            client_ids=[str(c) for c in client_ids],
            shards=shards or int(os.environ.get("CONVINTEL_LEARNING_SHARDS", "4")),
        ),
    }
