"""REST API for the agents: run one by name, and read an incident's latest root-cause analysis."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from agents import runtime as agent_runtime
from app.agent_runs import service as agent_runs
from app.api import errors
from app.api.incidents import RuntimeDep
from app.incidents import service

router = APIRouter(prefix="/api/v1", tags=["agents"])


class RunIn(BaseModel):
    prompt: str = Field(min_length=1, max_length=4000)
    incident: str | None = Field(None, description="INC-YYYY-MMDD-NNN the request is about")


class AnswerOut(BaseModel):
    agent: str
    mode: str
    note: str | None
    incident: str | None
    markdown: str
    result: dict[str, Any] | None


class StoredRunOut(BaseModel):
    agent: str
    mode: str
    created_at: datetime
    summary: str
    markdown: str
    result: dict[str, Any]


@router.post("/agents/{name}/run", responses=errors.change(404, 409))
async def run_agent(name: str, body: RunIn, runtime: RuntimeDep) -> AnswerOut:
    if name not in agent_runtime.AGENTS:
        raise HTTPException(404, f"No agent {name!r}; agents: {', '.join(agent_runtime.AGENTS)}")
    try:
        request = await agent_runtime.load(runtime, body.prompt, incident_id=body.incident)
        answer = await agent_runtime.run(runtime, name, request)
    except agent_runtime.IncidentNotFound as error:
        raise HTTPException(404, str(error)) from error
    except agent_runtime.AgentError as error:  # e.g. a postmortem regenerated over a person's edit
        raise HTTPException(409, str(error)) from error
    return AnswerOut(agent=answer.agent, mode=answer.mode, note=answer.note, incident=answer.incident_id,
                     markdown=answer.text_markdown, result=answer.data)


@router.get("/incidents/{public_id}/rca", responses=errors.of(404))
async def latest_rca(public_id: str, runtime: RuntimeDep) -> StoredRunOut:
    async with runtime.sessions() as session:
        incident = await service.get_incident(session, public_id)
        if incident is None:
            raise HTTPException(404, f"No incident {public_id}")
        run = await agent_runs.latest(session, incident, "rca-agent")
    if run is None:
        raise HTTPException(404, f"No root-cause analysis for {incident.public_id} yet: ask `@incidentbot why ...?` "
                                 f"in its war room, or POST /api/v1/agents/rca-agent/run")
    return StoredRunOut(agent=run.agent, mode=run.mode, created_at=run.created_at, summary=run.summary,
                        markdown=run.markdown, result=run.result)
