"""Changing a running incident: updates, severity, resolve/reopen/close, roles, notes, next actions.

Plain functions over a session; the caller owns the transaction. Each change lands on the timeline.
A change that is not allowed raises IncidentChangeRefused with a message for the person who asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import RoleSpec, TeamConfig
from app.escalations import service as escalations
from app.incidents import service
from app.incidents.models import Incident, NextAction, RoleAssignment, RoleStatus, Source, Status, TimelineEvent
from app.incidents.reminders import schedule_next_update

UPDATE_STATUSES = {"investigating": Status.INVESTIGATING, "identified": Status.IDENTIFIED,
                   "monitoring": Status.MONITORING}


class IncidentChangeRefused(ValueError):
    """The change does not apply to the incident as it stands; the message says why."""


@dataclass(frozen=True)
class Actor:
    user_id: str
    source: Source


def _require_open(incident: Incident, doing: str) -> None:
    if not incident.is_open:
        raise IncidentChangeRefused(
            f"{incident.public_id} is {incident.status.lower()}; reopen it before you {doing}.")


async def post_update(session: AsyncSession, incident: Incident, text: str, status: Status | None,
                      actor: Actor, config: TeamConfig, now: datetime) -> None:
    _require_open(incident, "post an update")
    if not text.strip():
        raise IncidentChangeRefused("An update needs some text: `/incident update <what changed>`.")
    if status is not None and status != incident.status:
        await _set_status(session, incident, status, actor, now)
    await service.add_event(session, incident, kind="status_update", text=text.strip(), actor=actor.user_id,
                            source=actor.source, occurred_at=now)
    schedule_next_update(incident, config, now)


async def _set_status(session: AsyncSession, incident: Incident, status: Status, actor: Actor,
                      now: datetime) -> None:
    previous, incident.status = incident.status, status
    await service.add_event(session, incident, kind="status_changed", text=f"Status {previous} → {status}",
                            actor=actor.user_id, source=actor.source, occurred_at=now)


async def change_severity(session: AsyncSession, incident: Incident, severity: str, reason: str | None,
                          actor: Actor, config: TeamConfig, now: datetime) -> str:
    """Returns the previous severity."""
    level = config.severity(severity)
    if level is None:
        raise IncidentChangeRefused(f"Unknown severity {severity.upper()}. Use one of "
                                    f"{', '.join(config.severity_names)}.")
    if level.name == incident.severity:
        raise IncidentChangeRefused(f"{incident.public_id} is already {level.name}.")
    _require_open(incident, "change its severity")
    previous, incident.severity = incident.severity, level.name
    order = config.severity_names  # most severe first
    direction = "raised" if previous in order and order.index(level.name) < order.index(previous) else "lowered"
    text = f"Severity {direction} {previous} → {level.name}" + (f": {reason}" if reason else "")
    await service.add_event(session, incident, kind="severity_changed", text=text, actor=actor.user_id,
                            source=actor.source, occurred_at=now)
    schedule_next_update(incident, config, now)
    await escalations.severity_changed(session, incident, config, now)
    return previous


async def resolve(session: AsyncSession, incident: Incident, summary: str | None, actor: Actor,
                  now: datetime) -> None:
    if incident.status in (Status.RESOLVED, Status.CLOSED):
        raise IncidentChangeRefused(f"{incident.public_id} is already {incident.status.lower()}.")
    incident.status, incident.resolved_at = Status.RESOLVED, now
    incident.summary = (summary or "").strip() or incident.summary
    incident.next_update_due = None
    text = "Incident resolved" + (f": {incident.summary}" if incident.summary else "")
    await service.add_event(session, incident, kind="resolved", text=text, actor=actor.user_id,
                            source=actor.source, occurred_at=now)
    await escalations.cancel(session, incident, now, "resolved")


async def reopen(session: AsyncSession, incident: Incident, actor: Actor, config: TeamConfig,
                 now: datetime) -> None:
    if incident.is_open:
        raise IncidentChangeRefused(f"{incident.public_id} is still open ({incident.status}).")
    incident.status, incident.resolved_at, incident.closed_at = Status.INVESTIGATING, None, None
    await service.add_event(session, incident, kind="reopened", text="Incident reopened", actor=actor.user_id,
                            source=actor.source, occurred_at=now)
    schedule_next_update(incident, config, now)


async def close(session: AsyncSession, incident: Incident, actor: Actor, now: datetime) -> None:
    if incident.status == Status.CLOSED:
        raise IncidentChangeRefused(f"{incident.public_id} is already closed.")
    if incident.status != Status.RESOLVED:
        raise IncidentChangeRefused(f"{incident.public_id} is {incident.status}; resolve it before closing.")
    incident.status, incident.closed_at = Status.CLOSED, now
    await service.add_event(session, incident, kind="closed", text="Incident closed", actor=actor.user_id,
                            source=actor.source, occurred_at=now)


@dataclass(frozen=True)
class Assigned:
    role: RoleSpec
    user_id: str
    previous: str | None  # who held it before, for a handoff


async def assign_role(session: AsyncSession, incident: Incident, role: RoleSpec, user_id: str, actor: Actor,
                      now: datetime) -> Assigned:
    """Give a role to a user; a single-holder role is handed off from its current holder."""
    holders = [r for r in incident.roles if r.role == role.name and r.ended_at is None]
    if any(r.user_id == user_id for r in holders):
        raise IncidentChangeRefused(f"<@{user_id}> is already {role.name} for {incident.public_id}.")
    previous = None
    if not role.many:
        for holder in holders:
            holder.ended_at, previous = now, holder.user_id
    assignment = RoleAssignment(role=role.name, user_id=user_id, status=RoleStatus.ACTIVE, since=now)
    incident.roles.append(assignment)
    text = (f"{role.name} handed off from <@{previous}> to <@{user_id}>" if previous
            else f"<@{user_id}> is now {role.name}")
    await service.add_event(session, incident, kind="role_assigned", text=text, actor=actor.user_id,
                            source=actor.source, occurred_at=now)
    return Assigned(role, user_id, previous)


async def add_note(session: AsyncSession, incident: Incident, text: str, actor: Actor,
                   now: datetime) -> TimelineEvent:
    if not text.strip():
        raise IncidentChangeRefused("A note needs some text: `/incident note <what happened>`.")
    event = await service.add_event(session, incident, kind="note", text=text.strip(), actor=actor.user_id,
                                    source=actor.source, occurred_at=now)
    assert event is not None  # only a de-duplicated event is ever skipped
    return event


async def set_action_done(session: AsyncSession, incident: Incident, action_id: int, done: bool, actor: Actor,
                          now: datetime) -> NextAction:
    action = next((a for a in incident.next_actions if a.id == action_id), None)
    if action is None:
        raise IncidentChangeRefused("That next action no longer exists.")
    if (action.done_at is not None) == done:
        return action  # a double click or a retried request: nothing to change
    action.done_at, action.done_by = (now, actor.user_id) if done else (None, None)
    verb = "Done" if done else "Reopened"
    await service.add_event(session, incident, kind="next_action", text=f"{verb}: {action.text}",
                            actor=actor.user_id, source=actor.source, occurred_at=now)
    return action
