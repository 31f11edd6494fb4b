"""The api_tokens table and the scopes a token can carry."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow

ACTIVE = text("revoked_at IS NULL")


class Scope(StrEnum):
    READ = "read"  # GET and HEAD only
    WRITE = "write"  # every method

    def allows(self, method: str) -> bool:
        return self is Scope.WRITE or method.upper() in ("GET", "HEAD")


class ApiToken(Base):
    """One token; the secret itself is never stored, only its SHA-256. A revoked row stays for the record,
    and its name may be given to a new token (rotation: revoke `ci`, create `ci`)."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        # One active token per name; revoked ones keep their name without blocking a successor.
        Index("uq_api_tokens_active_name", "name", unique=True, sqlite_where=ACTIVE, postgresql_where=ACTIVE),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    scope: Mapped[Scope] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
