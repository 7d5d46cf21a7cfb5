"""What the engines ask of the stored patterns (SPEC §9): lead scores and touch allocations.

Pure functions over the pattern JSON (SPEC §7 key names), tolerant of missing types and keys: whatever
is missing falls back to the defaults and the result says so. One confidence rule for everything:
learned values at confidence ≥ 0.7, a linear blend with the defaults between 0.5 and 0.7 (blend factor
``t = (confidence − 0.5) / 0.2``), defaults below 0.5. Numbers (weights, gaps) blend linearly; choices
that cannot be averaged (channels, send days and hours) take the learned choice once ``t ≥ 0.5``
(confidence ≥ 0.6, the nearer end of the blend) and the default before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

# One formula, one place: the ALS score's shape (detectors.als imports nothing numerical: cheap start-up).
from detectors.als import COMPONENT_MAX, COMPONENTS, DEFAULT_WEIGHTS, RISK_MAX

LEARNED_FROM = 0.7
BLEND_FROM = 0.5
ROUND = 6

Source = Literal["learned", "blended", "default"]


def blend_factor(confidence: float | None) -> float:
    """0 = defaults, 1 = learned; linear in between (SPEC §9)."""
    if confidence is None or not math.isfinite(confidence) or confidence < BLEND_FROM:
        return 0.0
    if confidence >= LEARNED_FROM:
        return 1.0
    return round((confidence - BLEND_FROM) / (LEARNED_FROM - BLEND_FROM), ROUND)


def source_of(t: float) -> Source:
    return "learned" if t >= 1.0 else "blended" if t > 0.0 else "default"


def _confidence_reason(kind: str, confidence: float, t: float) -> str:
    if t >= 1.0:
        return f"{kind} confidence {confidence:.2f} >= {LEARNED_FROM}: learned values"
    if t > 0.0:
        return (f"{kind} confidence {confidence:.2f} is between {BLEND_FROM} and {LEARNED_FROM}: "
                f"blend {t:.2f} learned + {1 - t:.2f} default")
    return f"{kind} confidence {confidence:.2f} < {BLEND_FROM}: defaults"


# --- scoring ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeightChoice:
    weights: dict[str, float]
    source: Source
    blend_factor: float
    confidence: float | None
    reason: str
    learned_weights: dict[str, float] | None = None


def _complete_weights(candidate: Any) -> dict[str, float] | None:
    if not isinstance(candidate, Mapping):
        return None
    try:
        weights = {c: float(candidate[c]) for c in COMPONENTS}
    except (KeyError, TypeError, ValueError):
        return None
    return weights if all(math.isfinite(w) and w >= 0 for w in weights.values()) else None


def learned_weights(who_pattern: Mapping[str, Any] | None, client_weights: Any) -> dict[str, float] | None:
    """The shipped learned weights: ``clients.als_learned_weights`` (written only when shipped), else the
    WHO pattern's ``recommended_weights`` when their ``source`` says learned."""
    stored = _complete_weights(client_weights)
    if stored is not None:
        return stored
    recommended = (who_pattern or {}).get("recommended_weights")
    if isinstance(recommended, Mapping) and recommended.get("source", "learned") == "learned":
        return _complete_weights(recommended)
    return None


def choose_weights(who_pattern: Mapping[str, Any] | None, who_confidence: float | None,
                   client_weights: Any) -> WeightChoice:
    defaults = dict(DEFAULT_WEIGHTS)
    if who_pattern is None:
        return WeightChoice(defaults, "default", 0.0, None, "no WHO pattern stored for this client: default weights")
    learned = learned_weights(who_pattern, client_weights)
    if learned is None:
        return WeightChoice(defaults, "default", 0.0, who_confidence,
                            "no learned weights shipped (they did not beat the defaults out of sample): default weights")
    t = blend_factor(who_confidence)
    weights = {c: round((1 - t) * defaults[c] + t * learned[c], ROUND) for c in COMPONENTS}
    return WeightChoice(weights, source_of(t), t, who_confidence,
                        _confidence_reason("WHO", who_confidence or 0.0, t), learned)


