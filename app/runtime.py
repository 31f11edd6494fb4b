"""Everything the adapters share for one process: settings, team config, database, Slack client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import TeamConfig, load_team_config
from app.db.base import utcnow
from app.db.engine import create_db_engine, session_factory
from app.db.errors import DATABASE_UNAVAILABLE
from app.escalations.delivery import Escalations
from app.inbox.service import Inbox
from app.inbox.spool import Spool, default_dir
from app.inbox.worker import Handler, InboxWorker
from app.incidents import service
from app.incidents.service import WarRoomLease
from app.runbooks.runner import Runbooks
from app.settings import Settings

# The Slack side (its client, renderers, reminders) is imported only by a runtime with Slack on: a CLI command
# without Slack credentials then starts in a fraction of the time (bench/cli_startup.py).
if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from app.slack.escalations import SlackMessenger
    from app.slack.identity import BotIdentity
    from app.warroom.flows import WarRoom

log = logging.getLogger(__name__)
# Slack retries a request within minutes; a day of remembered request ids is plenty.
REMEMBER_REQUESTS = timedelta(days=1)


@dataclass
class Runtime:
    settings: Settings
    config: TeamConfig
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    slack: AsyncWebClient | None
    war_room: WarRoom | None
    escalations: Escalations
    runbooks: Runbooks
    inbox: Inbox
    inbox_worker: InboxWorker | None = None
    bot: BotIdentity | None = None  # the Slack app's own identity, set when the Slack app is built
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        config = load_team_config(settings.incidentbot_config)
        engine = create_db_engine(settings.database_url)
        sessions = session_factory(engine)
        slack, war_room, messenger = _slack_side(settings, config, sessions)
        pagerduty = None
        if settings.paging_enabled:
            from app.integrations.pagerduty import PagerDuty

            pagerduty = PagerDuty(settings)
        escalations = Escalations(sessions, pagerduty, messenger,
                                  first_wait=timedelta(seconds=settings.pagerduty_retry_seconds))
        runbooks = Runbooks.create(sessions, config, settings)
        inbox = Inbox(sessions, Spool(settings.inbox_spool_dir or default_dir(settings.database_url)))
        return cls(settings, config, engine, sessions, slack, war_room, escalations, runbooks, inbox)

    def attach_inbox_worker(self, handler: Handler) -> None:
        """The adapter that fills the inbox says how its requests are handled; the lifespan runs the worker."""
        self.inbox_worker = InboxWorker(self.inbox, handler, max_retry_seconds=self.settings.inbox_max_retry_seconds)

    @property
    def war_room_lease(self) -> WarRoomLease | None:
        """Declarations get a war room (and this process a lease on setting it up) only with Slack on."""
        return WarRoomLease(self.war_room.owner, self.war_room.lease) if self.war_room else None

    def background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run work after the response; keep a reference so the task is not garbage-collected."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        """Retrieve every background task's outcome, so that a failure is logged once, with its trace."""
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("background task failed: %s", error, exc_info=error)

    async def sweep_war_rooms(self) -> None:
        """Resume war-room set-ups left by a dead process or due for a retry, and forget old Slack request ids."""
        assert self.war_room is not None
        war_room = self.war_room

        async def sweep() -> None:
            await war_room.resume_pending()
            async with self.sessions() as session, session.begin():
                await service.forget_requests_before(session, utcnow() - REMEMBER_REQUESTS)

        await self._every(self.settings.setup_sweep_seconds, "war-room sweep", sweep)

    async def remind_loop(self) -> None:
        """Remind war rooms of overdue status updates, and owners of overdue action items, every few seconds.

        The schedule is in the database, so a restart (or another replica) carries on where this left off.
        """
        from app.slack.action_reminders import remind_overdue_actions
        from app.slack.reminders import remind_overdue_updates

        seconds = self.settings.reminder_check_seconds
        await asyncio.gather(
            self._every(seconds, "update reminders", lambda: remind_overdue_updates(self)),
            self._every(seconds, "action-item reminders", lambda: remind_overdue_actions(self, utcnow().date())),
        )

    async def escalation_loop(self) -> None:
        """Fire due escalations and deliver owed pages and messages, every few seconds, for the life of the process.

        Timers are rows: what came due while no process ran fires on the first round after a start.
        """
        await self._every(self.settings.escalation_check_seconds, "escalations", self.escalations.run_once)

    def kick_escalations(self) -> None:
        """Run a round now (after a declaration or an escalation) rather than at the next tick."""
        self.background(self.escalations.run_once())

    async def _every(self, seconds: float, name: str, job: Callable[[], Awaitable[Any]]) -> None:
        """Run a periodic job for the life of the process.

        A failed round is logged in full and the next round runs anyway: one bad incident or a
        Slack hiccup must not silently stop all set-up recovery or reminders until a restart.
        """
        while True:
            try:
                await job()
            except Exception as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # A library turned the cancellation into an error of its own; the process is stopping, and a
                    # loop that went on would keep shutdown waiting for ever.
                    raise asyncio.CancelledError(f"{name} stopped") from exc
                if isinstance(exc, DATABASE_UNAVAILABLE):
                    log.warning("%s skipped: database unavailable", name)
                else:
                    log.exception("%s failed; retrying in %ss", name, seconds)
            await asyncio.sleep(seconds)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.escalations.pagerduty is not None:
            self.escalations.pagerduty.close()
        await self.engine.dispose()


def _slack_side(settings: Settings, config: TeamConfig, sessions: async_sessionmaker[AsyncSession]
                ) -> tuple[AsyncWebClient | None, WarRoom | None, SlackMessenger | None]:
    """The Slack client, the war-room flow and the escalation messenger; all None with Slack off."""
    if not settings.slack_enabled:
        log.info("Slack is disabled: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable it")
        return None, None, None
    from app.slack.client import create_client
    from app.slack.escalations import SlackMessenger
    from app.slack.warroom import SlackRooms
    from app.warroom.flows import WarRoom

    slack = create_client(settings)
    war_room = WarRoom(sessions, SlackRooms(slack, config, settings.incident_announce_channel),
                       lease=timedelta(seconds=settings.setup_lease_seconds),
                       retry=timedelta(seconds=settings.setup_retry_seconds))
    return slack, war_room, SlackMessenger(slack)
