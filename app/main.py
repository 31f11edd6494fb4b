"""The FastAPI application: Slack endpoint, REST API, probes and metrics over one runtime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from app.api import action_items, agents, health, incidents, pagerduty_webhooks, postmortems
from app.db.errors import DATABASE_UNAVAILABLE
from app.metrics import RequestMetrics
from app.runtime import Runtime
from app.settings import Settings, get_settings
from app.slack.app import build_bolt_app, slack_router

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = Runtime.create(settings)
    bolt = build_bolt_app(runtime) if settings.slack_enabled else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        socket = None
        runtime.background(runtime.escalation_loop())
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
    app.include_router(incidents.router)
    app.include_router(agents.router)
    app.include_router(postmortems.router)
    app.include_router(action_items.router)
    app.include_router(pagerduty_webhooks.router)  # verified by its own signature, not by API tokens
    # In Socket Mode without a signing secret, HTTP requests can't be verified: refuse them.
    app.include_router(slack_router(bolt if settings.slack_signing_secret else None))
    app.add_middleware(RequestMetrics)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics, at the path Prometheus scrapes by default (no redirect to /metrics/)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    _add_error_handlers(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every API error is JSON of the same shape: {"error": "..."}."""

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)

    for error in DATABASE_UNAVAILABLE:
        @app.exception_handler(error)
        async def database_down(_: Request, exc: Exception) -> JSONResponse:
            log.error("database unavailable: %s", type(exc).__name__)
            return JSONResponse({"error": "the incident database is unreachable; try again shortly"},
                                status_code=503)
