"""The Bolt app, built once per process, and its mounting on FastAPI."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp

from app.runtime import Runtime
from app.slack import buttons, capture, commands, events, forms


def build_bolt_app(runtime: Runtime) -> AsyncApp:
    settings = runtime.settings
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = AsyncApp(client=runtime.slack, signing_secret=secret, process_before_response=False)
    commands.register(app, runtime)
    forms.register(app, runtime)
    buttons.register(app, runtime)
    events.register(app, runtime)
    capture.register(app, runtime)
    return app


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
