"""First-order Markov attribution of bookings to channels, solved exactly on the absorbing chain.

Input: distinct channel paths with counts — per path ``(c_1, …, c_L)``, ``leads`` that followed it and
``conversions`` among them (a path of a booked lead ends at its converting touch; failed and stale
leads' paths end in *null*). Never one row per lead.

Chain
    States: ``start``, one transient state per channel, and two absorbing states ``conversion`` and
    ``null``. Transition counts from the paths (each path weighted by its ``leads``)::

        start → c_1,   c_i → c_{i+1} (repeats such as email → email are kept as self-loops),
        c_L → conversion  (weight = conversions),   c_L → null  (weight = leads − conversions)

    and maximum-likelihood probabilities = counts / row totals. With ``Q`` the channel → channel
    block, ``r`` the channel → conversion column and ``s`` the start → channel row::

        P(conversion | start) = s · x,   (I − Q) x = r

    one linear solve over the channels (``numpy.linalg.solve``; no simulation). For this fitted chain
    ``P(conversion | start)`` equals the observed conversion rate exactly (the visit counts satisfy
    the chain's balance equations), which the tests check.

Removal effect
    Removing channel ``c`` sends every transition into ``c`` to ``null``: drop ``c``'s row and column
    from ``Q``, ``r`` and ``s`` and solve again, ``P_{−c}``. Then::

        removal_effect(c) = 1 − P_{−c} / P(conversion | start)
        attributed(c)     = removal_effect(c) / Σ_k removal_effect(k) × observed conversions

    so the attributed conversions sum to the observed conversions (Anderson 2013; the approach of the
    R package ChannelAttribution, computed here in closed form).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

PATH_SEPARATOR = ">"


@dataclass(frozen=True)
class MarkovAttribution:
    """Removal effects and attributed conversions per channel (channels in sorted order)."""

    channels: tuple[str, ...]
    leads: int
    conversions: int
    conversion_probability: float
    removal_conversion_probability: npt.NDArray[np.float64]
    removal_effect: npt.NDArray[np.float64]
    attributed_conversions: npt.NDArray[np.float64]

    def frame(self) -> pd.DataFrame:
        total = self.removal_effect.sum()
        return pd.DataFrame({
            "channel": list(self.channels),
            "removal_effect": self.removal_effect,
            "conversion_probability_without": self.removal_conversion_probability,
            "attributed_conversions": self.attributed_conversions,
            "attributed_share": self.removal_effect / total if total > 0 else np.full(len(self.channels), np.nan),
        })


@dataclass(frozen=True)
class TransitionCounts:
    """Counts of the chain's transitions: start → channel, channel → channel, channel → absorbing."""

    channels: tuple[str, ...]
    start: npt.NDArray[np.float64]        # (n,)
    between: npt.NDArray[np.float64]      # (n, n) from row channel to column channel
    to_conversion: npt.NDArray[np.float64]  # (n,)
    to_null: npt.NDArray[np.float64]      # (n,)


def transition_counts(paths: Iterable[str | tuple[str, ...]], leads: Iterable[float], conversions: Iterable[float]) -> TransitionCounts:
    """Transition counts from distinct paths (strings joined by '>' or tuples) with their counts."""
    parsed = [tuple(path.split(PATH_SEPARATOR)) if isinstance(path, str) else tuple(path) for path in paths]
    leads_array = np.asarray(list(leads), dtype=float)
    conversions_array = np.asarray(list(conversions), dtype=float)
    if len(parsed) != len(leads_array) or len(parsed) != len(conversions_array):
        raise ValueError("paths, leads and conversions must have the same length")
    if (leads_array < 0).any() or (conversions_array < 0).any() or (conversions_array > leads_array).any():
        raise ValueError("counts must satisfy 0 <= conversions <= leads")
    if any(len(path) == 0 or "" in path for path in parsed):
        raise ValueError("every path needs at least one non-empty channel")
    channels = tuple(sorted({channel for path in parsed for channel in path}))
    index = {channel: i for i, channel in enumerate(channels)}
    n = len(channels)
    states = [[index[channel] for channel in path] for path in parsed]
    first = np.array([path[0] for path in states], dtype=np.int64)
    last = np.array([path[-1] for path in states], dtype=np.int64)
    steps = np.array([len(path) - 1 for path in states], dtype=np.int64)
    origin = np.fromiter((s for path in states for s in path[:-1]), dtype=np.int64, count=int(steps.sum()))
    target = np.fromiter((s for path in states for s in path[1:]), dtype=np.int64, count=int(steps.sum()))
    start = np.bincount(first, weights=leads_array, minlength=n).astype(float)
    between = np.bincount(origin * n + target, weights=np.repeat(leads_array, steps), minlength=n * n).reshape(n, n)
    to_conversion = np.bincount(last, weights=conversions_array, minlength=n).astype(float)
    to_null = np.bincount(last, weights=leads_array - conversions_array, minlength=n).astype(float)
    return TransitionCounts(channels, start, between, to_conversion, to_null)


