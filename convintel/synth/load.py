"""COPY loading: columns formatted as PostgreSQL COPY text, written with psycopg 3 ``cursor.copy``.

Formatting is vectorised where numpy can do it (timestamps, dates, integers, UUIDs) and a list
comprehension elsewhere. NULL is ``\\N``; text values are escaped for COPY's text format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg

NULL = "\\N"
_COPY_CHUNK_BYTES = 8 << 20


def uuid_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 16) random version-4 UUIDs from a seeded generator (never uuid4: runs must be reproducible)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw


def fmt_uuid(raw: np.ndarray) -> list[str]:
    text = raw.tobytes().hex()
    return [f"{text[i:i + 8]}-{text[i + 8:i + 12]}-{text[i + 12:i + 16]}-{text[i + 16:i + 20]}-{text[i + 20:i + 32]}"
            for i in range(0, len(text), 32)]


def fmt_timestamp(us: np.ndarray, null: np.ndarray | None = None) -> list[str]:
    """Microseconds since the epoch (UTC) as timestamptz text."""
    text = np.char.add(np.datetime_as_string(us.astype("datetime64[us]"), unit="us"), "+00")
    return _with_nulls(text.tolist(), null)


def fmt_date(days: np.ndarray, null: np.ndarray | None = None) -> list[str]:
    """Days since the epoch as date text."""
    return _with_nulls(np.datetime_as_string(days.astype("datetime64[D]"), unit="D").tolist(), null)


def fmt_int(values: np.ndarray, null: np.ndarray | None = None) -> list[str]:
    return _with_nulls(values.astype(np.int64).astype(str).tolist(), null)


def fmt_bool(values: np.ndarray, null: np.ndarray | None = None) -> list[str]:
    return _with_nulls(np.where(values, "t", "f").tolist(), null)


def fmt_text(values: Sequence[str | None]) -> list[str]:
    """Escape for COPY text format (backslash, newline, carriage return, tab); None -> NULL."""
    return [NULL if v is None else
            v.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
            for v in values]


def repeat(value: str, n: int) -> list[str]:
    return [value] * n


def _with_nulls(values: list[str], null: np.ndarray | None) -> list[str]:
    if null is not None:
        for i in np.flatnonzero(null).tolist():
            values[i] = NULL
    return values


@dataclass(frozen=True)
class CopyPayload:
    """Rows of one table, encoded once as COPY text (cheap to queue between threads)."""

    table: str
    columns: tuple[str, ...]
    rows: int
    data: bytes


def encode_rows(table: str, columns: dict[str, list[str]]) -> CopyPayload:
    """Pre-formatted columns (all of equal length) as one COPY text payload."""
    values = list(columns.values())
    n = len(values[0]) if values else 0
    if any(len(v) != n for v in values):
        raise ValueError(f"{table}: columns of unequal length")
    text = "\n".join(map("\t".join, zip(*values)))
    return CopyPayload(table, tuple(columns), n, (text + "\n").encode() if n else b"")


def copy_payload(cursor: psycopg.Cursor, payload: CopyPayload) -> int:
    with cursor.copy(f"copy {payload.table} ({', '.join(payload.columns)}) from stdin") as copy:
        view = memoryview(payload.data)
        for start in range(0, len(view), _COPY_CHUNK_BYTES):
            copy.write(view[start:start + _COPY_CHUNK_BYTES])
    return payload.rows
