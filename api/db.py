"""Database access for the API: a small connection pool and client-scoped transactions.

Every read of client data runs inside ``scoped_transaction``: the connection (logged in as the owning
user) authenticates the key first, then ``SET LOCAL ROLE convintel_app`` and sets ``app.client_ids`` to
the clients the request may see, for this transaction only. The forced row-level security on the
pattern tables (migration 002) and the scoped views (migration 004) then filter every row, so a handler
bug cannot return another tenant's rows. (psycopg_pool is not in the stack; this pool is enough for a
few sync workers: connections are created on demand and at most ``size`` idle ones are kept.)
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from uuid import UUID

import psycopg


class ConnectionPool:
    def __init__(self, url: str, size: int = 8) -> None:
        self._url = url
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue(maxsize=max(1, size))
        self._closed = threading.Event()

    def _connect(self) -> psycopg.Connection:
        # UTC sessions: timestamps come back in UTC whatever the server's zone.
        return psycopg.connect(self._url, autocommit=True, options="-c TimeZone=UTC")

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            # Reusable when idle, also after a handler raised (e.g. a 404 inside a rolled-back
            # transaction); a broken or mid-transaction connection is closed instead.
            healthy = not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            if healthy and not self._closed.is_set():
                try:
                    self._idle.put_nowait(conn)
                    conn = None
                except queue.Full:
                    pass
            if conn is not None:
                conn.close()

    def check(self) -> None:
        """Raise when the database cannot be reached (for /healthz)."""
        with self.connection() as conn:
            conn.execute("select 1")

    def close(self) -> None:
        self._closed.set()
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def scope_to(conn: psycopg.Connection, client_ids: Iterable[UUID]) -> None:
    """Inside a transaction: become the RLS-restricted role, seeing only ``client_ids``."""
    # One round trip: set_config('role', …, true) is SET LOCAL ROLE; it takes effect for the next statement.
    conn.execute("select set_config('role', 'convintel_app', true), set_config('app.client_ids', %s, true)",
                 (",".join(str(c) for c in client_ids),))
