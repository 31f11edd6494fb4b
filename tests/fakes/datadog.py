"""A fake Datadog Logs API served over loopback HTTP: `POST /api/v2/logs/events/search`.

It implements a realistic subset of the log search syntax (`service:x`, `status:error`, `host:x`, any
`tag:value`, `-term` / `NOT term`, `AND` / `OR` / parentheses, free-text words and quoted phrases matched
against the message, `*` wildcards, `*` alone for everything), the time filter (ISO 8601, epoch milliseconds
or `now-15m`), both sort orders and cursor pagination (`meta.page.after`, `links.next`), with `page.limit`
capped at 5000. Wrong keys get 403 `{"errors": ["Forbidden"]}`; `ratelimit_next` answers 429 with Datadog's
`X-RateLimit-*` headers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tests.fakes.loopback import LoopbackFake

SEARCH_PATH = "/api/v2/logs/events/search"
MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT = 5000, 10
Log = dict[str, Any]
Predicate = Callable[[Log], bool]


class QueryError(Exception):
    """A query the search syntax does not allow: answered 400 with Datadog's `errors` list."""


# --- the search syntax ---------------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<neg>-)(?=\S)|(?P<phrase>"[^"]*")'
                    r'|(?P<word>[^\s()"]+(?:"[^"]*")?)|(?P<bad>\S))')
_FIELDS = ("service", "status", "host", "source")


def _wildcard(value: str, *, whole_word: bool = False) -> re.Pattern[str]:
    """`*` matches any run of characters (of word characters, for a free-text word); the rest is literal."""
    star = r"\w*" if whole_word else ".*"
    body = star.join(re.escape(part) for part in value.split("*"))
    return re.compile(rf"(?<!\w){body}(?!\w)" if whole_word else rf"{body}", re.IGNORECASE)


def _term(text: str) -> Predicate:
    if text == "*":
        return lambda _log: True
    if text.startswith('"'):
        phrase = text.strip('"').lower()
        return lambda log: phrase in log["message"].lower()
    key, colon, value = text.partition(":")
    if not colon:
        word = _wildcard(text, whole_word=True)
        return lambda log: word.search(log["message"]) is not None
    pattern = _wildcard(value.strip('"'))
    if key.lower() in _FIELDS:
        field = key.lower()
        return lambda log: pattern.fullmatch(str(log.get(field, ""))) is not None
    if key.startswith("@"):
        return lambda _log: False  # the fake's logs carry no custom attributes
    return lambda log: any(t.partition(":")[0] == key and pattern.fullmatch(t.partition(":")[2])
                           for t in log.get("tags", []))


