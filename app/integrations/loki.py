"""Read-only Loki HTTP API client: LogQL log queries over a time range, paged forward, as `LogLine`s."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from app.integrations.http import ApiClient, client, json_object, redact, secrets_in, unreachable
from app.integrations.logs import line_level
from app.integrations.telemetry import LogLine, ToolFailed, aware

NAME = "Loki"


@dataclass(frozen=True)
class _Entry:
    ns: int
    labels: tuple[tuple[str, str], ...]
    line: str


class LokiClient(ApiClient):
    """`headers` carries whatever the deployment needs: `X-Scope-OrgID` for a tenant, `Authorization`..."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._secrets = secrets_in(headers or {})
        self._http = client(self.base_url, headers, timeout)
        self.max_entries: int | None = None  # learnt from a 400 "max entries limit" answer


    async def query_range(
        self, logql: str, start: datetime, end: datetime, *, limit: int = 5000, max_lines: int = 100_000
    ) -> list[LogLine]:
        """Every line `logql` selects in [start, end), oldest first, at most `max_lines`.

        Loki answers at most `limit` entries per request, so a full page means "ask again from where it
        stopped". The next page starts at the last timestamp itself, not one nanosecond after it, so that
        lines sharing that timestamp but cut off by the limit are not lost; the ones already seen are skipped.
        """
        entries: list[_Entry] = []
        cursor, end_ns, seen_at_cursor = _ns(start), _ns(end), set[_Entry]()
        while len(entries) < max_lines and cursor < end_ns:
            page = await self._page(logql, cursor, end_ns, min(limit, self.max_entries or limit))
            fresh = [e for e in page if e not in seen_at_cursor]
            entries.extend(fresh)
            if len(page) < min(limit, self.max_entries or limit):
                break
            last = page[-1].ns
            if not fresh:  # a whole page within one nanosecond: nothing more can be reached at this timestamp
                cursor, seen_at_cursor = last + 1, set()
                continue
            previous = seen_at_cursor if last == cursor else set()
            cursor, seen_at_cursor = last, previous | {e for e in page if e.ns == last}
        entries.sort(key=lambda e: e.ns)
        return [_log_line(e, logql) for e in entries[:max_lines]]

    async def _page(self, logql: str, start_ns: int, end_ns: int, limit: int) -> list[_Entry]:
        """One request's entries across all its streams, in time order."""
        params = {"query": logql, "start": str(start_ns), "end": str(end_ns), "limit": str(limit),
                  "direction": "forward"}
        try:
            response = await self._http.get("/loki/api/v1/query_range", params=params)
        except httpx.TransportError as exc:
            raise unreachable(NAME, self.base_url, exc, self.timeout) from exc
        if not response.is_success:
            smaller = _entries_limit(response)
            if smaller is not None and smaller < limit:  # this Loki serves fewer lines per request: page by those
                self.max_entries = smaller
                return await self._page(logql, start_ns, end_ns, smaller)
            raise ToolFailed(redact(f"{NAME}: {_error_text(response)}", self._secrets))
        data = json_object(response).get("data") or {}
        if data.get("resultType") != "streams":
            raise ToolFailed(f"{NAME}: expected a log query, got a {data.get('resultType')} result for {logql}")
        return sorted(_entries(data.get("result") or []), key=lambda e: e.ns)


def _entries(streams: list[dict[str, Any]]) -> list[_Entry]:
    """Values are `[ns, line]`, or `[ns, line, structured metadata]` on Loki 3."""
    found = []
    for stream in streams:
        labels = tuple(sorted((str(k), str(v)) for k, v in (stream.get("stream") or {}).items()))
        found.extend(_Entry(int(value[0]), labels, str(value[1])) for value in stream.get("values") or [])
    return found


def _log_line(entry: _Entry, logql: str) -> LogLine:
    labels = dict(entry.labels)
    line = unwrapped(entry.line)
    level = labels.get("level") or labels.get("detected_level") or line_level(line)
    at = datetime.fromtimestamp(entry.ns // 1_000_000_000, UTC).replace(microsecond=entry.ns % 1_000_000_000 // 1000)
    return LogLine(at=at, message=line, level=level.lower() if level else None, labels=labels,
                   source="loki", query=logql)


def unwrapped(line: str) -> str:
    """The line as the application wrote it. The OpenTelemetry Collector's Loki exporter pushes each log record as
    JSON, `{"body": <the line>, "attributes": {...}, "resources": {...}}` (opentelemetry-collector-contrib
    pkg/translator/loki encode.go); the record's body is the line."""
    if not line.startswith('{"body":'):
        return line
    try:
        record = json.loads(line)
    except ValueError:
        return line
    body = record.get("body") if isinstance(record, dict) else None
    return body if isinstance(body, str) and ({"attributes", "resources"} & record.keys()) else line


def _entries_limit(response: httpx.Response) -> int | None:
    """Loki's 400 "max entries limit per query exceeded, limit > max_entries_limit (10000 > 5000)"."""
    match = re.search(r"max_entries_limit\D*\(\d+ > (\d+)\)", response.text)
    return int(match.group(1)) if response.status_code == 400 and match and int(match.group(1)) > 0 else None


def _error_text(response: httpx.Response) -> str:
    """Loki answers errors as text/plain (`parse error : ...`); a proxy in front may answer JSON."""
    body = json_object(response)
    text = str(body.get("message") or body.get("error") or "") or " ".join(response.text.split())[:300]
    return text or f"HTTP {response.status_code}"


def _ns(at: datetime) -> int:
    """Unix nanoseconds, exactly (no float rounding); a naive datetime is taken as UTC."""
    delta = aware(at) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
