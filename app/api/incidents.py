"""REST API for incidents: list, show, declare, and change them (the /incident commands, without Slack)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api import errors
from app.incidents import service
from app.incidents.flows import Declaration, InvalidDeclaration, declare_and_open
from app.incidents.lifecycle import Actor, IncidentChangeRefused
from app.incidents.models import Incident, Source, Status
from app.incidents.render import plain
from app.runtime import Runtime
from app.slack import changes

router = APIRouter(prefix="/api/v1", tags=["incidents"])


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def incident_or_404(runtime: Runtime, public_id: str) -> Incident:
    async with runtime.sessions() as session:
        incident = await service.get_incident(session, public_id)
    if incident is None:
        raise HTTPException(404, f"No incident {public_id}")
    return incident


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

    @classmethod
    def of(cls, incident: Incident) -> IncidentDetailOut:
        return cls(
            **IncidentOut.of(incident).model_dump(),
            description=incident.description,
            roles=[RoleOut.model_validate(r, from_attributes=True) for r in incident.roles if r.ended_at is None],
            timeline=[TimelineEventOut.model_validate(e, from_attributes=True) for e in incident.timeline],
        )


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


@router.get("/incidents/{public_id}", responses=errors.of(404))
async def show_incident(public_id: str, runtime: RuntimeDep) -> IncidentDetailOut:
    return IncidentDetailOut.of(await incident_or_404(runtime, public_id))


@router.post("/incidents", status_code=201, responses=errors.change())
async def declare_incident(body: DeclareIn, runtime: RuntimeDep) -> IncidentOut:
    declaration = Declaration(
        title=body.title, severity=body.severity, description=body.description,
        affected_service=body.affected_service, source=Source.API,
        declared_by=f"api:{body.declared_by}" if body.declared_by else "api",
    )
    try:
        opened = await declare_and_open(runtime, declaration, wait_for_war_room=False)
    except InvalidDeclaration as exc:
        raise HTTPException(400, str(exc)) from exc
    declared = opened.declared
    return IncidentOut.of(declared.incident)


# --- changing an incident: the same changes, and war-room posts, as the /incident commands -------------

OPEN_STATUS = {"investigating": Status.INVESTIGATING, "identified": Status.IDENTIFIED, "monitoring": Status.MONITORING}


class IncidentChangeIn(BaseModel):
    """What to change. The fields are the /incident commands; given together they apply together or not at all."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["investigating", "identified", "monitoring", "resolved", "closed"] | None = Field(
        None, description="investigating on a resolved or closed incident reopens it; an open status goes with "
                          "an `update`")
    update: str | None = Field(None, min_length=1, max_length=4000, description="A status update to post")
    severity: str | None = Field(None, description="SEV1..SEV5 (as configured)")
    reason: str | None = Field(None, max_length=1000, description="Why the severity changed")
    summary: str | None = Field(None, max_length=4000, description="With status resolved: what fixed it")
    roles: dict[str, str] = Field(default_factory=dict, description='Role to user, e.g. {"comms": "U0BOB"}')
    by: str | None = Field(None, min_length=1, max_length=60, description="Who makes the change")


class IncidentChangedOut(IncidentDetailOut):
    warnings: list[str] = Field(description="What Slack refused while updating the war room; the change is kept")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)
    by: str | None = Field(None, min_length=1, max_length=60, description="Who adds it")


def _actor(by: str | None) -> Actor:
    return Actor(f"api:{by}" if by else "api", Source.API)


async def _planned(runtime: Runtime, incident: Incident, body: IncidentChangeIn) -> list[changes.Change[Any]]:
    """The changes the body asks for, in the order a person would make them; 400 for what cannot apply."""
    actor, planned = _actor(body.by), []
    if body.reason and not body.severity:
        raise HTTPException(400, "`reason` goes with `severity`")
    if body.summary and body.status != "resolved":
        raise HTTPException(400, 'a `summary` goes with "status": "resolved"')
    reopening = body.status == "investigating" and not incident.is_open
    if reopening:
        planned.append(changes.reopen(runtime, actor))
    for role_name, user in body.roles.items():
        role = changes.role_named(runtime, role_name)
        if problem := await changes.check_assignee(runtime, user):
            raise HTTPException(400, plain(problem))
        planned.append(changes.assign(role, user, actor))
    if body.severity:
        planned.append(changes.severity(runtime, changes.severity_named(runtime, body.severity), body.reason, actor))
    status = OPEN_STATUS.get(body.status or "") if not reopening else None
    if body.update:
        planned.append(changes.update(runtime, body.update, status, actor))
    elif status is not None:
        raise HTTPException(400, f'a status change to {body.status} goes with an update: add "update": "what changed"')
    if body.status == "resolved":
        planned.append(changes.resolve(runtime, body.summary, actor))
    elif body.status == "closed":
        planned.append(changes.close(actor))
    if not planned:
        raise HTTPException(400, "nothing to change: give status, update, severity, summary or roles")
    return planned


@router.patch("/incidents/{public_id}", responses=errors.change(404, 409))
async def change_incident(public_id: str, body: IncidentChangeIn, runtime: RuntimeDep) -> IncidentChangedOut:
    """Update, change severity or roles, resolve, reopen or close; posted in the war room when Slack is on."""
    incident = await incident_or_404(runtime, public_id)
    try:
        changed = await changes.make_changes(runtime, incident.id, await _planned(runtime, incident, body))
    except changes.UnknownName as exc:
        raise HTTPException(400, plain(str(exc))) from exc
    except IncidentChangeRefused as exc:
        raise HTTPException(409, str(exc)) from exc
    return IncidentChangedOut(**IncidentDetailOut.of(changed.incident).model_dump(), warnings=changed.problems)


@router.post("/incidents/{public_id}/timeline", status_code=201, responses=errors.change(404))
async def add_note(public_id: str, body: NoteIn, runtime: RuntimeDep) -> TimelineEventOut:
    """Add a note to the incident's timeline."""
    incident = await incident_or_404(runtime, public_id)
    try:
        changed = await changes.make_change(runtime, incident.id, changes.note(body.text, _actor(body.by)))
    except IncidentChangeRefused as exc:
        raise HTTPException(400, str(exc)) from exc
    return TimelineEventOut.model_validate(changed.results[0], from_attributes=True)
