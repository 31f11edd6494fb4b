"""The root-cause analysis as data: what the engine (or the model, for prose) concluded, and its evidence."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from agents.toolbox import ToolStatus
from app.integrations.telemetry import ChangeEvent

AGENT = "rca-agent"


class Evidence(BaseModel):
    text: str
    query: str  # the query, API call or record that produced it
    source: str  # prometheus, loki, datadog, kubernetes, timeline, transcript


class TimelineRow(BaseModel):
    at: datetime
    text: str


class Why(BaseModel):
    question: str
    answer: str


class Hypothesis(BaseModel):
    cause: str  # an id from agents.rca.causes.CAUSES
    title: str
    component: str
    onset: datetime
    trigger: ChangeEvent | None = None
    score: float
    evidence_for: list[Evidence] = Field(default_factory=list)
    evidence_against: list[Evidence] = Field(default_factory=list)


class RuledOut(BaseModel):
    """A change or mechanism that was tested and is not the cause, and why."""

    subject: str  # "Deployment/orders revision 34", "ConfigMap/shop/payments-config"
    at: datetime | None = None
    reason: str
    query: str = "analysis"


class Recommendations(BaseModel):
    immediate: str
    short_term: str
    medium_term: str
    long_term: str


class RcaReport(BaseModel):
    agent: str = AGENT
    mode: str = "deterministic"
    note: str | None = None  # one line: why LLM mode fell back, or what limited the analysis
    incident_id: str | None = None
    title: str
    service: str
    severity: str | None = None
    reference: datetime  # T+0: declared at, or the time the request names
    window_start: datetime
    window_end: datetime
    symptom_onset: datetime | None = None
    recovered_at: datetime | None = None
    # The share of requests failing from onset to recovery, for error-budget arithmetic in postmortems.
    error_ratio_mean: float | None = None
    executive_summary: str
    timeline: list[TimelineRow] = Field(default_factory=list)
    five_whys: list[Why] = Field(default_factory=list)
    root_cause: str
    cause: str | None = None
    component: str | None = None
    trigger: ChangeEvent | None = None
    confidence: str = "low"  # high, medium, low
    evidence: list[Evidence] = Field(default_factory=list)
    contributing_factors: list[str] = Field(default_factory=list)
    recommendations: Recommendations | None = None
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    ruled_out: list[RuledOut] = Field(default_factory=list)
    lost: list[str] = Field(default_factory=list)  # evidence that could not be read, and why
    tools: list[ToolStatus] = Field(default_factory=list)
    lines_read: int = 0
    queries: int = 0

    def offset(self, at: datetime) -> str:
        """T-15min, T+00min, T+1h05min: relative to the reference time, as the seed's timelines read."""
        minutes = round((at - self.reference).total_seconds() / 60)
        sign = "-" if minutes < 0 else "+"
        minutes = abs(minutes)
        if minutes >= 60:
            return f"T{sign}{minutes // 60}h{minutes % 60:02d}min"
        return f"T{sign}{minutes:02d}min"
