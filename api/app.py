"""The Pattern API (SPEC §9). ``create_app()`` is the factory ``convintel serve`` hands to uvicorn.

Request path: FastAPI, psycopg, the engines' pure functions and the ALS constants (imported once at
start-up). Dagster, dbt and Great Expectations are never imported by the serving process: runs are
executed by a separate worker process (api/runs.py, api/worker.py).
"""


import json
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timezone
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from fastapi import Body, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import engines, runs, scopes
from api.cache import (CachedPatterns, PatternCache, accepts_gzip, etag_of, if_none_match, representation_headers,
                       representation_of)
from api.db import ConnectionPool, scope_to
from api.fast_path import PatternFastPath
from api.keys import ApiKey, KeyCache
from api.kpi_models import ClientKpis
from api.models import (
    AllocateRequest, AllocateResponse, ClientPatterns, ContextConsumer, Health, LearnRequest, OnePattern,
    PatternContext, PatternTypeName, RunAccepted, RunStatus, ScoreRequest, ScoreResponse, SnapshotRequest,
    SnapshotResponse,
)
from api.notifications import ChangeListener
from api.settings import ApiSettings

PATTERN_ORDER = ("who", "what", "when", "how")
EARLIEST_START = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST_START = datetime(2100, 1, 1, tzinfo=timezone.utc)

bearer = HTTPBearer(auto_error=False, description="an API key from `convintel keys create`")


