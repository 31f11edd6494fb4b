"""Status-update reminders: each open incident owes an update every cadence minutes for its severity.

The schedule lives only in `Incident.next_update_due`, so reminders survive restarts, and a
reminder is claimed with a compare-and-set on that column, so two replicas never both send one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.config import TeamConfig
from app.db.base import utcnow
from app.incidents import service
from app.incidents.models import Incident, Role
from app.slack.blocks import mention

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)

REMINDER_KIND = "reminder"


def cadence(incident: Incident, config: TeamConfig) -> timedelta | None:
    minutes = config.update_cadence(incident.severity)
    return timedelta(minutes=minutes) if minutes else None


def schedule_next_update(incident: Incident, config: TeamConfig, now: datetime) -> datetime | None:
    """Set when the next status update is owed: `now` plus the severity's cadence.

    None (no reminders) when the severity has no cadence or the incident is no longer open.
    """
    every = cadence(incident, config)
    incident.next_update_due = now + every if every is not None and incident.is_open else None
    return incident.next_update_due


async def due_reminders(session: AsyncSession, now: datetime) -> list[Incident]:
    """Open incidents with a war room whose status update was due by `now`, oldest debt first."""
    stmt = (
        select(Incident)
        .options(selectinload(Incident.roles))
        .where(
            Incident.status.in_(service.OPEN_STATUSES),
            Incident.channel_id.is_not(None),
            Incident.next_update_due.is_not(None),
            Incident.next_update_due <= now,
        )
        .order_by(Incident.next_update_due, Incident.id)
    )
    return list((await session.scalars(stmt)).all())


async def claim_reminder(session: AsyncSession, incident_id: int, expected_due: datetime,
                         next_due: datetime | None) -> bool:
    """Move the due time on, only if nobody else has: True means this caller sends the reminder.

    A compare-and-set on next_update_due: of two replicas (or two loops) that read the same due
    time, exactly one UPDATE matches the row.
    """
    result = await session.execute(
        update(Incident)
        .where(Incident.id == incident_id, Incident.next_update_due == expected_due)
        .values(next_update_due=next_due)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def reminder_text(incident: Incident, config: TeamConfig) -> str:
    """Who is nudged: Communications owns updates; without one, the Incident Commander."""
    owner = incident.active_holder(Role.COMMUNICATIONS) or incident.active_holder(Role.INCIDENT_COMMANDER)
    minutes = config.update_cadence(incident.severity)
    who = f"{mention(owner)} a" if owner else "A"
    return (f"{who} status update for {incident.public_id} is overdue ({incident.severity} cadence: every "
            f"{minutes} min). Post one with `/incident update <text>`.")


async def _remind(runtime: Runtime, incident: Incident, now: datetime) -> bool:
    """Claim, then post, then record; a reminder Slack refuses is logged and not retried until next cadence."""
    assert runtime.slack is not None and incident.next_update_due is not None and incident.channel_id is not None
    every = cadence(incident, runtime.config)
    async with runtime.sessions() as session, session.begin():
        claimed = await claim_reminder(session, incident.id, incident.next_update_due,
                                       now + every if every is not None else None)
    if not claimed or every is None:
        return False
    text = reminder_text(incident, runtime.config)
    try:
        await runtime.slack.chat_postMessage(channel=incident.channel_id, text=text)
    except SlackApiError as exc:
        log.warning("update reminder for %s not posted: %s", incident.public_id, exc.response.get("error"))
        return False
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("update reminder for %s not posted: Slack unreachable (%s)", incident.public_id,
                    type(exc).__name__)
        return False
    async with runtime.sessions() as session, session.begin():
        await service.add_event(session, incident, kind=REMINDER_KIND, text=text, occurred_at=now,
                                dedup_key=f"reminder:{incident.next_update_due.isoformat()}")
    return True


async def remind_overdue_updates(runtime: Runtime) -> int:
    """Remind every war room whose status update is overdue; returns how many reminders were sent."""
    if runtime.slack is None:
        return 0
    now = utcnow()
    async with runtime.sessions() as session:
        due = await due_reminders(session, now)
    sent = 0
    for incident in due:
        sent += await _remind(runtime, incident, now)
    return sent
