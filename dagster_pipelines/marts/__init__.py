"""Reading the marts' sufficient statistics into the detectors' inputs: a few grouped queries per
detector, no rows per lead. Plain psycopg + pandas (no Dagster import) so the command line, the
assets and the tests share one loader per detector (``marts.who``, ``marts.what``, …).

The helpers here are the one way every loader talks to the marts. A loader reads its small per-client
summary whole and each larger mart through a ``ClientStream`` (one query ordered by client, read in
batches through a server-side cursor), so a process holds one client's inputs at a time: the detectors'
peak memory is bounded by the largest client, not by the total data (issue 11)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from uuid import UUID

import pandas as pd
import psycopg
from psycopg import sql


def read_frame(conn: psycopg.Connection, query: sql.Composable, params: dict | None = None) -> pd.DataFrame:
    """Run ``query`` and return its rows as a DataFrame with the cursor's column names."""
    with conn.cursor() as cursor:
        cursor.execute(query, params or {})
        columns = [column.name for column in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=columns)


def client_filter(client_ids: Sequence[UUID] | None) -> tuple[sql.Composable, dict]:
    """A ``where`` clause (and its parameters) limiting a mart to ``client_ids``; all clients when empty."""
    if not client_ids:
        return sql.SQL("true"), {}
    return sql.SQL("client_id = any(%(client_ids)s)"), {"client_ids": list(client_ids)}


def mart(schema: str, name: str) -> sql.Identifier:
    """The qualified identifier of a dbt model in ``schema``."""
    return sql.Identifier(schema, name)


def to_numeric(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Cast the given columns (numeric/bigint from PostgreSQL arrive as Decimal or int) to numbers, in place."""
    for column in columns:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column])
    return frame


def split_by_client(frame: pd.DataFrame) -> dict[UUID, pd.DataFrame]:
    """One frame per client, without the client_id column, row order kept."""
    return {
        client_id: group.drop(columns="client_id").reset_index(drop=True)
        for client_id, group in frame.groupby("client_id", sort=False)
    }


# Rows fetched per round trip: about one large client's rows of a mart (~2,000 at 100k leads), so the
# buffer adds at most one client's worth to the memory, at ~1 ms a round trip.
STREAM_BATCH_ROWS = 2_000
_cursor_names = itertools.count()


class ClientStream:
    """The rows of one query ordered by ``client_id`` first, read ``STREAM_BATCH_ROWS`` at a time through a
    server-side cursor and handed out one client at a time by ``take`` (called in increasing client id
    order). A client's frame is what ``split_by_client`` gives from the whole result: the same rows in
    the same order, ``numeric`` columns cast by ``to_numeric``, without client_id."""

    def __init__(self, cursor: psycopg.ServerCursor, numeric: Iterable[str] = ()) -> None:
        self._cursor, self._numeric = cursor, list(numeric)
        self._columns = [column.name for column in cursor.description]
        self._client = self._columns.index("client_id")
        self._rows: list[tuple] = []
        self._position = 0
        self._exhausted = False
        self._empty: pd.DataFrame | None = None

    def take(self, client_id: UUID) -> pd.DataFrame:
        """The rows of ``client_id`` (no rows: an empty frame with the columns); rows of clients before it
        that were never asked for are skipped."""
        while (head := self._head()) is not None and head < client_id:
            self._read_client(head)
        if head == client_id:
            return self._frame(self._read_client(client_id))
        if self._empty is None:
            sample = self._rows[self._position:self._position + 1]  # dtypes as the data gives them
            self._empty = self._frame(sample).iloc[0:0]
        return self._empty.copy()

    def _head(self) -> UUID | None:
        """The client of the next unread row, fetching the next batch when needed; None at the end."""
        if self._position == len(self._rows) and not self._exhausted:
            self._rows, self._position = self._cursor.fetchmany(STREAM_BATCH_ROWS), 0
            self._exhausted = not self._rows
        return None if self._exhausted else self._rows[self._position][self._client]

    def _read_client(self, client_id: UUID) -> list[tuple]:
        rows: list[tuple] = []
        while self._head() == client_id:
            end = self._position
            while end < len(self._rows) and self._rows[end][self._client] == client_id:
                end += 1
            rows.extend(self._rows[self._position:end])
            self._position = end
        return rows

    def _frame(self, rows: list[tuple]) -> pd.DataFrame:
        frame = to_numeric(pd.DataFrame(rows, columns=self._columns), self._numeric)
        if self._empty is None:
            self._empty = frame.iloc[0:0].drop(columns="client_id")
        return frame.drop(columns="client_id")


class ClientStreams:
    """Opens ``ClientStream``s on one connection (see ``client_streams``)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._cursors: list[psycopg.ServerCursor] = []

    def open(self, query: sql.Composable, params: dict | None = None, numeric: Iterable[str] = ()) -> ClientStream:
        cursor = self._conn.cursor(name=f"client_stream_{next(_cursor_names)}")
        self._cursors.append(cursor)
        cursor.execute(query, params or {})
        return ClientStream(cursor, numeric)

    def close(self) -> None:
        for cursor in self._cursors:
            cursor.close()


@contextmanager
def client_streams(conn: psycopg.Connection) -> Iterator[ClientStreams]:
    """Server-side cursors live in a transaction: one (or a savepoint inside the caller's) around the
    streams, so an autocommit connection works too; the cursors are closed on the way out."""
    with conn.transaction():
        streams = ClientStreams(conn)
        try:
            yield streams
        finally:
            streams.close()


def empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``frame`` (without client_id) and no rows: a client's input when it has none."""
    return frame.iloc[0:0].drop(columns="client_id", errors="ignore").reset_index(drop=True)
