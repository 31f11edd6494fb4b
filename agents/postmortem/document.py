"""The postmortem as data: the seed's sections plus what SRE templates (Google, PagerDuty) ask for."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

AGENT = "postmortem-writer"


class TimelineEntry(BaseModel):
    at: datetime
    text: str


class Detection(BaseModel):
    """When impact began, was detected, acknowledged, mitigated and resolved; minutes between."""

    started_at: datetime
    detected_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    started_from: str  # how the start was found: "error rate (RCA)" or "declaration"

    def minutes(self, end: datetime | None, start: datetime | None = None) -> int | None:
        """Between the minutes shown (14:20 to 15:15 is 55), so the document's arithmetic adds up."""
        begin = _minute(start or self.started_at)
        return None if end is None else max(0, round((_minute(end) - begin).total_seconds() / 60))

    @property
    def time_to_detect(self) -> int | None:
        return self.minutes(self.detected_at)

    @property
    def time_to_acknowledge(self) -> int | None:
        return self.minutes(self.acknowledged_at, self.detected_at)

    @property
    def time_to_mitigate(self) -> int | None:
        return self.minutes(self.mitigated_at)

    @property
    def time_to_resolve(self) -> int | None:
        return self.minutes(self.resolved_at)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class SloImpact(BaseModel):
    availability: float
    window_days: int
    budget_minutes: float
    consumed_minutes: float
    failing_share: float  # the mean share of requests failing, from the RCA

    @property
    def consumed_share(self) -> float:
        return self.consumed_minutes / self.budget_minutes if self.budget_minutes else 0.0


class Responder(BaseModel):
    person: str  # a Slack user id, or a CLI/API actor
    roles: list[str]


class ActionRow(BaseModel):
    text: str
    priority: str = "P2"
    owner: str | None = None
    due_on: date | None = None
    status: str = "open"
    number: int | None = None  # the incident's action item number, once it is one
    source: str  # action item, conversation, root-cause analysis, notes


class Postmortem(BaseModel):
    agent: str = AGENT
    mode: str = "deterministic"
    note: str | None = None
    incident_id: str | None = None
    title: str
    day: date
    authors: list[str]
    status: str = "Draft"
    draft_reason: str | None = None  # e.g. "the incident is still open"
    severity: str | None = None
    service: str | None = None
    impact: str | None = None
    customers_affected: int | None = None
    revenue_impact: str | None = None
    slo: SloImpact | None = None
    slo_note: str | None = None  # why the SLO impact is not computed
    what_happened: str
    timeline: list[TimelineEntry] = Field(default_factory=list)
    timeline_omitted: int = 0  # entries left out of a very long timeline
    spans_days: bool = False
    root_cause: str
    trigger: str | None = None
    rca_confidence: str | None = None
    contributing_factors: list[str] = Field(default_factory=list)
    detection: Detection | None = None
    responders: list[Responder] = Field(default_factory=list)
    went_well: list[str] = Field(default_factory=list)
    went_poorly: list[str] = Field(default_factory=list)
    got_lucky: list[str] = Field(default_factory=list)
    action_items: list[ActionRow] = Field(default_factory=list)
    lessons: list[str] = Field(default_factory=list)
    appendix: list[tuple[str, str]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)  # what the writer could not establish

    @property
    def duration_minutes(self) -> int | None:
        return self.detection.time_to_resolve if self.detection else None
