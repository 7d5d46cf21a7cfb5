"""The benchmark's minimal uvicorn apps (issue 11): the same machine, the same server, one route that
returns a fixed JSON body of ``BENCH_BODY_BYTES`` bytes (set to the size of the real API's
``GET /patterns/{client_id}`` response) with an ETag, and 304 on a matching ``If-None-Match``.

* ``app`` — a bare ASGI callable: the floor of one uvicorn worker on this machine;
* ``fastapi_app()`` — the same route through FastAPI (a sync endpoint, like the real API's): the
  framework's own cost, without authentication or database.
"""

import os
from uuid import UUID

ETAG = '"bench-minimal"'


def _body() -> bytes:
    size = int(os.environ.get("BENCH_BODY_BYTES", "2048"))
    prefix, suffix = b'{"client_id":"minimal","padding":"', b'"}'
    return prefix + b"x" * max(0, size - len(prefix) - len(suffix)) + suffix


BODY = _body()
_HEADERS = [(b"content-type", b"application/json"), (b"etag", ETAG.encode()),
            (b"cache-control", b"private, no-cache")]


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":  # lifespan: nothing to set up
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        if message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
        return
    headers = dict(scope["headers"])
    if headers.get(b"if-none-match") == ETAG.encode():
        await send({"type": "http.response.start", "status": 304, "headers": _HEADERS[1:]})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [*_HEADERS, (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


def fastapi_app():
    # No `from __future__ import annotations` in this module: FastAPI resolves these annotations at runtime.
    from fastapi import FastAPI, Request, Response

    api = FastAPI()

    @api.get("/patterns/{client_id}")
    def patterns(client_id: UUID, request: Request) -> Response:
        headers = {"ETag": ETAG, "Cache-Control": "private, no-cache"}
        if request.headers.get("if-none-match") == ETAG:
            return Response(status_code=304, headers=headers)
        return Response(BODY, media_type="application/json", headers=headers)

    return api
