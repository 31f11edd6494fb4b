"""Declaring from Slack (command or form): record, tell the declarer, open the war room, report."""

from __future__ import annotations

import logging

import aiohttp

from app.db.errors import DATABASE_UNAVAILABLE
from app.incidents.flows import Declaration, Declared, InvalidDeclaration, declare
from app.incidents.models import Incident, Source
from app.metrics import incidents_declared
from app.runtime import Runtime
from app.slack.blocks import escape
from app.slack.replies import Reply
from app.warroom.flows import StepReport
from app.warroom.models import StepState

log = logging.getLogger(__name__)

SETUP_INTERRUPTED = ("War-room set-up for {id} was interrupted ({reason}). The incident is recorded; "
                     "the set-up resumes automatically.")


async def declare_and_open_war_room(runtime: Runtime, reply: Reply, declaration: Declaration,
                                    request_key: str | None) -> None:
    """Record the incident, tell the declarer its id, then open the war room and report how it went."""
    try:
        # Durable before the user hears of it: the answer only goes out once this has committed.
        declared = await declare(runtime.sessions, runtime.config, declaration, request_key=request_key,
                                 war_room=runtime.war_room_lease)
    except InvalidDeclaration as exc:
        await reply(str(exc))
        return
    incident = declared.incident
    if declared.duplicate:
        await reply(f"{incident.public_id} was already declared by this request.")
        return
    incidents_declared.labels(incident.severity, Source.SLACK).inc()
    runtime.kick_escalations()  # the first levels are due at once
    await reply(_declared_text(declared))
    await reply(await _open_war_room(runtime, incident))


def _declared_text(declared: Declared) -> str:
    incident = declared.incident
    text = (f":rotating_light: *{incident.public_id}* declared ({incident.severity}): {escape(incident.title)}\n"
            "Opening the war room…")
    if declared.assessment is not None:
        why = "; ".join(declared.assessment.reasons)
        text += (f"\nSeverity {incident.severity} was assessed from the title: {escape(why)}. "
                 "Change it with `/incident severity SEVn`.")
    return text


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


def setup_summary(public_id: str, channel_id: str | None, reports: list[StepReport]) -> str:
    problems = [r.describe() for r in reports if r.state in (StepState.FAILED, StepState.SKIPPED)]
    room = f"<#{channel_id}>" if channel_id else "no war room"
    if not problems:
        return (f":white_check_mark: War room for {public_id} is ready: {room}. You are the Incident "
                "Commander until someone else takes the role.")
    lines = "\n".join(f"• {p}" for p in problems)
    return f":warning: {public_id} is recorded ({room}), but some war-room steps failed:\n{lines}"
