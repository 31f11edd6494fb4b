"""Keeping a generated postmortem: its suggested action items become real ones, then it is stored as a version."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.postmortem import render
from agents.postmortem.document import Postmortem
from agents.postmortem.extract import dedup_key
from app.action_items import service as action_items
from app.action_items.models import ActionStatus, Priority
from app.db.base import utcnow
from app.incidents import service as incidents
from app.postmortems import service
from app.postmortems.models import Origin, PostmortemVersion


async def keep_generated(sessions: async_sessionmaker[AsyncSession], incident_id: int, pm: Postmortem,
                         author: str | None) -> tuple[PostmortemVersion, Postmortem]:
    """One transaction: the suggestions become numbered action items (once, however often this runs), and the
    document, now citing their numbers, becomes the next version."""
    async with sessions() as session, session.begin():
        incident = await incidents.get_incident_by_id(session, incident_id, lock=True)
        for row in pm.action_items:
            if row.number is not None:
                continue
            item = await action_items.add(session, incident, text=row.text, owner=row.owner,
                                          priority=Priority(row.priority or Priority.P2), due_on=row.due_on,
                                          source="postmortem",
                                          created_by=author, dedup_key=dedup_key(incident.id, row.text))
            if item is not None:
                row.number = await action_items.number_of(session, item)
                if row.status == ActionStatus.DONE:  # e.g. "undo the trigger", done during the incident
                    await action_items.mark_done(session, item, author, utcnow())
        row = await service.add(session, incident, origin=Origin.GENERATED, markdown=render.markdown(pm),
                                mode=pm.mode, author=author, data=pm.model_dump(mode="json"))
        pm = pm.model_copy(update={"status": row.status})
        return row, pm


async def keep_edited(sessions: async_sessionmaker[AsyncSession], incident_id: int, markdown: str,
                      author: str | None) -> PostmortemVersion:
    async with sessions() as session, session.begin():
        incident = await incidents.get_incident_by_id(session, incident_id, lock=True)
        return await service.add(session, incident, origin=Origin.EDITED, markdown=markdown, mode="human",
                                 author=author)
