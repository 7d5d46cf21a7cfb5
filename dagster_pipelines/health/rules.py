"""The pattern-health rules of SPEC §8 as small, typed, pure functions over the stored patterns.

Every rule returns a list of ``Finding`` (empty when healthy). Severities and thresholds:

==========================  ==========  ==========================================================
rule                        severity    when
==========================  ==========  ==========================================================
``expired``                 high        ``valid_until <= now``: consumers are reading a stale pattern
                                        (a client's, or an agency-wide one served to clients without
                                        a pattern of that type: client id None)
``expiring_soon``           medium      ``valid_until`` within 3 days (the weekly run is overdue)
``small_sample``            medium      ``sample_size < 30``
``low_confidence``          medium      ``confidence < 0.5``
``who_weight_high``         high        a WHO recommended weight ``> 0.45`` (one component dominates
                                        the lead score)
``who_weight_low``          medium      a WHO recommended weight ``< 0.08`` (a component is ignored)
``missing_type``            medium      a client with ``>= 10`` conversions has no pattern of a type
``weight_drift``            medium      a WHO weight moved ``> 0.15`` between the two latest history
                                        runs: the lead ranking changes a lot — legitimate after new
                                        data, but a person should look before it is trusted
``top_item_changed``        low         the rank-1 item of a ranking (top title, best day, best first
                                        channel, …) differs between the two latest history runs: near
                                        ties flip with noise, so this is information, not an alarm
==========================  ==========  ==========================================================

Conversions for ``missing_type`` come from the dbt mart ``int_lead_outcomes`` (``outcome =
'converted'``): the SPEC §4 definition, computed once in dbt, after data-quality exclusions — the
counts the detectors' gates see. The reader (``health.store``) supplies them.

Pattern JSON differs per type, so drift uses one extractor per type (``TOP_ITEM_EXTRACTORS``), each
tolerant of missing keys (a missing key yields no item, never an error): WHO keys as written by
``detectors.who``; WHAT, WHEN and HOW keys as named in SPEC §7.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from detectors.result import PATTERN_TYPES, PatternType, pattern_value
from detectors.als import COMPONENTS as WHO_WEIGHT_COMPONENTS

Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")

EXPIRING_WITHIN = timedelta(days=3)
MIN_SAMPLE = 30
MIN_CONFIDENCE = 0.5
WHO_WEIGHT_MAX = 0.45
WHO_WEIGHT_MIN = 0.08
MIN_CONVERSIONS_FOR_ALL_TYPES = 10
WEIGHT_DRIFT = 0.15


@dataclass(frozen=True)
class Finding:
    """One problem found: which client and pattern type (None = the whole store), which rule, how bad."""

    rule: str
    severity: Severity
    message: str
    client_id: UUID | None = None
    pattern_type: PatternType | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}; expected one of {SEVERITIES}")


@dataclass(frozen=True)
class StoredPattern:
    """One row of ``conversion_patterns`` (the columns the rules read)."""

    client_id: UUID
    pattern_type: PatternType
    patterns: Mapping[str, Any]
    sample_size: int
    confidence: float
    computed_at: datetime
    valid_until: datetime


@dataclass(frozen=True)
class AgencyPattern:
    """One row of ``agency_patterns`` (the columns the rules read): the API serves it to every client with
    no pattern of its type, so it goes stale like a client's. It belongs to no client."""

    pattern_type: PatternType
    clients_pooled: int
    computed_at: datetime
    valid_until: datetime
    client_id: None = None


@dataclass(frozen=True)
class HistoryPair:
    """The two latest history rows of one client and type (``previous`` None after a single run)."""

    client_id: UUID
    pattern_type: PatternType
    current: Mapping[str, Any]
    previous: Mapping[str, Any] | None
    current_computed_at: datetime | None = None
    previous_computed_at: datetime | None = None


# --- rules on one stored pattern ------------------------------------------------------------------

