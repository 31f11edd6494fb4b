"""Progress of each incident's war-room set-up, one row per step, so set-up can resume."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
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
    FAILED = "failed"  # Slack refused; reported to the declarer and the timeline
    SKIPPED = "skipped"  # a step it depends on failed


class WarRoomStep(Base):
    __tablename__ = "war_room_steps"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[Step] = mapped_column(String(32), primary_key=True)
    state: Mapped[StepState] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
