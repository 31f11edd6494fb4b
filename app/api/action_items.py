"""REST API for an incident's action items: list, add, and mark done or open by number."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.action_items import service
from app.action_items.models import ActionItem, ActionStatus, Priority
from app.api import errors
from app.api.incidents import RuntimeDep
from app.db.base import utcnow
from app.incidents import service as incidents
from app.incidents.models import Incident, Source

router = APIRouter(prefix="/api/v1", tags=["action items"])
API_ACTOR = "api"


class ActionItemOut(BaseModel):
    number: int = Field(description="Stable per incident: the item's rank by creation, from 1")
    text: str
    owner: str | None
    priority: Priority
    due_on: date | None
    status: ActionStatus
    overdue: bool
    source: str
    created_by: str | None
    created_at: datetime
    done_by: str | None
    done_at: datetime | None

    @classmethod
    def of(cls, item: ActionItem, number: int, today: date) -> ActionItemOut:
        return cls(number=number, text=item.text, owner=item.owner, priority=item.priority, due_on=item.due_on,
                   status=item.status, overdue=service.is_overdue(item, today), source=item.source,
                   created_by=item.created_by, created_at=item.created_at, done_by=item.done_by,
                   done_at=item.done_at)


class ActionItemIn(BaseModel):
    text: str = Field(min_length=1, max_length=service.MAX_TEXT)
    owner: str | None = Field(None, min_length=1, max_length=64, description="A Slack user id or a team handle")
    priority: Priority = Priority.P2
    due_on: date | None = None


ItemNumber = Annotated[int, Path(ge=1, le=errors.MAX_INT, description="The item's number, from 1")]


class ActionItemPatch(BaseModel):
    status: Literal["done", "open"]


@router.get("/incidents/{public_id}/actions", responses=errors.of(404))
async def list_actions(public_id: str, runtime: RuntimeDep) -> list[ActionItemOut]:
    async with runtime.sessions() as session:
        incident = await _incident(session, public_id)
        items = await service.for_incident(session, incident.id)
    numbered, today = service.numbers(items), utcnow().date()
    return [ActionItemOut.of(item, numbered[item.id], today) for item in items]


@router.post("/incidents/{public_id}/actions", status_code=201, responses=errors.change(404))
async def add_action(public_id: str, body: ActionItemIn, runtime: RuntimeDep) -> ActionItemOut:
    today = utcnow().date()
    if not body.text.strip():
        raise HTTPException(422, "text: an action item needs some text")
    if body.due_on is not None and body.due_on < today:
        raise HTTPException(422, f"due_on: {body.due_on.isoformat()} is in the past")
    async with runtime.sessions.begin() as session:  # a 404 inside rolls back
        incident = await _incident(session, public_id, lock=True)
        item = await service.add(session, incident, text=body.text.strip(), owner=body.owner,
                                 priority=body.priority, due_on=body.due_on, source=Source.API,
                                 created_by=API_ACTOR)
        assert item is not None  # only items with a dedup key can be refused
        number = await service.number_of(session, item)
    return ActionItemOut.of(item, number, today)


@router.patch("/incidents/{public_id}/actions/{number}", responses=errors.change(404))
async def mark_action(public_id: str, number: ItemNumber, body: ActionItemPatch, runtime: RuntimeDep
                      ) -> ActionItemOut:
    """Setting the status an item already has changes nothing and answers 200."""
    async with runtime.sessions.begin() as session:  # a 404 inside rolls back
        incident = await _incident(session, public_id, lock=True)
        item = await service.get(session, incident.id, number)
        if item is None:
            raise HTTPException(404, f"{incident.public_id} has no action item #{number}")
        mark = service.mark_done if body.status == ActionStatus.DONE else service.reopen
        await mark(session, item, API_ACTOR, utcnow())
    return ActionItemOut.of(item, number, utcnow().date())


async def _incident(session: AsyncSession, public_id: str, *, lock: bool = False) -> Incident:
    """The incident, or a 404; with `lock`, locked as for every change, which keeps item numbers in order."""
    found = await incidents.get_incident(session, public_id)
    if found is None:
        raise HTTPException(404, f"No incident {public_id}")
    return await incidents.get_incident_by_id(session, found.id, lock=True) if lock else found
