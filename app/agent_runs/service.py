"""Store and read agent results; the caller owns the transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agent_runs.models import AgentRun
from app.incidents import service as incidents
from app.incidents.models import Incident


async def record(session: AsyncSession, incident: Incident | None, *, agent: str, mode: str, request: str,
                 summary: str, markdown: str, result: dict[str, Any], request_key: str | None = None) -> AgentRun:
    """Keep the result and, for an incident, put it on the timeline, in the caller's transaction."""
    run = AgentRun(incident_id=incident.id if incident else None, agent=agent, mode=mode, request=request,
                   summary=summary, markdown=markdown, result=result, request_key=request_key)
    session.add(run)
    if incident is not None:
        await incidents.add_event(session, incident, kind="agent_result", text=f"{agent} ({mode}): {summary}",
                                  actor=None, dedup_key=f"agent:{request_key}" if request_key else None)
    await session.flush()
    return run


async def latest(session: AsyncSession, incident: Incident, agent: str) -> AgentRun | None:
    return await session.scalar(select(AgentRun).where(AgentRun.incident_id == incident.id, AgentRun.agent == agent)
                                .order_by(AgentRun.created_at.desc(), AgentRun.id.desc()).limit(1))
