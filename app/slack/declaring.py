"""Declaring from Slack (command or form): record, tell the declarer, open the war room, report."""

from __future__ import annotations

import logging

import aiohttp

from app.db.errors import DATABASE_UNAVAILABLE
from app.incidents.flows import Declaration, Declared, InvalidDeclaration, declare_and_open
from app.incidents.models import Incident
from app.runtime import Runtime
from app.slack.blocks import escape
from app.slack.replies import Reply
from app.slack.warroom import setup_summary
from app.warroom.flows import StepReport

log = logging.getLogger(__name__)

SETUP_INTERRUPTED = ("War-room set-up for {id} was interrupted ({reason}). The incident is recorded; "
                     "the set-up resumes automatically.")


async def declare_and_open_war_room(runtime: Runtime, reply: Reply, declaration: Declaration,
                                    request_key: str | None) -> None:
    """Record the incident, tell the declarer its id, then open the war room and report how it went."""
    told: list[Incident] = []

    async def tell(declared: Declared) -> None:
        # Durable before the user hears of it: this only runs once the incident has committed.
        told.append(declared.incident)
        await reply(_declared_text(declared))

    try:
        opened = await declare_and_open(runtime, declaration, request_key=request_key, recorded=tell)
    except InvalidDeclaration as exc:
        await reply(str(exc))
        return
    except (TimeoutError, aiohttp.ClientError, *DATABASE_UNAVAILABLE) as exc:
        if not told:
            raise  # nothing recorded: the command's own handler says the database is down
        log.exception("war-room set-up for %s interrupted", told[0].public_id)
        await reply(SETUP_INTERRUPTED.format(id=told[0].public_id, reason=type(exc).__name__))
        return
    incident = opened.declared.incident
    if opened.declared.duplicate:
        await reply(f"{incident.public_id} was already declared by this request.")
        return
    await reply(await _war_room_report(runtime, incident, opened.reports))


def _declared_text(declared: Declared) -> str:
    incident = declared.incident
    text = (f":rotating_light: *{incident.public_id}* declared ({incident.severity}): {escape(incident.title)}\n"
            "Opening the war room…")
    if declared.assessment is not None:
        why = "; ".join(declared.assessment.reasons)
        text += (f"\nSeverity {incident.severity} was assessed from the title: {escape(why)}. "
                 "Change it with `/incident severity SEVn`.")
    return text


async def _war_room_report(runtime: Runtime, incident: Incident, reports: list[StepReport] | None) -> str:
    if reports is None:
        return f"Another incidentbot process is opening the war room for {incident.public_id}."
    async with runtime.sessions() as session:
        channel_id = (await session.get_one(Incident, incident.id)).channel_id
    return setup_summary(incident.public_id, channel_id, reports)
