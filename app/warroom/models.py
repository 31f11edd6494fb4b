"""Progress of each incident's war-room set-up, one row per step, so set-up can resume."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class Step(StrEnum):
    CREATE_CHANNEL = "create_channel"
    INVITE_DECLARER = "invite_declarer"
    SET_TOPIC = "set_topic"
    SET_PURPOSE = "set_purpose"
    POST_CARD = "post_card"
    PIN_CARD = "pin_card"
    ANNOUNCE = "announce"


class StepState(StrEnum):
    STARTED = "started"  # the Slack call may or may not have happened: reconcile before redoing
    DONE = "done"
    RETRYING = "retrying"  # Slack was rate limited, erroring or unreachable: tried again at retry_at
    FAILED = "failed"  # Slack refused; reported to the declarer and the timeline
    SKIPPED = "skipped"  # a step it depends on failed
    PENDING = "pending"  # (reports only, never stored) waits for a step it needs that is retrying


FINISHED = (StepState.DONE, StepState.FAILED, StepState.SKIPPED)


class WarRoomStep(Base):
    __tablename__ = "war_room_steps"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[Step] = mapped_column(String(32), primary_key=True)
    state: Mapped[StepState] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Recorded before a call that must not be repeated blindly (a post, a channel), and sent with it, so a
    # later attempt looks for what it left before making another.
    intent: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
