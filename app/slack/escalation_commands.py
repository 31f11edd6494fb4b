"""`/incident escalate|deescalate|notified` and the Acknowledge button on a paged person's DM."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from agents import runtime as agent_runtime
from app.db.base import utcnow
from app.escalations import flows, service
from app.escalations.models import EscalationNotification
from app.incidents import service as incidents
from app.incidents.lifecycle import Actor, IncidentChangeRefused
from app.incidents.models import Source
from app.runtime import Runtime
from app.slack.blocks import escape, mention
from app.slack.changes import find_incident, sync_war_room
from app.slack.command_parser import OnIncident
from app.slack.incident_commands import NOT_A_WAR_ROOM
from app.slack.render import blocks_for, text_for
from app.slack.render.escalations import ACKNOWLEDGE, acknowledged_blocks
from app.slack.replies import Reply, tells_when_database_down


async def run(runtime: Runtime, reply: Reply, command: dict[str, Any], request: OnIncident) -> None:
    incident = await find_incident(runtime, command.get("channel_id"), request.ref)
    if incident is None:
        await reply(f"No incident {request.ref}. `/incident list` shows the open ones." if request.ref
                    else NOT_A_WAR_ROOM.format(name=request.name))
        return
    if request.name == "notified":
        loaded = await agent_runtime.load(runtime, "Who has been notified?", incident_id=incident.public_id)
        answer = await agent_runtime.run(runtime, agent_runtime.ESCALATION, loaded)
        await reply(text_for(answer), blocks=blocks_for(answer))
        return
    actor = Actor(command["user_id"], Source.SLACK)
    flow = flows.escalate if request.name == "escalate" else flows.deescalate
    try:
        done = await flow(runtime.sessions, runtime.config, incident.id, actor=actor, severity=request.severity,
                          reason=request.text)
    except (IncidentChangeRefused, service.EscalationRefused) as refused:
        await reply(str(refused))
        return
    await reply(done.summary())
    runtime.kick_escalations()  # the DMs and pages go out now
    verb = "escalated" if request.name == "escalate" else "de-escalated"
    change = f" to *{done.incident.severity}*" if done.previous_severity else ""
    await sync_war_room(runtime, done.incident, f":rotating_light: {incident.public_id} {verb}{change} by "
                                                f"{mention(actor.user_id)}: {escape(request.text)}")


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.action(ACKNOWLEDGE)
    @tells_when_database_down
    async def acknowledge(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                          respond: AsyncRespond) -> None:
        await ack()
        reply = Reply(None, respond)
        user = body["user"]["id"]
        value = str(action.get("value") or "")
        if not value.isdigit():
            await reply("That page no longer exists.")
            return
        async with runtime.sessions() as session, session.begin():
            notification = await session.get(EscalationNotification, int(value))
            if notification is None or notification.slack_user != user:
                await reply("This page was sent to someone else; only they can acknowledge it.")
                return
            # The incident's lock orders acknowledgements with every other change to it.
            incident = await incidents.get_incident_by_id(session, notification.incident_id, lock=True)
            await session.refresh(notification)
            first = await service.acknowledge(session, incident, notification, via="slack", now=utcnow())
            at = notification.acknowledged_at or utcnow()
        await respond(replace_original=True, text=f"Acknowledged {incident.public_id}",
                      blocks=acknowledged_blocks(incident.public_id, at, by_you=True))
        if first:
            runtime.kick_escalations()
