"""Handling the inbox: every acknowledged request is tried until it lands or fails for a permanent reason."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from app.db.base import utcnow
from app.db.errors import DATABASE_UNAVAILABLE
from app.inbox import claims
from app.inbox.models import InboxItem
from app.inbox.service import Inbox

log = logging.getLogger(__name__)
BATCH = 50
CONCURRENCY = 4  # the pool has 10 connections, and acks must still get theirs
KEEP_HANDLED = timedelta(days=1)
_retrying: contextvars.ContextVar[bool] = contextvars.ContextVar("retrying", default=False)


def will_retry() -> bool:
    """Whether the request being handled came from the inbox: a database outage then means "try again
    later" (raise), not "tell the person nothing was changed"."""
    return _retrying.get()


@dataclass(frozen=True)
class Handler:
    """What the adapter that filled the inbox knows: how to handle one request, and which errors pass."""

    # Runs the request's change, claiming its key (see claims) so that a second run changes nothing.
    handle: Callable[[InboxItem], Awaitable[None]]
    # Seconds to wait before the next try for a transient error, None for a permanent one.
    retry_after: Callable[[BaseException, int], float | None]
    # Tells whoever sent a request that failed for good (or logs it when nobody can be told).
    gave_up: Callable[[InboxItem, BaseException], Awaitable[None]]


class InboxWorker:
    def __init__(self, inbox: Inbox, handler: Handler, *, max_retry_seconds: float = 300.0) -> None:
        self.inbox, self.handler, self.max_retry_seconds = inbox, handler, max_retry_seconds

    async def run_forever(self, poll_seconds: float = 1.0) -> None:
        """Work whenever something arrives, and at least every `poll_seconds` (retries coming due, the
        database returning); a round that fails is logged and the next one runs anyway."""
        last_prune, outage = utcnow(), False
        while True:
            self.inbox.arrived.clear()
            try:
                await self.run_once()
                if outage:
                    log.info("inbox: database back, backlog handled")
                outage = False
                if utcnow() - last_prune > timedelta(hours=1):
                    await self.inbox.forget_before(utcnow() - KEEP_HANDLED)
                    last_prune = utcnow()
            except DATABASE_UNAVAILABLE:
                if not outage:  # once per outage, not every second of it
                    log.warning("inbox: database unavailable; requests wait on disk until it is back")
                outage = True
            except Exception:
                log.exception("inbox round failed; retrying in %ss", poll_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.inbox.arrived.wait(), poll_seconds)

    async def run_once(self) -> int:
        """Unspool, then handle everything due, a few at a time; how many items were handled.

        Slack itself delivers events in no guaranteed order (retries overtake), and the listeners are
        written for that, so items need not wait for each other.
        """
        await self.inbox.unspool()
        handled = 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(item: InboxItem) -> None:
            async with gate:
                await self.process(item)

        while batch := await self.inbox.take_due(BATCH):
            outcomes = await asyncio.gather(*(one(item) for item in batch), return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome  # the database went away: end the round, the rest are taken up again
            handled += len(batch)
        return handled

    async def process(self, item: InboxItem) -> None:
        token = _retrying.set(True)
        try:
            await self.handler.handle(item)
        except claims.AlreadyHandled:
            pass
        except IntegrityError as exc:
            if not claims.is_duplicate(exc):
                await self._permanent(item, exc)
                return
        except DATABASE_UNAVAILABLE:
            raise  # the round stops; this process takes the item up again when the database is back
        except Exception as exc:
            delay = self.handler.retry_after(exc, item.attempts)
            if delay is None:
                await self._permanent(item, exc)
            else:
                log.warning("inbox %s: %s; trying again in %.1fs", item.key, _describe(exc), delay)
                await self.inbox.retry_later(item, _describe(exc), min(delay, self.max_retry_seconds))
            return
        finally:
            _retrying.reset(token)
        await self.inbox.finish(item)

    async def _permanent(self, item: InboxItem, exc: BaseException) -> None:
        log.error("inbox %s failed for good: %s", item.key, _describe(exc), exc_info=exc)
        await self.inbox.give_up(item, _describe(exc))
        try:
            await self.handler.gave_up(item, exc)
        except Exception:
            log.exception("inbox %s: could not tell anyone about the failure", item.key)


def backoff(attempts: int, *, first: float = 1.0, longest: float = 300.0) -> float:
    """1 s, 2 s, 4 s, ... up to `longest`."""
    return min(first * 2 ** min(attempts, 20), longest)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
