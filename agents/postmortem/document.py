"""The postmortem as data: the seed's sections plus what SRE templates (Google, PagerDuty) ask for."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

AGENT = "postmortem-writer"


class TimelineEntry(BaseModel):
    at: datetime
    text: str
    local: str | None = None  # the time as the notes wrote it, when they were in another zone


class Detection(BaseModel):
    """When impact began, was detected, acknowledged, mitigated and resolved; minutes between."""

    started_at: datetime
    detected_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    ended_at: datetime | None = None  # end of customer impact, when it is known apart from the resolution
    started_from: str  # how the start was found: "error rate (RCA)" or "declaration"

    @property
    def impact_end(self) -> datetime | None:
        return self.ended_at or self.resolved_at

    @property
    def impact_minutes(self) -> int | None:
        return self.minutes(self.impact_end)

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
    priority: str | None = "P2"  # None: the notes give none, and none is invented
    owner: str | None = None
    due_on: date | None = None
    due_text: str | None = None  # as the notes put it ("by friday", "next sprint")
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
    day_assumed: bool = False  # the notes give no date
    year_assumed: bool = False  # the notes give day and month only
    date_note: str | None = None  # how an ambiguous date ("4/12/2025") was read
    from_notes: bool = False
    timezone_note: str | None = None  # how the notes' times were read ("converted from PST (UTC-08:00)")
    local_zone: str | None = None  # the zone of the timeline's local column
    authors: list[str]
    version: int | None = None  # the stored version this document is, once kept on its incident
    status: str = "Draft"
    draft_reason: str | None = None  # e.g. "the incident is still open"
    severity: str | None = None
    service: str | None = None
    impact: str | None = None
    customers_affected: int | None = None
    customers_text: str | None = None  # customers affected in the notes' words
    revenue_impact: str | None = None
    error_rate: str | None = None
    regions: str | None = None
    impact_details: list[str] = Field(default_factory=list)
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
    missing: list[str] = Field(default_factory=list)  # what the notes do not give

    @property
    def duration_minutes(self) -> int | None:
        return self.detection.impact_minutes if self.detection else None
