"""The ALS lead score's fixed shape (SPEC §3.3, §7 who), with no numerical dependencies so that the API
and the health rules can import it cheaply: component names and maxima, the risk maximum, the default
weights and the weight constraints. ``detectors.who_weights`` fits weights within these constraints."""

from __future__ import annotations

COMPONENTS: tuple[str, ...] = ("data_quality", "authority", "company_fit", "timing")
COMPONENT_MAX: dict[str, int] = {"data_quality": 20, "authority": 25, "company_fit": 25, "timing": 15}
RISK_MAX = 15
DEFAULT_WEIGHTS: dict[str, float] = {"data_quality": 0.20, "authority": 0.25, "company_fit": 0.25, "timing": 0.15}

WEIGHT_MIN = 0.05
WEIGHT_MAX = 0.50
WEIGHT_SUM = 0.85            # risk keeps the remaining 0.15
