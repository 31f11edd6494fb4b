"""Applying a change to an incident from Slack, then bringing its war room up to date.

The change commits first; Slack is told afterwards (card, topic, announcement, a war-room post),
so a Slack failure never loses what was recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents import service
from app.incidents.models import Incident
from app.runtime import Runtime
from app.warroom.flows import refresh

log = logging.getLogger(__name__)
T = TypeVar("T")


async def find_incident(runtime: Runtime, channel_id: str | None, ref: str | None) -> Incident | None:
    """The incident a command is about: the one named, else the war room's (by channel id)."""
    async with runtime.sessions() as session:
        if ref:
            return await service.get_incident(session, ref)
        return await service.incident_for_channel(session, channel_id) if channel_id else None


async def apply_change(runtime: Runtime, incident_id: int,
                       change: Callable[[AsyncSession, Incident], Awaitable[T]]) -> tuple[Incident, T]:
    """Run one change in its own transaction; IncidentChangeRefused rolls it back untouched.

    The incident row is locked first, so two people changing it at once (two Take IC clicks, two
    replicas) apply one after the other, each seeing the other's result.
    """
    async with runtime.sessions() as session, session.begin():
        incident = await service.get_incident_by_id(session, incident_id, lock=True)
        result = await change(session, incident)
    return incident, result


async def sync_war_room(runtime: Runtime, incident: Incident, post: str | None = None,
                        blocks: list[dict[str, Any]] | None = None) -> list[str]:
    """Post what changed in the war room and refresh its card, topic and announcement."""
    if runtime.war_room is None:
        return []
    problems = []
    if (post or blocks) and incident.channel_id:
        try:
            await runtime.war_room.client.chat_postMessage(channel=incident.channel_id, text=post or "",
                                                           blocks=blocks, unfurl_links=False)
        except SlackApiError as exc:
            problems.append(f"war-room post: {exc.response.get('error')}")
    return problems + await refresh(runtime.war_room, incident.id)