def check_validity(pattern: StoredPattern | AgencyPattern, now: datetime) -> list[Finding]:
    """Expired (high) or expiring within ``EXPIRING_WITHIN`` (medium); a client's pattern or an agency-wide one."""
    details: dict[str, Any] = {"valid_until": pattern.valid_until.isoformat(), "computed_at": pattern.computed_at.isoformat()}
    subject = ""
    if isinstance(pattern, AgencyPattern):
        details |= {"scope": "agency", "clients_pooled": pattern.clients_pooled}
        subject = f"agency-wide pattern ({pattern.clients_pooled} clients pooled, served to clients without their own) "
    if pattern.valid_until <= now:
        return [_finding(pattern, "expired", "high",
                         f"{subject}expired {_age(now - pattern.valid_until)} ago (valid until {pattern.valid_until:%Y-%m-%d %H:%M} UTC)",
                         details)]
    if pattern.valid_until - now <= EXPIRING_WITHIN:
        return [_finding(pattern, "expiring_soon", "medium",
                         f"{subject}expires in {_age(pattern.valid_until - now)} (valid until {pattern.valid_until:%Y-%m-%d %H:%M} UTC)",
                         details)]
    return []


def check_sample(pattern: StoredPattern) -> list[Finding]:
    if pattern.sample_size < MIN_SAMPLE:
        return [_finding(pattern, "small_sample", "medium",
                         f"sample size {pattern.sample_size} < {MIN_SAMPLE}", {"sample_size": pattern.sample_size})]
    return []


def check_confidence(pattern: StoredPattern) -> list[Finding]:
    if pattern.confidence < MIN_CONFIDENCE:
        return [_finding(pattern, "low_confidence", "medium",
                         f"confidence {pattern.confidence:.2f} < {MIN_CONFIDENCE}", {"confidence": pattern.confidence})]
    return []


def check_who_weights(pattern: StoredPattern) -> list[Finding]:
    """Each recommended WHO weight outside [0.08, 0.45]: above is high, below is medium."""
    if pattern.pattern_type != "who":
        return []
    findings = []
    for component, weight in who_weights(pattern.patterns).items():
        if weight > WHO_WEIGHT_MAX:
            findings.append(_finding(pattern, "who_weight_high", "high",
                                     f"weight {component} = {weight:.2f} > {WHO_WEIGHT_MAX}",
                                     {"component": component, "weight": weight}))
        elif weight < WHO_WEIGHT_MIN:
            findings.append(_finding(pattern, "who_weight_low", "medium",
                                     f"weight {component} = {weight:.2f} < {WHO_WEIGHT_MIN}",
                                     {"component": component, "weight": weight}))
    return findings


PATTERN_RULES: tuple[Callable[[StoredPattern], list[Finding]], ...] = (check_sample, check_confidence, check_who_weights)


# --- rules across the store ---------------------------------------------------------------------------

def check_missing_types(
    stored_types: Mapping[UUID, set[str]],
    conversions: Mapping[UUID, int],
    expected_types: Sequence[PatternType] = PATTERN_TYPES,
) -> list[Finding]:
    """A client with ≥ 10 conversions lacks a stored pattern of a type (medium), one finding per type."""
    findings = []
    for client_id in sorted(conversions, key=str):
        count = conversions[client_id]
        if count < MIN_CONVERSIONS_FOR_ALL_TYPES:
            continue
        have = stored_types.get(client_id, set())
        for pattern_type in expected_types:
            if pattern_type not in have:
                findings.append(Finding(
                    "missing_type", "medium",
                    f"no {pattern_type} pattern stored although the client has {count} conversions "
                    f"(>= {MIN_CONVERSIONS_FOR_ALL_TYPES})",
                    client_id, pattern_type, {"conversions": count},
                ))
    return findings


def check_drift(pair: HistoryPair) -> list[Finding]:
    """WHO weights moving > 0.15 (medium) and rank-1 items changing (low) between the two latest runs."""
    if pair.previous is None:
        return []
    findings = []
    when = {"current_computed_at": _iso(pair.current_computed_at), "previous_computed_at": _iso(pair.previous_computed_at)}
    if pair.pattern_type == "who":
        now_weights, before = who_weights(pair.current), who_weights(pair.previous)
        for component in WHO_WEIGHT_COMPONENTS:
            if component in now_weights and component in before:
                # Rounded: weights are stored to 4 decimals, so 0.40 - 0.25 must read as exactly 0.15.
                moved = round(now_weights[component] - before[component], 9)
                if abs(moved) > WEIGHT_DRIFT:
                    findings.append(Finding(
                        "weight_drift", "medium",
                        f"weight {component} moved {before[component]:.2f} → {now_weights[component]:.2f} "
                        f"(|Δ| {abs(moved):.2f} > {WEIGHT_DRIFT})",
                        pair.client_id, pair.pattern_type,
                        {"component": component, "previous": before[component], "current": now_weights[component],
                         "delta": moved, **when},
                    ))
    extract = TOP_ITEM_EXTRACTORS.get(pair.pattern_type)
    if extract is not None:
        now_top, before_top = extract(pair.current), extract(pair.previous)
        for item, value in now_top.items():
            previous = before_top.get(item)
            if value is not None and previous is not None and value != previous:
                findings.append(Finding(
                    "top_item_changed", "low", f"{item} changed: {previous} → {value}",
                    pair.client_id, pair.pattern_type, {"item": item, "previous": previous, "current": value, **when},
                ))
    return findings


