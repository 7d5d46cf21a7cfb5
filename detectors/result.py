"""What a detector hands to the pattern store: one client's pattern of one type, or why there is none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

PatternType = Literal["who", "what", "when", "how"]
PATTERN_TYPES: tuple[PatternType, ...] = ("who", "what", "when", "how")


@dataclass(frozen=True)
class DetectorResult:
    """``patterns`` is None when the detector's minimum-data gate failed (``gate_reason`` says why)."""

    client_id: UUID
    pattern_type: PatternType
    patterns: dict[str, Any] | None
    sample_size: int
    confidence: float
    conversions: int = 0
    gate_reason: str | None = None
    # WHO only: the weights to write to clients.als_learned_weights (None when not shipped).
    learned_weights: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if self.pattern_type not in PATTERN_TYPES:
            raise ValueError(f"unknown pattern type {self.pattern_type!r}; expected one of {PATTERN_TYPES}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")
        if self.sample_size < 0:
            raise ValueError(f"sample_size must be >= 0, got {self.sample_size}")
        if self.patterns is None and not self.gate_reason:
            raise ValueError("a result without patterns must say why (gate_reason)")


def minimum_data_reason(*requirements: tuple[int, int, str]) -> str | None:
    """Why a detector's minimum-data gate fails, or None when it passes (SPEC §6 "Minimum data").

    Each requirement is ``(have, need, what)``, e.g. ``(conversions, 10, "conversions")``; the reason
    names every unmet one: "not enough data: 6 conversions (needs 10) and 25 leads with an outcome (needs 30)".
    """
    missing = [f"{have} {what} (needs {need})" for have, need, what in requirements if have < need]
    return "not enough data: " + " and ".join(missing) if missing else None


def pattern_value(patterns: Any, *keys: str) -> Any:
    """The value at ``keys`` inside a stored pattern's JSON, or None where a key is missing or a level
    is not an object (patterns stored by older versions lack newer keys; consumers must not crash)."""
    node: Any = patterns
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node
