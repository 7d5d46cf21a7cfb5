"""API keys (SPEC §9 auth): high-entropy bearer tokens, stored as their SHA-256 only.

A key is shown once, when it is created. Authentication hashes the presented token, looks the hash
up (unique index) and compares it in constant time. Plain psycopg: the CLI and the API share it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg

TOKEN_PREFIX = "ci_"
_TOKEN_BYTES = 32  # 256 bits of randomness: a plain SHA-256 (no slow KDF) is enough to store it


@dataclass(frozen=True)
class ApiKey:
    id: UUID
    name: str
    is_admin: bool
    client_ids: tuple[UUID, ...]

    def may_read(self, client_id: UUID) -> bool:
        return self.is_admin or client_id in self.client_ids


@dataclass(frozen=True)
class KeyRecord:
    id: UUID
    name: str
    token_prefix: str
    is_admin: bool
    client_ids: tuple[UUID, ...]
    created_at: datetime
    revoked_at: datetime | None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_key(conn: psycopg.Connection, *, client_ids: Sequence[UUID] = (), admin: bool = False,
               name: str = "") -> tuple[UUID, str]:
    """Create a key; return (id, token). The token is not stored and cannot be shown again."""
    if admin == bool(client_ids):
        raise ValueError("a key is either an admin key or scoped to one or more clients")
    clients = sorted({UUID(str(c)) for c in client_ids})
    if clients:
        found = {row[0] for row in conn.execute("select id from clients where id = any(%s)", (clients,))}
        missing = [str(c) for c in clients if c not in found]
        if missing:
            raise ValueError(f"unknown client ids: {', '.join(missing)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    key_id = conn.execute(
        "insert into api_keys (name, token_prefix, token_sha256, is_admin, client_ids) "
        "values (%s, %s, %s, %s, %s) returning id",
        (name, token[: len(TOKEN_PREFIX) + 6], token_digest(token), admin, clients),
    ).fetchone()[0]
    return key_id, token


def authenticate(conn: psycopg.Connection, token: str) -> ApiKey | None:
    """The active key for ``token``, or None. Runs as the connecting user (not convintel_app)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = token_digest(token)
    row = conn.execute(
        "select id, name, is_admin, client_ids, token_sha256 from api_keys "
        "where token_sha256 = %s and revoked_at is null",
        (digest,),
    ).fetchone()
    if row is None or not hmac.compare_digest(row[4], digest):
        return None
    return ApiKey(row[0], row[1], row[2], tuple(row[3]))


class KeyCache:
    """Keys this process authenticated in the last ``ttl`` seconds, by token digest (never the token).

    Only successful look-ups are kept (a key created a moment ago is never refused from the cache). A
    revoked key stops working at once in a process that hears the change (api/notifications.py clears
    the cache), and within ``ttl`` seconds in any case. ``ttl <= 0`` disables it."""

    def __init__(self, ttl: float, entries: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._entries, self._clock = ttl, max(1, entries), clock
        self._items: OrderedDict[str, tuple[float, ApiKey]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0   # +1 on clear(): a look-up that raced a revocation is not kept

    def cached(self, token: str) -> ApiKey | None:
        """The key for ``token`` if this process authenticated it within the TTL; never asks the database."""
        if self._ttl <= 0:
            return None
        digest = token_digest(token)
        with self._lock:
            hit = self._items.get(digest)
            if hit is not None and self._clock() - hit[0] < self._ttl:
                return hit[1]
        return None

    def clear(self) -> None:
        """Forget every key (a key changed in the database: api/notifications.py)."""
        with self._lock:
            self._items.clear()
            self._generation += 1

    def authenticate(self, conn_factory: Callable[[], object], token: str) -> ApiKey | None:
        """The key for ``token``: from the cache while fresh, else ``authenticate`` on a connection."""
        if self._ttl <= 0:
            with conn_factory() as conn:
                return authenticate(conn, token)
        hit = self.cached(token)
        if hit is not None:
            return hit
        digest, now = token_digest(token), self._clock()
        with self._lock:
            generation = self._generation
        with conn_factory() as conn:
            key = authenticate(conn, token)
        with self._lock:
            if key is None:
                self._items.pop(digest, None)
            elif generation != self._generation:
                pass   # keys changed while we looked: answer this request, remember nothing
            else:
                self._items[digest] = (now, key)
                self._items.move_to_end(digest)
                while len(self._items) > self._entries:
                    self._items.popitem(last=False)
        return key


def list_keys(conn: psycopg.Connection) -> list[KeyRecord]:
    rows = conn.execute(
        "select id, name, token_prefix, is_admin, client_ids, created_at, revoked_at from api_keys order by created_at, id"
    ).fetchall()
    return [KeyRecord(r[0], r[1], r[2], r[3], tuple(r[4]), r[5], r[6]) for r in rows]


def revoke_key(conn: psycopg.Connection, key_id: UUID) -> bool:
    """Revoke a key; False when there is no such active key."""
    row = conn.execute(
        "update api_keys set revoked_at = now() where id = %s and revoked_at is null returning id", (key_id,)
    ).fetchone()
    return row is not None
