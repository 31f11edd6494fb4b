"""REST API for postmortems: read any version, generate one, upload an edit, move the review status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from agents import runtime as agent_runtime
from app.api import errors
from app.api.incidents import RuntimeDep, incident_or_404
from app.incidents import service
from app.postmortems import service as postmortems
from app.postmortems.flows import keep_edited
from app.postmortems.models import PostmortemVersion

router = APIRouter(prefix="/api/v1", tags=["postmortems"])


class VersionOut(BaseModel):
    version: int
    status: str
    origin: str
    mode: str
    author: str | None
    created_at: datetime
    markdown: str
    data: dict[str, Any] | None

    @classmethod
    def of(cls, row: PostmortemVersion) -> VersionOut:
        return cls.model_validate(row, from_attributes=True)


Author = Field(None, max_length=60, description="who asks, recorded as api:<author>")


class GenerateIn(BaseModel):
    force: bool = Field(False, description="add a generated version even after a person's edit (which is kept)")
    author: str | None = Author


class EditIn(BaseModel):
    markdown: str = Field(min_length=1)
    author: str | None = Author


class StatusIn(BaseModel):
    status: str = Field(description="draft, in-review or final")
    author: str | None = Author


VersionNumber = Annotated[int | None, Query(ge=1, le=errors.MAX_INT,
                                            description="A given version (default: the latest)")]


def _actor(author: str | None) -> str:
    return f"api:{author}" if author else "api"


@router.get("/incidents/{public_id}/postmortem", responses=errors.of(404))
async def read_postmortem(public_id: str, runtime: RuntimeDep, version: VersionNumber = None) -> VersionOut:
    incident = await incident_or_404(runtime, public_id)
    async with runtime.sessions() as session:
        row = await (postmortems.version(session, incident.id, version) if version
                     else postmortems.latest(session, incident.id))
    if row is None:
        missing = f"version {version}" if version else "postmortem yet"
        raise HTTPException(404, f"{incident.public_id} has no {missing}: POST to this URL to write one")
    return VersionOut.of(row)


@router.get("/incidents/{public_id}/postmortem/versions", responses=errors.of(404))
async def list_versions(public_id: str, runtime: RuntimeDep) -> list[VersionOut]:
    incident = await incident_or_404(runtime, public_id)
    async with runtime.sessions() as session:
        return [VersionOut.of(row) for row in await postmortems.versions(session, incident.id)]


@router.post("/incidents/{public_id}/postmortem", status_code=201, responses=errors.change(404, 409))
async def generate(public_id: str, body: GenerateIn, runtime: RuntimeDep) -> VersionOut:
    incident = await incident_or_404(runtime, public_id)
    request = await agent_runtime.load(runtime, f"Generate postmortem for {incident.public_id}",
                                       incident_id=incident.public_id)
    try:
        await agent_runtime.run(runtime, "postmortem-writer", request, force=body.force,
                                author=_actor(body.author))
    except agent_runtime.AgentError as error:
        raise HTTPException(409, str(error)) from error
    return await read_postmortem(public_id, runtime)


@router.put("/incidents/{public_id}/postmortem", status_code=201, responses=errors.change(404))
async def upload_edit(public_id: str, body: EditIn, runtime: RuntimeDep) -> VersionOut:
    incident = await incident_or_404(runtime, public_id)
    row = await keep_edited(runtime.sessions, incident.id, body.markdown,
                            _actor(body.author))
    return VersionOut.of(row)


@router.patch("/incidents/{public_id}/postmortem", responses=errors.change(404))
async def set_status(public_id: str, body: StatusIn, runtime: RuntimeDep) -> VersionOut:
    wanted = postmortems.review_status(body.status)
    if wanted is None:
        raise HTTPException(422, f"unknown status {body.status!r}: use draft, in-review or final")
    async with runtime.sessions() as session, session.begin():
        incident = await service.get_incident(session, public_id)
        if incident is None:
            raise HTTPException(404, f"No incident {public_id}")
        row = await postmortems.set_status(session, incident, wanted, _actor(body.author))
        if row is None:
            raise HTTPException(404, f"{incident.public_id} has no postmortem yet: POST to this URL to write one")
        return VersionOut.of(row)
