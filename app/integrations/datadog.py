"""Read-only Datadog Logs client: the v2 log search endpoint, followed across cursor pages, as `LogLine`s."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from app.integrations.http import ApiClient, client, json_object, redact, unreachable
from app.integrations.telemetry import LogLine, ToolFailed, aware

NAME = "Datadog"
SEARCH_PATH = "/api/v2/logs/events/search"
PAGE_LIMIT = 5000  # the most Datadog returns per page
RATE_LIMIT_RETRIES = 3
MAX_RATE_LIMIT_WAIT = 5.0  # seconds; an investigation should not stall on one tool


class DatadogLogsClient(ApiClient):
    """`api_url` is the site's API host (https://api.datadoghq.com, https://api.datadoghq.eu...)."""

    def __init__(self, api_url: str, api_key: str, app_key: str, timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._secrets = sorted((k for k in (api_key, app_key) if k), key=len, reverse=True)
        headers = {"DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key}
        self._http = client(self.api_url, headers, timeout)


    async def search(self, query: str, start: datetime, end: datetime, *, max_lines: int = 100_000) -> list[LogLine]:
        """Every log `query` (Datadog log search syntax) matches between start and end, oldest first."""
        lines: list[LogLine] = []
        cursor: str | None = None
        while len(lines) < max_lines:
            body = await self._search_page(query, start, end, min(PAGE_LIMIT, max_lines - len(lines)), cursor)
            lines.extend(_log_line(item, query) for item in body.get("data") or [])
            cursor = ((body.get("meta") or {}).get("page") or {}).get("after")
            if not cursor or not body.get("data"):
                break
        return sorted(lines[:max_lines], key=lambda line: line.at)

    async def _search_page(
        self, query: str, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        page: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        payload = {"filter": {"query": query, "from": _iso(start), "to": _iso(end)}, "sort": "timestamp",
                   "page": page}
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            response = await self._post(payload)
            if response.status_code != 429:
                break
            if attempt < RATE_LIMIT_RETRIES:
                await asyncio.sleep(_reset_seconds(response))
        else:
            raise ToolFailed(f"{NAME}: rate limited (HTTP 429) after {RATE_LIMIT_RETRIES} retries")
        if not response.is_success:
            raise ToolFailed(redact(f"{NAME}: {_error_text(response)} (HTTP {response.status_code})", self._secrets))
        return json_object(response)

    async def _post(self, payload: dict[str, Any]) -> httpx.Response:
        try:
            return await self._http.post(SEARCH_PATH, json=payload)
        except httpx.TransportError as exc:
            raise unreachable(NAME, self.api_url, exc, self.timeout) from exc


def _log_line(item: dict[str, Any], query: str) -> LogLine:
    """`attributes` holds the reserved attributes; tags are "key:value" strings (a bare tag maps to "")."""
    attributes = item.get("attributes") or {}
    labels = {k: str(attributes[k]) for k in ("service", "host") if attributes.get(k)}
    for tag in attributes.get("tags") or []:
        key, _, value = str(tag).partition(":")
        labels.setdefault(key, value)
    status = attributes.get("status")
    return LogLine(at=datetime.fromisoformat(attributes["timestamp"]), message=str(attributes.get("message") or ""),
                   level=str(status).lower() if status else None, labels=labels, source="datadog", query=query)


def _reset_seconds(response: httpx.Response) -> float:
    """Datadog says in `X-RateLimit-Reset` how many seconds until the window resets."""
    try:
        seconds = float(response.headers.get("X-RateLimit-Reset", "1"))
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_RATE_LIMIT_WAIT)


def _error_text(response: httpx.Response) -> str:
    """`{"errors": ["Forbidden"]}`, or JSON:API error objects with `title`/`detail`."""
    errors = json_object(response).get("errors") or []
    texts = [e if isinstance(e, str) else str(e.get("detail") or e.get("title") or e) for e in errors]
    return "; ".join(texts) or " ".join(response.text.split())[:200] or "no message"


def _iso(at: datetime) -> str:
    """ISO 8601 in UTC with milliseconds; a naive datetime is taken as UTC."""
    return aware(at).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
