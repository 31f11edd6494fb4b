"""Escalation tables: each incident's chain, its timed steps, who was told, and the outbox of pages and messages.

The timers are rows (`EscalationStep.due_at`), so a restart or a second replica carries on where the last
left off; the outbox keeps every page until PagerDuty (or Slack) has taken it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, UTCDateTime, utcnow


class StepKind(StrEnum):
    LEVEL = "level"
    STAKEHOLDER = "stakeholder"


class StepState(StrEnum):
    PENDING = "pending"  # waiting for due_at
    PAUSED = "paused"  # the current level acknowledged: no clock until someone resumes it
    FIRED = "fired"
    SKIPPED = "skipped"  # its condition did not hold when it came due
    CANCELLED = "cancelled"  # resolved, or de-escalated below the policy


class OutboxState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # refused for good (e.g. the user does not exist); said in the war room
    CANCELLED = "cancelled"  # the incident was resolved before it went out


class OutboxKind(StrEnum):
    PAGE = "pagerduty.page"  # trigger (or add responders) for a step, then look up who is on call
    PAGERDUTY_EVENT = "pagerduty.event"  # acknowledge or resolve the PagerDuty incident
    NOTIFY = "notify"  # a person's direct message, with its Acknowledge button
    NOTIFY_GROUP = "notify.group"  # expand a user group into people to notify
    WAR_ROOM = "war_room"  # a line in the war room


class EscalationChain(Base):
    __tablename__ = "escalation_chains"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    policy: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    severity_at_start: Mapped[str] = mapped_column(String(8))
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pagerduty_triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pagerduty_incident_id: Mapped[str | None] = mapped_column(String(32), index=True)

    steps: Mapped[list[EscalationStep]] = relationship(order_by="EscalationStep.position, EscalationStep.id",
                                                       viewonly=True)


class EscalationStep(Base):
    """One level or stakeholder of an incident's chain; fired once, by whichever process claims it."""

    __tablename__ = "escalation_steps"
    __table_args__ = (
        UniqueConstraint("incident_id", "kind", "name"),
        Index("ix_escalation_steps_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("escalation_chains.incident_id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[StepKind] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))  # L1…, or the stakeholder's role
    role: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(500))
    delay_seconds: Mapped[int] = mapped_column(Integer)  # `after`, from the start of the chain
    condition: Mapped[str | None] = mapped_column(String(40))
    with_level: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[StepState] = mapped_column(String(16), default=StepState.PENDING)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fired_by: Mapped[str | None] = mapped_column(String(64))  # who escalated by hand; None: the clock
    reason: Mapped[str | None] = mapped_column(Text)  # why it fired (or was skipped or cancelled)

    notifications: Mapped[list[EscalationNotification]] = relationship(
        order_by="EscalationNotification.notified_at, EscalationNotification.id", viewonly=True)


class EscalationNotification(Base):
    """Someone told: a Slack user by DM, or the person PagerDuty paged. Acknowledged once."""

    __tablename__ = "escalation_notifications"
    __table_args__ = (UniqueConstraint("step_id", "person"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("escalation_steps.id", ondelete="CASCADE"), index=True)
    via: Mapped[str] = mapped_column(String(16))  # slack or pagerduty
    person: Mapped[str] = mapped_column(String(64))  # Slack user id, or pagerduty:<user id>
    person_name: Mapped[str | None] = mapped_column(String(200))
    slack_user: Mapped[str | None] = mapped_column(String(32))  # where the DM goes, when there is one
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when Slack or PagerDuty took it
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_via: Mapped[str | None] = mapped_column(String(16))
    dm_channel: Mapped[str | None] = mapped_column(String(32))
    dm_ts: Mapped[str | None] = mapped_column(String(32))


class OutboxMessage(Base):
    """A page or message owed to PagerDuty or Slack, kept until it is delivered (or refused for good)."""

    __tablename__ = "escalation_outbox"
    __table_args__ = (Index("ix_escalation_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[OutboxKind] = mapped_column(String(24))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[OutboxState] = mapped_column(String(16), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    told_delay: Mapped[bool] = mapped_column(default=False)  # the war room heard it is delayed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
