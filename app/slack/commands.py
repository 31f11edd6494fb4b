"""`/incident` slash command: parse, record, ack within Slack's 3 s, then do the Slack work."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import IntegrityError

from app.db.errors import DATABASE_UNAVAILABLE
from app.inbox import claims
from app.inbox.service import NotStored
from app.inbox.worker import will_retry
from app.incidents.flows import Declaration
from app.incidents.models import Source
from app.runtime import Runtime
from app.slack import (
    action_commands,
    escalation_commands,
    forms,
    incident_commands,
    intake,
    postmortem_commands,
    runbook_commands,
)
from app.slack.command_parser import USAGE, Declare, Help, Invalid, ListOpen, OnIncident, OpenDeclareForm, parse
from app.slack.declaring import declare_and_open_war_room
from app.slack.incident_views import open_incidents_blocks
from app.slack.replies import DATABASE_DOWN, Reply

log = logging.getLogger(__name__)
ALREADY_HANDLED = "That request was already handled; nothing more was changed."
SAVED_FOR_LATER = (":hourglass: The incident database is unreachable right now. Your command is saved and "
                   "will be applied as soon as it is back; the result will be posted here.")


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.command("/incident")
    async def incident_command(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any],
                               client: AsyncWebClient, request: AsyncBoltRequest) -> None:
        saved = will_retry()  # run from the inbox, after a database outage: the ack went long ago
        if saved:
            await ack()
        reply = Reply(None if saved else ack, respond)
        key = claims.current_key() if saved else intake.command_key(request.raw_body, command)
        assert key is not None
        try:
            # The change commits with the key before the ack: the same signed request again changes nothing.
            with claims.handling(key):
                await _dispatch(runtime, reply, client, command, key)
        except DATABASE_UNAVAILABLE:
            if saved:
                raise  # still down: the inbox tries again later
            log.exception("/incident failed: database unavailable")
            await _save_for_later(runtime, reply, command, key)
        except IntegrityError as exc:
            if not claims.is_duplicate(exc):
                raise
            await reply(ALREADY_HANDLED)


async def _save_for_later(runtime: Runtime, reply: Reply, command: dict[str, Any], key: str) -> None:
    """With the database down, a change waits in the inbox (on disk) and is answered by response_url once
    made. A read can't wait, and when even the spool can't take it, the answer is that nothing changed."""
    if not changes_something(command.get("text", "")):
        await reply(DATABASE_DOWN)
        return
    try:
        await runtime.inbox.accept(key, json.dumps(command))
    except NotStored:
        log.exception("could not keep /incident for later either")
        await reply(DATABASE_DOWN)
        return
    await reply(SAVED_FOR_LATER)


def changes_something(text: str) -> bool:
    """Declarations and changes to an incident; not help, lists, reads, forms or runbooks (which ask for an
    approval in the moment)."""
    if runbook_commands.asks_for(text):
        return False
    match parse(text):
        case Declare():
            return True
        case OnIncident(name=name):
            return name not in incident_commands.READS
    return False


async def _dispatch(runtime: Runtime, reply: Reply, client: AsyncWebClient, command: dict[str, Any],
                    key: str) -> None:
    if runbook_commands.asks_for(command.get("text", "")):  # its own parser: values keep their newlines
        await runbook_commands.run(runtime, reply, client, command)
        return
    match parse(command.get("text", "")):
        case Help():
            await reply(USAGE)
        case Invalid(message):
            await reply(message)
        case ListOpen():
            await reply("Open incidents", blocks=await open_incidents_blocks(runtime))
        case OpenDeclareForm(severity):
            await forms.open_declare_form(runtime, client, command, severity)
            await reply.silently()
        case Declare() as request:
            declaration = Declaration(title=request.title, severity=request.severity,
                                      declared_by=command["user_id"], source=Source.SLACK)
            await declare_and_open_war_room(runtime, reply, declaration, key)
        case OnIncident(name="action" | "actions") as request:
            await action_commands.run(runtime, reply, command, request)
        case OnIncident(name="escalate" | "deescalate" | "notified") as request:
            await escalation_commands.run(runtime, reply, command, request)
        case OnIncident(name="postmortem") as request:
            await postmortem_commands.run(runtime, reply, command, request)
        case OnIncident() as request:
            await incident_commands.run(runtime, reply, command, request)

