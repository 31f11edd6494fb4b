"""What a route's path names: the runtime, and the incident `{public_id}` refers to, or a 404.

Routes that only read take `PathIncident`; routes that change it inside their own transaction call `incident_in`
with that transaction's session (and `lock=True` to serialise changes), so the 404 is written once either way.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents import service
from app.incidents.models import Incident
from app.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def incident_in(session: AsyncSession, public_id: str, *, lock: bool = False) -> Incident:
    """The incident, or a 404; with `lock`, locked as for every change to it."""
    found = await service.get_incident(session, public_id)
    if found is None:
        raise HTTPException(404, f"No incident {public_id}")
    return await service.get_incident_by_id(session, found.id, lock=True) if lock else found


async def _path_incident(public_id: str, runtime: RuntimeDep) -> Incident:
    async with runtime.sessions() as session:
        return await incident_in(session, public_id)


PathIncident = Annotated[Incident, Depends(_path_incident)]
