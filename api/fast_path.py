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

from api.cache import PatternCache, if_none_match
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
        token, if_none_match_header = _request_headers(scope["headers"])
        if token is None:
            return None
        key = self.keys.cached(token)
        if key is None or not key.may_read(client_id):
            return None
        cached = self.cache.current(client_id)
        if cached is None:
            return None
        if pattern_type:
            one = cached.by_type.get(pattern_type)
            if one is None:
                return None   # the checked path says 404 with its own message
            etag, body = one
        else:
            etag, body = cached.etag, cached.body
        # The same headers, in the same order, as the checked path's Response (Starlette).
        headers = [(b"etag", etag.encode()), (b"cache-control", b"private, no-cache")]
        if if_none_match(if_none_match_header, etag):
            return 304, headers, b""
        headers += [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
        return 200, headers, body


def _request_headers(raw: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """(bearer token, If-None-Match) from the raw ASGI headers; a repeated header: the checked path."""
    token = condition = None
    seen_authorization = seen_condition = False
    for name, value in raw:
        if name == b"authorization":
            if seen_authorization:
                return None, None
            seen_authorization = True
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials:
                token = credentials   # as FastAPI's HTTPBearer reads it: not stripped
        elif name == b"if-none-match":
            if seen_condition:
                return None, None
            seen_condition = True
            condition = value.decode("latin-1")
    return token, condition
