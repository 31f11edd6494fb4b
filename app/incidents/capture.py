"""What the war room says, kept with the incident: marked messages on the timeline, the transcript,
and who joined. Plain functions over a session; the caller owns the transaction.

Slack delivers events concurrently and in no guaranteed order (an edit can overtake the message it
edits), so every write here is an upsert or is serialised on the incident row, never check-then-insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import TeamConfig
from app.incidents import service
from app.incidents.models import (
    Incident,
    NextAction,
    Participant,
    RoleAssignment,
    Source,
    TimelineEvent,
    TimelineMark,
    TranscriptMessage,
)

PINNED_KIND = "pinned_message"
RECENT_EVENTS = 10
VIA_REACTION, VIA_PIN = "reaction", "pin"


@dataclass(frozen=True)
class WarRoomMessage:
    """A war-room message as Slack shows it now; `author` is a user id, or a bot id for bot posts."""

    ts: str
    author: str | None
    text: str
    thread_ts: str | None = None
    permalink: str | None = None


@dataclass(frozen=True)
class CatchUp:
    """What someone joining mid-incident needs to know, gathered for whichever adapter renders it."""

    public_id: str
    title: str
    severity: str
    severity_meaning: str
    status: str
    roles: list[tuple[str, str, str]]  # (role, user, status) for active assignments
    recent: list[TimelineEvent]  # oldest first
    open_actions: list[str]


def message_time(ts: str) -> datetime:
    """A Slack ts ("1732560000.000100") is the message's own time, to the microsecond."""
    seconds, _, fraction = ts.partition(".")
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)


def message_key(ts: str) -> str:
    """The timeline dedup key of a marked message: one event per message, however many marks."""
    return f"message:{ts}"


async def _insert(session: AsyncSession, model: type[Any]) -> Any:
    """An INSERT that can say ON CONFLICT, in the session's dialect (both spell it the same)."""
    dialect = (await session.connection()).dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


async def _lock(session: AsyncSession, incident: Incident) -> None:
    """Serialise mark changes per incident, so a last mark removed while another is added cannot
    leave a mark without its timeline event. SQLite writers are serialised already (BEGIN IMMEDIATE)."""
    await session.execute(select(Incident.id).where(Incident.id == incident.id).with_for_update())


# --- timeline marks ---------------------------------------------------------------------------


async def mark_message(
    session: AsyncSession, incident: Incident, message: WarRoomMessage, *, user_id: str, via: str
) -> TimelineEvent | None:
    """Record that `user_id` marked the message; it goes on the timeline at its own time, once.

    Returns the new timeline event, or None when the message was already there.
    """
    await _lock(session, incident)
    stmt = (await _insert(session, TimelineMark)).values(
        incident_id=incident.id, message_ts=message.ts, user_id=user_id, via=via
    )
    await session.execute(stmt.on_conflict_do_nothing())
    return await service.add_event(
        session, incident, kind=PINNED_KIND, text=message.text or "(message without text)",
        actor=message.author, source=Source.SLACK, occurred_at=message_time(message.ts),
        permalink=message.permalink, dedup_key=message_key(message.ts),
    )


async def unmark_message(
    session: AsyncSession, incident: Incident, message_ts: str, *, via: str, user_id: str | None = None
) -> bool:
    """Remove a mark; the message leaves the timeline with its last mark. True when it left.

    Without `user_id` every mark of that kind goes: a Slack pin is one per message, and whoever
    unpins it removes it, not only the person who pinned it.
    """
    await _lock(session, incident)
    marks = delete(TimelineMark).where(
        TimelineMark.incident_id == incident.id, TimelineMark.message_ts == message_ts, TimelineMark.via == via
    )
    if user_id is not None:
        marks = marks.where(TimelineMark.user_id == user_id)
    await session.execute(marks)
    remaining = await session.scalar(
        select(func.count()).select_from(TimelineMark).where(
            TimelineMark.incident_id == incident.id, TimelineMark.message_ts == message_ts
        )
    )
    if remaining:
        return False
    removed = await session.execute(delete(TimelineEvent).where(*_pinned_event(incident, message_ts)))
    return bool(removed.rowcount)


