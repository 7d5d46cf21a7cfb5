"""Helpers shared by the statistics modules: count validation and normal quantiles."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
FloatOrArray = float | FloatArray


def as_counts(conversions: npt.ArrayLike, sample: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Broadcast conversions and sample to float arrays and check ``0 <= conversions <= sample``."""
    conversions_array, sample_array = np.broadcast_arrays(
        np.asarray(conversions, dtype=float), np.asarray(sample, dtype=float)
    )
    if not (np.isfinite(conversions_array).all() and np.isfinite(sample_array).all()):
        raise ValueError("conversions and sample must be finite numbers")
    if (conversions_array < 0).any() or (conversions_array > sample_array).any():
        raise ValueError("counts must satisfy 0 <= conversions <= sample")
    return conversions_array, sample_array


@lru_cache(maxsize=16)  # called per interval with the same few levels; scipy's ppf costs ~0.1 ms a call
def two_sided_z(level: float) -> float:
    """Standard-normal quantile for a two-sided interval of coverage ``level`` (1.959964 at 0.95)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    return float(stats.norm.ppf(0.5 + level / 2.0))


def scalar_or_array(values: FloatArray) -> FloatOrArray:
    """A Python float for 0-d results (scalar inputs), the array otherwise."""
    return float(values) if values.ndim == 0 else values
