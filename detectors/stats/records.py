"""JSON-safe records for the pattern JSON (``conversion_patterns.patterns``).

NaN, infinities, ``None``, ``pd.NA`` and ``NaT`` become ``None``; numpy scalars become Python ``int``,
``float``, ``bool`` and ``str``. Floats are rounded to 6 decimals, so a re-run on unchanged data stores
identical JSON; a non-zero value smaller than 1e-6 (a tiny p- or q-value) keeps 6 significant digits
instead, so that it does not read as exactly 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

RECORD_DECIMALS = 6


def to_records(frame: pd.DataFrame, *, decimals: int = RECORD_DECIMALS) -> list[dict[str, Any]]:
    """One JSON-safe dict per row, keys in column order."""
    columns = [str(column) for column in frame.columns]
    if not columns:
        return []
    # One object array for the whole frame: the same cells as each column's to_numpy(dtype=object),
    # without building a Series per column (which also deep-copies the frame's attrs each time).
    return [
        {column: json_safe(value, decimals) for column, value in zip(columns, row)}
        for row in frame.to_numpy(dtype=object).tolist()
    ]


def json_safe(value: Any, decimals: int = RECORD_DECIMALS) -> Any:
    """A value as JSON-safe Python (see the module docstring); dicts and lists are converted deeply."""
    kind = type(value)  # the common plain Python cells first (exact types: bool and numpy scalars go below)
    if kind is float:
        if not math.isfinite(value):
            return None
        if value != 0 and abs(value) < 10.0**-decimals:
            return float(f"{value:.{decimals}g}")
        return round(value, decimals)
    if kind is int or kind is str:
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return None
        if number != 0 and abs(number) < 10.0**-decimals:
            return float(f"{number:.{decimals}g}")
        return round(number, decimals)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(key): json_safe(item, decimals) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item, decimals) for item in value]
    return value
