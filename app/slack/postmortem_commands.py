"""`/incident postmortem [regenerate] [--force]` and `/incident postmortem status draft|in-review|final`.

Writing takes seconds, so the command is acked at once; the postmortem then goes to the war room as a Markdown
file, with its summary as the file's comment, and is kept as a new version.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError

from agents import runtime as agent_runtime
from agents.base import AgentAnswer
from app.db.errors import DATABASE_UNAVAILABLE
from app.incidents.models import Incident
from app.postmortems import service as postmortems
from app.runtime import Runtime
from app.slack import render
from app.slack.changes import find_incident
from app.slack.command_parser import OnIncident
from app.slack.files import post_markdown
from app.slack.incident_commands import NOT_A_WAR_ROOM
from app.slack.replies import DATABASE_DOWN, Reply

log = logging.getLogger(__name__)
STATUS_USAGE = "Say which: `/incident postmortem status draft|in-review|final`."


async def run(runtime: Runtime, reply: Reply, command: dict[str, Any], request: OnIncident) -> None:
    incident = await find_incident(runtime, command.get("channel_id"), request.ref)
    if incident is None:
        await reply(f"No incident {request.ref}. `/incident list` shows the open ones." if request.ref
                    else NOT_A_WAR_ROOM.format(name="postmortem"))
        return
    words = request.text.lower().split()
    if words[:1] == ["status"]:
        await _set_status(runtime, reply, incident, " ".join(words[1:]), command["user_id"])
        return
    unknown = [w for w in words if w not in ("regenerate", "--force", "force")]
    if unknown:
        await reply(f"I don't know `{' '.join(unknown)}` here. `/incident postmortem` writes it, "
                    f"`/incident postmortem regenerate --force` writes it again after an edit, "
                    f"`/incident postmortem status in-review` moves its review.")
        return
    force = "--force" in words or "force" in words
    draft = " (a draft: the incident is still open)" if incident.resolved_at is None else ""
    await reply(f":memo: Writing the postmortem for {incident.public_id}{draft}; it will be posted here as a file.")
    runtime.background(_write(runtime, reply, incident, command["user_id"], force))


async def _set_status(runtime: Runtime, reply: Reply, incident: Incident, word: str, user_id: str) -> None:
    wanted = postmortems.review_status(word) if word else None
    if wanted is None:
        await reply(STATUS_USAGE)
        return
    async with runtime.sessions() as session, session.begin():
        row = await postmortems.set_status(session, incident, wanted, user_id)
    if row is None:
        await reply(f"{incident.public_id} has no postmortem yet: `/incident postmortem` writes one.")
        return
    await reply(f"Postmortem version {row.version} of {incident.public_id} is now *{row.status}*.")


async def _write(runtime: Runtime, reply: Reply, incident: Incident, user_id: str, force: bool) -> None:
    try:
        request = await agent_runtime.load(runtime, f"Generate postmortem for {incident.public_id}",
                                           incident_id=incident.public_id)
        answer = await agent_runtime.run(runtime, "postmortem-writer", request, force=force, author=user_id)
        await _post(runtime, reply, incident, answer)
    except agent_runtime.AgentError as refused:
        await reply(f"Not written: {refused}.")
    except DATABASE_UNAVAILABLE:
        log.exception("writing the postmortem of %s failed: database unavailable", incident.public_id)
        await reply(DATABASE_DOWN)
    except Exception:
        # In the background nobody else would tell the person who asked: say so, keep the trace in the log.
        log.exception("writing the postmortem of %s failed", incident.public_id)
        await reply(f":warning: The postmortem of {incident.public_id} could not be written; the error is in the "
                    f"service's log. `incidentbot postmortem generate {incident.public_id}` tries again.")


async def _post(runtime: Runtime, reply: Reply, incident: Incident, answer: AgentAnswer) -> None:
    """The file in the war room; if Slack refuses it, the writer is told where else to find the version kept."""
    assert runtime.slack is not None
    if incident.channel_id is None:
        await _not_posted(reply, incident, answer, "the incident has no war room")
        return
    try:
        await post_markdown(runtime.slack, incident.channel_id, f"postmortem-{incident.public_id}.md",
                            f"Postmortem: {incident.title}", answer.text_markdown, answer.fallback_text)
    except (SlackApiError, SlackRequestError) as failed:
        reason = failed.response.get("error") if isinstance(failed, SlackApiError) else str(failed)
        log.warning("posting the postmortem of %s failed: %s", incident.public_id, reason)
        await _not_posted(reply, incident, answer, str(reason))


async def _not_posted(reply: Reply, incident: Incident, answer: AgentAnswer, reason: str) -> None:
    await reply(f"The postmortem is written and kept, but I couldn't post it in the war room ({reason}). "
                f"`incidentbot postmortem export {incident.public_id}` prints it.", blocks=render.blocks_for(answer))
