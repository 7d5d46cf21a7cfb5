"""The in-process pattern cache (serving speed, issues 8 and 11).

Patterns change when a learning run stores them (weekly), yet every request must see the current
rows. Two ways to know that a cached document is still current:

* **Asked** (the checked path): inside the request's client-scoped transaction, one cheap question —
  the *version* of the client's stored patterns: per row its id, its ``xmin`` (the transaction that
  last wrote it: any upsert, update or manual edit changes it), ``computed_at`` and whether it is still
  valid (``valid_until > now()``, which flips with time alone) — and its scope: a type the client has
  no own pattern of is served by the agency-wide pattern (api/scopes.py), whose row versions enter the
  same tuple. The JSON itself is read, spliced into a response and hashed into an ETag only when the
  version differs from the cached one.
* **Told** (the memory path, api/fast_path.py): while this process LISTENs on ``convintel_served``
  (api/notifications.py; migration 008's triggers notify every committed change of a client's
  patterns, of the agency's, of the keys), a document confirmed by the checked path is *current* until a
  notification names its client — so it is served without a database round trip. Confirmation is
  refused when any notification arrived (or listening started or stopped) since the confirming read
  began (``read_token``), so a read that raced a store never becomes current; losing the listening
  connection forgets every confirmation. A confirmation also lapses after ``max_age`` seconds (a bound
  on staleness whatever happens to the notifications) and when a served row's ``valid_until`` passes.
  Staleness bound while listening: the delivery of one notification after commit (milliseconds).

A matching ``If-None-Match`` is answered 304 without reading or sending the patterns at all. A client
sending ``Accept-Encoding: gzip`` gets the document gzip-compressed — compressed once per document and
process, not per request — under its own ETag (a strong validator differs per content coding).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

# (type, scope, id, xmin, computed_at, is_valid) per served row: the client's own pattern of a type, or
# the agency-wide one where the client has none, so an agency pattern change changes the version too.
Version = tuple[tuple[str, str, str, str, str, bool], ...]


GZIP_MIN_BYTES = 1024   # smaller bodies are sent as they are: compression would not pay for itself


def etag_of(version: Version | tuple) -> str:
    return '"' + hashlib.sha256(repr(version).encode()).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class CachedPatterns:
    version: Version
    etag: str
    body: bytes                                   # GET /patterns/{client_id}
    by_type: dict[str, tuple[str, bytes]]         # type → (etag, body) for GET /patterns/{client_id}/{type}
    scopes: dict[str, str] = field(default_factory=dict)  # type → 'client' | 'agency' (api/scopes.py)
    expires_at: float = float("inf")              # epoch seconds: the first served valid row's valid_until
    _gzipped: dict[str | None, tuple[str, bytes]] = field(default_factory=dict, repr=False, compare=False)

    def representation(self, pattern_type: str | None, use_gzip: bool) -> tuple[str, bytes, bool] | None:
        """(ETag, body, is gzip) of the whole document (``pattern_type`` None) or of one type (None when
        that type is not served); gzip only when asked for and the body is large enough."""
        if pattern_type is None:
            etag, body = self.etag, self.body
        elif (one := self.by_type.get(pattern_type)) is not None:
            etag, body = one
        else:
            return None
        return representation_of(etag, body, use_gzip, compressed=lambda: self._gzip(pattern_type, etag, body))

    def _gzip(self, pattern_type: str | None, etag: str, body: bytes) -> tuple[str, bytes]:
        variant = self._gzipped.get(pattern_type)
        if variant is None:   # two threads may both compress once; either result is the same bytes
            variant = self._gzipped[pattern_type] = gzip_variant(etag, body)
        return variant

    def entry(self, pattern_type: str) -> dict[str, Any] | None:
        """One served type as parsed JSON (``patterns``, ``sample_size``, ``confidence``, ``computed_at``,
        ``valid_until``, ``is_valid``, ``scope`` and, for the agency's, ``clients_pooled``), or None."""
        one = self.by_type.get(pattern_type)
        return None if one is None else json.loads(one[1])


class PatternCache:
    """Least-recently-used map client → CachedPatterns, safe across the server's worker threads, with
    the confirmations of the memory path (see the module docstring)."""

    def __init__(self, entries: int = 1024, max_age: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time) -> None:
        self._entries = max(1, entries)
        self._max_age = max_age
        self._clock, self._wall_clock = clock, wall_clock
        self._items: OrderedDict[UUID, CachedPatterns] = OrderedDict()
        self._confirmed: dict[UUID, float] = {}   # client → when its entry was last confirmed current
        self._generation = 0                      # +1 on every notification and listening change
        self._listening = False
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
            if self._items.get(client_id, cached) is not cached:
                self._confirmed.pop(client_id, None)
            self._items[client_id] = cached
            self._items.move_to_end(client_id)
            while len(self._items) > self._entries:
                evicted, _ = self._items.popitem(last=False)
                self._confirmed.pop(evicted, None)

    # --- the memory path ----------------------------------------------------------------------------

    def read_token(self) -> int:
        """Taken before a checked read; ``confirm`` accepts the read only if nothing changed since."""
        with self._lock:
            return self._generation

    def confirm(self, client_id: UUID, cached: CachedPatterns, token: int) -> bool:
        """Mark ``cached`` (just read or just checked in the database) as current for the memory path —
        only while listening, and only if no notification arrived since ``token`` was taken."""
        with self._lock:
            if not self._listening or token != self._generation or self._items.get(client_id) is not cached:
                return False
            self._confirmed[client_id] = self._clock()
            return True

    def current(self, client_id: UUID) -> CachedPatterns | None:
        """The client's document if it is known current without asking the database, else None."""
        with self._lock:
            confirmed_at = self._confirmed.get(client_id)
            if not self._listening or confirmed_at is None or self._clock() - confirmed_at >= self._max_age:
                return None
            cached = self._items[client_id]
            if self._wall_clock() >= cached.expires_at:
                return None
            return cached

    def changed(self, client_id: UUID | None) -> None:
        """A notification: this client's served patterns changed (None: possibly every client's)."""
        with self._lock:
            self._generation += 1
            if client_id is None:
                self._confirmed.clear()
            else:
                self._confirmed.pop(client_id, None)

    def set_listening(self, listening: bool) -> None:
        """Listening started (nothing heard before counts) or stopped (nothing can be trusted now)."""
        with self._lock:
            self._generation += 1
            self._listening = listening
            self._confirmed.clear()

    @property
    def listening(self) -> bool:
        return self._listening


def gzip_variant(etag: str, body: bytes) -> tuple[str, bytes]:
    """The gzip representation of (etag, body): its own ETag, deterministic bytes (no timestamp)."""
    return etag[:-1] + '-gzip"', gzip.compress(body, compresslevel=6, mtime=0)


def representation_of(etag: str, body: bytes, use_gzip: bool,
                      compressed: Callable[[], tuple[str, bytes]] | None = None) -> tuple[str, bytes, bool]:
    """The one rule for what is sent: (ETag, body, is gzip) — gzip only when the client accepts it and
    the body is at least GZIP_MIN_BYTES; ``compressed`` supplies a kept gzip variant (default: compress now)."""
    if not use_gzip or len(body) < GZIP_MIN_BYTES:
        return etag, body, False
    return (*(compressed() if compressed else gzip_variant(etag, body)), True)


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header accepts gzip (RFC 9110 §12.5.3; ``q=0`` refuses a coding)."""
    if not header:
        return False
    accepted = {}
    for item in header.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        accepted[coding.lower()] = quality
    quality = accepted.get("gzip", accepted.get("x-gzip", accepted.get("*", 0.0)))
    return quality > 0


def representation_headers(etag: str, is_gzip: bool, not_modified: bool) -> list[tuple[str, str]]:
    """The headers of a patterns response before Content-Length/Content-Type, in the order both the
    checked path (Starlette) and the memory path send them."""
    headers = [("etag", etag), ("cache-control", "private, no-cache"), ("vary", "Accept-Encoding")]
    if is_gzip and not not_modified:
        headers.append(("content-encoding", "gzip"))
    return headers


def if_none_match(header: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match header against our (strong) ETag."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))
