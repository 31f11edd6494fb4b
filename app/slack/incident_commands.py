"""`/incident status|update|severity|resolve|reopen|close|assign|roles|note|timeline`.

Each acks within Slack's 3 s with a short private answer once the change is recorded, then
updates the war room (card, topic, announcement) and posts what changed there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession

from agents.incident_commander import (
    handoff,
    handoff_fallback,
    render_handoff_blocks,
    render_status_blocks,
    status_report,
)
from app.db.base import utcnow
from app.incidents import lifecycle
from app.incidents.lifecycle import UPDATE_STATUSES, Actor, IncidentChangeRefused
from app.incidents.models import Incident, Source, Status
from app.runtime import Runtime
from app.slack.blocks import escape, mention
from app.slack.changes import apply_change, find_incident, sync_war_room
from app.slack.command_parser import OnIncident
from app.slack.incident_views import open_incidents_blocks, roles_text, timeline_blocks
from app.slack.replies import Reply

log = logging.getLogger(__name__)
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
    await reply(f"{incident.public_id}: {incident.status}", blocks=render_status_blocks(report))


async def _roles(runtime: Runtime, reply: Reply, incident: Incident, _: OnIncident) -> None:
    await reply(roles_text(incident, runtime.config))


async def _timeline(runtime: Runtime, reply: Reply, incident: Incident, _: OnIncident) -> None:
    await reply(f"Timeline of {incident.public_id}", blocks=timeline_blocks(incident))


READS = {"status": _status, "roles": _roles, "timeline": _timeline}


# --- changing ----------------------------------------------------------------------------------------

async def _change(runtime: Runtime, reply: Reply, incident: Incident,
                  change: Callable[[AsyncSession, Incident], Awaitable[Any]], done: str,
                  post: Callable[[Incident, Any], str | None] | None = None) -> tuple[Incident, Any] | None:
    """Record a change, answer, then update the war room; a refused change is explained, nothing moves."""
    try:
        updated, result = await apply_change(runtime, incident.id, change)
    except IncidentChangeRefused as exc:
        await reply(str(exc))
        return None
    await reply(done)
    problems = await sync_war_room(runtime, updated, post(updated, result) if post else None)
    if problems:
        await reply(f"Recorded, but Slack refused part of the war-room update: {', '.join(problems)}")
    return updated, result


async def _update(runtime: Runtime, reply: Reply, incident: Incident,
                  request: OnIncident, actor: Actor) -> None:
    status = UPDATE_STATUSES[request.status] if request.status else None
    await post_update(runtime, reply, incident, request.text, status, actor)


async def post_update(runtime: Runtime, reply: Reply, incident: Incident, text: str, status: Status | None,
                      actor: Actor) -> None:
    """A status update: on the timeline, posted in the war room, summarised in the announcement."""
    await _change(
        runtime, reply, incident,
        lambda s, i: lifecycle.post_update(s, i, text, status, actor, runtime.config, utcnow()),
        f"Update posted for {incident.public_id}.",
        lambda i, _: f":loudspeaker: *Status update* ({i.status}) from {mention(actor.user_id)}: {escape(text)}",
    )


async def _severity(runtime: Runtime, reply: Reply, incident: Incident,
                    request: OnIncident, actor: Actor) -> None:
    assert request.severity is not None
    await _change(
        runtime, reply, incident,
        lambda s, i: lifecycle.change_severity(s, i, request.severity or "", request.text or None, actor,
                                               runtime.config, utcnow()),
        f"{incident.public_id} is now {request.severity}.",
        lambda i, previous: f":rotating_light: Severity changed {previous} → *{i.severity}* by "
                            f"{mention(actor.user_id)}" + (f": {escape(request.text)}" if request.text else ""),
    )


async def _resolve(runtime: Runtime, reply: Reply, incident: Incident,
                   request: OnIncident, actor: Actor) -> None:
    await resolve_incident(runtime, reply, incident, request.text, actor)


async def resolve_incident(runtime: Runtime, reply: Reply, incident: Incident,
                           summary: str | None, actor: Actor) -> None:
    """Resolve, then post the incident commander's handoff in the war room."""
    changed = await _change(
        runtime, reply, incident,
        lambda s, i: lifecycle.resolve(s, i, summary, actor, utcnow()),
        f"{incident.public_id} resolved. The handoff is in the war room.",
    )
    if changed is None or not changed[0].channel_id or runtime.war_room is None:
        return
    report = handoff(changed[0], utcnow())
    try:
        await runtime.war_room.client.chat_postMessage(
            channel=changed[0].channel_id, text=handoff_fallback(report), blocks=render_handoff_blocks(report))
    except SlackApiError as exc:
        log.warning("posting the handoff for %s failed: %s", incident.public_id, exc.response.get("error"))


