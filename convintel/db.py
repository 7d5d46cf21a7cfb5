"""Connections and throwaway databases, for the CLI, the pipeline and the test suite."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def create_database(url: str, name: str | None = None, template: str | None = None) -> str:
    """Create a database on the server of ``url`` (optionally as a copy of ``template``); return its URL."""
    name = name or f"convintel_{uuid.uuid4().hex[:12]}"
    if not _DB_NAME.match(name) or (template and not _DB_NAME.match(template)):
        raise ValueError(f"unsafe database name: {name!r} / {template!r}")
    statement = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:
        statement = sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(statement)
    return with_database(url, name)


def drop_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
