"""Prometheus metrics, served at GET /metrics."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

incidents_declared = Counter(
    "incidentbot_incidents_declared_total", "Incidents declared", ["severity", "source"]
)
war_room_steps_failed = Counter(
    "incidentbot_war_room_steps_failed_total", "War-room set-up steps Slack refused", ["step", "error"]
)
war_room_steps = Counter(
    "incidentbot_war_room_steps_total", "War-room set-up steps by outcome (done, retrying, failed, skipped)",
    ["step", "outcome"],
)
http_requests = Histogram(
    "incidentbot_http_request_duration_seconds", "HTTP requests by method, route template and status",
    ["method", "route", "status"],
)
slack_api_calls = Counter(
    "incidentbot_slack_api_calls_total", "Slack Web API calls, each attempt counted", ["method"]
)
slack_api_errors = Counter(
    "incidentbot_slack_api_errors_total", "Slack Web API calls that failed, by Slack's error", ["method", "error"]
)
agent_run_seconds = Histogram(
    "incidentbot_agent_run_duration_seconds", "Agent runs by agent and mode (deterministic, llm, failed)",
    ["agent", "mode"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


class RequestMetrics:
    """ASGI middleware timing each request under its route template (`/api/v1/incidents/{public_id}`), so that
    ids do not make a label each; requests that match no route share one label."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            http_requests.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)
