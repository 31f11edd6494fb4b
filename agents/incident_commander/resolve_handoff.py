"""The resolve handoff: what the team passes to the postmortem when an incident is resolved (typed data)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from agents.incident_commander.status import ActionLine, RoleLine, _open_actions, _spans_days, human_duration
from app.incidents.models import Incident
from app.incidents.render import clock

POSTMORTEM_ROLE = "Postmortem Owner"  # a configured role (app.config.DEFAULT_ROLES), not a Role member
POSTMORTEM_PROMPT = "Assign a postmortem owner: `/incident assign postmortem @user`"


class Handoff(BaseModel):
    public_id: str
    title: str
    severity: str
    status: str
    summary: str
    first_event_at: datetime
    declared_at: datetime
    resolved_at: datetime | None
    as_of: datetime
    duration: str
    time_to_resolve: str
    open_actions: list[ActionLine]
    participants: list[RoleLine]
    postmortem_owner: str | None
    prompt: str
    spans_days: bool

    def at(self, value: datetime) -> str:
        return f"{clock(value, self.spans_days)} UTC"


def _participants(incident: Incident) -> list[RoleLine]:
    """Everyone who held a response role, including those who handed it over, in the order they took it."""
    rows = sorted((r for r in incident.roles if r.role != POSTMORTEM_ROLE), key=lambda r: (r.since, r.id or 0))
    return [RoleLine(role=r.role, user_id=r.user_id, status=r.status, since=r.since, ended_at=r.ended_at)
            for r in rows]


def handoff(incident: Incident, now: datetime) -> Handoff:
    """What the team hands to the postmortem on resolve.

    Duration counts from the first thing on the timeline (an alert can precede the declaration);
    time to resolve counts from the declaration. Both run to `now` if no resolution is recorded.
    """
    end = incident.resolved_at or now
    first = min([incident.declared_at, *(e.occurred_at for e in incident.timeline)])
    owner = next((r.user_id for r in incident.roles if r.role == POSTMORTEM_ROLE and r.ended_at is None), None)
    return Handoff(
        public_id=incident.public_id,
        title=incident.title,
        severity=incident.severity,
        status=str(incident.status),
        summary=(incident.summary or "").strip() or "No summary given",
        first_event_at=first,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        as_of=now,
        duration=human_duration(end - first),
        time_to_resolve=human_duration(end - incident.declared_at),
        open_actions=_open_actions(incident),
        participants=_participants(incident),
        postmortem_owner=owner,
        prompt=POSTMORTEM_PROMPT if owner is None else "The postmortem owner drafts it from this handoff.",
        spans_days=_spans_days(first, end),
    )


def resolved_label(report: Handoff) -> str:
    return report.at(report.resolved_at) if report.resolved_at else f"not yet ({report.at(report.as_of)})"
