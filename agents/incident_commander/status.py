"""The status report: an incident as it stands, from the store (rendered by `markdown` and app/slack/render)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel

from app.config import TeamConfig
from app.incidents.card import TimelineRow
from app.incidents.models import Incident, Role, TimelineEvent
from app.incidents.render import SLACK_USER_ID, clock


class RoleLine(BaseModel):
    role: str
    user_id: str
    status: str
    since: datetime
    ended_at: datetime | None = None


class ActionLine(BaseModel):
    position: int
    text: str


class StatusReport(BaseModel):
    public_id: str
    title: str
    severity: str
    severity_meaning: str | None = None
    status: str
    is_open: bool
    declared_at: datetime
    resolved_at: datetime | None
    as_of: datetime
    duration: str
    commander: str | None
    roles: list[RoleLine]
    last_update: TimelineRow | None
    open_actions: list[ActionLine]
    next_update_due: datetime | None
    channel_id: str | None
    channel_name: str | None
    spans_days: bool

    @property
    def update_overdue(self) -> bool:
        return self.is_open and self.next_update_due is not None and self.next_update_due <= self.as_of

    def at(self, value: datetime) -> str:
        """A time as shown: the date too when the incident spans days, so 00:10 is never ambiguous."""
        return f"{clock(value, self.spans_days)} UTC"


def human_duration(delta: timedelta) -> str:
    """'1h 05m', '45m', '2d 3h 05m': how responders say it, to the minute."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes == 0:
        return "<1m"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {mins:02d}m"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def _ended_at(incident: Incident, now: datetime) -> datetime:
    """An open incident runs until now; a finished one until it was resolved (or closed)."""
    if incident.is_open:
        return now
    return incident.resolved_at or incident.closed_at or now


def _role_order(role: str) -> int:
    names = [r.value for r in Role]
    return names.index(role) if role in names else len(names)


def _active_roles(incident: Incident) -> list[RoleLine]:
    active = [r for r in incident.roles if r.ended_at is None]
    active.sort(key=lambda r: (_role_order(r.role), r.since))
    return [RoleLine(role=r.role, user_id=r.user_id, status=r.status, since=r.since) for r in active]


def _last_update(timeline: Iterable[TimelineEvent]) -> TimelineRow | None:
    updates = [e for e in timeline if e.kind == "status_update"]
    if not updates:
        return None
    latest = max(updates, key=lambda e: (e.occurred_at, e.id or 0))
    return TimelineRow(text=latest.text, at=latest.occurred_at, actor=latest.actor)


def _open_actions(incident: Incident) -> list[ActionLine]:
    actions = sorted((a for a in incident.next_actions if a.done_at is None), key=lambda a: (a.position, a.id or 0))
    return [ActionLine(position=a.position, text=a.text) for a in actions]


def _spans_days(*moments: datetime | None) -> bool:
    return len({m.date() for m in moments if m is not None}) > 1


def status_report(incident: Incident, now: datetime, config: TeamConfig | None = None) -> StatusReport:
    """The incident as it stands at `now`, from the store only; `config` adds the severity's meaning."""
    end = _ended_at(incident, now)
    last = _last_update(incident.timeline)
    level = (config or TeamConfig()).severity(incident.severity)
    return StatusReport(
        public_id=incident.public_id,
        title=incident.title,
        severity=incident.severity,
        severity_meaning=level.meaning if level else None,
        status=str(incident.status),
        is_open=incident.is_open,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        as_of=now,
        duration=human_duration(end - incident.declared_at),
        commander=incident.active_holder(Role.INCIDENT_COMMANDER),
        roles=_active_roles(incident),
        last_update=last,
        open_actions=_open_actions(incident),
        next_update_due=incident.next_update_due if incident.is_open else None,
        channel_id=incident.channel_id,
        channel_name=incident.channel_name,
        spans_days=_spans_days(incident.declared_at, end, last.at if last else None,
                               incident.next_update_due if incident.is_open else None),
    )


def severity_label(report: StatusReport) -> str:
    return f"{report.severity} ({report.severity_meaning})" if report.severity_meaning else report.severity


def duration_label(report: StatusReport) -> str:
    if report.is_open:
        return f"{report.duration} (ongoing)"
    if report.resolved_at is not None:
        return f"{report.duration} (resolved {report.at(report.resolved_at)})"
    return report.duration


def next_update_text(report: StatusReport) -> str:
    """When the next update is owed, relative to now, so an overdue one stands out."""
    if not report.is_open:
        return f"Not needed: the incident is {report.status}"
    due = report.next_update_due
    if due is None:
        return "Not scheduled"
    if due <= report.as_of:
        return f"OVERDUE since {report.at(due)} ({human_duration(report.as_of - due)} ago)"
    return f"{report.at(due)} (in {human_duration(due - report.as_of)})"


def ref(actor: str | None) -> str:
    """A person inside answer text: a Slack mention (`<@U123>`, as the timeline keeps them) or `@name`.

    Markdown shows both as @name; Slack renders the mention.
    """
    if not actor:
        return "Unassigned"
    return f"<@{actor}>" if SLACK_USER_ID.match(actor) else "@" + actor.split(":", 1)[-1]


def headline(report: StatusReport) -> str:
    """The incident in one line, people as `ref`s."""
    age = f"open {report.duration}" if report.is_open else f"lasted {report.duration}"
    return (f"{report.public_id} ({report.severity}, {report.status}): {report.title}. "
            f"IC {ref(report.commander)}, {age}.")