class _Parser:
    """expr := and (OR and)* ; and := unary ([AND] unary)* ; unary := (-|NOT) unary | ( expr ) | term"""

    def __init__(self, query: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        for match in _TOKEN.finditer(query):
            if match.lastgroup == "bad":
                raise QueryError(f"Invalid query: unexpected {match.group('bad')!r}")
            if match.lastgroup:
                self.tokens.append((match.lastgroup, match.group(match.lastgroup)))
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def parse(self) -> Predicate:
        if not self.tokens:
            return lambda _log: True
        predicate = self.expr()
        if self.peek()[0] != "end":
            raise QueryError(f"Invalid query: unexpected {self.peek()[1]!r}")
        return predicate

    def expr(self) -> Predicate:
        options = [self.conjunction()]
        while self.peek() == ("word", "OR"):
            self.i += 1
            options.append(self.conjunction())
        return lambda log: any(p(log) for p in options)

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.peek()[0] not in ("end", "rp") and self.peek() != ("word", "OR"):
            if self.peek() == ("word", "AND"):
                self.i += 1
            parts.append(self.unary())
        return lambda log: all(p(log) for p in parts)

    def unary(self) -> Predicate:
        kind, text = self.peek()
        self.i += 1
        if kind == "neg" or (kind, text) == ("word", "NOT"):
            inner = self.unary()
            return lambda log: not inner(log)
        if kind == "lp":
            inner = self.expr()
            if self.peek()[0] != "rp":
                raise QueryError("Invalid query: missing closing parenthesis")
            self.i += 1
            return inner
        if kind in ("word", "phrase"):
            return _term(text)
        raise QueryError(f"Invalid query: unexpected {text or 'end of query'!r}")


def compile_query(query: str) -> Predicate:
    return _Parser(query).parse()


def _parse_time(value: Any, now: datetime) -> datetime:
    """ISO 8601, epoch milliseconds, `now` or `now-<n><s|m|h|d>`, as the API accepts."""
    text = str(value).strip()
    relative = re.fullmatch(r"now(?:-(\d+)([smhd]))?", text)
    if relative:
        amount, unit = int(relative.group(1) or 0), relative.group(2) or "s"
        return now - timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise QueryError(f"Invalid time: {text!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the fake ----------------------------------------------------------------------------------------


class FakeDatadog(LoopbackFake):
    """`logs` are `{"timestamp": datetime, "message", "status", "service", "host", "tags": ["k:v", ...]}`."""

    service = "datadog"

    def __init__(self, api_key: str, app_key: str, logs: list[dict[str, Any]]) -> None:
        self.api_key, self.app_key = api_key, app_key
        normalised = [{**log, "timestamp": log["timestamp"] if log["timestamp"].tzinfo
                       else log["timestamp"].replace(tzinfo=UTC)} for log in logs]
        self.logs = sorted(normalised, key=lambda log: log["timestamp"])
        for position, log in enumerate(self.logs):
            log["id"] = f"AQAAAY{position:012d}"  # Datadog's ids are opaque; these are stable per fake
        self._results: dict[str, list[Log]] = {}  # the last query's result set, which its cursor pages through
        super().__init__()

    def routes(self) -> list[BaseRoute]:
        return [Route(SEARCH_PATH, self._search, methods=["POST"])]

    def intercept(self, request: Request) -> Response | None:
        keys = (request.headers.get("dd-api-key"), request.headers.get("dd-application-key"))
        if keys != (self.api_key, self.app_key):
            return JSONResponse({"errors": ["Forbidden"]}, 403)
        return None

    def ratelimit_next(self, n: int, reset_seconds: float) -> None:
        """The next `n` requests get 429, saying the window resets in `reset_seconds`."""
        headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Period": "3600", "X-RateLimit-Remaining": "0",
                   "X-RateLimit-Reset": f"{reset_seconds:g}"}
        self.fail_next(429, {"errors": ["Too many requests"]}, times=n, headers=headers)

    async def _search(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            page = self._page(body, datetime.now(UTC))
        except (QueryError, ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"errors": [str(exc) if isinstance(exc, QueryError) else "Invalid request body"]},
                                400)
        return JSONResponse(page)

    def _page(self, body: dict[str, Any], now: datetime) -> dict[str, Any]:
        """One page of the matching logs, and a cursor to the next one while more remain."""
        filters, page = body.get("filter") or {}, body.get("page") or {}
        query, sort = filters.get("query") or "*", body.get("sort") or "-timestamp"
        start = _parse_time(filters.get("from", "now-15m"), now)
        end = _parse_time(filters.get("to", "now"), now)
        if sort not in ("timestamp", "-timestamp"):
            raise QueryError(f"Invalid sort: {sort!r}")
        key = hashlib.sha256(json.dumps([query, _iso(start), _iso(end), sort]).encode()).hexdigest()[:16]
        found = self._results.get(key)
        if found is None:  # like Datadog, a cursor pages through one result set, computed once
            predicate = compile_query(query)
            found = [log for log in self.logs if start <= log["timestamp"] < end and predicate(log)]
            if sort == "-timestamp":
                found.reverse()
            self._results = {key: found}
        limit = max(1, min(int(page.get("limit", DEFAULT_PAGE_LIMIT)), MAX_PAGE_LIMIT))
        offset = _offset(page.get("cursor"), key)
        chunk = found[offset:offset + limit]
        result: dict[str, Any] = {"data": [self._wire(log) for log in chunk],
                                  "meta": {"elapsed": 3, "request_id": f"req-{key}-{offset}", "status": "done"}}
        if offset + limit < len(found):
            cursor = base64.urlsafe_b64encode(json.dumps({"o": offset + limit, "k": key}).encode()).decode()
            result["meta"]["page"] = {"after": cursor}
            result["links"] = {"next": f"{self.url}/api/v2/logs/events?page[cursor]={cursor}&page[limit]={limit}"}
        return result

    def _wire(self, log: Log) -> dict[str, Any]:
        return {"id": log["id"], "type": "log", "attributes": {
            "timestamp": _iso(log["timestamp"]), "message": log["message"], "status": log.get("status", "info"),
            "service": log.get("service", ""), "host": log.get("host", ""), "tags": list(log.get("tags", [])),
            "attributes": {}}}


def _offset(cursor: Any, key: str) -> int:
    """Cursors belong to one query: another query's cursor (or garbage) is refused, as Datadog does."""
    if not cursor:
        return 0
    try:
        state = json.loads(base64.urlsafe_b64decode(str(cursor)))
    except ValueError as exc:
        raise QueryError("Invalid cursor") from exc
    if not isinstance(state, dict) or state.get("k") != key:
        raise QueryError("Invalid cursor")
    return int(state["o"])
