"""The FastAPI application: Slack endpoint, REST API, probes and metrics over one runtime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import Depends, FastAPI, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.runtime import import_agents
from app.api import action_items, agents, errors, health, home, incidents, pagerduty_webhooks, postmortems
from app.api.auth import TokenGate, require_token
from app.body_limit import BodyLimit
from app.metrics import RequestMetrics
from app.runtime import Runtime
from app.settings import Settings, get_settings
from app.slack.app import build_bolt_app, slack_router
from app.slack.runbook_commands import sweep_on_start

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    import_agents()  # the CLI loads an agent when it runs one; a service loads all before its first request
    runtime = Runtime.create(settings)
    bolt = build_bolt_app(runtime) if settings.slack_enabled else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        socket = None
        runtime.background(runtime.escalation_loop())
        runtime.background(sweep_on_start(runtime))  # runs a stopped process left behind: interrupted
        if runtime.bot is not None:
            runtime.background(runtime.bot.learn())
        if runtime.inbox_worker is not None:
            runtime.background(runtime.inbox_worker.run_forever())
        if runtime.war_room is not None:
            runtime.background(runtime.sweep_war_rooms())
            runtime.background(runtime.remind_loop())
        if bolt is not None and settings.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            assert settings.slack_app_token is not None
            socket = AsyncSocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
            await socket.connect_async()
            log.info("Slack Socket Mode connected")
        yield
        if socket is not None:
            await socket.close_async()
        await runtime.close()

    # /docs and /redoc serve Swagger UI and ReDoc from the package's own files: they work with no internet.
    app = FastAPIOffline(title="incidentbot", version=version("incidentbot"), lifespan=lifespan,
                         swagger_ui_parameters={"validatorUrl": None})
    app.state.runtime = runtime
    app.include_router(health.router)
    app.include_router(home.router)  # no incident data: open
    for api in (incidents.router, agents.router, postmortems.router, action_items.router):
        app.include_router(api, dependencies=[Depends(require_token)], responses=errors.EVERY_ROUTE)
    app.include_router(pagerduty_webhooks.router)  # verified by its own signature, not by API tokens
    # In Socket Mode without a signing secret, HTTP requests can't be verified: refuse them.
    app.include_router(slack_router(bolt if settings.slack_signing_secret else None))
    app.add_middleware(RequestMetrics)
    if closed := _closed_paths(app, settings):
        app.add_middleware(TokenGate, paths=closed, sessions=runtime.sessions)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # outermost: before anything reads

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics, at the path Prometheus scrapes by default (no redirect to /metrics/)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    errors.install(app)
    return app


def _closed_paths(app: FastAPI, settings: Settings) -> frozenset[str]:
    """The paths outside /api/v1 that need a token because the operator closed them."""
    closed = set() if settings.public_metrics else {"/metrics"}
    if not settings.public_docs:
        closed |= {path for path in (app.openapi_url, "/docs", "/redoc", app.swagger_ui_oauth2_redirect_url) if path}
    return frozenset(closed)
