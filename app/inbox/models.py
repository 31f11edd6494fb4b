"""Inbox rows: one per acknowledged request, kept raw until it has been handled."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class InboxState(StrEnum):
    PENDING = "pending"  # acknowledged, not yet handled (or handling failed for a transient reason)
    DONE = "done"
    FAILED = "failed"  # failed for a permanent reason: logged, and said to the person when possible


class InboxItem(Base):
    """A request acknowledged to its sender and stored as received, handled from here with retries.

    `key` names the request (Slack's event id, a view id and hash, ...): the same request delivered twice is
    stored once.
    """

    __tablename__ = "inbox_items"
    __table_args__ = (Index("ix_inbox_items_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text)  # the parsed request as JSON
    state: Mapped[InboxState] = mapped_column(String(16), default=InboxState.PENDING)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker holds the item until then; another process may take it over afterwards.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
