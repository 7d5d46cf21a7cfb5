"""Response shape of ``GET /clients/{client_id}/kpis`` (docs/kpis.md), as it appears in the OpenAPI docs.
The document is assembled by ``detectors.kpi.client_kpis`` and stored by the learning run in ``client_kpis``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field


class KpiRate(BaseModel):
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    sample: int
    conversions: float


class MultiChannelLift(BaseModel):
    lift: float | None = Field(description="Mantel–Haenszel per-touch booking risk ratio, >= 2 channels so far vs 1, "
                                           "inside (touch_number, channel, first channel) strata; None when undefined")
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    strata_used: int
    multi_touches: int
    multi_bookings: int
    single_touches: int
    single_bookings: int


class Weights(BaseModel):
    data_quality: float
    authority: float
    company_fit: float
    timing: float


class TopQuintile(KpiRate):
    scored_leads: int
    leads_without_components: int
    weights: Weights
    weights_source: Literal["learned", "default"]
    weights_shipped_at: datetime | None


class WeightsInForce(BaseModel):
    weights: Weights
    source: Literal["learned", "default"]
    shipped_at: datetime | None


class RunConfidence(BaseModel):
    confidence: float
    sample_size: int
    computed_at: datetime
    runs: int | None = None


class KpiWeek(BaseModel):
    week_start: date = Field(description="Monday (UTC) of the ISO week")
    iso_week: str
    leads: int = Field(description="leads whose first touch fell in the week (the cohort)")
    leads_with_outcome: int
    conversions: int
    failed: int
    stale: int
    in_flight: int = Field(description="censored: counted, in no rate")
    share_resolved: float | None
    booking_rate: KpiRate | None
    median_days_to_convert: float | None
    avg_touches_to_convert: float | None
    multi_channel_lift: MultiChannelLift | None
    top_quintile: TopQuintile | None
    weights_in_force: WeightsInForce
    pattern_confidence: dict[str, RunConfidence | None] = Field(description="latest run computed in the week, per type")


class WeightStability(BaseModel):
    runs: int
    tolerance: float
    converged_at: datetime | None
    outcomes_to_converge: int | None = Field(description="sample size (terminal outcomes) of the earliest WHO run from "
                                                         "which every later run's weights stay within tolerance of the latest")
    confirmed: bool
    latest_weights: Weights | None
    latest_weights_source: Literal["learned", "default"] | None
    max_abs_change_last_run: float | None
    status: str


class LearningHealth(BaseModel):
    weight_stability: WeightStability
    latest_confidence: dict[str, RunConfidence | None]


class ClientKpis(BaseModel):
    client_id: UUID
    version: int
    computed_at: datetime
    as_of: datetime | None
    cohort_rule: str
    weeks: list[KpiWeek]
    learning_health: LearningHealth