def als_score(components: Mapping[str, float], weights: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """SPEC §9 ``Σ component/max × weight × 100 − risk``, clipped to [0, 100]; with each term."""
    terms = {c: round(components[c] / COMPONENT_MAX[c] * weights[c] * 100.0, ROUND) for c in COMPONENTS}
    raw = sum(components[c] / COMPONENT_MAX[c] * weights[c] * 100.0 for c in COMPONENTS) - components["risk"]
    return round(min(100.0, max(0.0, raw)), ROUND), terms


COMPONENT_LIMITS: dict[str, int] = {**COMPONENT_MAX, "risk": RISK_MAX}


# --- allocation -----------------------------------------------------------------------------------------

DEFAULT_GAPS: tuple[float, ...] = (2, 3, 4, 5, 7)          # SPEC §7 when: touch_1_to_2 … touch_5_to_6
GAP_MIN, GAP_MAX = 1.0, 14.0
MAX_TOUCHES = len(DEFAULT_GAPS) + 1
DEFAULT_CHANNELS: tuple[str, ...] = ("email", "linkedin", "email", "linkedin", "email", "email")
DEFAULT_SEND_DAYS: tuple[int, ...] = (1, 2, 3)              # Tue, Wed, Thu (0 = Monday, like int_touches)
DEFAULT_SEND_HOUR = 10
PREFERRED_DAYS = 3                                          # send on the best 3 ranked local days
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _as_entries(value: Any) -> list[Mapping[str, Any]]:
    """A ranking as a list of records, whether stored as a list or as {category: record}."""
    if isinstance(value, Mapping):
        return [{"category": key, **(item if isinstance(item, Mapping) else {"value": item})} for key, item in value.items()]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def _parse_day(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and float(value).is_integer() and 0 <= int(value) <= 6:
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return _parse_day(int(text))
        for index, name in enumerate(DAY_NAMES):
            if len(text) >= 3 and name.startswith(text[:3]):
                return index
    return None


def _parse_hour(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and float(value).is_integer() and 0 <= int(value) <= 23:
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower().split(":")[0].removeprefix("h")
        return _parse_hour(int(text)) if text.isdigit() else None
    return None


def ranked_values(entries: Any, keys: Sequence[str], parse) -> list[int]:
    """Values of a ranking, best first: ranked entries by ``rank``, then unranked ones in stored order.
    Entries labelled losing or marked ``is_ranked: false`` are not recommended."""
    ranked: list[tuple[float, int, int]] = []
    for position, entry in enumerate(_as_entries(entries)):
        if entry.get("is_ranked") is False or entry.get("label") == "losing":
            continue
        value = next((parse(entry[k]) for k in keys if k in entry and parse(entry[k]) is not None), None)
        if value is None:
            continue
        rank = entry.get("rank")
        rank_key = float(rank) if isinstance(rank, (int, float)) and not isinstance(rank, bool) and math.isfinite(rank) else math.inf
        ranked.append((rank_key, position, value))
    seen: list[int] = []
    for _, _, value in sorted(ranked):
        if value not in seen:
            seen.append(value)
    return seen


def _gap_value(value: Any) -> float | None:
    if isinstance(value, Mapping):
        value = next((value[k] for k in ("days", "gap_days", "optimal_days", "value", "median") if k in value), None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return min(GAP_MAX, max(GAP_MIN, float(value)))
    return None


def _best_sequence(how: Mapping[str, Any]) -> list[str]:
    sequences = how.get("winning_sequences")
    best: list[str] = []
    if isinstance(sequences, Sequence) and not isinstance(sequences, (str, bytes)):
        candidates = [s for s in sequences if isinstance(s, Mapping) and isinstance(s.get("sequence"), Sequence)
                      and not isinstance(s.get("sequence"), str) and s.get("label") != "losing"]
        # Stored order is the detector's ranking; an explicit rank wins when present.
        candidates.sort(key=lambda s: s["rank"] if isinstance(s.get("rank"), (int, float)) and not isinstance(s.get("rank"), bool) else math.inf)
        for candidate in candidates:
            channels = [str(c) for c in candidate["sequence"] if isinstance(c, str) and c]
            if channels:
                best = channels
                break
    first = how.get("best_first_channel")
    if isinstance(first, Mapping):
        first = first.get("channel") or first.get("category")
    if isinstance(first, str) and first:
        best = [first, *best[1:]] if best else [first]
    return best


@dataclass(frozen=True)
class Choice:
    source: Source
    confidence: float | None
    reason: str


@dataclass(frozen=True)
class Touch:
    touch_number: int
    channel: str
    gap_days: float | None
    send_at_utc: datetime
    send_at_local: datetime


@dataclass(frozen=True)
class Allocation:
    timezone: str
    touches: list[Touch]
    channels: Choice
    gaps: Choice
    send_times: Choice
    send_days: list[int] = field(default_factory=list)
    send_hour: int = DEFAULT_SEND_HOUR


def _pattern_choice(kind: str, pattern: Mapping[str, Any] | None, confidence: float | None,
                    has_values: bool, what: str) -> tuple[float, Choice]:
    if pattern is None:
        return 0.0, Choice("default", None, f"no {kind} pattern stored for this client: default {what}")
    if not has_values:
        return 0.0, Choice("default", confidence, f"the {kind} pattern has no usable {what}: defaults")
    t = blend_factor(confidence)
    return t, Choice(source_of(t), confidence, _confidence_reason(kind, confidence or 0.0, t))


def _categorical(t: float, choice: Choice) -> Choice:
    """Choices cannot be averaged: in the blend zone the nearer end wins."""
    if choice.source != "blended":
        return choice
    use = "learned" if t >= 0.5 else "default"
    return Choice(use, choice.confidence, f"{choice.reason}; a choice cannot be blended, so the {use} one is used")


def allocate(*, when: Mapping[str, Any] | None, when_confidence: float | None,
             how: Mapping[str, Any] | None, how_confidence: float | None,
             tz_name: str, start_at: datetime, touches: int) -> Allocation:
    """A sequence of ``touches`` send times: channels from HOW, gaps from WHEN ``optimal_sequence_gaps``,
    each send at the best local hour on one of the best local days, on or after the previous send plus
    the gap (whole days, rounded up); the first on or after ``start_at``."""
    if not 1 <= touches <= MAX_TOUCHES:
        raise ValueError(f"touches must be between 1 and {MAX_TOUCHES}")
    tz = ZoneInfo(tz_name)

    # Channels (HOW).
    learned_channels = _best_sequence(how) if how else []
    t_how, channel_choice = _pattern_choice("HOW", how, how_confidence, bool(learned_channels), "channels")
    channel_choice = _categorical(t_how, channel_choice)
    if channel_choice.source == "learned":
        # Beyond the winning sequence's length, keep the default plan for the remaining touches.
        channels = [*learned_channels, *DEFAULT_CHANNELS[len(learned_channels):]][:touches]
    else:
        channels = list(DEFAULT_CHANNELS[:touches])

    # Gaps (WHEN), blended number by number.
    raw_gaps = (when or {}).get("optimal_sequence_gaps")
    raw_gaps = raw_gaps if isinstance(raw_gaps, Mapping) else {}
    learned_gaps = [_gap_value(raw_gaps.get(f"touch_{k}_to_{k + 1}")) for k in range(1, MAX_TOUCHES)]
    t_gap, gap_choice = _pattern_choice("WHEN", when, when_confidence, any(g is not None for g in learned_gaps), "gaps")
    gaps = [
        round((1 - t_gap) * default + t_gap * (learned if learned is not None else default), 2)
        for default, learned in zip(DEFAULT_GAPS, learned_gaps)
    ]

    # Send days and hour (WHEN, local).
    days = ranked_values((when or {}).get("best_days"), ("day", "local_day_of_week", "day_of_week", "category"), _parse_day)
    hours = ranked_values((when or {}).get("best_hours"), ("hour", "local_hour", "category"), _parse_hour)
    t_time, time_choice = _pattern_choice("WHEN", when, when_confidence, bool(days or hours), "send days and hours")
    time_choice = _categorical(t_time, time_choice)
    if time_choice.source == "learned":
        send_days = sorted(days[:PREFERRED_DAYS]) or list(DEFAULT_SEND_DAYS)
        send_hour = hours[0] if hours else DEFAULT_SEND_HOUR
    else:
        send_days, send_hour = list(DEFAULT_SEND_DAYS), DEFAULT_SEND_HOUR

    planned: list[Touch] = []
    earliest_day: date = start_at.astimezone(tz).date()
    for number in range(1, touches + 1):
        gap = None if number == 1 else gaps[number - 2]
        if gap is not None:
            earliest_day = planned[-1].send_at_local.date() + timedelta(days=math.ceil(gap - 1e-9))
        local = _next_slot(earliest_day, send_days, send_hour, tz, not_before=start_at)
        planned.append(Touch(number, channels[number - 1], gap, local.astimezone(timezone.utc), local))
    return Allocation(tz_name, planned, channel_choice, gap_choice, time_choice, send_days, send_hour)


def _next_slot(day: date, send_days: Sequence[int], hour: int, tz: ZoneInfo, *, not_before: datetime) -> datetime:
    """The first ``hour``:00 local on one of ``send_days`` on or after ``day`` and not before ``not_before``."""
    for offset in range(0, 15):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() not in send_days:
            continue
        # Normalise through UTC so a time skipped by a DST change lands on a real instant.
        local = datetime.combine(candidate_day, time(hour), tzinfo=tz).astimezone(timezone.utc).astimezone(tz)
        if local >= not_before:
            return local
    raise AssertionError("a weekly set of send days always has a slot within 15 days")
