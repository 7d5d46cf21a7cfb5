"""Request and response shapes of the Pattern API (SPEC §9), as they appear in the OpenAPI docs."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.engines import COMPONENT_LIMITS, MAX_TOUCHES


class PatternTypeName(str, Enum):
    who = "who"
    what = "what"
    when = "when"
    how = "how"


class StoredPattern(BaseModel):
    patterns: dict[str, Any]
    sample_size: int
    confidence: float
    computed_at: datetime
    valid_until: datetime
    is_valid: bool
    scope: Literal["client", "agency"] = Field(
        description="client: the client's own pattern; agency: the agency-wide pattern (all clients pooled), "
                    "served because the client has none of this type")
    clients_pooled: int | None = Field(default=None, description="agency scope only: clients pooled")


class ClientPatterns(BaseModel):
    client_id: UUID
    patterns: dict[PatternTypeName, StoredPattern] = Field(description="stored pattern types only")


class OnePattern(StoredPattern):
    client_id: UUID
    pattern_type: PatternTypeName


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LearnRequest(Strict):
    client_ids: list[UUID] | None = Field(default=None, max_length=10_000,
                                          description="learn only these clients (default: all)")


class RunAccepted(BaseModel):
    run_id: UUID
    status: str
    status_url: str


class RunStatus(BaseModel):
    run_id: UUID
    job_name: str
    kind: str
    client_ids: list[UUID]
    status: Literal["queued", "running", "success", "failure", "canceled"]
    error: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class AlsComponents(Strict):
    data_quality: float = Field(ge=0, le=COMPONENT_LIMITS["data_quality"], allow_inf_nan=False)
    authority: float = Field(ge=0, le=COMPONENT_LIMITS["authority"], allow_inf_nan=False)
    company_fit: float = Field(ge=0, le=COMPONENT_LIMITS["company_fit"], allow_inf_nan=False)
    timing: float = Field(ge=0, le=COMPONENT_LIMITS["timing"], allow_inf_nan=False)
    risk: float = Field(default=0, ge=0, le=COMPONENT_LIMITS["risk"], allow_inf_nan=False)


class ScoreRequest(Strict):
    components: AlsComponents


class WeightsUsed(BaseModel):
    data_quality: float
    authority: float
    company_fit: float
    timing: float


class ScoreResponse(BaseModel):
    client_id: UUID
    score: float
    terms: dict[str, float] = Field(description="component/max × weight × 100 per component (before risk)")
    risk: float
    weights: WeightsUsed
    weights_source: Literal["learned", "blended", "default"]
    blend_factor: float = Field(description="0 = defaults, 1 = learned")
    who_confidence: float | None
    weights_scope: Literal["client", "agency"] | None = Field(
        description="whose WHO pattern the weights come from; null when none is stored (defaults)")
    clients_pooled: int | None = Field(default=None, description="agency scope only: clients pooled")
    reason: str


class AllocateRequest(Strict):
    lead_id: UUID | None = Field(default=None, description="the lead whose time zone to use")
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone; overrides the lead's")
    start_at: datetime | None = Field(default=None, description="earliest first send (default: now)")
    touches: int = Field(default=MAX_TOUCHES, ge=1, le=MAX_TOUCHES)


class PlannedTouch(BaseModel):
    touch_number: int
    channel: str
    gap_days: float | None = Field(description="days after the previous touch (before day/hour placement)")
    send_at_utc: datetime
    send_at_local: datetime
    local_day_of_week: int = Field(description="0 = Monday")
    local_hour: int


class ChoiceInfo(BaseModel):
    source: Literal["learned", "blended", "default"]
    confidence: float | None
    reason: str
    scope: Literal["client", "agency"] | None = Field(
        default=None, description="whose pattern was read: the client's, the agency-wide one, or none (null)")


class AllocateResponse(BaseModel):
    client_id: UUID
    lead_id: UUID | None
    timezone: str
    timezone_source: Literal["request", "lead", "client", "utc"]
    send_days: list[int]
    send_hour: int
    touches: list[PlannedTouch]
    channels: ChoiceInfo
    gaps: ChoiceInfo
    send_times: ChoiceInfo


class SnapshotRequest(Strict):
    subject: str | None = Field(default=None, max_length=2_000)
    body: str = Field(max_length=50_000)
    channel: str = Field(min_length=1, max_length=32)
    lead: dict[str, Any] = Field(default_factory=dict, description="lead context (first_name, company, industry, ...)")
    sequence_step: int | None = Field(default=None, ge=0, le=1_000)


class SnapshotResponse(BaseModel):
    client_id: UUID
    content_snapshot: dict[str, Any]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]


# --- agent context (api/context.py) -------------------------------------------------------------------

ContextConsumer = Literal["messaging", "sequencing", "campaign"]


class ContextFinding(BaseModel):
    item: str
    direction: Literal["use", "avoid"]
    unit: str = Field(description="what sample counts: touches, leads, leads reaching the touch")
    sample: int
    conversions: int
    rate: float | None
    rate_ci_low: float | None
    rate_ci_high: float | None
    lift: float | None = Field(description="position-adjusted where the detector adjusts")
    lift_ci_low: float | None
    lift_ci_high: float | None
    q_value: float | None
    evidence: str = Field(description="the finding's evidence as it appears in the text")


class ContextSection(BaseModel):
    key: str
    title: str
    source: str = Field(description="the pattern type(s) it came from")
    short: str
    use: list[ContextFinding]
    avoid: list[ContextFinding]
    note: str | None


class ContextSource(BaseModel):
    pattern_type: PatternTypeName
    scope: str = Field(description="client, or agency for an agency-wide pattern")
    computed_at: str | None
    confidence: float | None
    sample_size: int | None
    conversions: int | None
    is_valid: bool | None
    use: Literal["learned", "tentative", "defaults", "missing"]
    min_sample: int
    q_threshold: float
    note: str


class ConsumerContext(BaseModel):
    consumer: ContextConsumer
    agent: str
    sources: list[ContextSource]
    sections: list[ContextSection]
    sequence_gaps: list[dict[str, Any]]
    text: str = Field(description="ready-to-insert prompt text (≤ text_budget_chars)")
    text_chars: int
    text_top_k: int
    limits: dict[str, Any]


class PatternContext(BaseModel):
    client_id: UUID
    consumers: dict[ContextConsumer, ConsumerContext]