def _pinned_event(incident: Incident, message_ts: str) -> tuple[Any, ...]:
    return (TimelineEvent.incident_id == incident.id, TimelineEvent.dedup_key == message_key(message_ts),
            TimelineEvent.kind == PINNED_KIND)


# --- transcript -------------------------------------------------------------------------------


def _transcript_row(incident: Incident, message: WarRoomMessage) -> dict[str, Any]:
    return {"incident_id": incident.id, "ts": message.ts, "user_id": message.author, "text": message.text,
            "thread_ts": message.thread_ts, "posted_at": message_time(message.ts)}


async def record_message(session: AsyncSession, incident: Incident, message: WarRoomMessage) -> None:
    """Keep a posted message. If its edit arrived first, the edited text already there wins."""
    stmt = (await _insert(session, TranscriptMessage)).values(**_transcript_row(incident, message))
    await session.execute(stmt.on_conflict_do_nothing())


async def record_edit(
    session: AsyncSession, incident: Incident, message: WarRoomMessage, *, edited_at: datetime
) -> None:
    """Apply an edit to the transcript (adding the message if its post was missed) and to the
    timeline event of the message, if it was marked, so both read as the message now does."""
    row = _transcript_row(incident, message)
    stmt = (await _insert(session, TranscriptMessage)).values(**row, edited_at=edited_at)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[TranscriptMessage.incident_id, TranscriptMessage.ts],
        set_={"text": message.text, "edited_at": edited_at},
    ))
    await session.execute(
        update(TimelineEvent).where(*_pinned_event(incident, message.ts))
        .values(text=message.text or "(message without text)")
    )


async def record_deletion(
    session: AsyncSession, incident: Incident, message: WarRoomMessage, *, deleted_at: datetime
) -> None:
    """Mark the message deleted but keep what it said: the transcript is evidence for the review."""
    stmt = (await _insert(session, TranscriptMessage)).values(**_transcript_row(incident, message),
                                                              deleted_at=deleted_at)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[TranscriptMessage.incident_id, TranscriptMessage.ts], set_={"deleted_at": deleted_at},
    ))


# --- participants -----------------------------------------------------------------------------


async def record_join(session: AsyncSession, incident: Incident, user_id: str) -> bool:
    """Note a participant; True only the first time they join this incident's war room."""
    stmt = (await _insert(session, Participant)).values(incident_id=incident.id, user_id=user_id)
    inserted = await session.execute(stmt.on_conflict_do_nothing().returning(Participant.user_id))
    return inserted.first() is not None


async def catch_up(
    session: AsyncSession, incident: Incident, config: TeamConfig, *, recent: int = RECENT_EVENTS
) -> CatchUp:
    """The incident so far: roles held now, the latest timeline events, and open next actions."""
    level = config.severity(incident.severity)
    return CatchUp(
        public_id=incident.public_id, title=incident.title, severity=incident.severity,
        severity_meaning=level.meaning if level else "custom severity", status=incident.status,
        roles=await _active_roles(session, incident), recent=await _recent_events(session, incident, recent),
        open_actions=await _open_actions(session, incident),
    )


async def _active_roles(session: AsyncSession, incident: Incident) -> list[tuple[str, str, str]]:
    rows = await session.scalars(
        select(RoleAssignment).where(RoleAssignment.incident_id == incident.id, RoleAssignment.ended_at.is_(None))
        .order_by(RoleAssignment.since, RoleAssignment.id)
    )
    return [(r.role, r.user_id, r.status) for r in rows]


async def _recent_events(session: AsyncSession, incident: Incident, limit: int) -> list[TimelineEvent]:
    rows: Sequence[TimelineEvent] = (await session.scalars(
        select(TimelineEvent).where(TimelineEvent.incident_id == incident.id)
        .order_by(TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc()).limit(limit)
    )).all()
    return list(reversed(rows))


async def _open_actions(session: AsyncSession, incident: Incident) -> list[str]:
    rows = await session.scalars(
        select(NextAction.text).where(NextAction.incident_id == incident.id, NextAction.done_at.is_(None))
        .order_by(NextAction.position, NextAction.id)
    )
    return list(rows)
