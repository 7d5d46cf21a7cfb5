"""The API's settings, read from the environment once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from convintel import settings as project_settings


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


@dataclass(frozen=True)
class ApiSettings:
    """``database_url``: DATABASE_URL, else the running local cluster (like every other command).

    ``max_body_bytes`` (CONVINTEL_API_MAX_BODY_BYTES, default 64 KiB): larger request bodies get 413.
    ``pool_size`` (CONVINTEL_API_POOL_SIZE, default 8): idle database connections kept per process.
    ``cache_entries`` (CONVINTEL_API_CACHE_ENTRIES, default 1024): clients whose serialised patterns
    are kept in memory per process (least recently used evicted).
    ``key_ttl_seconds`` (CONVINTEL_API_KEY_TTL_SECONDS, default 5): how long a process may reuse an API
    key it authenticated, so a hot path does not look the key up on every request; a revoked key stops
    working within this time (at once while the process listens for changes). 0 looks the key up on
    every request.
    ``cache_max_age_seconds`` (CONVINTEL_API_CACHE_MAX_AGE_SECONDS, default 60): how long a document
    confirmed current may be served from memory without asking the database, while the process hears
    every change (api/cache.py); the bound on staleness should notifications ever fail unnoticed.
    0 turns the memory path off (every request asks the database)."""

    database_url: str = field(default_factory=project_settings.database_url)
    max_body_bytes: int = field(default_factory=lambda: _int_env("CONVINTEL_API_MAX_BODY_BYTES", 64 * 1024))
    pool_size: int = field(default_factory=lambda: _int_env("CONVINTEL_API_POOL_SIZE", 8))
    cache_entries: int = field(default_factory=lambda: _int_env("CONVINTEL_API_CACHE_ENTRIES", 1024))
    key_ttl_seconds: int = field(default_factory=lambda: _int_env("CONVINTEL_API_KEY_TTL_SECONDS", 5))
    cache_max_age_seconds: int = field(default_factory=lambda: _int_env("CONVINTEL_API_CACHE_MAX_AGE_SECONDS", 60))