async def _reopen(runtime: Runtime, reply: Reply, incident: Incident,
                  _: OnIncident, actor: Actor) -> None:
    await _change(
        runtime, reply, incident,
        lambda s, i: lifecycle.reopen(s, i, actor, runtime.config, utcnow()),
        f"{incident.public_id} reopened.",
        lambda i, _: f":warning: {i.public_id} reopened by {mention(actor.user_id)}.",
    )


async def _close(runtime: Runtime, reply: Reply, incident: Incident,
                 _: OnIncident, actor: Actor) -> None:
    await _change(
        runtime, reply, incident,
        lambda s, i: lifecycle.close(s, i, actor, utcnow()),
        f"{incident.public_id} closed.",
        lambda i, _: f":lock: {i.public_id} closed by {mention(actor.user_id)}.",
    )


async def _note(runtime: Runtime, reply: Reply, incident: Incident,
                request: OnIncident, actor: Actor) -> None:
    await _change(runtime, reply, incident,
                  lambda s, i: lifecycle.add_note(s, i, request.text, actor, utcnow()),
                  f"Noted on the {incident.public_id} timeline.")


async def _assign(runtime: Runtime, reply: Reply, incident: Incident,
                  request: OnIncident, actor: Actor) -> None:
    role = runtime.config.role(request.text)
    if role is None:
        names = ", ".join(r.name for r in runtime.config.roles)
        await reply(f"Unknown role `{escape(request.text)}`. Roles: {names}.")
        return
    assert request.user_id is not None
    check = asyncio.ensure_future(_check_user(runtime, request.user_id))
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
    changed = await _change(
        runtime, reply, incident,
        lambda s, i: lifecycle.assign_role(s, i, role, user_id, actor, utcnow()),
        f"{mention(user_id)} is now {role.name} for {incident.public_id}.",
        lambda i, a: (f":handshake: {role.name} handed off from {mention(a.previous)} to {mention(user_id)}."
                      if a.previous else f":bust_in_silhouette: {mention(user_id)} is now {role.name}."),
    )
    if changed is None or runtime.war_room is None:
        return
    brief = (f"You are *{role.name}* for *{incident.public_id}*: {escape(incident.title)} "
             f"({changed[0].severity}, {changed[0].status}). War room: <#{changed[0].channel_id}>\n\n{role.brief}")
    try:
        await runtime.war_room.client.chat_postMessage(channel=user_id, text=brief)
    except SlackApiError as exc:
        await reply(f"Couldn't send {mention(user_id)} the role brief by DM ({exc.response.get('error')}).")


async def _check_user(runtime: Runtime, user_id: str) -> str | None:
    """Why this user can't take a role, or None."""
    assert runtime.war_room is not None
    try:
        user = (await runtime.war_room.client.users_info(user=user_id))["user"]
    except SlackApiError as exc:
        if exc.response.get("error") == "user_not_found":
            return f"I can't find {mention(user_id)} in this workspace."
        return f"I couldn't look up {mention(user_id)} in Slack ({exc.response.get('error')}); nothing changed."
    if user.get("is_bot") or user.get("deleted"):
        return f"{mention(user_id)} can't hold an incident role (a bot or a deactivated account)."
    return None


CHANGES: dict[str, Callable[..., Awaitable[None]]] = {
    "update": _update, "severity": _severity, "resolve": _resolve, "reopen": _reopen, "close": _close,
    "note": _note, "assign": _assign,
}
