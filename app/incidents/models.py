"""Incident tables and the enums that name their states."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, UTCDateTime, utcnow


class Status(StrEnum):
    INVESTIGATING = "INVESTIGATING"
    IDENTIFIED = "IDENTIFIED"
    MONITORING = "MONITORING"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


class Role(StrEnum):
    INCIDENT_COMMANDER = "Incident Commander"
    COMMUNICATIONS = "Communications"
    SCRIBE = "Scribe"
    SUBJECT_EXPERT = "Subject Expert"


class RoleStatus(StrEnum):
    ACTIVE = "Active"
    STANDBY = "Standby"
    PAGED = "Paged"


class Source(StrEnum):
    SLACK = "slack"
    CLI = "cli"
    API = "api"
    SYSTEM = "system"


class SetupState(StrEnum):
    PENDING = "pending"
    DONE = "done"


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("day", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    day: Mapped[str] = mapped_column(String(8))  # YYYYMMDD, UTC
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(8))
    status: Mapped[Status] = mapped_column(String(16), default=Status.INVESTIGATING)
    affected_service: Mapped[str | None] = mapped_column(String(200))
    user_impact: Mapped[str | None] = mapped_column(Text)
    revenue_impact: Mapped[str | None] = mapped_column(String(200))
    regions: Mapped[str | None] = mapped_column(String(200))
    customers_affected: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[str | None] = mapped_column(String(32), index=True)
    channel_name: Mapped[str | None] = mapped_column(String(80))
    is_private: Mapped[bool] = mapped_column(default=False)
    card_ts: Mapped[str | None] = mapped_column(String(32))
    announcement_channel_id: Mapped[str | None] = mapped_column(String(32))
    announcement_ts: Mapped[str | None] = mapped_column(String(32))
    declared_by: Mapped[str] = mapped_column(String(64))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[str | None] = mapped_column(Text)  # resolution summary
    # When the war room next owes stakeholders a status update; the reminder loop watches it.
    next_update_due: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    setup_state: Mapped[SetupState] = mapped_column(String(16), default=SetupState.DONE)
    setup_owner: Mapped[str | None] = mapped_column(String(32))  # the process setting up the war room
    setup_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    timeline: Mapped[list[TimelineEvent]] = relationship(
        back_populates="incident", order_by="TimelineEvent.occurred_at, TimelineEvent.id"
    )
    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="incident", order_by="RoleAssignment.since, RoleAssignment.id"
    )
    next_actions: Mapped[list[NextAction]] = relationship(
        back_populates="incident", order_by="NextAction.position, NextAction.id"
    )

    @property
    def is_open(self) -> bool:
        return self.status in (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)

    def active_holder(self, role: Role) -> str | None:
        return next((r.user_id for r in self.roles if r.role == role and r.ended_at is None), None)


class TimelineEvent(Base):
    __tablename__ = "timeline_events"
    __table_args__ = (
        Index("ix_timeline_events_incident_time", "incident_id", "occurred_at"),
        # A retried step or a re-delivered Slack event records once: writers give a dedup key.
        UniqueConstraint("incident_id", "dedup_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[Source] = mapped_column(String(16), default=Source.SYSTEM)
    permalink: Mapped[str | None] = mapped_column(String(500))
    dedup_key: Mapped[str | None] = mapped_column(String(200))

    incident: Mapped[Incident] = relationship(back_populates="timeline")


class RoleAssignment(Base):
    __tablename__ = "role_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[RoleStatus] = mapped_column(String(16), default=RoleStatus.ACTIVE)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship(back_populates="roles")


class NextAction(Base):
    """A checklist item on the incident card, ticked off from Slack."""

    __tablename__ = "next_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(300))
    done_by: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship(back_populates="next_actions")


class TimelineMark(Base):
    """Someone marked a war-room message for the timeline (a reaction or a pin).

    The message is on the timeline while at least one mark remains.
    """

    __tablename__ = "timeline_marks"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    message_ts: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    via: Mapped[str] = mapped_column(String(16), primary_key=True)  # "reaction" or "pin"
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TranscriptMessage(Base):
    """A war-room message as it now reads (edits applied, deletions marked), for RCA and postmortems."""

    __tablename__ = "transcript_messages"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    ts: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Participant(Base):
    __tablename__ = "participants"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DaySequence(Base):
    """The last incident number handed out per UTC day; bumped atomically by an upsert."""

    __tablename__ = "incident_day_sequences"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)


class ProcessedRequest(Base):
    """A Slack request (command trigger, event id) already handled, and what it produced."""

    __tablename__ = "processed_requests"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    incident: Mapped[Incident | None] = relationship()
