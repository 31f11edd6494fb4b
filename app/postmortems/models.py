"""One version of a postmortem. Versions are never overwritten: regenerating adds one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class ReviewStatus(StrEnum):
    DRAFT = "Draft"
    IN_REVIEW = "In review"
    FINAL = "Final"


class Origin(StrEnum):
    GENERATED = "generated"  # written by the postmortem-writer
    EDITED = "edited"  # Markdown uploaded by a person


class PostmortemVersion(Base):
    __tablename__ = "postmortem_versions"
    __table_args__ = (UniqueConstraint("incident_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[ReviewStatus] = mapped_column(String(16), default=ReviewStatus.DRAFT)
    origin: Mapped[Origin] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(80))  # deterministic, llm (<model>), or human
    markdown: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the typed document, for generated versions
    author: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
