"""Slack events: each delivered event is handled once, whatever Slack's retries."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncSay
from sqlalchemy.exc import IntegrityError

from app.incidents.models import ProcessedRequest
from app.runtime import Runtime
from app.slack.command_parser import USAGE


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


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("app_mention")
    async def mentioned(body: dict[str, Any], event: dict[str, Any], say: AsyncSay) -> None:
        if not await first_delivery(runtime, body.get("event_id")):
            return
        await say(text=f"Hi <@{event.get('user')}>. {USAGE}", thread_ts=event.get("thread_ts") or event["ts"])
