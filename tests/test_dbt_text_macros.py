"""The dbt macro trim_spaces returns exactly what btrim(text) returns (it only finds the ends faster)."""

from __future__ import annotations

import jinja2
import psycopg
import pytest

from convintel.settings import DBT_PROJECT_DIR

TRICKY = [
    None, "", " ", "    ", "x", " x", "x ", "  a b  ", "a  b",
    "é ", " é", " 日本語 ", "  ü" * 300 + "  ",          # multibyte characters next to the trimmed spaces
    "\u00a0x\u00a0", "\tx\t", "\nx\n", " \u00a0 ",      # btrim(text) trims spaces only: these stay
    " \U0001F600 ", "x" * 5000 + " ",                    # 4-byte characters, a long (toastable) text
]


def _trim_spaces_sql(argument: str) -> str:
    macros = (DBT_PROJECT_DIR / "macros" / "text.sql").read_text()
    return jinja2.Environment().from_string(macros + "{{ trim_spaces('" + argument + "') }}").render().strip()


@pytest.mark.slow
def test_trim_spaces_equals_btrim_on_tricky_texts(conn: psycopg.Connection) -> None:
    expression = _trim_spaces_sql("t.x")
    assert "btrim(" in expression and "convert_to(t.x" in expression
    for text in TRICKY:
        trimmed, expected = conn.execute(
            f"select {expression}, btrim(t.x) from (select %s::text as x) as t", (text,)).fetchone()
        assert trimmed == expected, repr(text)
        assert (trimmed is None) == (text is None)
