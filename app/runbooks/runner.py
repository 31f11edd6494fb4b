"""Runbooks for one process: the catalog (read afresh on each request, so a new file needs no restart) and the
executor, owned by this process, that the Slack commands, the buttons and the CLI all share."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.runbook_executor.report import RunbookReport, build
from app.config import TeamConfig
from app.db.base import utcnow
from app.incidents.models import Incident
from app.runbooks import service
from app.runbooks.flows import Executor, may_approve
from app.runbooks.loader import Catalog, folders, load
from app.runbooks.schema import Runbook
from app.settings import Settings


class UnknownRunbook(LookupError):
    """No runbook by that name; the message lists the ones there are (and a file problem, if it explains it)."""


def catalog_for(config: TeamConfig) -> Catalog:
    return load(folders(config.runbooks_dir))


def find(catalog: Catalog, name: str) -> Runbook:
    book = catalog.get(name)
    if book is not None:
        return book
    problems = [p for p in catalog.problems if name.lower() in p.lower()]
    starting = [n for n in sorted(catalog.runbooks) if n.startswith(name.lower())]
    close = starting[:1] or difflib.get_close_matches(name.lower(), list(catalog.runbooks), n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    listed = ", ".join(sorted(catalog.runbooks)) or "none"
    extra = "".join(f"\n{p}" for p in problems[:5])
    raise UnknownRunbook(f"No runbook named {name[:60]}.{hint} Runbooks: {listed}.{extra}")


@dataclass
class Runbooks:
    config: TeamConfig
    sessions: async_sessionmaker[AsyncSession]
    executor: Executor

    @classmethod
    def create(cls, sessions: async_sessionmaker[AsyncSession], config: TeamConfig, settings: Settings) -> Runbooks:
        executor = Executor(sessions, list(config.runbook_programs), secrets=settings.secrets,
                            lease=timedelta(seconds=settings.runbook_lease_seconds))
        return cls(config, sessions, executor)

    def catalog(self) -> Catalog:
        return catalog_for(self.config)

    def get(self, name: str) -> Runbook:
        return find(self.catalog(), name)

    def may_approve(self, incident: Incident | None, user: str) -> bool:
        return may_approve(incident, self.config.runbook_approvers, user)

    async def report(self, run_id: int) -> RunbookReport:
        async with self.sessions() as session:
            run = await service.get_run(session, run_id)
            if run is None:
                raise LookupError(f"no runbook run #{run_id}")
            incident = await session.get(Incident, run.incident_id) if run.incident_id else None
            return build(run, incident.public_id if incident else None, utcnow())