def evaluate_rules(
    stored: Iterable[StoredPattern],
    history: Iterable[HistoryPair],
    conversions: Mapping[UUID, int],
    now: datetime,
) -> list[Finding]:
    """Every rule over a set of stored patterns, their history pairs and the clients' conversion counts."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    findings: list[Finding] = []
    stored_types: dict[UUID, set[str]] = {}
    for pattern in stored:
        stored_types.setdefault(pattern.client_id, set()).add(pattern.pattern_type)
        findings += check_validity(pattern, now)
        for rule in PATTERN_RULES:
            findings += rule(pattern)
    for pair in history:
        findings += check_drift(pair)
    findings += check_missing_types(stored_types, conversions)
    return findings


# --- extractors -----------------------------------------------------------------------------------

def who_weights(patterns: Mapping[str, Any]) -> dict[str, float]:
    """The numeric recommended WHO weights (``source`` and any non-numbers are skipped)."""
    weights = patterns.get("recommended_weights")
    if not isinstance(weights, Mapping):
        return {}
    return {
        component: float(weights[component])
        for component in WHO_WEIGHT_COMPONENTS
        if _is_number(weights.get(component))
    }


# Keys that name an entry of a ranking, in the order they are tried.
_IDENTITY_KEYS = ("category", "bucket", "template", "pain_point", "cta", "angle", "channel", "day", "hour", "touch_number",
                  "touch", "name", "value")


def item_label(value: Any) -> str | None:
    """A stable text label for a ranked item: a scalar itself, a dict's identity key, a list's top entry."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    if _is_number(value):
        number = float(value)
        return str(int(number)) if number.is_integer() else str(number)
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        for key in _IDENTITY_KEYS:
            if value.get(key) is not None and not isinstance(value[key], (Mapping, list)):
                return item_label(value[key])
        return None
    if isinstance(value, list):
        return item_label(top_entry(value))
    return None


def top_entry(entries: Sequence[Any]) -> Any:
    """The rank-1 entry when entries carry ``rank`` (None when nothing is ranked), else the first entry."""
    if not entries:
        return None
    if any(isinstance(entry, Mapping) and "rank" in entry for entry in entries):
        return next((entry for entry in entries if isinstance(entry, Mapping) and entry.get("rank") == 1), None)
    return entries[0]


def _top_items(**paths: tuple[str, ...]) -> Callable[[Mapping[str, Any]], dict[str, str | None]]:
    def extract(patterns: Mapping[str, Any]) -> dict[str, str | None]:
        return {item: item_label(pattern_value(patterns, *path)) for item, path in paths.items()}
    return extract


TOP_ITEM_EXTRACTORS: dict[str, Callable[[Mapping[str, Any]], dict[str, str | None]]] = {
    "who": _top_items(top_title=("title_rankings", "by_title"), top_seniority=("title_rankings", "by_seniority"),
                      top_industry=("industry_rankings",), size_sweet_spot=("size_analysis", "sweet_spot")),
    "what": _top_items(top_pain_point=("pain_points", "effective"), top_cta=("ctas", "effective")),
    "when": _top_items(peak_converting_touch=("peak_converting_touch",), best_day=("best_days",),
                       best_hour=("best_hours",)),
    "how": _top_items(best_first_channel=("best_first_channel",)),
}


# --- helpers --------------------------------------------------------------------------------------

def _finding(pattern: StoredPattern | AgencyPattern, rule: str, severity: Severity, message: str, details: dict[str, Any]) -> Finding:
    return Finding(rule, severity, message, pattern.client_id, pattern.pattern_type, details)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 24 else f"{hours:.1f} hours"
