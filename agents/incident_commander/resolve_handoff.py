"""The resolve handoff: what the team passes to the postmortem when an incident is resolved."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from agents.incident_commander.common import AGENT, Block
from agents.incident_commander.status import (
    ActionLine,
    RoleLine,
    _blocks_actions,
    _markdown_actions,
    _open_actions,
    _spans_days,
    human_duration,
)
from app.incidents.models import Incident
from app.incidents.render import clock, datetime_utc, person
from app.slack.blocks import context, escape, fields, header, mention, section

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


def _resolved_label(report: Handoff) -> str:
    return report.at(report.resolved_at) if report.resolved_at else f"not yet ({report.at(report.as_of)})"


def _held(row: RoleLine, report: Handoff) -> str:
    until = report.at(row.ended_at) if row.ended_at else "still held"
    return f"{report.at(row.since)} - {until}"


def render_handoff_markdown(report: Handoff) -> str:
    people = "\n".join(f"| {r.role} | {person(r.user_id)} | {_held(r, report)} |" for r in report.participants)
    owner = f"**Postmortem owner**: {person(report.postmortem_owner)}" if report.postmortem_owner else report.prompt
    return "\n".join([
        f"## Incident Resolved: {report.public_id}",
        "",
        f"**Title**: {report.title}",
        f"**Severity**: {report.severity}",
        f"**Duration**: {report.duration} ({report.at(report.first_event_at)} - {_resolved_label(report)})",
        f"**Time to resolve**: {report.time_to_resolve} (declared {datetime_utc(report.declared_at)})",
        "",
        "### Summary",
        report.summary,
        "",
        "### Who Took Part",
        "| Role | Person | Held |",
        "|------|--------|------|",
        people or "| - | - | - |",
        "",
        "### Open Next Actions (for the postmortem)",
        _markdown_actions(report.open_actions),
        "",
        "### Postmortem",
        owner,
        "",
    ])


def render_handoff_blocks(report: Handoff) -> list[Block]:
    people = "\n".join(f"• {escape(r.role)}: {mention(r.user_id)} ({_held(r, report)})"
                       for r in report.participants) or "_Nobody held a role._"
    owner = (f"*Postmortem owner*: {mention(report.postmortem_owner)}" if report.postmortem_owner
             else f"*Next*: {report.prompt}")
    return [
        header(f"Resolved: {report.public_id}"),
        section(f"*{escape(report.title)}*"),
        fields([
            ("Severity", report.severity),
            ("Status", report.status),
            ("Duration", f"{report.duration} ({report.at(report.first_event_at)} - {_resolved_label(report)})"),
            ("Time to resolve", f"{report.time_to_resolve} (declared {datetime_utc(report.declared_at)})"),
        ]),
        section(f"*Summary*\n{escape(report.summary)}"),
        section(f"*Who took part*\n{people}"),
        section(f"*Open next actions* (for the postmortem)\n{_blocks_actions(report.open_actions)}"),
        section(owner),
        context(f"{report.public_id} · handoff · incidentbot {AGENT}"),
    ]


def handoff_fallback(report: Handoff) -> str:
    return (f"{report.public_id} resolved after {report.time_to_resolve} ({report.severity}): "
            f"{escape(report.title)}")
