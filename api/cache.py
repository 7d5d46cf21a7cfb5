"""The in-process pattern cache (serving speed, issue 8).

Patterns change when a learning run stores them (weekly), yet every request must see the current
rows. So each request asks the database one cheap question, inside its client-scoped transaction:
the *version* of the client's stored patterns — per row its id, its ``xmin`` (the transaction that
last wrote it: any upsert, update or manual edit changes it), ``computed_at`` and whether it is still
valid (``valid_until > now()``, which flips with time alone) — and its scope: a type the client has no
own pattern of is served by the agency-wide pattern (api/scopes.py), whose row versions enter the same
tuple. The version reads only small columns of at most four index-found rows per scope; the JSON itself is read, spliced into a response and hashed into an
ETag only when the version differs from the cached one. Staleness bound: none — a committed store is
seen by the next request; the cost of that guarantee is one small query per request. A matching
``If-None-Match`` is answered 304 without reading or sending the patterns at all.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

# (type, scope, id, xmin, computed_at, is_valid) per served row: the client's own pattern of a type, or
# the agency-wide one where the client has none, so an agency pattern change changes the version too.
Version = tuple[tuple[str, str, str, str, str, bool], ...]


def etag_of(version: Version | tuple) -> str:
    return '"' + hashlib.sha256(repr(version).encode()).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class CachedPatterns:
    version: Version
    etag: str
    body: bytes                                   # GET /patterns/{client_id}
    by_type: dict[str, tuple[str, bytes]]         # type → (etag, body) for GET /patterns/{client_id}/{type}
    scopes: dict[str, str] = field(default_factory=dict)  # type → 'client' | 'agency' (api/scopes.py)

    def entry(self, pattern_type: str) -> dict[str, Any] | None:
        """One served type as parsed JSON (``patterns``, ``sample_size``, ``confidence``, ``computed_at``,
        ``valid_until``, ``is_valid``, ``scope`` and, for the agency's, ``clients_pooled``), or None."""
        one = self.by_type.get(pattern_type)
        return None if one is None else json.loads(one[1])


class PatternCache:
    """Least-recently-used map client → CachedPatterns, safe across the server's worker threads."""

    def __init__(self, entries: int = 1024) -> None:
        self._entries = max(1, entries)
        self._items: OrderedDict[UUID, CachedPatterns] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, client_id: UUID, version: Version) -> CachedPatterns | None:
        with self._lock:
            cached = self._items.get(client_id)
            if cached is None or cached.version != version:
                self.misses += 1
                return None
            self._items.move_to_end(client_id)
            self.hits += 1
            return cached

    def put(self, client_id: UUID, cached: CachedPatterns) -> None:
        with self._lock:
            self._items[client_id] = cached
            self._items.move_to_end(client_id)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)


def if_none_match(header: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match header against our (strong) ETag."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))
