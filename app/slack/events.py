"""Slack events: each delivered event is handled once, whatever Slack's retries."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncSay
from sqlalchemy.exc import IntegrityError

from agents import router
from app.db.errors import DATABASE_UNAVAILABLE
from app.incidents.models import ProcessedRequest
from app.runtime import Runtime

log = logging.getLogger(__name__)

# "<@U0BOT> status?" or "<@U0BOT|incidentbot> status?": the mentions that address the bot.
LEADING_MENTIONS = re.compile(r"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>[\s,:]*)+")
DATABASE_DOWN_ANSWER = ":warning: I can't reach the incident database right now. Try again in a minute."


async def first_delivery(runtime: Runtime, event_id: str | None) -> bool:
    """Record the event id; False when it was already recorded (a retry or a second replica)."""
    if not event_id:
        return True
    try:
        # The primary key refuses a second row for the same event, across replicas too.
        async with runtime.sessions() as session, session.begin():
            session.add(ProcessedRequest(key=f"slack:event:{event_id}"))
    except IntegrityError:
        return False
    return True


def question_of(text: str) -> str:
    """The question asked: the mention text without the leading `<@BOT>`."""
    return LEADING_MENTIONS.sub("", text or "").strip()


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("app_mention")
    async def mentioned(body: dict[str, Any], event: dict[str, Any], say: AsyncSay) -> None:
        thread_ts = event.get("thread_ts") or event["ts"]
        try:
            if not await first_delivery(runtime, body.get("event_id")):
                return
            answer = await router.respond(runtime, event["channel"], question_of(event.get("text", "")))
        except DATABASE_UNAVAILABLE:
            log.exception("answering a mention failed: database unavailable")
            await say(text=DATABASE_DOWN_ANSWER, thread_ts=thread_ts)
            return
        await say(text=answer.fallback_text, blocks=answer.blocks, thread_ts=thread_ts)
