"""The incident record as the commander reads it to answer questions: timeline, transcript, action items, roles.

Built once per question from what the runtime loaded (ORM objects, no session), so every answer reads the
same facts: the entries in time order, when impact started, who acknowledged, which roles nobody holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from agents.base import AgentRequest
from agents.incident_commander.status import StatusReport, status_report
from app.action_items.models import ActionStatus
from app.config import TeamConfig
from app.incidents.models import Incident

# Timeline kinds that say when impact began, and that someone took the page (PagerDuty, Slack or by hand).
IMPACT_STARTED = "impact_started"
ACKNOWLEDGED = ("escalation.acknowledged", "acknowledged")
# A note that says when impact began: `/incident note impact started 14:25` (UTC, the note's day or the one before).
IMPACT_NOTE = re.compile(r"\b(?:customer\s+)?(?:impact|errors?|outage|failures?|problems?|issues?|symptoms?)\s+"
                         r"(?:began|begun|started|starting|start)\s+(?:at\s+|around\s+|~\s*)?"
                         r"(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)\s*(?:utc|z)?\b", re.IGNORECASE)
# Entries that are bookkeeping, not events of the incident.
NOISE = ("agent_result", "reminder", "war_room.", "escalation.started", "escalation.skipped")


@dataclass(frozen=True)
class Line:
    """One thing said or recorded: a timeline entry or a war-room message."""

    at: datetime
    text: str
    who: str | None
    kind: str  # the timeline kind, or "message" for the transcript, "description" for the declaration's


@dataclass(frozen=True)
class Item:
    number: int
    text: str
    owner: str | None
    priority: str | None
    due: date | None
    done: bool


@dataclass(frozen=True)
class IncidentRecord:
    incident: Incident
    report: StatusReport
    timeline: list[Line]
    transcript: list[Line]
    items: list[Item]
    unfilled_roles: list[tuple[str, str]]  # (role, how `/incident assign` names it)
    now: datetime

    @property
    def impact_start(self) -> datetime:
        """When impact began, if recorded (an entry, or a note saying so); else when the incident was declared."""
        started = [line.at for line in self.timeline if line.kind == IMPACT_STARTED]
        started += [at for line in self.timeline if line.kind == "note" and (at := _stated_start(line)) is not None]
        return min(started) if started else self.incident.declared_at

    @property
    def impact_start_recorded(self) -> bool:
        return self.impact_start != self.incident.declared_at or any(
            line.kind == IMPACT_STARTED for line in self.timeline)

    @property
    def end(self) -> datetime:
        if self.incident.is_open:
            return self.now
        return self.incident.resolved_at or self.incident.closed_at or self.now

    @property
    def acknowledged(self) -> Line | None:
        return next((line for line in self.timeline if line.kind in ACKNOWLEDGED), None)

    @property
    def updates(self) -> list[Line]:
        return [line for line in self.timeline if line.kind in ("status_update", "resolved")]

    def events(self) -> list[Line]:
        """Timeline entries worth telling someone who just joined."""
        return [line for line in self.timeline if not line.kind.startswith(NOISE)]

    def open_items(self) -> list[Item]:
        return [item for item in self.items if not item.done]


def _stated_start(line: Line) -> datetime | None:
    """The time a note gives for the start of impact, on the note's day (the day before if that is later)."""
    match = IMPACT_NOTE.search(line.text)
    if match is None:
        return None
    stated = line.at.replace(hour=int(match["hour"]), minute=int(match["minute"]), second=0, microsecond=0)
    return stated - timedelta(days=1) if stated > line.at else stated


def _unfilled(incident: Incident, config: TeamConfig) -> list[tuple[str, str]]:
    """Roles shown on the card that nobody holds, each with the word `/incident assign` takes for it."""
    held = {r.role for r in incident.roles if r.ended_at is None}
    return [(spec.name, min([spec.name.lower(), *spec.aliases], key=len)) for spec in config.roles
            if spec.listed_when_open and spec.name not in held]


def read(request: AgentRequest) -> IncidentRecord:
    incident = request.incident
    assert incident is not None
    timeline = sorted((Line(e.occurred_at, e.text, e.actor, e.kind) for e in incident.timeline),
                      key=lambda line: line.at)
    transcript = [Line(m.posted_at, m.text, m.user_id, "message") for m in request.transcript]
    ordered = sorted(request.action_items, key=lambda i: i.id or 0)
    items = [Item(number=n, text=i.text, owner=i.owner, priority=str(i.priority) if i.priority else None,
                  due=i.due_on, done=i.status == ActionStatus.DONE) for n, i in enumerate(ordered, 1)]
    return IncidentRecord(incident=incident, report=status_report(incident, request.now, request.config),
                          timeline=timeline, transcript=sorted(transcript, key=lambda line: line.at), items=items,
                          unfilled_roles=_unfilled(incident, request.config), now=request.now)
