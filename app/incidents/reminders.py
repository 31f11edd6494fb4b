"""Status-update schedule: each open incident owes an update every cadence minutes for its severity.

The schedule lives only in `Incident.next_update_due`, so reminders survive restarts, and a
reminder is claimed with a compare-and-set on that column, so two replicas never both send one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.config import TeamConfig
from app.incidents import service
from app.incidents.models import Incident


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
