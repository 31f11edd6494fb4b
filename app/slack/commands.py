"""`/incident` slash command: parse, record, ack within Slack's 3 s, then open the war room."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from app.db.errors import DATABASE_UNAVAILABLE
from app.incidents.flows import Declaration, InvalidDeclaration, declare
from app.incidents.models import Incident, Source
from app.metrics import incidents_declared
from app.runtime import Runtime
from app.slack.blocks import escape
from app.slack.command_parser import USAGE, Declare, Help, Invalid, parse
from app.warroom.flows import StepReport
from app.warroom.models import StepState

log = logging.getLogger(__name__)

DATABASE_DOWN = (":warning: Couldn't record the incident: the incident database is unreachable. "
                 "Nothing was declared; please try again in a minute.")
SETUP_INTERRUPTED = ("War-room set-up for {id} was interrupted ({reason}). The incident is recorded; "
                     "the set-up resumes automatically.")


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.command("/incident")
    async def incident_command(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        match parse(command.get("text", "")):
            case Help():
                await _answer(ack, USAGE)
            case Invalid(message):
                await _answer(ack, message)
            case Declare() as request:
                await _declare(runtime, ack, respond, command, request)


async def _declare(
    runtime: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], request: Declare
) -> None:
    declaration = Declaration(
        title=request.title, severity=request.severity, declared_by=command["user_id"], source=Source.SLACK
    )
    try:
        # Durable before the user hears of it: the ack only goes out once this has committed.
        declared = await declare(
            runtime.sessions, runtime.config, declaration,
            request_key=_request_key(command), war_room=runtime.war_room_lease,
        )
    except InvalidDeclaration as exc:
        await _answer(ack, str(exc))
        return
    except DATABASE_UNAVAILABLE:
        log.exception("declaring an incident failed: database unavailable")
        await _answer(ack, DATABASE_DOWN)
        return
    incident = declared.incident
    if declared.duplicate:
        await _answer(ack, f"{incident.public_id} was already declared by this request.")
        return
    incidents_declared.labels(incident.severity, Source.SLACK).inc()
    await _answer(ack, f":rotating_light: *{incident.public_id}* declared ({incident.severity}): "
                       f"{escape(incident.title)}\nOpening the war room…")
    await respond(text=await _open_war_room(runtime, incident), response_type="ephemeral",
                  replace_original=False)


async def _open_war_room(runtime: Runtime, incident: Incident) -> str:
    assert runtime.war_room is not None
    try:
        reports = await runtime.war_room.set_up(incident.id)
    except (TimeoutError, aiohttp.ClientError, *DATABASE_UNAVAILABLE) as exc:
        log.exception("war-room set-up for %s interrupted", incident.public_id)
        return SETUP_INTERRUPTED.format(id=incident.public_id, reason=type(exc).__name__)
    if reports is None:
        return f"Another incidentbot process is opening the war room for {incident.public_id}."
    async with runtime.sessions() as session:
        channel_id = (await session.get_one(Incident, incident.id)).channel_id
    return setup_summary(incident.public_id, channel_id, reports)


async def _answer(ack: AsyncAck, text: str) -> None:
    """Acknowledge the command with a reply only the user who typed it sees."""
    await ack(response_type="ephemeral", text=text)


def setup_summary(public_id: str, channel_id: str | None, reports: list[StepReport]) -> str:
    problems = [r.describe() for r in reports if r.state in (StepState.FAILED, StepState.SKIPPED)]
    room = f"<#{channel_id}>" if channel_id else "no war room"
    if not problems:
        return (f":white_check_mark: War room for {public_id} is ready: {room}. You are the Incident "
                "Commander until someone else takes the role.")
    lines = "\n".join(f"• {p}" for p in problems)
    return f":warning: {public_id} is recorded ({room}), but some war-room steps failed:\n{lines}"


def _request_key(command: dict[str, Any]) -> str | None:
    """Slack re-sends the same trigger_id when it retries a command; it names the request."""
    trigger = command.get("trigger_id")
    return f"slack:command:{trigger}" if trigger else None