def absorption_probability(counts: TransitionCounts, keep: npt.NDArray[np.bool_] | None = None) -> float:
    """P(conversion | start) of the chain restricted to the channels in ``keep`` (removed channels
    send every transition into them to null)."""
    keep = np.ones(len(counts.channels), dtype=bool) if keep is None else keep
    total_start = counts.start.sum()
    if total_start == 0:
        return float("nan")
    outgoing = counts.between.sum(axis=1) + counts.to_conversion + counts.to_null
    safe = np.where(outgoing > 0, outgoing, 1.0)
    q = (counts.between / safe[:, None])[np.ix_(keep, keep)]
    r = (counts.to_conversion / safe)[keep]
    s = (counts.start / total_start)[keep]
    if not keep.any():
        return 0.0
    x = np.linalg.solve(np.eye(int(keep.sum())) - q, r)
    return float(s @ x)


def markov_attribution(paths: Iterable[str | tuple[str, ...]], leads: Iterable[float], conversions: Iterable[float]) -> MarkovAttribution:
    """Removal effects and attributed conversions (module docstring) from distinct paths with counts."""
    counts = transition_counts(paths, leads, conversions)
    n = len(counts.channels)
    total_leads, total_conversions = counts.start.sum(), counts.to_conversion.sum()
    full = absorption_probability(counts)
    without = np.array([absorption_probability(counts, np.arange(n) != i) for i in range(n)])
    if not np.isfinite(full) or full <= 0:
        nan = np.full(n, np.nan)
        return MarkovAttribution(counts.channels, int(total_leads), int(total_conversions), full, without, nan, nan)
    # Removing a state can only lose paths to conversion; clip round-off below 0.
    effect = np.clip(1.0 - without / full, 0.0, 1.0)
    attributed = effect / effect.sum() * total_conversions if effect.sum() > 0 else np.full(n, np.nan)
    return MarkovAttribution(counts.channels, int(total_leads), int(total_conversions), full, without, effect, attributed)


def time_markov_attribution(journeys: int = 1_000_000, seed: int = 0, channels: int = 5, max_length: int = 10) -> dict[str, float]:
    """Benchmark helper (not a test): attribution over ``journeys`` synthetic leads.

    Draws journeys from a random first-order chain, collapses them to distinct paths with counts (as
    the marts do in SQL) and times only ``markov_attribution`` on those. Returns the number of distinct
    paths and the seconds it took.
    """
    import time

    rng = np.random.default_rng(seed)
    names = np.array(["email", "linkedin", "sms", "voice", "mail", "ads", "web", "event"][:channels])
    transitions = rng.dirichlet(np.ones(channels), size=channels)
    length = rng.integers(1, max_length + 1, journeys)
    current = rng.integers(0, channels, journeys)
    steps = np.empty((journeys, max_length), dtype=np.int64)
    steps[:, 0] = current
    for k in range(1, max_length):
        cumulative = transitions[current].cumsum(axis=1)
        current = (cumulative < rng.random(journeys)[:, None]).sum(axis=1).clip(max=channels - 1)
        steps[:, k] = current
    converted = rng.random(journeys) < 0.03 * length
    path_text = pd.Series(names[steps[:, 0]], dtype=object)
    for k in range(1, max_length):
        path_text = path_text.where(length <= k, path_text + PATH_SEPARATOR + names[steps[:, k]])
    distinct = pd.DataFrame({"path": path_text, "leads": 1, "conversions": converted.astype(int)}).groupby("path").sum()
    started = time.perf_counter()
    markov_attribution(distinct.index, distinct["leads"], distinct["conversions"])
    return {"journeys": journeys, "distinct_paths": len(distinct), "seconds": time.perf_counter() - started}
