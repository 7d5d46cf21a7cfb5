"""The memory path of ``GET /patterns/{client_id}`` and ``GET /patterns/{client_id}/{type}`` (issue 11):
a plain ASGI layer in front of FastAPI that answers from memory — no database round trip, no worker
thread, no framework — when, and only when, everything the checked path would establish is already
known in this process:

* the bearer token belongs to a key this process authenticated within its TTL (api/keys.KeyCache),
  and that key may read the client (another tenant's client is never answered here);
* the client's document is *current* (api/cache.PatternCache.current: confirmed by a checked read while
  listening for changes, no change heard since, younger than the cache's max age, no served row expired).

Anything else — an unknown or expired key, a cold or unconfirmed document, another path form, a query
string — goes to FastAPI unchanged, whose checked path answers it and confirms the document for the
next request. The answer here is byte-for-byte the checked path's (status, headers, body; tested).
"""

from __future__ import annotations

from uuid import UUID

from api.cache import PatternCache, accepts_gzip, if_none_match, representation_headers
from api.keys import KeyCache

PATTERN_TYPES = frozenset({"who", "what", "when", "how"})
_PREFIX = "/patterns/"
_UUID_LENGTH = 36


class PatternFastPath:
    def __init__(self, app, cache: PatternCache, keys: KeyCache) -> None:
        self.app, self.cache, self.keys = app, cache, keys

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            answer = self._answer(scope)
            if answer is not None:
                status, headers, body = answer
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        path: str = scope["path"]
        if not path.startswith(_PREFIX) or scope.get("query_string"):
            return None
        client_text, _, pattern_type = path[len(_PREFIX):].partition("/")
        if len(client_text) != _UUID_LENGTH or (pattern_type and pattern_type not in PATTERN_TYPES):
            return None
        try:
            client_id = UUID(client_text)
        except ValueError:
            return None
        if str(client_id) != client_text:   # other spellings of a UUID: the checked path handles them
            return None
        token, condition, encodings = _request_headers(scope["headers"])
        if token is None:
            return None
        key = self.keys.cached(token)
        if key is None or not key.may_read(client_id):
            return None
        cached = self.cache.current(client_id)
        if cached is None:
            return None
        chosen = cached.representation(pattern_type or None, accepts_gzip(encodings))
        if chosen is None:
            return None   # the checked path says 404 with its own message
        etag, body, is_gzip = chosen
        not_modified = if_none_match(condition, etag)
        # The same headers, in the same order, as the checked path's Response (Starlette).
        headers = [(name.encode(), value.encode()) for name, value in representation_headers(etag, is_gzip, not_modified)]
        if not_modified:
            return 304, headers, b""
        headers += [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
        return 200, headers, body


def _request_headers(raw: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None, str | None]:
    """(bearer token, If-None-Match, Accept-Encoding) from the raw ASGI headers; any of them repeated:
    (None, None, None), left to the checked path."""
    found: dict[bytes, str] = {}
    for name, value in raw:
        if name in (b"authorization", b"if-none-match", b"accept-encoding"):
            if name in found:
                return None, None, None
            found[name] = value.decode("latin-1")
    scheme, _, credentials = found.get(b"authorization", "").partition(" ")
    # As FastAPI's HTTPBearer reads it: scheme case-insensitive, credentials not stripped.
    token = credentials if scheme.lower() == "bearer" and credentials else None
    return token, found.get(b"if-none-match"), found.get(b"accept-encoding")
