"""Mentions of the bot: the question goes to the agent it is for, the answer into the thread."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncSay

from agents import router
from agents import runtime as agent_runtime
from agents.base import AgentRequest
from agents.incident_commander import named_incident_id
from app.db.errors import DATABASE_UNAVAILABLE
from app.inbox.worker import will_retry
from app.runtime import Runtime
from app.slack import render

log = logging.getLogger(__name__)

# "<@U0BOT> status?" or "<@U0BOT|incidentbot> status?": the mentions that address the bot.
LEADING_MENTIONS = re.compile(r"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>[\s,:]*)+")
DATABASE_DOWN_ANSWER = ":warning: I can't reach the incident database right now. Try again in a minute."


def question_of(text: str) -> str:
    """The question asked: the mention text without the leading `<@BOT>`."""
    return LEADING_MENTIONS.sub("", text or "").strip()


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("app_mention")
    async def mentioned(body: dict[str, Any], event: dict[str, Any], say: AsyncSay) -> None:
        thread_ts = event.get("thread_ts") or event["ts"]
        question = question_of(event.get("text", ""))
        name = router.agent_for(question)
        try:
            # Slack's retries of this event were kept out by the inbox, which runs it once.
            request = await agent_runtime.load(runtime, question, incident_id=named_incident_id(question),
                                               channel_id=event["channel"])
        except DATABASE_UNAVAILABLE:
            if will_retry():
                raise  # answered when the database is back
            log.exception("answering a mention failed: database unavailable")
            await say(text=DATABASE_DOWN_ANSWER, thread_ts=thread_ts)
            return
        except agent_runtime.AgentError as error:
            await say(text=f":warning: {error}", thread_ts=thread_ts)
            return
        if name in LONG_RUNNING:
            # An investigation reads several tools and may ask a model: say so now, answer when done.
            doing = "Investigating" if name == "rca-agent" else "Writing the postmortem of"
            await say(text=f":mag: {doing}{_about(request)}… ({name})", thread_ts=thread_ts)
            runtime.background(_answer(runtime, name, request, say, thread_ts, body.get("event_id")))
            return
        await _answer(runtime, name, request, say, thread_ts, body.get("event_id"), event.get("user"))


LONG_RUNNING = {"rca-agent", "postmortem-writer"}


def _about(request: AgentRequest) -> str:
    return f" {request.incident.public_id}" if request.incident is not None else ""


async def _answer(runtime: Runtime, name: str, request: AgentRequest, say: AsyncSay, thread_ts: str,
                  event_id: str | None, author: str | None = None) -> None:
    try:
        answer = await agent_runtime.run(runtime, name, request, author=author,
                                         request_key=f"slack:event:{event_id}" if event_id else None)
    except DATABASE_UNAVAILABLE:
        log.exception("%s could not store its result: database unavailable", name)
        await say(text=DATABASE_DOWN_ANSWER, thread_ts=thread_ts)
        return
    except agent_runtime.AgentError as refused:
        await say(text=f":warning: {refused}", thread_ts=thread_ts)
        return
    except Exception:
        # In the background nobody else would tell the person who asked: say it failed, keep the trace in logs.
        log.exception("%s failed", name)
        await say(text=f":warning: The {name} failed; the error is in the service's log. Try again, or run "
                       f"`incidentbot agent run {name}`.", thread_ts=thread_ts)
        return
    await say(text=render.text_for(answer), blocks=render.blocks_for(answer), thread_ts=thread_ts)
