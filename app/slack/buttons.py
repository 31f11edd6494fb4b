"""Buttons on the incident card: Take IC, Post update, Resolve, and the next-actions checklist."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from app.db.base import utcnow
from app.incidents import lifecycle
from app.incidents.lifecycle import Actor, IncidentChangeRefused
from app.incidents.models import Source
from app.runtime import Runtime
from app.slack import forms, incident_commands
from app.slack.changes import apply_change, find_incident, sync_war_room
from app.slack.replies import Reply, tells_when_database_down


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.action("take_ic")
    @tells_when_database_down
    async def take_ic(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        reply = Reply(None, respond)
        incident = await find_incident(runtime, None, action["value"])
        if incident is None:
            await reply(f"{action['value']} no longer exists.")
            return
        actor = Actor(body["user"]["id"], Source.SLACK)
        await incident_commands.assign_role(runtime, reply, incident, "Incident Commander", actor.user_id, actor)

    @app.action("post_update")
    async def post_update(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                          client: AsyncWebClient) -> None:
        await ack()
        await forms.open_update_form(client, body["trigger_id"], action["value"])

    @app.action("resolve_incident")
    async def resolve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await forms.open_resolve_form(client, body["trigger_id"], action["value"])

    @app.action(re.compile(r"^next_action_(done|undo)$"))
    @tells_when_database_down
    async def next_action(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                          respond: AsyncRespond) -> None:
        await ack()
        done = action["action_id"] == "next_action_done"
        await _toggle(runtime, body, action, Reply(None, respond), done=done)


async def _toggle(runtime: Runtime, body: dict[str, Any], action: dict[str, Any], reply: Reply, *,
                  done: bool) -> None:
    """Tick a checklist item (or untick it); the card is redrawn from the database."""
    public_id, _, action_id = str(action["value"]).rpartition(":")
    incident = await find_incident(runtime, None, public_id)
    if incident is None or not action_id.isdigit():
        await reply("That checklist item no longer exists.")
        return
    actor = Actor(body["user"]["id"], Source.SLACK)
    try:
        updated, _ = await apply_change(runtime, incident.id, lambda s, i: lifecycle.set_action_done(
            s, i, int(action_id), done, actor, utcnow()))
    except IncidentChangeRefused as exc:
        await reply(str(exc))
        return
    await sync_war_room(runtime, updated)
