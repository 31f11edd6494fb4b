"""REST API for incidents: list, show, declare."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from app.incidents import service
from app.incidents.flows import Declaration, InvalidDeclaration, declare
from app.incidents.models import Incident, Source
from app.metrics import incidents_declared
from app.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["incidents"])


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class TimelineEventOut(BaseModel):
    occurred_at: datetime
    kind: str
    actor: str | None
    text: str
    source: str
    permalink: str | None


class RoleOut(BaseModel):
    role: str
    user_id: str
    status: str
    since: datetime


class IncidentOut(BaseModel):
    id: str
    title: str
    severity: str
    status: str
    affected_service: str | None
    channel_id: str | None
    channel_name: str | None
    declared_by: str
    declared_at: datetime

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        return cls(
            id=incident.public_id, title=incident.title, severity=incident.severity, status=incident.status,
            affected_service=incident.affected_service, channel_id=incident.channel_id,
            channel_name=incident.channel_name, declared_by=incident.declared_by,
            declared_at=incident.declared_at,
        )


class IncidentDetailOut(IncidentOut):
    description: str | None
    roles: list[RoleOut]
    timeline: list[TimelineEventOut]


class DeclareIn(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    severity: str | None = None
    description: str | None = None
    affected_service: str | None = None
    declared_by: str | None = Field(default=None, min_length=1, max_length=60, description="Who declares")


@router.get("/incidents")
async def list_incidents(runtime: RuntimeDep, open_only: bool = False) -> list[IncidentOut]:
    async with runtime.sessions() as session:
        return [IncidentOut.of(i) for i in await service.list_incidents(session, open_only=open_only)]


@router.get("/incidents/{public_id}")
async def show_incident(public_id: str, runtime: RuntimeDep) -> IncidentDetailOut:
    async with runtime.sessions() as session:
        incident = await service.get_incident(session, public_id)
    if incident is None:
        raise HTTPException(404, f"No incident {public_id}")
    return IncidentDetailOut(
        **IncidentOut.of(incident).model_dump(),
        description=incident.description,
        roles=[RoleOut.model_validate(r, from_attributes=True) for r in incident.roles if r.ended_at is None],
        timeline=[TimelineEventOut.model_validate(e, from_attributes=True) for e in incident.timeline],
    )


@router.post("/incidents", status_code=201)
async def declare_incident(body: DeclareIn, runtime: RuntimeDep) -> IncidentOut:
    declaration = Declaration(
        title=body.title, severity=body.severity, description=body.description,
        affected_service=body.affected_service, source=Source.API,
        declared_by=f"api:{body.declared_by}" if body.declared_by else "api",
    )
    try:
        declared = await declare(runtime.sessions, runtime.config, declaration,
                                 war_room=runtime.war_room_lease)
    except InvalidDeclaration as exc:
        raise HTTPException(400, str(exc)) from exc
    incidents_declared.labels(declared.incident.severity, Source.API).inc()
    runtime.kick_escalations()
    if runtime.war_room is not None:
        # The war room opens in the background; a dead process leaves it to the resume sweep.
        runtime.background(runtime.war_room.set_up(declared.incident.id))
    return IncidentOut.of(declared.incident)
