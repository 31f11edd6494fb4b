"""Plain functions over a session for incidents, their timeline and roles.

The caller owns the transaction: nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.base import utcnow
from app.incidents.models import (
    DaySequence,
    Incident,
    NextAction,
    ProcessedRequest,
    Role,
    RoleAssignment,
    RoleStatus,
    SetupState,
    Source,
    Status,
    TimelineEvent,
)


@dataclass(frozen=True)
class WarRoomLease:
    owner: str
    duration: timedelta


OPEN_STATUSES = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)


def format_public_id(day: str, seq: int) -> str:
    return f"INC-{day[:4]}-{day[4:]}-{seq:03d}"


async def next_sequence(session: AsyncSession, day: str) -> int:
    """Hand out the day's next number with one atomic upsert, safe when declarations race."""
    dialect = (await session.connection()).dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(DaySequence).values(day=day, last_seq=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[DaySequence.day], set_={"last_seq": DaySequence.last_seq + 1}
    ).returning(DaySequence.last_seq)
    return int((await session.execute(stmt)).scalar_one())


async def create_incident(
    session: AsyncSession,
    *,
    title: str,
    severity: str,
    declared_by: str,
    source: Source,
    description: str | None = None,
    affected_service: str | None = None,
    is_private: bool = False,
    war_room: WarRoomLease | None = None,
    request_key: str | None = None,
    next_actions: Sequence[str] = (),
) -> Incident:
    """Record a new incident with its declarer as Incident Commander.

    With `war_room`, the incident is marked as needing a war room and leased to the process that
    will set it up; a sweeper resumes it if that lease runs out first. With `request_key`, a second
    declaration from the same Slack request fails with IntegrityError instead of recording twice.
    """
    now = utcnow()
    day = now.strftime("%Y%m%d")
    seq = await next_sequence(session, day)
    incident = Incident(
        public_id=format_public_id(day, seq),
        day=day,
        seq=seq,
        title=title,
        description=description,
        severity=severity,
        status=Status.INVESTIGATING,
        affected_service=affected_service,
        is_private=is_private,
        declared_by=declared_by,
        declared_at=now,
        updated_at=now,
        setup_state=SetupState.DONE if war_room is None else SetupState.PENDING,
        setup_owner=war_room.owner if war_room else None,
        setup_lease_until=now + war_room.duration if war_room else None,
        roles=[RoleAssignment(role=Role.INCIDENT_COMMANDER, user_id=declared_by, status=RoleStatus.ACTIVE,
                              since=now)],
        timeline=[TimelineEvent(kind="declared", actor=declared_by, source=source, occurred_at=now,
                                text=f"Incident declared ({severity})")],
        next_actions=[NextAction(position=n, text=text) for n, text in enumerate(next_actions)],
    )
    session.add(incident)
    if request_key is not None:
        session.add(ProcessedRequest(key=request_key, incident=incident))
    # No flush here: the caller's commit writes it all at once (declaring is on the path of
    # Slack's 3-second ack), after any last settings such as the update reminder.
    return incident


async def add_event(
    session: AsyncSession,
    incident: Incident,
    *,
    kind: str,
    text: str,
    actor: str | None = None,
    source: Source = Source.SYSTEM,
    occurred_at: datetime | None = None,
    permalink: str | None = None,
    dedup_key: str | None = None,
) -> TimelineEvent | None:
    """Append to the timeline; with a dedup key, an event already recorded is not added again."""
    if dedup_key is not None:
        existing = await session.scalar(
            select(TimelineEvent.id).where(
                TimelineEvent.incident_id == incident.id, TimelineEvent.dedup_key == dedup_key
            )
        )
        if existing is not None:
            return None
    event = TimelineEvent(
        incident_id=incident.id, kind=kind, text=text, actor=actor, source=source,
        occurred_at=occurred_at or utcnow(), permalink=permalink, dedup_key=dedup_key,
    )
    session.add(event)
    await session.flush()
    return event


def _with_details(stmt):  # type: ignore[no-untyped-def]
    return stmt.options(
        selectinload(Incident.timeline), selectinload(Incident.roles), selectinload(Incident.next_actions)
    )


async def get_incident(session: AsyncSession, public_id: str) -> Incident | None:
    return await session.scalar(_with_details(select(Incident)).where(Incident.public_id == public_id.upper()))


async def incident_for_channel(session: AsyncSession, channel_id: str) -> Incident | None:
    """The incident whose war room this channel is, by channel id (names change; ids do not)."""
    return await session.scalar(
        _with_details(select(Incident)).where(Incident.channel_id == channel_id).order_by(Incident.id.desc())
    )


async def is_war_room(session: AsyncSession, channel_id: str) -> bool:
    return await session.scalar(select(Incident.id).where(Incident.channel_id == channel_id).limit(1)) is not None


async def get_incident_by_id(session: AsyncSession, incident_id: int, *, lock: bool = False) -> Incident:
    """With `lock`, concurrent changers (replicas, double clicks) wait for this transaction to end."""
    stmt = _with_details(select(Incident)).where(Incident.id == incident_id)
    incident = await session.scalar(stmt.with_for_update() if lock else stmt)
    if incident is None:
        raise LookupError(f"incident {incident_id} does not exist")
    return incident


async def list_incidents(session: AsyncSession, *, open_only: bool = False, limit: int = 50) -> Sequence[Incident]:
    stmt = select(Incident).order_by(Incident.declared_at.desc(), Incident.id.desc()).limit(limit)
    if open_only:
        stmt = stmt.where(Incident.status.in_(OPEN_STATUSES))
    return (await session.scalars(stmt)).all()


async def incident_for_request(session: AsyncSession, key: str) -> Incident | None:
    """The incident a Slack request already produced, if it was seen before."""
    processed = await session.get(ProcessedRequest, key)
    if processed is None or processed.incident_id is None:
        return None
    return await session.get(Incident, processed.incident_id)



async def forget_requests_before(session: AsyncSession, cutoff: datetime) -> None:
    """Drop de-duplication records old enough that Slack will no longer retry their request."""
    await session.execute(delete(ProcessedRequest).where(ProcessedRequest.processed_at < cutoff))
