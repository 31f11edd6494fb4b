"""`/incident action …` and `/incident actions`: an incident's follow-up work, from Slack.

`action <text> [@owner] [P0-P3] [due …]` adds an item (the owner checked with Slack first),
`action done|reopen <n>` marks one, `actions` lists them. Each change is recorded before Slack is
told; the war room sees what changed and a new owner gets a DM.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession

from app.action_items import service
from app.action_items.models import ActionItem, ActionStatus
from app.db.base import utcnow
from app.incidents.lifecycle import IncidentChangeRefused
from app.incidents.models import Incident
from app.runtime import Runtime
from app.slack.blocks import escape, mention, section
from app.slack.changes import apply_change, check_assignee, find_incident
from app.slack.command_parser import OnIncident
from app.slack.incident_commands import LOOKUP_BEFORE_ACK, NOT_A_WAR_ROOM
from app.slack.replies import Reply

log = logging.getLogger(__name__)
SECTION_CHARS = 2900  # Slack refuses a section over 3000 characters
MAX_SECTIONS = 45  # and a message over 50 blocks


async def run(runtime: Runtime, reply: Reply, command: dict[str, Any], request: OnIncident) -> None:
    incident = await find_incident(runtime, command.get("channel_id"), request.ref)
    if incident is None:
        await reply(f"No incident {request.ref}. `/incident list` shows the open ones." if request.ref
                    else NOT_A_WAR_ROOM.format(name=request.name))
        return
    if request.name == "actions":
        await _list(runtime, reply, incident)
    elif request.number is not None:
        await _mark(runtime, reply, incident, request, command["user_id"])
    else:
        await _add(runtime, reply, incident, request.text, command["user_id"])


# --- adding ----------------------------------------------------------------------------------------

async def _add(runtime: Runtime, reply: Reply, incident: Incident, text: str, user_id: str) -> None:
    draft = service.parse_action(text, utcnow().date())
    if isinstance(draft, str):
        await reply(draft)
        return
    if draft.owner and (problem := await _owner_problem(runtime, reply, draft.owner)):
        await reply(problem)
        return

    async def change(session: AsyncSession, locked: Incident) -> tuple[ActionItem, int]:
        item = await service.add(session, locked, text=draft.text, owner=draft.owner, priority=draft.priority,
                                 due_on=draft.due_on, source="slack", created_by=user_id)
        assert item is not None  # only items with a dedup key can be refused
        return item, await service.number_of(session, item)

    _, (item, number) = await apply_change(runtime, incident.id, change)
    await reply(f"Action item #{number} added to {incident.public_id}: {escape(item.text)}")
    await _post(runtime, incident, f":memo: Action item #{number} added by {mention(user_id)}: "
                                   f"{escape(item.text)} ({_details(item)})")
    if item.owner and item.owner != user_id:
        await _brief_owner(runtime, reply, incident, item, number, user_id)


async def _owner_problem(runtime: Runtime, reply: Reply, user_id: str) -> str | None:
    """Why this user can't own an item (not in the workspace, a bot), or None; acks first if Slack is slow."""
    check = asyncio.ensure_future(check_assignee(runtime, user_id))
    try:
        return await asyncio.wait_for(asyncio.shield(check), timeout=LOOKUP_BEFORE_ACK)
    except TimeoutError:
        await reply(f"Checking {mention(user_id)} with Slack…")
        return await check


async def _brief_owner(runtime: Runtime, reply: Reply, incident: Incident, item: ActionItem, number: int,
                       by: str) -> None:
    assert runtime.war_room is not None and item.owner is not None
    room = f" War room: <#{incident.channel_id}>." if incident.channel_id else ""
    text = (f"{mention(by)} gave you action item #{number} on *{incident.public_id}* ({escape(incident.title)}): "
            f"{escape(item.text)} ({_details(item)}).{room}\nWhen it's done: "
            f"`/incident action {incident.public_id} done {number}`")
    try:
        await runtime.slack.chat_postMessage(channel=item.owner, text=text)
    except SlackApiError as exc:
        await reply(f"Couldn't tell {mention(item.owner)} by DM ({exc.response.get('error')}).")


