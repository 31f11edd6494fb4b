"""Issue, look up, list and revoke API tokens.

A token is 32 random bytes, so a plain SHA-256 of it is as good as a slow password hash: nothing can be
guessed from the hash, and a lookup is one indexed equality. The `ib_` prefix lets log redaction and secret
scanners recognise one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.tokens.models import ApiToken, Scope

PREFIX = "ib_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Recording every use would make each API read a write; once a minute is enough to tell stale tokens.
USE_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    """The token command cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class Issued:
    row: ApiToken
    secret: str  # shown once, never stored


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise TokenError(f"invalid token name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return name


def issue(name: str, scope: Scope, created_by: str | None = None) -> Issued:
    """A new token row (not yet added to a session) and its secret."""
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=check_name(name), scope=scope, token_hash=digest(secret), created_by=created_by,
                   created_at=utcnow())
    return Issued(row, secret)


async def create(session: AsyncSession, name: str, scope: Scope, created_by: str | None = None) -> Issued:
    if await active(session, name) is not None:
        raise TokenError(f"a token named {name!r} already exists: revoke it first or choose another name")
    issued = issue(name, scope, created_by)
    session.add(issued.row)
    await session.flush()
    return issued


async def active(session: AsyncSession, name: str) -> ApiToken | None:
    return await session.scalar(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None)))


async def listed(session: AsyncSession) -> Sequence[ApiToken]:
    """Active tokens first, then revoked ones, each by name."""
    return (await session.scalars(
        select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.name, ApiToken.id))).all()


async def revoke(session: AsyncSession, name: str, now: datetime | None = None) -> ApiToken:
    token = await active(session, name)
    if token is None:
        raise TokenError(f"no active token named {name!r}; `incidentbot token list` shows them")
    token.revoked_at = now or utcnow()
    return token


async def authenticate(session: AsyncSession, secret: str, now: datetime | None = None) -> ApiToken | None:
    """The active token with this secret, its last use noted (at most once a minute); None if unknown or
    revoked."""
    token = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if token is None or token.revoked_at is not None:
        return None
    now = now or utcnow()
    if token.last_used_at is None or now - token.last_used_at >= USE_RESOLUTION:
        token.last_used_at = now
    return token
