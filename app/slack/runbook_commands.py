"""`/incident runbook list|show|run|guide|resume`, and the run message's Approve / Skip / Abort / Resume / Done /
Retry buttons.

A run posts one message in the channel it was started from and edits it after every step. A step that changes
something waits on buttons only the incident's Incident Commander or a `runbook_approvers` user may press;
anyone else is told so privately. The decision is recorded (who, when) before the step runs.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agents.runbook_executor.request import split_words
from app.incidents import service as incidents
from app.incidents.models import Incident, Role, Source
from app.runbooks import service
from app.runbooks.flows import Decision
from app.runbooks.models import RunMode, RunState
from app.runbooks.params import ParameterError, split_pairs
from app.runbooks.runner import UnknownRunbook
from app.runbooks.service import RunRefused
from app.runtime import Runtime
from app.slack.blocks import escape, mention, unescape
from app.slack.changes import find_incident
from app.slack.command_parser import INCIDENT_ID
from app.slack.render.runbooks import (
    ABORT,
    APPROVE,
    DONE,
    RESUME,
    RETRY,
    SKIP,
    list_blocks,
    outline_blocks,
    run_blocks,
    run_text,
)
from app.slack.replies import Reply, tells_when_database_down

log = logging.getLogger(__name__)

USAGE = """*Runbook commands*
• `/incident runbook list`: the runbooks · `/incident runbook show NAME`: its parameters and steps
• `/incident runbook run NAME key=value … [--dry-run]`: run it here; changing steps wait for approval
• `/incident runbook guide NAME key=value …`: post each step for a person to run and confirm
• `/incident runbook resume [RUN]`: go on with an interrupted run from its next step"""
DECISIONS = {APPROVE: Decision.APPROVE, SKIP: Decision.SKIP, ABORT: Decision.ABORT, DONE: Decision.DONE,
             RETRY: Decision.RETRY}


def asks_for(text: str) -> bool:
    words = text.split(maxsplit=1)
    return bool(words) and words[0].lower() in ("runbook", "runbooks")


async def run(runtime: Runtime, reply: Reply, client: AsyncWebClient, command: dict[str, Any]) -> None:
    words = split_words(unescape(command.get("text", "")))[1:]
    ref = words.pop(0).upper() if words and INCIDENT_ID.match(words[0]) else None
    incident = await find_incident(runtime, command.get("channel_id"), ref)
    if ref and incident is None:
        await reply(f"No incident {ref}. `/incident list` shows the open ones.")
        return
    sub, rest = (words[0].lower(), words[1:]) if words else ("help", [])
    if sub == "list":
        await reply("Runbooks", blocks=list_blocks(runtime.runbooks.catalog()))
    elif sub == "show" and len(rest) == 1:
        try:
            book = runtime.runbooks.get(rest[0])
        except UnknownRunbook as exc:
            await reply(escape(str(exc)))
            return
        await reply(f"Runbook {book.name}", blocks=outline_blocks(book))
    elif sub in ("run", "guide") and rest:
        await _start(runtime, reply, client, command, incident, sub, rest)
    elif sub == "resume":
        await _resume(runtime, reply, client, command, incident, rest)
    else:
        await reply(USAGE)


async def _start(runtime: Runtime, reply: Reply, client: AsyncWebClient, command: dict[str, Any],
                 incident: Incident | None, sub: str, rest: list[str]) -> None:
    dry_run = "--dry-run" in rest
    name, pairs = rest[0], [w for w in rest[1:] if w != "--dry-run"]
    mode = RunMode.GUIDE if sub == "guide" else RunMode.DRY_RUN if dry_run else RunMode.EXECUTE
    executor = runtime.runbooks.executor
    try:
        book = runtime.runbooks.get(name)
        await executor.sweep()
        started = await executor.start(book, split_pairs(pairs), mode=mode, started_by=command["user_id"],
                                       source=Source.SLACK, incident_id=incident.id if incident else None)
    except (UnknownRunbook, ParameterError, RunRefused) as exc:
        await reply(escape(str(exc)))
        return
    what = {RunMode.DRY_RUN: "Dry run", RunMode.GUIDE: "Guided run"}.get(mode, "Run")
    # Slack wants the ack within 3 s: answer first, then post the run's message and run it.
    await reply(f"Starting {what.lower()} #{started.id} of {book.name} on {escape(started.target)}; its message "
                "in the channel follows it.")
    runtime.background(_post_and_advance(runtime, reply, client, started.id, command["channel_id"], fresh=True))


async def _resume(runtime: Runtime, reply: Reply, client: AsyncWebClient, command: dict[str, Any],
                  incident: Incident | None, rest: list[str]) -> None:
    executor = runtime.runbooks.executor
    stale = await executor.sweep()
    runtime.background(_edit_all(runtime, client, stale))
    async with runtime.sessions() as session:
        if rest and rest[0].lstrip("#").isdigit():
            target = await service.get_run(session, int(rest[0].lstrip("#")))
        else:
            waiting = await service.runs(session, incident_id=incident.id if incident else None,
                                         states=(RunState.INTERRUPTED,), limit=1)
            target = waiting[0] if waiting else None
    if target is None or target.state != RunState.INTERRUPTED:
        await reply("No interrupted runbook run to resume here." if target is None else
                    f"Run #{target.id} is {target.state}, not interrupted: nothing to resume.")
        return
    run_incident = await _incident_of(runtime, target.incident_id)
    if not runtime.runbooks.may_approve(run_incident, command["user_id"]):
        await reply(_not_allowed(run_incident))
        return
    if not await executor.resume(target.id):
        await reply(f"Run #{target.id} was resumed by someone else.")
        return
    await reply(f"Resuming run #{target.id} of {target.runbook} from its next step.")
    # Started from the CLI, it has no message here yet: its approvals need one.
    channel = None if target.message_ts else command["channel_id"]
    runtime.background(_post_and_advance(runtime, reply, client, target.id, channel, fresh=False))


async def _post_and_advance(runtime: Runtime, reply: Reply, client: AsyncWebClient, run_id: int,
                            channel: str | None, *, fresh: bool) -> None:
    """After the ack: post the run's message (when `channel` is given), then run it. A run whose message cannot
    be posted does not go on, and the person who started it is told privately."""
    if channel is not None:
        try:
            async with runtime.runbooks.executor.holding(run_id):
                await _post(runtime, client, run_id, channel)
        except Exception as exc:  # whatever it was, the run must not sit unstarted with nobody told
            if not isinstance(exc, SlackApiError | aiohttp.ClientError | TimeoutError):
                log.exception("could not post runbook run %s's message", run_id)
            error = (exc.response.get("error", "error") if isinstance(exc, SlackApiError) else
                     "Slack unreachable" if isinstance(exc, aiohttp.ClientError | TimeoutError) else type(exc).__name__)
            await _not_posted(runtime, reply, run_id, error, fresh=fresh)
            return
    await _advance(runtime, client, run_id)


async def _not_posted(runtime: Runtime, reply: Reply, run_id: int, error: str, *, fresh: bool) -> None:
    executor = runtime.runbooks.executor
    if fresh:
        await executor.cancel(run_id, f"Its message could not be posted in the channel ({error})")
        told = (f"Couldn't post run #{run_id} here ({error}): invite @incidentbot to this channel, or run it in "
                "the war room. Nothing was run.")
    else:
        await executor.release(run_id)
        told = (f"Couldn't post run #{run_id} here ({error}), so it was not resumed and is still interrupted: "
                "invite @incidentbot to this channel and resume it again.")
    await reply(told)


async def _edit_all(runtime: Runtime, client: AsyncWebClient, run_ids: list[int]) -> None:
    for run_id in run_ids:
        await _edit(runtime, client, run_id)


async def _post(runtime: Runtime, client: AsyncWebClient, run_id: int, channel: str) -> None:
    report = await runtime.runbooks.report(run_id)
    posted = await client.chat_postMessage(channel=channel, text=run_text(report), blocks=run_blocks(report),
                                           unfurl_links=False)
    async with runtime.sessions() as session, session.begin():
        await service.set_message(session, run_id, str(posted["channel"]), str(posted["ts"]))


async def sweep_on_start(runtime: Runtime) -> None:
    """Runs a stopped process left behind: marked interrupted, their messages given Resume and Abort."""
    client = runtime.slack
    if client is None:
        await runtime.runbooks.executor.sweep()
        return
    await runtime.runbooks.executor.sweep(notify=lambda run_id: _edit(runtime, client, run_id))


async def _advance(runtime: Runtime, client: AsyncWebClient, run_id: int) -> None:
    await runtime.runbooks.executor.advance(run_id, notify=lambda rid: _edit(runtime, client, rid))


async def _edit(runtime: Runtime, client: AsyncWebClient, run_id: int) -> None:
    """Bring the run's message up to date; a Slack failure is logged, never stops the run."""
    report = await runtime.runbooks.report(run_id)
    async with runtime.sessions() as session:
        row = await service.get_run(session, run_id)
    if row is None or not row.channel_id or not row.message_ts:
        return
    try:
        await client.chat_update(channel=row.channel_id, ts=row.message_ts, text=run_text(report),
                                 blocks=run_blocks(report))
    except SlackApiError as exc:
        log.warning("could not update runbook run %s's message: %s", run_id, exc.response.get("error"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("could not update runbook run %s's message: Slack unreachable (%s)", run_id,
                    type(exc).__name__)


async def _incident_of(runtime: Runtime, incident_id: int | None) -> Incident | None:
    if incident_id is None:
        return None
    async with runtime.sessions() as session:
        return await incidents.get_incident_by_id(session, incident_id)


def _not_allowed(incident: Incident | None) -> str:
    ic = incident.active_holder(Role.INCIDENT_COMMANDER) if incident else None
    who = f"the Incident Commander ({mention(ic)})" if ic else "the Incident Commander"
    return f"Only {who} or a runbook approver (`runbook_approvers` in the team config) can do that."


def register(app: AsyncApp, runtime: Runtime) -> None:
    for action_id in (APPROVE, SKIP, ABORT, DONE, RETRY, RESUME):
        app.action(action_id)(_button(runtime))


def _button(runtime: Runtime):  # type: ignore[no-untyped-def]
    @tells_when_database_down
    async def pressed(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond,
                      client: AsyncWebClient) -> None:
        await ack()
        reply = Reply(None, respond)
        run_id, _, position = str(action.get("value", "")).partition(":")
        if not (run_id.isdigit() and position.isdigit()):
            await reply("That runbook step no longer exists.")
            return
        async with runtime.sessions() as session:
            row = await service.get_run(session, int(run_id))
        if row is None:
            await reply("That runbook run no longer exists.")
            return
        user = body["user"]["id"]
        incident = await _incident_of(runtime, row.incident_id)
        # Guided steps too: confirming one moves the run on, and is recorded as that person's word.
        if not runtime.runbooks.may_approve(incident, user):
            await reply(_not_allowed(incident))
            return
        executor = runtime.runbooks.executor
        if action["action_id"] == RESUME:
            ok = await executor.resume(row.id)
        elif action["action_id"] == ABORT and row.state == RunState.INTERRUPTED:
            ok = await executor.abort_interrupted(row.id, user)
        else:
            ok = await executor.decide(row.id, int(position), DECISIONS[action["action_id"]], user)
        if not ok:
            await reply("That step was already answered (or the run moved on).")
            return
        runtime.background(_advance(runtime, client, row.id))

    return pressed
