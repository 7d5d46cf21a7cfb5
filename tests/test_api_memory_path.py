"""The memory path of GET /patterns (api/fast_path.py, api/cache.py, api/notifications.py, migration 008):
a confirmed-current document is answered without asking the database, and every committed change, every
key revocation and every loss of the listening connection takes that away again.

"Without asking the database" is shown, not assumed: while a test holds an exclusive lock on
``conversion_patterns`` the checked path blocks on its version query, so only the memory path can answer.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx
import psycopg
import pytest

from api.cache import CachedPatterns, PatternCache, accepts_gzip
from api.fast_path import _request_headers
from api.keys import create_key, revoke_key
from dagster_pipelines.pattern_store import store_client_results
from detectors.result import DetectorResult
from support import eventually, serve_api

COMPUTED_AT = datetime(2026, 6, 1, tzinfo=timezone.utc)


# --- the cache's rules, on a fake clock ------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _document(expires_at: float = float("inf")) -> CachedPatterns:
    return CachedPatterns((("who", "client", "1", "7", "2026-06-01T00:00:00+00:00", True),), '"e"', b"{}", {},
                          expires_at=expires_at)


def _listening_cache(clock: Clock, max_age: float = 60.0) -> PatternCache:
    cache = PatternCache(8, max_age=max_age, clock=clock, wall_clock=clock)
    cache.set_listening(True)
    return cache


def test_a_read_confirmed_while_listening_is_current_until_its_client_changes() -> None:
    clock, client, other = Clock(), uuid.uuid4(), uuid.uuid4()
    cache = _listening_cache(clock)
    document = _document()
    token = cache.read_token()
    cache.put(client, document)
    assert cache.confirm(client, document, token) is True
    assert cache.current(client) is document
    cache.changed(other)                      # another client's change: still current
    assert cache.current(client) is document
    cache.changed(client)
    assert cache.current(client) is None
    cache.changed(None)                       # 'agency' / 'all'
    assert cache.current(client) is None


def test_a_read_that_raced_a_change_is_not_confirmed() -> None:
    clock, client = Clock(), uuid.uuid4()
    cache = _listening_cache(clock)
    document = _document()
    token = cache.read_token()                # the read starts …
    cache.changed(uuid.uuid4())               # … any change is heard meanwhile (the store may have raced it)
    cache.put(client, document)
    assert cache.confirm(client, document, token) is False
    assert cache.current(client) is None
    assert cache.confirm(client, document, cache.read_token()) is True


def test_nothing_is_current_unless_listening_and_listening_again_forgets_everything() -> None:
    clock, client = Clock(), uuid.uuid4()
    cache = PatternCache(8, max_age=60.0, clock=clock, wall_clock=clock)
    document = _document()
    token = cache.read_token()
    cache.put(client, document)
    assert cache.confirm(client, document, token) is False      # not listening yet
    cache.set_listening(True)
    assert cache.confirm(client, document, token) is False      # the read began before listening did
    assert cache.confirm(client, document, cache.read_token()) is True
    cache.set_listening(False)
    assert cache.current(client) is None
    cache.set_listening(True)
    assert cache.current(client) is None                         # confirmations made before do not come back


def test_a_confirmation_lapses_after_max_age_and_when_a_served_row_expires() -> None:
    clock, client = Clock(), uuid.uuid4()
    cache = _listening_cache(clock, max_age=60.0)
    document = _document()
    cache.put(client, document)
    cache.confirm(client, document, cache.read_token())
    clock.now += 59.9
    assert cache.current(client) is document
    clock.now += 0.1
    assert cache.current(client) is None
    expiring = _document(expires_at=clock.now + 5)
    cache.put(client, expiring)
    assert cache.current(client) is None                         # a new document needs its own confirmation
    cache.confirm(client, expiring, cache.read_token())
    assert cache.current(client) is expiring
    clock.now += 5
    assert cache.current(client) is None


def test_request_headers_leave_repeated_or_non_bearer_credentials_to_the_checked_path() -> None:
    assert _request_headers([(b"authorization", b"Bearer ci_x"), (b"if-none-match", b'"e"'),
                             (b"accept-encoding", b"gzip")]) == ("ci_x", '"e"', "gzip")
    assert _request_headers([(b"authorization", b"bearer ci_x ")]) == ("ci_x ", None, None)   # as HTTPBearer reads it
    assert _request_headers([(b"authorization", b"Basic abc")]) == (None, None, None)
    assert _request_headers([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")]) == (None, None, None)
    assert _request_headers([(b"authorization", b"Bearer a"), (b"accept-encoding", b"gzip"),
                             (b"accept-encoding", b"br")]) == (None, None, None)


@pytest.mark.parametrize(("header", "accepted"), [
    (None, False), ("", False), ("gzip", True), ("GZIP", True), ("deflate, gzip;q=0.5", True), ("gzip;q=0", False),
    ("br", False), ("*", True), ("*;q=0", False), ("gzip;q=0, *", False), ("x-gzip", True), ("gzip;q=bad", False),
])
def test_accept_encoding_is_read_as_rfc_9110_says(header: str | None, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_the_gzip_representation_has_its_own_etag_and_is_compressed_once() -> None:
    body = b'{"client_id":"x","patterns":{' + b'"pad":"' + b"ab" * 2000 + b'"}}'
    document = CachedPatterns((), '"abc"', body, {"who": ('"w"', b"{}")})
    etag, compressed, is_gzip = document.representation(None, use_gzip=True)
    assert (etag, is_gzip) == ('"abc-gzip"', True) and gzip.decompress(compressed) == body
    assert document.representation(None, use_gzip=True)[1] is compressed        # compressed once
    assert document.representation(None, use_gzip=False) == ('"abc"', body, False)
    assert document.representation("who", use_gzip=True) == ('"w"', b"{}", False)  # too small to pay
    assert document.representation("how", use_gzip=True) is None


# --- the real API, over HTTP ------------------------------------------------------------------------------

@dataclass
class World:
    url: str
    base: str
    a: uuid.UUID
    b: uuid.UUID
    key_a: str
    key_b: str

    def get(self, path: str, key: str, timeout: float = 30, **headers: str) -> httpx.Response:
        return httpx.get(self.base + path, headers={"Authorization": f"Bearer {key}", **headers}, timeout=timeout)


def _store(conn: psycopg.Connection, client: uuid.UUID, sample_size: int = 120) -> None:
    # ~10 KB, like a small real WHO pattern: large enough to be sent gzip-compressed to clients that accept it.
    who = {"type": "who", "recommended_weights": {"source": "default"},
           "title_rankings": {"by_title": [{"category": f"title {i}", "sample": 40 + i, "conversions": i % 7,
                                            "rate": round((i % 7) / (40 + i), 4)} for i in range(120)]}}
    store_client_results(conn, client, [DetectorResult(client, "who", who, sample_size, 0.8, conversions=20)],
                         run_id=uuid.uuid4(), computed_at=COMPUTED_AT)


@pytest.fixture(scope="module")
def world(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with psycopg.connect(module_db_url, autocommit=True) as conn:
        a, b = (conn.execute("insert into clients (name) values (%s) returning id", (name,)).fetchone()[0]
                for name in ("Memory A", "Memory B"))
        for client in (a, b):
            _store(conn, client)
        _, key_a = create_key(conn, client_ids=[a], name="memory A")
        _, key_b = create_key(conn, client_ids=[b], name="memory B")
    state = tmp_path_factory.mktemp("api-memory")
    # Keys are kept for 300 s, so a prompt refusal of a revoked key can only come from the notification.
    env = {"CONVINTEL_STATE_DIR": str(state), "DATABASE_URL": module_db_url, "CONVINTEL_API_KEY_TTL_SECONDS": "300",
           "DAGSTER_HOME": str(state / "dagster")}
    with serve_api(env, state) as base:
        yield World(module_db_url, base, a, b, key_a, key_b)


@contextmanager
def patterns_locked(url: str) -> Iterator[None]:
    """conversion_patterns locked exclusively: any request that reads it through the database waits."""
    with psycopg.connect(url) as conn:
        conn.execute("lock table conversion_patterns in access exclusive mode")
        yield
        conn.rollback()


def _app_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    """The response's headers in order, without the server's own (date, server)."""
    return [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in (b"date", b"server")]


def _listener_pid(url: str) -> int | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select pid from pg_stat_activity where datname = current_database() "
                           "and query = 'listen convintel_served'").fetchone()
    return None if row is None else row[0]


@pytest.mark.slow
def test_a_confirmed_document_is_answered_from_memory_exactly_as_the_checked_path_answers(world: World) -> None:
    checked = world.get(f"/patterns/{world.a}", world.key_a)   # the checked path reads and confirms it
    one_checked = world.get(f"/patterns/{world.a}/who", world.key_a)
    assert checked.status_code == one_checked.status_code == 200
    with patterns_locked(world.url):
        memory = world.get(f"/patterns/{world.a}", world.key_a, timeout=2)
        assert (memory.status_code, memory.content) == (200, checked.content)
        assert _app_headers(memory) == _app_headers(checked)
        one = world.get(f"/patterns/{world.a}/who", world.key_a, timeout=2)
        assert (one.status_code, one.content, one.headers["etag"]) == (200, one_checked.content, one_checked.headers["etag"])
        not_modified = world.get(f"/patterns/{world.a}", world.key_a, timeout=2, **{"If-None-Match": checked.headers["etag"]})
        assert (not_modified.status_code, not_modified.content) == (304, b"")
        assert not_modified.headers["etag"] == checked.headers["etag"]
        # Another tenant's key never gets the document from memory: the checked path refuses it (404)
        # before touching the pattern tables, so it answers even under the lock.
        assert world.get(f"/patterns/{world.a}", world.key_b, timeout=2).status_code == 404
        # B was never read: only the database can answer, and it is locked.
        with pytest.raises(httpx.ReadTimeout):
            world.get(f"/patterns/{world.b}", world.key_b, timeout=1)


@pytest.mark.slow
def test_a_committed_change_is_heard_and_the_next_requests_see_it(world: World) -> None:
    before = world.get(f"/patterns/{world.a}", world.key_a)
    world.get(f"/patterns/{world.a}", world.key_a)   # confirmed and in memory
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("select set_config('app.client_ids', %s, false)", (str(world.a),))
        conn.execute("update conversion_patterns set sample_size = 121 where client_id = %s", (world.a,))
    delay = eventually(lambda: world.get(f"/patterns/{world.a}", world.key_a).headers["etag"] != before.headers["etag"])
    assert delay < 2
    after = world.get(f"/patterns/{world.a}", world.key_a, **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.json()["patterns"]["who"]["sample_size"] == 121
    # A new store (upsert through the pattern store) is heard the same way.
    with psycopg.connect(world.url, autocommit=True) as conn:
        _store(conn, world.a, sample_size=122)
    eventually(lambda: world.get(f"/patterns/{world.a}", world.key_a).json()["patterns"]["who"]["sample_size"] == 122)


@pytest.mark.slow
def test_a_revoked_key_is_refused_at_once_not_after_the_key_ttl(world: World) -> None:
    with psycopg.connect(world.url, autocommit=True) as conn:
        key_id, token = create_key(conn, client_ids=[world.a], name="to revoke")
    assert world.get(f"/patterns/{world.a}", token).status_code == 200
    assert world.get(f"/patterns/{world.a}", token).status_code == 200   # the key is cached for 300 s
    with psycopg.connect(world.url, autocommit=True) as conn:
        revoke_key(conn, key_id)
    assert eventually(lambda: world.get(f"/patterns/{world.a}", token).status_code == 401) < 2


@pytest.mark.slow
def test_losing_the_listening_connection_forgets_every_confirmation(world: World) -> None:
    world.get(f"/patterns/{world.a}", world.key_a)
    with patterns_locked(world.url):
        assert world.get(f"/patterns/{world.a}", world.key_a, timeout=2).status_code == 200   # from memory
    old_pid = _listener_pid(world.url)
    assert old_pid is not None
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(%s)", (old_pid,))
    eventually(lambda: _listener_pid(world.url) not in (None, old_pid), seconds=10)   # listening again
    # Whatever was confirmed before may have changed unheard: the database must be asked again.
    with patterns_locked(world.url), pytest.raises(httpx.ReadTimeout):
        world.get(f"/patterns/{world.a}", world.key_a, timeout=1)
    assert world.get(f"/patterns/{world.a}", world.key_a).status_code == 200   # checked, confirmed again
    with patterns_locked(world.url):
        assert world.get(f"/patterns/{world.a}", world.key_a, timeout=2).status_code == 200


@pytest.mark.slow
def test_gzip_is_served_to_clients_that_accept_it_with_its_own_etag_from_both_paths(world: World) -> None:
    def get(encoding: str, **headers: str) -> httpx.Response:
        return world.get(f"/patterns/{world.a}", world.key_a, timeout=2, **{"Accept-Encoding": encoding, **headers})

    plain, packed = get("identity"), get("gzip")   # checked path (or memory), then surely in memory below
    assert plain.headers.get("content-encoding") is None and packed.headers["content-encoding"] == "gzip"
    assert packed.content == plain.content       # httpx decodes gzip
    assert int(packed.headers["content-length"]) < len(plain.content) / 3
    assert packed.headers["etag"] != plain.headers["etag"] and packed.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    with patterns_locked(world.url):
        memory = get("gzip")
        assert _app_headers(memory) == _app_headers(packed) and memory.content == packed.content
        assert get("gzip", **{"If-None-Match": packed.headers["etag"]}).status_code == 304
        # The identity ETag does not validate the gzip representation, nor the other way round.
        assert get("gzip", **{"If-None-Match": plain.headers["etag"]}).status_code == 200
        assert get("identity", **{"If-None-Match": packed.headers["etag"]}).status_code == 200
