"""`/incident status|update|severity|resolve|reopen|close|assign|roles|note|timeline`.

Each acks within Slack's 3 s with a short private answer once the change is recorded, then
updates the war room (card, topic, announcement) and posts what changed there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from agents.incident_commander import status_report
from app.db.base import utcnow
from app.incidents.lifecycle import UPDATE_STATUSES, Actor, IncidentChangeRefused
from app.incidents.models import Incident, Source, Status
from app.runtime import Runtime
from app.slack import changes
from app.slack.blocks import mention
from app.slack.changes import find_incident
from app.slack.command_parser import OnIncident
from app.slack.incident_views import open_incidents_blocks, roles_text, timeline_blocks
from app.slack.render import commander
from app.slack.replies import Reply

LOOKUP_BEFORE_ACK = 1.5  # seconds a user lookup may take before the command is acked without it

NOT_A_WAR_ROOM = ("This channel isn't an incident's war room. Run `/incident {name}` there, or name the "
                  "incident: `/incident {name} INC-2026-1125-001 …`.")


async def run(runtime: Runtime, reply: Reply, command: dict[str, Any], request: OnIncident) -> None:
    incident = await find_incident(runtime, command.get("channel_id"), request.ref)
    if incident is None:
        if request.ref:
            await reply(f"No incident {request.ref}. `/incident list` shows the open ones.")
        elif request.name == "status":
            await reply("Open incidents", blocks=await open_incidents_blocks(runtime))
        else:
            await reply(NOT_A_WAR_ROOM.format(name=request.name))
        return
    actor = Actor(command["user_id"], Source.SLACK)
    handler = READS.get(request.name)
    if handler is not None:
        await handler(runtime, reply, incident, request)
        return
    await CHANGES[request.name](runtime, reply, incident, request, actor)


# --- reading -----------------------------------------------------------------------------------------

async def _status(runtime: Runtime, reply: Reply, incident: Incident, _: OnIncident) -> None:
    report = status_report(incident, utcnow())
    await reply(f"{incident.public_id}: {incident.status}", blocks=commander.status_blocks(report))


async def _roles(runtime: Runtime, reply: Reply, incident: Incident, _: OnIncident) -> None:
    await reply(roles_text(incident, runtime.config))


async def _timeline(runtime: Runtime, reply: Reply, incident: Incident, _: OnIncident) -> None:
    await reply(f"Timeline of {incident.public_id}", blocks=timeline_blocks(incident))


READS = {"status": _status, "roles": _roles, "timeline": _timeline}


# --- changing ----------------------------------------------------------------------------------------

async def _change(runtime: Runtime, reply: Reply, incident: Incident, change: changes.Change[Any]) -> None:
    """Record a change, answer, then update the war room; a refused change is explained, nothing moves."""
    try:
        changed = await changes.make_change(runtime, incident.id, change, recorded=reply)
    except IncidentChangeRefused as exc:
        await reply(str(exc))
        return
    if changed.problems:
        await reply(f"Recorded, but Slack refused part of the war-room update: {', '.join(changed.problems)}")


async def _update(runtime: Runtime, reply: Reply, incident: Incident,
                  request: OnIncident, actor: Actor) -> None:
    status = UPDATE_STATUSES[request.status] if request.status else None
    await post_update(runtime, reply, incident, request.text, status, actor)


async def post_update(runtime: Runtime, reply: Reply, incident: Incident, text: str, status: Status | None,
                      actor: Actor) -> None:
    await _change(runtime, reply, incident, changes.update(runtime, text, status, actor))


async def _severity(runtime: Runtime, reply: Reply, incident: Incident,
                    request: OnIncident, actor: Actor) -> None:
    assert request.severity is not None
    await _change(runtime, reply, incident, changes.severity(runtime, request.severity, request.text or None, actor))


async def _resolve(runtime: Runtime, reply: Reply, incident: Incident,
                   request: OnIncident, actor: Actor) -> None:
    await resolve_incident(runtime, reply, incident, request.text, actor)


async def resolve_incident(runtime: Runtime, reply: Reply, incident: Incident,
                           summary: str | None, actor: Actor) -> None:
    await _change(runtime, reply, incident, changes.resolve(runtime, summary, actor))


async def _reopen(runtime: Runtime, reply: Reply, incident: Incident,
                  _: OnIncident, actor: Actor) -> None:
    await _change(runtime, reply, incident, changes.reopen(runtime, actor))


async def _close(runtime: Runtime, reply: Reply, incident: Incident,
                 _: OnIncident, actor: Actor) -> None:
    await _change(runtime, reply, incident, changes.close(actor))


async def _note(runtime: Runtime, reply: Reply, incident: Incident,
                request: OnIncident, actor: Actor) -> None:
    await _change(runtime, reply, incident, changes.note(request.text, actor))


async def _assign(runtime: Runtime, reply: Reply, incident: Incident,
                  request: OnIncident, actor: Actor) -> None:
    try:
        role = changes.role_named(runtime, request.text)
    except changes.UnknownName as exc:
        await reply(str(exc))
        return
    assert request.user_id is not None
    check = asyncio.ensure_future(changes.check_assignee(runtime, request.user_id))
    try:
        problem = await asyncio.wait_for(asyncio.shield(check), timeout=LOOKUP_BEFORE_ACK)
    except TimeoutError:
        # Slack is slow (or rate-limiting us): ack now to stay inside its 3 s, finish after.
        await reply(f"Checking {mention(request.user_id)} with Slack…")
        problem = await check
    if problem:
        await reply(problem)
        return
    await assign_role(runtime, reply, incident, role.name, request.user_id, actor)


async def assign_role(runtime: Runtime, reply: Reply, incident: Incident, role_name: str, user_id: str,
                      actor: Actor) -> None:
    """Assign (or hand off) a role, then brief the new holder by DM."""
    role = runtime.config.role(role_name)
    assert role is not None
    await _change(runtime, reply, incident, changes.assign(role, user_id, actor))


CHANGES: dict[str, Callable[..., Awaitable[None]]] = {
    "update": _update, "severity": _severity, "resolve": _resolve, "reopen": _reopen, "close": _close,
    "note": _note, "assign": _assign,
}
