"""Vectorised local time <-> UTC for a handful of IANA zones over a bounded window.

A table holds every zone's UTC offset for every UTC hour of the window (DST transitions of the zones
used here fall on whole UTC hours), so conversions are numpy lookups instead of per-row zoneinfo calls.
Times are int64 seconds since the Unix epoch; "local seconds" are the wall-clock reading expressed the
same way (local midnight is a multiple of 86400).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

HOUR = 3600
DAY = 86400


class ZoneClock:
    def __init__(self, zones: Sequence[str], start_s: int, end_s: int) -> None:
        self.zones = tuple(zones)
        self.start_s = start_s - start_s % HOUR
        hours = (end_s - self.start_s) // HOUR + 1
        instants = pd.date_range(pd.Timestamp(self.start_s, unit="s", tz="UTC"), periods=hours, freq="h")
        naive_utc = instants.tz_localize(None)
        self.offsets = np.stack([
            ((instants.tz_convert(zone).tz_localize(None) - naive_utc) // pd.Timedelta(seconds=1)).to_numpy()
            for zone in self.zones
        ]).astype(np.int64)

    def index(self, zone: str) -> int:
        return self.zones.index(zone)

    def offset(self, zone_idx: np.ndarray, utc_s: np.ndarray) -> np.ndarray:
        """UTC offset (seconds) in effect at ``utc_s``; instants outside the window are clamped to it."""
        hour = np.clip((utc_s - self.start_s) // HOUR, 0, self.offsets.shape[1] - 1)
        return self.offsets[zone_idx, hour]

    def to_local(self, zone_idx: np.ndarray, utc_s: np.ndarray) -> np.ndarray:
        return utc_s + self.offset(zone_idx, utc_s)

    def to_utc(self, zone_idx: np.ndarray, local_s: np.ndarray) -> np.ndarray:
        """The UTC instant of a wall-clock reading. Exact away from the DST switch hours, which the
        generator never schedules (sends are between 06:00 and 23:00 local)."""
        guess = local_s - self.offset(zone_idx, local_s)
        return local_s - self.offset(zone_idx, guess)


def day_of_week(local_s: np.ndarray) -> np.ndarray:
    """0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday)."""
    return ((local_s // DAY) + 3) % 7


def hour_of_day(local_s: np.ndarray) -> np.ndarray:
    return (local_s % DAY) // HOUR
