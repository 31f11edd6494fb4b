"""Exactly-once changes: the request's key is recorded in the same transaction as the change it makes.

The adapter that received a request names it (`handling(key)`); the first transaction that writes anything
while it is handled also inserts the key into `processed_requests`. The primary key then refuses a second
change for the same request, whichever process or retry makes it, and a change that rolls back leaves the
key free for the retry. Reads never record the key, so a request that changed nothing can run again.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from app.db.base import utcnow
from app.incidents.models import ProcessedRequest

WROTE, KEYS, TAKEN = "claims.wrote", "claims.keys", "claims.taken"


@dataclass
class Claim:
    key: str
    # Set for requests a person may repeat on purpose later (a button clicked again after its card changed):
    # only a repeat within this window is the same request.
    window: timedelta | None = None
    recorded: bool = False


_current: contextvars.ContextVar[Claim | None] = contextvars.ContextVar("claim", default=None)


class AlreadyHandled(Exception):
    """The request's change was made before (a retry, a replay, a double click)."""


@contextmanager
def handling(key: str | None, *, window: timedelta | None = None) -> Iterator[Claim | None]:
    """While the block runs (and in tasks it starts), the first writing transaction records `key`."""
    claim = Claim(key, window) if key else None
    token = _current.set(claim)
    try:
        yield claim
    finally:
        _current.reset(token)


def current_key() -> str | None:
    """The key of the request being handled, when its adapter (or the inbox) named one."""
    claim = _current.get()
    return claim.key if claim else None


async def handled_before(session: AsyncSession, key: str, window: timedelta | None = None) -> bool:
    """Whether a change was already recorded for this request (for a quick answer before doing anything)."""
    processed = await session.scalar(select(ProcessedRequest.processed_at).where(ProcessedRequest.key == key))
    return processed is not None and (window is None or processed >= utcnow() - window)


def is_duplicate(error: IntegrityError) -> bool:
    """Whether the insert refused was the request's own key (not some other constraint)."""
    return "processed_requests" in str(error.orig) or "processed_requests" in str(error.statement or "")


@event.listens_for(Session, "after_flush")
def _note_write(session: Session, _: Any) -> None:
    """After a flush, `new` still lists what it inserted."""
    if session.new or session.dirty or session.deleted:
        session.info[WROTE] = True
    _recorded_keys(session).update(o.key for o in session.new if isinstance(o, ProcessedRequest))


def _recorded_keys(session: Session) -> set[str]:
    return session.info.setdefault(KEYS, set())  # type: ignore[no-any-return]


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True


@event.listens_for(Session, "before_commit")
def _record_claim(session: Session) -> None:
    claim = _current.get()
    if claim is None or claim.recorded:
        return
    if claim.key in _recorded_keys(session) | {o.key for o in session.new if isinstance(o, ProcessedRequest)}:
        # The change records the key itself (declare does).
        session.info[TAKEN] = claim
        return
    if not (session.info.get(WROTE) or session.new or session.dirty or session.deleted):
        return
    if claim.window is not None:  # an old click of the same button is not this one
        session.execute(delete(ProcessedRequest).where(ProcessedRequest.key == claim.key,
                                                       ProcessedRequest.processed_at < utcnow() - claim.window))
    session.add(ProcessedRequest(key=claim.key))
    session.info[TAKEN] = claim


@event.listens_for(Session, "after_commit")
def _claim_recorded(session: Session) -> None:
    taken = session.info.pop(TAKEN, None)
    if taken is not None:
        taken.recorded = True
    session.info.pop(WROTE, None)
    session.info.pop(KEYS, None)


@event.listens_for(Session, "after_soft_rollback")
def _claim_released(session: Session, _: SessionTransaction) -> None:
    session.info.pop(TAKEN, None)
    session.info.pop(WROTE, None)
    session.info.pop(KEYS, None)
