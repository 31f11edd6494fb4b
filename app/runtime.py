"""Everything the adapters share for one process: settings, team config, database, Slack client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import TeamConfig, load_team_config
from app.db.engine import create_db_engine, session_factory
from app.db.errors import DATABASE_UNAVAILABLE
from app.incidents.reminders import remind_overdue_updates
from app.incidents.service import WarRoomLease
from app.settings import Settings
from app.slack.client import create_client
from app.warroom.flows import WarRoom

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    config: TeamConfig
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    slack: AsyncWebClient | None
    war_room: WarRoom | None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        config = load_team_config(settings.incidentbot_config)
        engine = create_db_engine(settings.database_url)
        sessions = session_factory(engine)
        slack = create_client(settings) if settings.slack_enabled else None
        war_room = None
        if slack is not None:
            war_room = WarRoom(sessions, slack, config, settings.incident_announce_channel,
                               lease=timedelta(seconds=settings.setup_lease_seconds))
        else:
            log.info("Slack is disabled: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable it")
        return cls(settings, config, engine, sessions, slack, war_room)

    @property
    def war_room_lease(self) -> WarRoomLease | None:
        """Declarations get a war room (and this process a lease on setting it up) only with Slack on."""
        return WarRoomLease(self.war_room.owner, self.war_room.lease) if self.war_room else None

    def background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run work after the response; keep a reference so the task is not garbage-collected."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def sweep_war_rooms(self) -> None:
        """Resume war-room set-ups left by a dead process, now and every few seconds."""
        assert self.war_room is not None
        while True:
            try:
                await self.war_room.resume_pending()
            except DATABASE_UNAVAILABLE:
                log.warning("war-room sweep skipped: database unavailable")
            await asyncio.sleep(self.settings.setup_sweep_seconds)

    async def remind_loop(self) -> None:
        """Remind war rooms of overdue status updates, now and every few seconds.

        The schedule is in the database, so a restart (or another replica) carries on where this left off.
        """
        assert self.slack is not None
        while True:
            try:
                await remind_overdue_updates(self)
            except DATABASE_UNAVAILABLE:
                log.warning("update reminders skipped: database unavailable")
            await asyncio.sleep(self.settings.reminder_check_seconds)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.engine.dispose()
