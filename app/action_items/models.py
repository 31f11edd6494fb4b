"""An action item: who does what, how urgently, by when, and whether it is done."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class Priority(StrEnum):
    P0 = "P0"  # do now: the incident can recur any minute
    P1 = "P1"  # this week
    P2 = "P2"  # this quarter
    P3 = "P3"  # nice to have


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class ActionItem(Base):
    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(500))
    owner: Mapped[str | None] = mapped_column(String(64))  # a Slack user id, or a team handle from a postmortem
    priority: Mapped[Priority] = mapped_column(String(2), default=Priority.P2)
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    status: Mapped[ActionStatus] = mapped_column(String(8), default=ActionStatus.OPEN)
    source: Mapped[str] = mapped_column(String(16))  # slack, cli, api, postmortem
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_by: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The day its owner was last reminded that it is overdue: one reminder a day, across replicas.
    reminded_on: Mapped[date | None] = mapped_column(Date)
    # Items suggested by a postmortem carry a key, so regenerating it never adds them twice.
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
