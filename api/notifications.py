"""Hearing about changes to what the API serves: one connection per process LISTENs on
``convintel_served`` (migration 008) in a daemon thread and forwards each notification to the pattern
cache and the key cache (api/cache.py, api/keys.py).

While the connection is down nothing can be heard, so the cache is told to trust nothing it has not
checked (``set_listening(False)``) until the connection is back and listening again; a reconnect is
tried every ``retry_seconds``. TCP keepalives make a silently dead connection surface within about
half a minute; the cache's ``max_age`` bounds staleness even then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

import psycopg

from api.cache import PatternCache

CHANNEL = "convintel_served"
WAIT_SECONDS = 0.5   # longest wait for a notification before looking at the stop flag again
log = logging.getLogger("convintel.api")


class ChangeListener:
    def __init__(self, url: str, cache: PatternCache, on_keys_changed: Callable[[], None],
                 retry_seconds: float = 1.0) -> None:
        self._url, self._cache, self._on_keys_changed = url, cache, on_keys_changed
        self._retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="convintel-served-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()   # seen by the thread within one wait (WAIT_SECONDS)
        if self._thread is not None:
            self._thread.join(timeout=WAIT_SECONDS + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("pattern change notifications lost (%s); serving only checked reads, "
                                "reconnecting in %.0f s", str(exc).strip() or type(exc).__name__, self._retry_seconds)
            finally:
                self._cache.set_listening(False)
            self._stop.wait(self._retry_seconds)

    def _listen(self) -> None:
        with psycopg.connect(self._url, autocommit=True, keepalives=1, keepalives_idle=10,
                             keepalives_interval=5, keepalives_count=3) as conn:
            conn.execute(f"listen {CHANNEL}")
            self._cache.set_listening(True)
            self._on_keys_changed()   # a key revoked while nobody listened must not stay cached
            while not self._stop.is_set():
                for note in conn.notifies(timeout=WAIT_SECONDS):
                    self._heard(note.payload)

    def _heard(self, payload: str) -> None:
        if payload == "keys":
            self._on_keys_changed()
            return
        try:
            client_id: UUID | None = UUID(payload)
        except ValueError:   # 'agency', 'all' or anything unforeseen: every client may be affected
            client_id = None
        self._cache.changed(client_id)