class BodyLimit:
    """ASGI middleware: request bodies over ``limit`` bytes get 413, with or without Content-Length."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._reject(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._reject(send)
                return
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _reject(self, send) -> None:
        response = JSONResponse({"detail": f"request body larger than {self.limit} bytes"}, status_code=413)
        await response({"type": "http"}, None, send)


def _not_found(what: str = "client not found") -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, what)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    pool = ConnectionPool(settings.database_url, settings.pool_size)
    cache = PatternCache(settings.cache_entries, max_age=settings.cache_max_age_seconds)
    keys_seen = KeyCache(settings.key_ttl_seconds)
    listener = ChangeListener(settings.database_url, cache, keys_seen.clear)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if settings.cache_max_age_seconds > 0:
            listener.start()
        yield
        listener.stop()
        pool.close()

    app = FastAPI(
        title="Conversion Intelligence — Pattern API",
        version="1.0.0",
        description=(
            "Per-client WHO/WHAT/WHEN/HOW patterns for the engines, learning triggers, lead scoring, touch "
            "allocation and content snapshots. Authenticate with `Authorization: Bearer <API key>`."
        ),
        lifespan=lifespan,
    )
    app.state.pool, app.state.cache, app.state.settings = pool, cache, settings
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(PatternFastPath, cache=cache, keys=keys_seen)   # outermost: before any framework work

    # --- auth -------------------------------------------------------------------------------------

    def current_key(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> ApiKey:
        key = None
        if credentials is not None and credentials.scheme.lower() == "bearer":
            key = keys_seen.authenticate(pool.connection, credentials.credentials)
        if key is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid API key",
                                headers={"WWW-Authenticate": "Bearer"})
        return key

    def admin_key(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
        if not key.is_admin:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this operation needs an admin API key")
        return key

    @contextmanager
    def scoped(key: ApiKey, client_id: UUID) -> Iterator[psycopg.Connection]:
        """A transaction as convintel_app that sees the key's clients only (an admin: this client).
        Another tenant's client reads exactly like a client that does not exist: 404."""
        if not key.may_read(client_id):
            raise _not_found()
        with pool.connection() as conn, conn.transaction():
            scope_to(conn, [client_id] if key.is_admin else key.client_ids)
            client = conn.execute("select 1 from convintel_api_clients where id = %s", (client_id,)).fetchone()
            if client is None:
                raise _not_found()
            yield conn

    # --- errors -----------------------------------------------------------------------------------

    @app.exception_handler(psycopg.OperationalError)
    async def database_unavailable(_request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        return JSONResponse({"detail": "database unavailable"}, status_code=503)

    # --- health -----------------------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["health"], responses={503: {"model": Health}})
    def healthz() -> JSONResponse:
        try:
            pool.check()
        except psycopg.Error:
            return JSONResponse({"status": "degraded", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    # --- patterns ---------------------------------------------------------------------------------

    def load_patterns(key: ApiKey, client_id: UUID) -> CachedPatterns:
        """Per type the pattern that serves the client — its own, else the agency-wide one — with its
        scope (api/scopes.py); ``CachedPatterns.scopes`` and ``.entry(type)`` give them to callers.
        What is read here is confirmed current for the memory path (api/fast_path.py) if no change was
        heard meanwhile."""
        token = cache.read_token()
        with scoped(key, client_id) as conn:
            version = tuple(sorted(
                version_row(row) for row in conn.execute(scopes.VERSION_SQL, {"client_id": client_id})))
            cached = cache.get(client_id, version)
            if cached is not None:
                cache.confirm(client_id, cached, token)
                return cached
            rows = conn.execute(scopes.ROWS_SQL, {"client_id": client_id}).fetchall()
        # The version of what was actually read (a store may have committed between the two queries).
        version = tuple(sorted(version_row(r) for r in rows))
        by_type: dict[str, tuple[str, bytes]] = {}
        served_scopes: dict[str, str] = {}
        parts: list[str] = []
        for row in sorted(rows, key=lambda r: PATTERN_ORDER.index(r[1])):
            scope, pattern_type, _, _, computed_at, is_valid, patterns_text, sample_size, confidence, valid_until, pooled = row
            # The stored JSON text is spliced in as it is: no parse and re-serialise of the patterns.
            fields = (
                f'"patterns":{patterns_text},"sample_size":{int(sample_size)},'
                f'"confidence":{json.dumps(float(confidence))},"computed_at":{json.dumps(computed_at.isoformat())},'
                f'"valid_until":{json.dumps(valid_until.isoformat())},"is_valid":{"true" if is_valid else "false"},'
                f'"scope":"{scope}"' + (f',"clients_pooled":{int(pooled)}' if scope == "agency" else "")
            )
            parts.append(f'"{pattern_type}":{{{fields}}}')
            one = f'{{"client_id":"{client_id}","pattern_type":"{pattern_type}",{fields}}}'
            by_type[pattern_type] = (etag_of((client_id, version_row(row))), one.encode())
            served_scopes[pattern_type] = scope
        body = f'{{"client_id":"{client_id}","patterns":{{{",".join(parts)}}}}}'.encode()
        # The memory path stops serving this document when the first served valid row expires.
        expires_at = min((row[9].timestamp() for row in rows if row[5]), default=float("inf"))
        cached = CachedPatterns(version, etag_of((client_id, version)), body, by_type, served_scopes, expires_at)
        cache.put(client_id, cached)
        cache.confirm(client_id, cached, token)
        return cached

    def version_row(row: tuple) -> tuple:
        """(type, scope, id, xmin, computed_at, is_valid): the scope is part of the version, so a client
        pattern replacing the agency's (or an agency pattern changing) changes the ETag."""
        return (row[1], row[0], row[2], row[3], row[4].isoformat(), row[5])

    def conditional(request: Request, etag: str, body: bytes, is_gzip: bool = False) -> Response:
        """200 with the body, or 304 when If-None-Match names ``etag`` (of this representation)."""
        not_modified = if_none_match(request.headers.get("if-none-match"), etag)
        headers = dict(representation_headers(etag, is_gzip, not_modified))
        if not_modified:
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    def served(request: Request, cached: CachedPatterns, pattern_type: str | None) -> Response:
        chosen = cached.representation(pattern_type, accepts_gzip(request.headers.get("accept-encoding")))
        if chosen is None:
            raise _not_found(f"no {pattern_type} pattern stored for this client (not learned yet, or too little data)")
        return conditional(request, *chosen)

    @app.get("/patterns/{client_id}", response_model=ClientPatterns, tags=["patterns"],
             responses={304: {"description": "not modified (If-None-Match)"}, 404: {"description": "unknown client"}})
    def get_patterns(client_id: UUID, request: Request, key: Annotated[ApiKey, Depends(current_key)]) -> Response:
        """Every stored pattern type of a client (types without a stored pattern are absent)."""
        return served(request, load_patterns(key, client_id), None)

    # --- agent context (api/context.py); registered before /patterns/{client_id}/{pattern_type} ---------

    @app.get("/patterns/{client_id}/context", response_model=PatternContext, tags=["patterns"],
             responses={304: {"description": "not modified (If-None-Match)"}, 404: {"description": "unknown client"}})
    def get_context(client_id: UUID, request: Request, key: Annotated[ApiKey, Depends(current_key)],
                    consumer: ContextConsumer | None = None) -> Response:
        """Guidance for the AI agents (messaging, sequencing, campaign; default all three) from the client's
        stored patterns: only findings that pass the significance, sample and confidence rules, each with
        its evidence, as structured JSON and as ready-to-insert prompt text (docs/agent_context.md)."""
        from api.context import CONSUMERS, build_context

        cached = load_patterns(key, client_id)
        consumers = (consumer,) if consumer else CONSUMERS
        blocks = build_context(json.loads(cached.body)["patterns"], consumers)
        body = json.dumps({"client_id": str(client_id), "consumers": {c: b.as_dict() for c, b in blocks.items()}},
                          separators=(",", ":"), ensure_ascii=False).encode()
        use_gzip = accepts_gzip(request.headers.get("accept-encoding"))
        return conditional(request, *representation_of(etag_of((cached.etag, "context", consumers)), body, use_gzip))

    @app.get("/patterns/{client_id}/{pattern_type}", response_model=OnePattern, tags=["patterns"],
             responses={304: {"description": "not modified (If-None-Match)"},
                        404: {"description": "unknown client, or no pattern of this type stored"}})
    def get_pattern(client_id: UUID, pattern_type: PatternTypeName, request: Request,
                    key: Annotated[ApiKey, Depends(current_key)]) -> Response:
        """One pattern type of a client: who, what, when or how."""
        return served(request, load_patterns(key, client_id), pattern_type.value)

    # --- runs -------------------------------------------------------------------------------------

    def accepted(run_id: UUID) -> JSONResponse:
        url = f"/runs/{run_id}"
        return JSONResponse({"run_id": str(run_id), "status": "queued", "status_url": url},
                            status_code=status.HTTP_202_ACCEPTED, headers={"Location": url})

    @app.post("/patterns/learn", status_code=202, response_model=RunAccepted, tags=["runs"])
    def learn(key: Annotated[ApiKey, Depends(admin_key)],
              request_body: Annotated[LearnRequest | None, Body()] = None) -> JSONResponse:
        """Start a learning run (dbt build → detectors → pattern store) for all or some clients; returns at once."""
        client_ids = sorted(set((request_body.client_ids if request_body else None) or []))
        with pool.connection() as conn:
            if client_ids:
                with conn.transaction():
                    scope_to(conn, client_ids)
                    found = {r[0] for r in conn.execute("select id from convintel_api_clients")}
                missing = [str(c) for c in client_ids if c not in found]
                if missing:
                    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown client ids: {', '.join(missing)}")
            run_id = runs.launch(conn, settings.database_url, kind="learn", client_ids=client_ids, requested_by=key.id)
        return accepted(run_id)

    @app.post("/patterns/backfill/{client_id}", status_code=202, response_model=RunAccepted, tags=["runs"])
    def backfill(client_id: UUID, key: Annotated[ApiKey, Depends(admin_key)]) -> JSONResponse:
        """Re-learn one client's patterns from its full history; returns at once."""
        with scoped(key, client_id):
            pass
        with pool.connection() as conn:
            run_id = runs.launch(conn, settings.database_url, kind="backfill", client_ids=[client_id], requested_by=key.id)
        return accepted(run_id)

    @app.get("/runs/{run_id}", response_model=RunStatus, tags=["runs"])
    def run_status(run_id: UUID, key: Annotated[ApiKey, Depends(admin_key)]) -> RunStatus:
        """A run's status: queued → running → success | failure."""
        with pool.connection() as conn:
            record = runs.get_run(conn, run_id)
        if record is None:
            raise _not_found("run not found")
        return RunStatus(run_id=record.run_id, job_name=record.job_name, kind=record.kind,
                         client_ids=list(record.client_ids), status=record.status, error=record.error,
                         requested_at=record.requested_at, started_at=record.started_at,
                         finished_at=record.finished_at)

    # --- engines ----------------------------------------------------------------------------------

    @app.post("/clients/{client_id}/score", response_model=ScoreResponse, tags=["engines"])
    def score(client_id: UUID, request_body: ScoreRequest, key: Annotated[ApiKey, Depends(current_key)]) -> ScoreResponse:
        """Score a lead's ALS components with the client's weights (learned, blended or default by WHO confidence)."""
        with scoped(key, client_id) as conn:
            client_weights = conn.execute(
                "select als_learned_weights from convintel_api_clients where id = %s", (client_id,)).fetchone()[0]
            # The client's WHO pattern, else the agency-wide one (api/scopes.py).
            who = conn.execute(scopes.SERVED_KEYS_SQL.format(payload="patterns->'recommended_weights'"),
                               {"client_id": client_id, "pattern_type": "who"}).fetchone()
        weights_scope = None if who is None else who[0]
        who_pattern = None if who is None else {"recommended_weights": who[3]}
        # clients.als_learned_weights are the client's own shipped weights: not used under an agency pattern.
        choice = engines.choose_weights(who_pattern, None if who is None else float(who[1]),
                                        client_weights if weights_scope == "client" else None)
        components = request_body.components.model_dump()
        value, terms = engines.als_score(components, choice.weights)
        return ScoreResponse(client_id=client_id, score=value, terms=terms, risk=components["risk"],
                             weights=choice.weights, weights_source=choice.source, blend_factor=choice.blend_factor,
                             who_confidence=choice.confidence, weights_scope=weights_scope,
                             clients_pooled=None if who is None else who[2],
                             reason=scopes.scope_reason(weights_scope, None if who is None else who[2], choice.reason))

    @app.post("/clients/{client_id}/allocate", response_model=AllocateResponse, tags=["engines"])
    def allocate(client_id: UUID, request_body: AllocateRequest,
                 key: Annotated[ApiKey, Depends(current_key)]) -> AllocateResponse:
        """Plan a touch sequence: channels (HOW), gaps and local send days/hours (WHEN), in the lead's time zone."""
        start_at = request_body.start_at or datetime.now(timezone.utc)
        if start_at.tzinfo is None:
            start_at = start_at.replace(tzinfo=timezone.utc)
        if not EARLIEST_START <= start_at <= LATEST_START:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "start_at must be between 2000 and 2100")
        if request_body.timezone is not None and _zone(request_body.timezone) is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"unknown IANA time zone {request_body.timezone!r}")
        with scoped(key, client_id) as conn:
            client_tz = conn.execute("select timezone from convintel_api_clients where id = %s", (client_id,)).fetchone()[0]
            lead_tz = None
            if request_body.lead_id is not None:
                lead = conn.execute("select timezone from convintel_api_leads where id = %s and client_id = %s",
                                    (request_body.lead_id, client_id)).fetchone()
                if lead is None:
                    raise _not_found("lead not found")
                lead_tz = lead[0]
            # Per type the client's pattern, else the agency-wide one (api/scopes.py): (scope, confidence,
            # clients_pooled, the keys the planner reads).
            stored = {
                pattern_type: conn.execute(scopes.SERVED_KEYS_SQL.format(payload=payload),
                                           {"client_id": client_id, "pattern_type": pattern_type}).fetchone()
                for pattern_type, payload in (
                    ("when", "jsonb_build_object('best_days', patterns->'best_days', 'best_hours', patterns->'best_hours', "
                             "'optimal_sequence_gaps', patterns->'optimal_sequence_gaps')"),
                    ("how", "jsonb_build_object('best_first_channel', patterns->'best_first_channel', "
                            "'winning_sequences', patterns->'winning_sequences')"),
                )
            }
        tz_name, tz_source = "UTC", "utc"
        for candidate, source in ((request_body.timezone, "request"), (lead_tz, "lead"), (client_tz, "client")):
            if candidate and _zone(candidate) is not None:
                tz_name, tz_source = candidate, source
                break
        when_scope, when_conf, when_pooled, when = stored["when"] or (None, None, None, None)
        how_scope, how_conf, how_pooled, how = stored["how"] or (None, None, None, None)
        plan = engines.allocate(when=when, when_confidence=None if when_conf is None else float(when_conf),
                                how=how, how_confidence=None if how_conf is None else float(how_conf),
                                tz_name=tz_name, start_at=start_at, touches=request_body.touches)

        def choice_info(choice: engines.Choice, scope: str | None, pooled: int | None) -> dict:
            return {**vars(choice), "reason": scopes.scope_reason(scope, pooled, choice.reason), "scope": scope}

        return AllocateResponse(
            client_id=client_id, lead_id=request_body.lead_id, timezone=tz_name, timezone_source=tz_source,
            send_days=plan.send_days, send_hour=plan.send_hour,
            touches=[
                {"touch_number": t.touch_number, "channel": t.channel, "gap_days": t.gap_days,
                 "send_at_utc": t.send_at_utc, "send_at_local": t.send_at_local,
                 "local_day_of_week": t.send_at_local.weekday(), "local_hour": t.send_at_local.hour}
                for t in plan.touches
            ],
            channels=choice_info(plan.channels, how_scope, how_pooled), gaps=choice_info(plan.gaps, when_scope, when_pooled),
            send_times=choice_info(plan.send_times, when_scope, when_pooled),
        )

    @app.get("/clients/{client_id}/report", response_class=HTMLResponse, tags=["patterns"],
             responses={200: {"content": {"text/html": {}}, "description": "one self-contained HTML page"}})
    def report(client_id: UUID, key: Annotated[ApiKey, Depends(current_key)]) -> HTMLResponse:
        """The client's pattern report (charts with intervals and sample sizes, health, drift) as one
        self-contained HTML page, read through the same row-level-secured role as every other read."""
        from convintel.report import build_report_html  # first use only: the report renderer

        with scoped(key, client_id) as conn:
            page = build_report_html(conn, client_id, app_role=True)
        return HTMLResponse(page, headers={"Cache-Control": "private, no-store"})

    # --- business KPIs (docs/kpis.md) ----------------------------------------------------------------

    @app.get("/clients/{client_id}/kpis", response_model=ClientKpis, tags=["patterns"],
             responses={404: {"description": "unknown client, or no KPIs computed yet"}})
    def kpis(client_id: UUID, key: Annotated[ApiKey, Depends(current_key)]) -> ClientKpis:
        """Business KPIs per cohort week (booking rate, days and touches to book, multi-channel lift, top
        quintile under the weights in force, pattern confidence) and learning health (weight
        convergence), as computed by the latest learning run; read through the row-level-secured role."""
        from convintel.report.data import load_client_kpis

        with scoped(key, client_id) as conn:
            document = load_client_kpis(conn, client_id)
        if document is None:
            raise _not_found("no KPIs computed for this client yet (run a learning run)")
        return ClientKpis.model_validate(document)

    @app.post("/clients/{client_id}/snapshot", response_model=SnapshotResponse, tags=["engines"])
    def snapshot(client_id: UUID, request_body: SnapshotRequest,
                 key: Annotated[ApiKey, Depends(current_key)]) -> SnapshotResponse:
        """The ``content_snapshot`` of a message (subject, body, channel, lead context), in the dbt seed vocabularies."""
        with scoped(key, client_id):
            pass
        from detectors.snapshot import build_content_snapshot  # first use only: reads the seed vocabularies

        try:
            content = build_content_snapshot(subject=request_body.subject, body=request_body.body,
                                             channel=request_body.channel, lead=request_body.lead,
                                             sequence_step=request_body.sequence_step)
        except ValueError as exc:  # the builder's own rejection of a message (e.g. an unknown channel)
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        return SnapshotResponse(client_id=client_id, content_snapshot=json.loads(json.dumps(content, default=str)))

    return app


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for malformed keys, OSError for odd paths
        return None
