"""Storing acknowledged requests, and taking them out again in order, one worker at a time per item."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.db.errors import DATABASE_UNAVAILABLE
from app.inbox.models import InboxItem, InboxState
from app.inbox.spool import Spool

log = logging.getLogger(__name__)
STORE_WITHIN = 1.5  # seconds


class NotStored(Exception):
    """Neither the database nor the spool could take the request: it must not be acknowledged."""


class Inbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], spool: Spool, *,
                 lease: timedelta = timedelta(seconds=120)) -> None:
        self.sessions, self.spool, self.lease = sessions, spool, lease
        self.owner = uuid.uuid4().hex[:16]  # this process, as holder of the items it is working on
        self.arrived = asyncio.Event()  # set on every arrival, so the worker starts at once

    async def accept(self, key: str, body: str) -> None:
        """Durable before it returns: in the database, or else in the spool. Raises NotStored.

        A database too slow to answer within STORE_WITHIN counts as down: Slack gives the whole ack 3 s.
        Should the insert have landed after all, the spooled copy is the same key and is kept once.
        """
        received = utcnow()
        try:
            async with asyncio.timeout(STORE_WITHIN):
                async with self.sessions() as session, session.begin():
                    await _insert(session, key, body, received)
        except (TimeoutError, *DATABASE_UNAVAILABLE) as exc:
            log.warning("inbox: database unavailable (%s); spooling %s to disk", type(exc).__name__, key)
            try:
                await asyncio.to_thread(self.spool.put, key, body, received)  # fsync off the event loop
            except OSError as disk:
                raise NotStored(f"database unavailable and spool failed: {disk}") from disk
        self.arrived.set()

    async def unspool(self) -> int:
        """Move spooled requests into the database (the same request twice is kept once); how many moved."""
        moved = 0
        for spooled in self.spool.pending():
            async with self.sessions() as session, session.begin():
                await _insert(session, spooled.key, spooled.body, spooled.received_at)
            spooled.path.unlink(missing_ok=True)  # after the commit: a crash in between only repeats the insert
            moved += 1
        if moved:
            log.info("inbox: moved %d spooled requests into the database", moved)
        return moved

    async def take_due(self, limit: int) -> list[InboxItem]:
        """Lease up to `limit` due items, oldest first. Items this process leased before are due again at once
        (it lost them to an outage, not to another worker); other workers' leases are honoured until they end."""
        now = utcnow()
        free = or_(InboxItem.locked_until.is_(None), InboxItem.locked_until < now, InboxItem.locked_by == self.owner)
        due = (InboxItem.state == InboxState.PENDING) & (InboxItem.next_attempt_at <= now) & free
        async with self.sessions() as session, session.begin():
            ids = list(await session.scalars(select(InboxItem.id).where(due)
                                             .order_by(InboxItem.received_at, InboxItem.id).limit(limit)))
            if not ids:
                return []
            await session.execute(update(InboxItem).where(InboxItem.id.in_(ids), free)
                                  .values(locked_until=now + self.lease, locked_by=self.owner))
        async with self.sessions() as session:
            taken = await session.scalars(select(InboxItem).where(InboxItem.id.in_(ids),
                                                                  InboxItem.locked_by == self.owner)
                                          .order_by(InboxItem.received_at, InboxItem.id))
            return list(taken)

    async def finish(self, item: InboxItem) -> None:
        await self._set(item, state=InboxState.DONE, finished_at=utcnow(), attempts=item.attempts + 1)

    async def retry_later(self, item: InboxItem, error: str, delay: float) -> None:
        await self._set(item, attempts=item.attempts + 1, last_error=error[:2000],
                        next_attempt_at=utcnow() + timedelta(seconds=delay))

    async def give_up(self, item: InboxItem, error: str) -> None:
        await self._set(item, state=InboxState.FAILED, finished_at=utcnow(), attempts=item.attempts + 1,
                        last_error=error[:2000])

    async def forget_before(self, cutoff: datetime) -> None:
        """Handled items are kept a while for inspection, then dropped."""
        async with self.sessions() as session, session.begin():
            await session.execute(delete(InboxItem).where(InboxItem.state != InboxState.PENDING,
                                                          InboxItem.finished_at < cutoff))

    async def _set(self, item: InboxItem, **values: object) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(update(InboxItem).where(InboxItem.id == item.id)
                                  .values(locked_until=None, locked_by=None, **values))


async def _insert(session: AsyncSession, key: str, body: str, received_at: datetime) -> None:
    """Insert unless the key is there already: a retried delivery is one item."""
    dialect = session.bind.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(InboxItem).values(key=key, body=body, state=InboxState.PENDING, attempts=0,
                                                   received_at=received_at, next_attempt_at=received_at)
                          .on_conflict_do_nothing(index_elements=["key"]))
