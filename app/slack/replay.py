"""Running Slack requests from the inbox through the replay app, and telling people about ones that failed."""

from __future__ import annotations

import contextvars
import json
import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from app.inbox import claims
from app.inbox.models import InboxItem
from app.inbox.worker import Handler, backoff
from app.runtime import Runtime
from app.slack import failures, forms, intake

log = logging.getLogger(__name__)
GAVE_UP = ":warning: I couldn't handle that ({reason}); nothing was changed. It has been logged."


@dataclass
class _Outcome:
    error: BaseException | None = None


_outcome: contextvars.ContextVar[_Outcome | None] = contextvars.ContextVar("replay_outcome", default=None)


class NotAuthorized(Exception):
    """Bolt refused the replayed request before any listener (auth.test failed): try again later."""


async def record_error(error: Exception) -> None:
    """The replay app's error handler: hand the listener's exception to the worker that awaits it."""
    outcome = _outcome.get()
    if outcome is not None:
        outcome.error = error


def handler(replayer: AsyncApp, runtime: Runtime) -> Handler:
    async def handle(item: InboxItem) -> None:
        body = json.loads(item.body)
        durable = intake.durable(body, lambda _: True) or intake.Durable(item.key, item.key)
        if item.attempts or durable.window:  # a retry, or a click whose double was a different item
            async with runtime.sessions() as session:
                if await claims.handled_before(session, durable.claim, durable.window):
                    raise claims.AlreadyHandled(durable.claim)
        outcome = _Outcome()
        token = _outcome.set(outcome)
        try:
            with claims.handling(durable.claim, window=durable.window):
                # Socket Mode requests are not signed; this one was checked when it arrived.
                response = await replayer.async_dispatch(AsyncBoltRequest(body=body, mode="socket_mode"))
        finally:
            _outcome.reset(token)
        if outcome.error is not None:
            raise outcome.error
        if response.status in (401, 403):
            raise NotAuthorized(f"Bolt answered {response.status}: {response.body}")

    def retry_after(exc: BaseException, attempts: int) -> float | None:
        if isinstance(exc, NotAuthorized) or failures.is_transient(exc):
            return failures.retry_after(exc) or backoff(attempts)
        return None

    async def gave_up(item: InboxItem, exc: BaseException) -> None:
        assert runtime.slack is not None
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        await tell(json.loads(item.body), None, runtime.slack, GAVE_UP.format(reason=reason))

    return Handler(handle, retry_after, gave_up)


async def tell(body: dict[str, Any], respond: AsyncRespond | None, client: AsyncWebClient, text: str) -> None:
    """Privately, to whoever sent the request: by response_url when it has one, else an ephemeral message in
    its channel (events and forms have no response_url), else a DM; the log says it when nobody can be told."""
    if body.get("response_url"):
        if respond is not None:
            await respond(response_type="ephemeral", replace_original=False, text=text)
        else:
            await AsyncWebhookClient(body["response_url"]).send(response_type="ephemeral", replace_original=False,
                                                                text=text)
        return
    user, channel = _who_and_where(body)
    if user is None:
        log.warning("nobody to tell: %s", text)
        return
    try:
        await client.chat_postEphemeral(channel=channel or user, user=user, text=text)
    except SlackApiError:
        await client.chat_postMessage(channel=user, text=text)


def _who_and_where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    event = body.get("event") or {}
    user = event.get("user") or (body.get("user") or {}).get("id") or body.get("user_id")
    channel = (event.get("channel") or event.get("channel_id") or (event.get("item") or {}).get("channel")
               or (body.get("channel") or {}).get("id") or body.get("channel_id"))
    if body.get("type") == "view_submission":
        channel = forms.channel_of(body.get("view") or {})
    return (str(user) if user else None), (str(channel) if channel else None)
