"""The Bolt apps, built once per process, and their mounting on FastAPI.

Two apps share every listener: the live one answers Slack (HTTP or Socket Mode) and puts change-making
events and interactions in the inbox before its ack; the replay one runs those from the inbox, awaiting
each listener so the worker knows whether the change landed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt import BoltResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from app.db.errors import DATABASE_UNAVAILABLE
from app.inbox.service import NotStored
from app.runtime import Runtime
from app.slack import (
    buttons,
    capture,
    commands,
    escalation_commands,
    events,
    forms,
    intake,
    replay,
    runbook_commands,
)
from app.slack.client import create_client
from app.slack.identity import BotIdentity
from app.slack.replies import DATABASE_DOWN

log = logging.getLogger(__name__)


def build_bolt_app(runtime: Runtime) -> AsyncApp:
    """The live app; the replay app and the inbox worker are attached to the runtime on the way."""
    settings = runtime.settings
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    # Without the SDK's own sleeps on 429: the inbox waits out Retry-After, handling other requests meanwhile.
    impatient = create_client(settings, wait_on_ratelimit=False)
    runtime.bot = bot = BotIdentity(impatient)  # learned at start-up; requests never wait on auth.test
    app = AsyncApp(client=runtime.slack, signing_secret=secret, process_before_response=False,
                   authorize=bot.authorize(strict=False))
    app.use(_into_inbox(runtime))
    _register(app, runtime)
    app.error(_tell_the_user)
    replayer = AsyncApp(client=impatient, signing_secret=secret or "unused", process_before_response=True,
                        request_verification_enabled=False, authorize=bot.authorize(strict=True))
    _register(replayer, runtime)
    replayer.error(replay.record_error)
    runtime.attach_inbox_worker(replay.handler(replayer, runtime))
    return app


def _register(app: AsyncApp, runtime: Runtime) -> None:
    commands.register(app, runtime)
    forms.register(app, runtime)
    buttons.register(app, runtime)
    escalation_commands.register(app, runtime)
    runbook_commands.register(app, runtime)
    events.register(app, runtime)
    capture.register(app, runtime)


Next = Callable[[], Awaitable[None]]


def _into_inbox(runtime: Runtime) -> Callable[..., Awaitable[BoltResponse | None]]:
    """Global middleware (after signature check and authorisation): store, then ack; the listener runs later."""

    async def into_inbox(req: AsyncBoltRequest, resp: BoltResponse, next: Next) -> BoltResponse | None:
        durable = intake.durable(req.body, forms.accepts)
        if durable is None:
            await next()
            return resp
        try:
            await runtime.inbox.accept(durable.key, json.dumps(req.body))
        except NotStored:
            log.exception("could not store %s; refusing it so that Slack retries or the user sees it", durable.key)
            return BoltResponse(status=503, body={"error": "could not store the request; try again"})
        return BoltResponse(status=200, body="")

    return into_inbox


async def _tell_the_user(error: Exception, body: dict[str, Any], respond: AsyncRespond | None,
                         client: AsyncWebClient, logger: logging.Logger) -> None:
    """A listener failed after its ack: log it, and tell the person who asked rather than go quiet.

    Only interactions and commands have a response_url; otherwise the answer is an ephemeral message where
    the request came from. This runs in a task nobody awaits, so it must not raise.
    """
    logger.error("Slack listener failed: %s", error, exc_info=error)
    text = DATABASE_DOWN if isinstance(error, DATABASE_UNAVAILABLE) else (
        f":warning: Something went wrong handling that ({type(error).__name__}); it has been logged.")
    try:
        await replay.tell(body, respond, client, text)
    except Exception:  # the failure is logged above; nothing else may escape this task
        logger.warning("could not tell the user about the failure either", exc_info=True)


def slack_router(bolt: AsyncApp | None) -> APIRouter:
    router = APIRouter()
    handler = AsyncSlackRequestHandler(bolt) if bolt else None

    @router.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        if handler is None:
            return JSONResponse(
                {"error": "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"},
                status_code=503,
            )
        try:
            intake.parse(await request.body(), request.headers.get("content-type"))
        except intake.Malformed as exc:
            return JSONResponse({"error": f"malformed Slack request: {exc}"}, status_code=400)
        return await handler.handle(request)

    return router