# --- marking ---------------------------------------------------------------------------------------

async def _mark(runtime: Runtime, reply: Reply, incident: Incident, request: OnIncident, user_id: str) -> None:
    number, target = request.number, ActionStatus(request.status)
    assert number is not None

    async def change(session: AsyncSession, locked: Incident) -> ActionItem:
        item = await service.get(session, locked.id, number)
        if item is None:
            raise IncidentChangeRefused(f"{incident.public_id} has no action item #{number}; "
                                        f"`/incident actions {incident.public_id}` lists them.")
        if item.status == target:
            raise IncidentChangeRefused(f"Action item #{number} is already {target}.")
        mark = service.mark_done if target == ActionStatus.DONE else service.reopen
        await mark(session, item, user_id, utcnow())
        return item

    try:
        _, item = await apply_change(runtime, incident.id, change)
    except IncidentChangeRefused as exc:
        await reply(str(exc))
        return
    what = "done" if target == ActionStatus.DONE else "reopened"
    await reply(f"Action item #{number} {what}: {escape(item.text)}")
    icon = ":white_check_mark:" if target == ActionStatus.DONE else ":arrows_counterclockwise:"
    await _post(runtime, incident, f"{icon} Action item #{number} {what} by {mention(user_id)}: {escape(item.text)}")


# --- listing ---------------------------------------------------------------------------------------

async def _list(runtime: Runtime, reply: Reply, incident: Incident) -> None:
    async with runtime.sessions() as session:
        items = await service.for_incident(session, incident.id)
    if not items:
        await reply(f"{incident.public_id} has no action items yet. Add one: {service.USAGE}")
        return
    today = utcnow().date()
    numbered = service.numbers(items)
    done = sum(item.status == ActionStatus.DONE for item in items)
    heading = f"*Action items for {incident.public_id}* ({len(items) - done} open, {done} done)"
    lines = [heading, *(_row(item, numbered[item.id], today) for item in items)]
    blocks = [section(chunk) for chunk in _chunks(lines)][:MAX_SECTIONS]
    await reply(f"Action items for {incident.public_id}", blocks=blocks)


def _chunks(lines: list[str]) -> list[str]:
    """Lines joined into texts that each fit one section."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= SECTION_CHARS:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks


def _row(item: ActionItem, number: int, today: date) -> str:
    """`#3` *P1* Fix the leak · <@U123> · due 2024-12-21 · open (with overdue flagged)."""
    text = f"~{escape(item.text)}~" if item.status == ActionStatus.DONE else escape(item.text)
    due = f"due {item.due_on.isoformat()}" if item.due_on else "no due date"
    state = ":warning: *overdue*" if service.is_overdue(item, today) else str(item.status)
    return f"`#{number}` *{item.priority}* {text} · {mention(item.owner)} · {due} · {state}"


# --- shared ----------------------------------------------------------------------------------------

def _details(item: ActionItem) -> str:
    """"P1, owner <@U123>, due 2024-12-21", for Slack."""
    parts = [str(item.priority), f"owner {mention(item.owner)}" if item.owner else "no owner"]
    if item.due_on:
        parts.append(f"due {item.due_on.isoformat()}")
    return ", ".join(parts)


async def _post(runtime: Runtime, incident: Incident, text: str) -> None:
    """Tell the war room; a refusal is logged (the change is recorded and the person was answered)."""
    if runtime.war_room is None or not incident.channel_id:
        return
    try:
        await runtime.slack.chat_postMessage(channel=incident.channel_id, text=text)
    except SlackApiError as exc:
        log.warning("posting to the %s war room failed: %s", incident.public_id, exc.response.get("error"))
