"""The escalation status, as typed data: who was notified when, who acknowledged, what is next, what was said.

Built only from the store (the chain's steps, their notifications, the outbox and the timeline), so it says
exactly what happened. Rendered to Markdown by the template beside this module and to Block Kit under
app/slack/render/escalations.py.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field

from app.escalations.models import EscalationStep, StepKind, StepState
from app.escalations.service import ChainView
from app.incidents.models import Incident

AGENT = "escalation-manager"
SEVERITY_RAISE = re.compile(r"^Severity raised (SEV\d) → (SEV\d)(?::\s*(.*))?$")


class NotificationRow(BaseModel):
    level: str  # L1…, or "-" for a stakeholder
    role: str
    person: str  # a Slack user id (rendered as a mention), or a PagerDuty user's name
    slack_user: bool
    via: str  # slack or pagerduty
    notified_at: datetime | None
    acknowledged_at: datetime | None


class TimelineLine(BaseModel):
    at: datetime
    text: str


class NextEscalation(BaseModel):
    level: str
    role: str
    due_at: datetime | None  # None: paused (an acknowledgement or a de-escalation stopped the clock)
    paused_since: datetime | None = None


class EscalationStatus(BaseModel):
    agent: str = AGENT
    incident_id: str
    title: str
    severity: str
    escalated_from: str | None = None
    escalation_reason: str | None = None
    is_open: bool
    policy: str | None = None
    rows: list[NotificationRow] = Field(default_factory=list)
    timeline: list[TimelineLine] = Field(default_factory=list)
    next: NextEscalation | None = None
    chain_ended: str | None = None  # why nothing is next: resolved, every level notified, no policy
    delayed: list[str] = Field(default_factory=list)  # pages not yet delivered, and why
    communications: list[str] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)
    done: str | None = None  # what this request did ("Escalated to SEV1: …")
    spans_days: bool = False


def build(incident: Incident, chain: ChainView | None, now: datetime, done: str | None = None) -> EscalationStatus:
    raised = _last_raise(incident)
    status = EscalationStatus(
        incident_id=incident.public_id, title=incident.title, severity=incident.severity,
        escalated_from=raised[0] if raised else None, escalation_reason=raised[1] if raised else None,
        is_open=incident.is_open, policy=chain.chain.policy if chain else None, done=done,
        spans_days=incident.declared_at.date() != now.date())
    manual = [e for e in incident.timeline if e.kind == "escalation.manual"]
    if manual and not status.escalation_reason:
        status.escalation_reason = manual[-1].text.split(": ", 1)[-1] if ": " in manual[-1].text else None
    if chain is None:
        status.chain_ended = "No escalation policy covers this incident" if incident.is_open else "Resolved"
    else:
        status.rows = [row for step in chain.steps for row in _rows(step)]
        status.next, status.chain_ended = _next(incident, chain)
        status.delayed = [f"{m.payload.get('label', 'a page')}: {m.last_error} (attempt {m.attempts})"
                          for m in chain.undelivered if m.last_error]
    status.timeline = [TimelineLine(at=e.occurred_at, text=e.text) for e in incident.timeline
                       if (e.kind.startswith(("escalation.", "paging.")) and e.kind != "escalation.manual")
                       or e.kind == "severity_changed"]
    status.communications = _communications(incident, chain)
    status.recommendations = _recommendations(status, now)
    return status


def _last_raise(incident: Incident) -> tuple[str, str | None] | None:
    for event in reversed(incident.timeline):
        if event.kind == "severity_changed" and (match := SEVERITY_RAISE.match(event.text)):
            return match.group(1), match.group(3)
    return None


def _rows(step: EscalationStep) -> list[NotificationRow]:
    level = step.name if step.kind == StepKind.LEVEL else "-"
    return [NotificationRow(level=level, role=step.role, person=n.slack_user or n.person_name or n.person,
                            slack_user=n.slack_user is not None, via=n.via, notified_at=n.notified_at,
                            acknowledged_at=n.acknowledged_at) for n in step.notifications]


def _next(incident: Incident, chain: ChainView) -> tuple[NextEscalation | None, str | None]:
    if not incident.is_open:
        return None, "Resolved: nothing further will be sent"
    waiting = [s for s in chain.levels if s.state in (StepState.PENDING, StepState.PAUSED)]
    if not waiting:
        return None, "Every level of the chain has been notified"
    step = waiting[0]
    paused = step.state == StepState.PAUSED
    return NextEscalation(level=step.name, role=step.role, due_at=None if paused else step.due_at,
                          paused_since=chain.chain.paused_at if paused else None), None


def _communications(incident: Incident, chain: ChainView | None) -> list[str]:
    """What went out: status updates, stakeholder messages, pages, and where."""
    lines = []
    updates = [e.occurred_at for e in incident.timeline if e.kind == "status_update"]
    if updates:
        times = ", ".join(f"{t:%H:%M}" for t in updates[-8:])
        lines.append(f"Status updates (war room and announcement channel): {times}")
    if chain is not None:
        for step in chain.steps:
            told = [n for n in step.notifications if n.notified_at]
            if step.kind == StepKind.STAKEHOLDER and told:
                lines.append(f"{step.role}: told by direct message at "
                             + ", ".join(f"{n.notified_at:%H:%M}" for n in told if n.notified_at))
        if chain.pages_delivered:
            lines.append("PagerDuty: " + ", ".join(
                f"{m.payload.get('label', 'page')} at {m.delivered_at:%H:%M}" for m in chain.pages_delivered
                if m.delivered_at))
    reminders = [e.occurred_at for e in incident.timeline if e.kind == "reminder"]
    if reminders:
        lines.append(f"Overdue-update reminders: {len(reminders)}, last at {reminders[-1]:%H:%M}")
    return lines or ["Nothing sent outside the war room yet"]


def _recommendations(status: EscalationStatus, now: datetime) -> list[str]:
    """Follow-ups the record calls for: unanswered pages, delayed paging, the top of the chain reached."""
    out = []
    for row in status.rows:
        if row.notified_at and not row.acknowledged_at and (now - row.notified_at).total_seconds() >= 300:
            who = f"<@{row.person}>" if row.slack_user else row.person
            minutes = int((now - row.notified_at).total_seconds() // 60)
            out.append(f"Follow up with {who} ({row.role}): notified {minutes} min ago, not acknowledged")
    if status.delayed:
        out.append("Page by phone while PagerDuty is not taking pages; the page is retried automatically")
    if status.is_open and status.next is None and status.rows:
        top = [r for r in status.rows if r.level != "-"]
        if top:
            out.append(f"Prepare an executive summary for {top[-1].role}")
    if status.is_open and not any(c.startswith("Status updates") for c in status.communications):
        out.append("Post a status update for stakeholders: `/incident update <text>`")
    if status.next is not None and status.next.due_at is not None:
        minutes = max(int((status.next.due_at - now).total_seconds() // 60), 0)
        out.append(f"Acknowledge the current page to hold {status.next.level} {status.next.role} "
                   f"(due in {minutes} min)")
    return out[:6]
