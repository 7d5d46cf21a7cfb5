"""Markdown tables for Dagster metadata (the UI renders ``MetadataValue.md``): one way to write a row, so a
value that contains the column separator or a line break cannot break the table it sits in."""

from collections.abc import Iterable, Sequence


def markdown_cell(value: object) -> str:
    """``value`` as one table cell: '|' escaped, line breaks as spaces."""
    return " ".join(str(value).replace("|", "\\|").splitlines())


def markdown_row(cells: Iterable[object]) -> str:
    """One table row of ``cells``."""
    return "| " + " | ".join(markdown_cell(cell) for cell in cells) + " |"


def markdown_header(columns: Sequence[str]) -> list[str]:
    """The two header lines of a table with ``columns``."""
    return [markdown_row(columns), "|" + "---|" * len(columns)]
