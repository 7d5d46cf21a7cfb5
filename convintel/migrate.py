"""Migration runner: applies ``migrations/NNN_name.sql`` in order, once each (SPEC §3.3).

Each file runs in its own transaction together with its record in ``convintel_schema_migrations``;
an advisory lock serialises concurrent runners. A file already applied is skipped; one whose content
changed after it was applied is an error (write a new migration instead of editing an old one).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from convintel.settings import MIGRATIONS_DIR

LOCK_KEY = 7_100_014  # arbitrary, constant: the advisory lock every runner takes
MIGRATION_FILE = re.compile(r"^(?P<version>\d{3,})_(?P<name>[a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_lower_snake.sql")
        migrations.append(Migration(match["version"], match["name"], path))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}: {versions}")
    return migrations


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply what is not applied yet; return what was applied now (empty when up to date)."""
    applied_now: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(
                """
                create table if not exists convintel_schema_migrations (
                    version    text primary key,
                    name       text not null,
                    checksum   text not null,
                    applied_at timestamptz not null default now()
                )
                """
            )
            recorded = dict(conn.execute("select version, checksum from convintel_schema_migrations").fetchall())
            for migration in discover(directory):
                if migration.version in recorded:
                    if recorded[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.path.name} changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "insert into convintel_schema_migrations (version, name, checksum) values (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied_now.append(migration)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now


def applied(url: str) -> list[tuple[str, str, object]]:
    with psycopg.connect(url) as conn:
        exists = conn.execute("select to_regclass('convintel_schema_migrations')").fetchone()[0]
        if not exists:
            return []
        return conn.execute(
            "select version, name, applied_at from convintel_schema_migrations order by version"
        ).fetchall()
