"""The Bolt app, built once per process, and its mounting on FastAPI."""

from __future__ import annotations

import logging

import aiohttp
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError

from app.db.errors import DATABASE_UNAVAILABLE
from app.runtime import Runtime
from app.slack import buttons, capture, commands, escalation_commands, events, forms, runbook_commands
from app.slack.replies import DATABASE_DOWN


def build_bolt_app(runtime: Runtime) -> AsyncApp:
    settings = runtime.settings
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = AsyncApp(client=runtime.slack, signing_secret=secret, process_before_response=False)
    commands.register(app, runtime)
    forms.register(app, runtime)
    buttons.register(app, runtime)
    escalation_commands.register(app, runtime)
    runbook_commands.register(app, runtime)
    events.register(app, runtime)
    capture.register(app, runtime)
    app.error(_tell_the_user)
    return app


async def _tell_the_user(error: Exception, respond: AsyncRespond | None, logger: logging.Logger) -> None:
    """A listener failed after its ack: log it, and tell the person who asked rather than go quiet."""
    logger.error("Slack listener failed: %s", error, exc_info=error)
    if respond is None:
        return
    text = DATABASE_DOWN if isinstance(error, DATABASE_UNAVAILABLE) else (
        f":warning: Something went wrong handling that ({type(error).__name__}); it has been logged.")
    try:
        await respond(response_type="ephemeral", replace_original=False, text=text)
    except (TimeoutError, aiohttp.ClientError, SlackApiError):
        logger.warning("could not tell the user about the failure either")


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
        return await handler.handle(request)

    return router
