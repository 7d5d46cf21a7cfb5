"""Streaming mart loaders (dagster_pipelines.marts.ClientStream) and the detectors' one BLAS thread.

A loader hands out one client's rows at a time from one ordered query per mart; each client's frame
must be exactly what the old whole-result read gave (``split_by_client`` of ``read_frame``): same rows,
order, columns and dtypes — also when a client's rows span several fetched batches, when a client has
no rows, and when clients are skipped. Small hand-made table in a fresh database; no dbt.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pandas as pd
import psycopg
import pytest
from psycopg import sql

import dagster_pipelines.marts as marts
from dagster_pipelines.marts import client_streams, read_frame, split_by_client, to_numeric

pytestmark = pytest.mark.slow

A = UUID("00000000-0000-0000-0000-00000000000a")
B = UUID("00000000-0000-0000-0000-00000000000b")  # no rows
C = UUID("00000000-0000-0000-0000-00000000000c")
D = UUID("00000000-0000-0000-0000-00000000000d")
ROWS = [  # (client, category, touches bigint, rate numeric); A has 5 rows: more than one batch of 2
    (A, "x", 3, Decimal("0.5")), (A, "y", 1, Decimal("0.25")), (A, "z", 7, None),
    (A, "zz", 2, Decimal("1")), (A, "zzz", 4, Decimal("0.125")),
    (C, "x", 9, Decimal("0.75")),
    (D, "y", 5, Decimal("0.5")), (D, "z", 6, Decimal("0")),
]
QUERY = sql.SQL("select client_id, category, touches, rate from stream_probe order by client_id, category")
NUMERIC = ["touches", "rate"]


@pytest.fixture
def probe(conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> psycopg.Connection:
    conn.execute("create table stream_probe (client_id uuid, category text, touches bigint, rate numeric)")
    with conn.cursor() as cursor:
        cursor.executemany("insert into stream_probe values (%s, %s, %s, %s)", ROWS)
    monkeypatch.setattr(marts, "STREAM_BATCH_ROWS", 2)  # a client's rows span batches
    return conn


def _whole(conn: psycopg.Connection) -> dict[UUID, pd.DataFrame]:
    return split_by_client(to_numeric(read_frame(conn, QUERY), NUMERIC))


def test_each_client_frame_equals_the_whole_read_split_by_client(probe: psycopg.Connection) -> None:
    whole = _whole(probe)
    with client_streams(probe) as streams:  # an autocommit connection: the streams open their own transaction
        stream = streams.open(QUERY, numeric=NUMERIC)
        taken = {client: stream.take(client) for client in (A, B, C, D)}
    for client in (A, C, D):
        pd.testing.assert_frame_equal(taken[client], whole[client], check_exact=True)
    assert list(taken[A]["category"]) == ["x", "y", "z", "zz", "zzz"]
    assert list(taken[A]["touches"]) == [3, 1, 7, 2, 4]
    assert taken[A]["rate"].tolist()[:2] == [0.5, 0.25] and pd.isna(taken[A]["rate"][2])
    assert taken[B].empty and list(taken[B].columns) == ["category", "touches", "rate"]
    assert list(taken[B].dtypes) == list(whole[A].dtypes)


def test_clients_not_asked_for_are_skipped(probe: psycopg.Connection) -> None:
    whole = _whole(probe)
    with client_streams(probe) as streams:
        stream = streams.open(QUERY, numeric=NUMERIC)
        pd.testing.assert_frame_equal(stream.take(C), whole[C], check_exact=True)  # A's 5 rows skipped
        pd.testing.assert_frame_equal(stream.take(D), whole[D], check_exact=True)
        after_the_end = stream.take(UUID(int=2**127))
    assert after_the_end.empty and list(after_the_end.columns) == ["category", "touches", "rate"]


def test_several_streams_on_one_connection_inside_a_transaction(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(marts, "STREAM_BATCH_ROWS", 2)
    with psycopg.connect(db_url) as conn:  # not autocommit: the streams use a savepoint of the open transaction
        conn.execute("create table stream_probe (client_id uuid, category text, touches bigint, rate numeric)")
        with conn.cursor() as cursor:
            cursor.executemany("insert into stream_probe values (%s, %s, %s, %s)", ROWS)
        whole = _whole(conn)
        with client_streams(conn) as streams:
            first, second = streams.open(QUERY, numeric=NUMERIC), streams.open(QUERY, numeric=NUMERIC)
            for client in (A, C, D):
                pd.testing.assert_frame_equal(first.take(client), whole[client], check_exact=True)
                pd.testing.assert_frame_equal(second.take(client), whole[client], check_exact=True)
        # the connection is still usable afterwards, in the same transaction
        assert conn.execute("select count(*) from stream_probe").fetchone()[0] == len(ROWS)


def test_detectors_run_openblas_with_one_thread() -> None:
    import detectors.stats  # noqa: F401 - importing the statistics core sets it
    from detectors.stats._blas import blas_threads

    counts = blas_threads()
    assert counts, "numpy/scipy load OpenBLAS in this environment"
    assert set(counts.values()) == {1}
