"""A fake Loki served over loopback HTTP.

`FakeLoki` answers `GET /loki/api/v1/query_range` in Loki's wire format for a real subset of LogQL: a stream
selector (`=`, `!=`, `=~`, `!~`) followed by line filters (`|=`, `!=`, `|~`, `!~`), the `json` and `logfmt`
parsers (extracted fields become labels, so entries group into streams by them, as in Loki) and string label
filters (`| level="error"`, `| __error__=""`), with
`start`/`end` in nanoseconds (end exclusive), `limit` and `direction`. Results are grouped into streams by
label set, as Loki does. A malformed query gets Loki's 400 `text/plain` "parse error ..." answer, and a `limit`
above 5000 Loki's "max entries limit per query exceeded" 400. The label API (`/loki/api/v1/labels`,
`/loki/api/v1/label/<name>/values`, `/loki/api/v1/series`) lists what streams exist in a time range. Entries
are kept sorted by time so that a window is found by bisection: 100k entries are served quickly.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import re2
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tests.fakes.loopback import LoopbackFake

MAX_ENTRIES_LIMIT = 5000  # Loki's default max_entries_limit_per_query


# --- LogQL --------------------------------------------------------------------------------------


class LogQLError(Exception):
    """Answered as Loki does: 400, text/plain, the message as the body."""


_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<op>\|=|\|~|!=|!~|=~|==|=|\||\{|\}|,)'
                    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)|(?P<other>\S))")
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
               "'": "'"}


@dataclass(frozen=True)
class _Token:
    kind: str  # "str", "op", "ident", "other", "end"
    text: str
    col: int


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")  # a missing label is the empty string, as in Prometheus
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = _re2(self.value).fullmatch(actual) is not None  # label regexes are fully anchored
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class LineFilter:
    op: str
    value: str

    def keeps(self, line: str) -> bool:
        if self.op == "|=":
            return self.value in line
        if self.op == "!=":
            return self.value not in line
        found = _re2(self.value).search(line) is not None
        return found if self.op == "|~" else not found


@functools.lru_cache(maxsize=256)
def _re2(pattern: str) -> re2._Regexp:
    """Loki's regular expressions are Go's RE2: same syntax, linear time."""
    return re2.compile(pattern)


@dataclass(frozen=True)
class Parser:
    """`| json` or `| logfmt`: the line's fields become labels (nested JSON keys joined by `_`), as Loki's
    parsers extract them; a line that does not parse gets `__error__`."""

    kind: str

    def extract(self, line: str) -> dict[str, str]:
        if self.kind == "logfmt":
            return {_label_name(k): _logfmt_unquote(v) for k, v in _LOGFMT.findall(line)}
        try:
            value = json.loads(line)
        except ValueError:
            return {"__error__": "JSONParserErr", "__error_details__": "invalid JSON"}
        if not isinstance(value, dict):
            return {"__error__": "JSONParserErr", "__error_details__": "not an object"}
        return dict(_flatten(value))


@dataclass(frozen=True)
class LabelFilter:
    """`| name op "value"` after a parser: a string matcher on the stream and extracted labels."""

    matcher: Matcher


Stage = LineFilter | Parser | LabelFilter


@dataclass(frozen=True)
class LogQuery:
    matchers: tuple[Matcher, ...]
    filters: tuple[LineFilter, ...]  # the line filters before any parser
    stages: tuple[Stage, ...] = ()  # everything after the selector, in order

    def apply(self, labels: dict[str, str], line: str) -> dict[str, str] | None:
        """The entry's labels after the pipeline, or None when a stage drops it."""
        for stage in self.stages:
            if isinstance(stage, LineFilter):
                if not stage.keeps(line):
                    return None
            elif isinstance(stage, Parser):
                extracted = stage.extract(line)
                labels = {**labels, **{(f"{k}_extracted" if k in labels else k): v for k, v in extracted.items()}}
            elif not stage.matcher.matches(labels):
                return None
        return labels


_LOGFMT = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|\S*)')


def _logfmt_unquote(value: str) -> str:
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), value[1:-1])
    return value


def _label_name(key: str) -> str:
    """Loki sanitizes extracted keys into label names: anything but [a-zA-Z0-9_] becomes `_`."""
    name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    return f"_{name}" if name[:1].isdigit() else name


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, item in value.items():
        name = _label_name(f"{prefix}_{key}" if prefix else key)
        if isinstance(item, dict):
            out += _flatten(item, name)
        elif isinstance(item, bool):
            out.append((name, "true" if item else "false"))
        elif isinstance(item, int | float | str):
            out.append((name, str(item)))
        elif item is None:
            out.append((name, ""))
        # arrays are not extracted by the json parser without parameters
    return out


def _tokens(query: str) -> list[_Token]:
    found, position = [], 0
    while position < len(query) and (match := _TOKEN.match(query, position)) and match.lastgroup:
        found.append(_Token(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup) + 1))
        position = match.end()
    return [*found, _Token("end", "$end", len(query) + 1)]


def _unquote(token: _Token) -> str:
    """A Go string literal's value: backquoted is raw, double-quoted has Go's escapes."""
    if token.text.startswith("`"):
        return token.text[1:-1]
    body, out, i = token.text[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = body[i + 1]
        if escape in _GO_ESCAPES:
            out.append(_GO_ESCAPES[escape])
            i += 2
        elif escape in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[escape]
            out.append(chr(int(body[i + 2:i + 2 + width], 16)))
            i += 2 + width
        else:
            raise LogQLError(f"parse error at line 1, col {token.col}: invalid char escape")
    return "".join(out)


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens, self.i = _tokens(query), 0

    def take(self, *expected: str) -> _Token:
        token = self.tokens[self.i]
        if token.text not in expected and token.kind not in expected:
            what = {"str": "STRING", "ident": "IDENTIFIER"}.get(token.kind, token.text)
            raise LogQLError(f"parse error at line 1, col {token.col}: syntax error: unexpected {what}, "
                             f"expecting {' or '.join(expected)}")
        self.i += 1
        return token

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def parse(self) -> LogQuery:
        if self.peek().kind == "ident":
            raise LogQLError("fake Loki serves log queries only: metric queries and functions are not supported")
        self.take("{")
        matchers = [self.matcher()]
        while self.peek().text == ",":
            self.take(",")
            matchers.append(self.matcher())
        self.take("}")
        stages: list[Stage] = []
        while self.peek().text in ("|=", "!=", "|~", "!~", "|"):
            if self.peek().text != "|":
                op = self.take("|=", "!=", "|~", "!~").text
                stages.append(LineFilter(op, _unquote(self.take("str"))))
                continue
            self.take("|")
            stages.append(self.stage())
        self.take("end")
        leading = []
        for stage in stages:
            if not isinstance(stage, LineFilter):
                break
            leading.append(stage)
        return LogQuery(tuple(matchers), tuple(leading), tuple(stages))

    def stage(self) -> Stage:
        token = self.take("ident")
        if token.text in ("json", "logfmt"):
            return Parser(token.text)
        if token.text in ("line_format", "label_format", "unpack", "pattern", "regexp", "decolorize", "drop",
                          "keep", "unwrap"):
            raise LogQLError(f"fake Loki does not support the {token.text} stage")
        op = self.take("=", "==", "!=", "=~", "!~", "other").text
        if op in (">", "<"):
            raise LogQLError("fake Loki does not support numeric label filters")
        value = self.take("str")
        return LabelFilter(Matcher(token.text, "=" if op == "==" else op, _unquote(value)))

    def matcher(self) -> Matcher:
        name = self.take("ident").text
        op = self.take("=", "!=", "=~", "!~").text
        return Matcher(name, op, _unquote(self.take("str")))


def parse_logql(query: str) -> LogQuery:
    """Parse and check a query as Loki would, including its rule against selectors that match everything."""
    parsed = _Parser(query).parse()
    for item in (*parsed.matchers, *parsed.filters):
        if item.op in ("=~", "!~", "|~"):
            try:
                _re2(item.value)
            except re2.error as exc:
                raise LogQLError(f"parse error : error parsing regexp: {exc}: `{item.value}`") from exc
    if not any(m.op in ("=", "=~") and not m.matches({}) for m in parsed.matchers):
        raise LogQLError('parse error : queries require at least one regexp or equality matcher that does not '
                         'have an empty-compatible value. For instance, app=~".*" does not meet this requirement, '
                         'but app=~".+" will')
    return parsed


# --- the fake -------------------------------------------------------------------------------------


def to_ns(at: datetime) -> int:
    """Exact Unix nanoseconds of a datetime (naive means UTC)."""
    delta = (at if at.tzinfo else at.replace(tzinfo=UTC)) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


class FakeLoki(LoopbackFake):
    """Entries are `(time, stream labels, line)`; lines with equal labels form one stream."""

    service = "loki"

    def __init__(self, entries: list[tuple[datetime, dict[str, str], str]]) -> None:
        self._label_sets: list[dict[str, str]] = []
        index: dict[tuple[tuple[str, str], ...], int] = {}
        rows = []
        for order, (at, labels, line) in enumerate(entries):
            key = tuple(sorted(labels.items()))
            if key not in index:
                index[key] = len(self._label_sets)
                self._label_sets.append(dict(labels))
            rows.append((to_ns(at), order, index[key], line))
        rows.sort()
        self._times = [row[0] for row in rows]
        self._rows = [(row[0], row[2], row[3]) for row in rows]
        super().__init__()

    def routes(self) -> list[BaseRoute]:
        return [Route("/loki/api/v1/query_range", self._query_range), Route("/ready", self._ready),
                Route("/loki/api/v1/labels", self._labels), Route("/loki/api/v1/label/{name}/values", self._values),
                Route("/loki/api/v1/series", self._series, methods=["GET", "POST"])]

    async def _ready(self, _request: Request) -> Response:
        return PlainTextResponse("ready\n")

    async def _query_range(self, request: Request) -> Response:
        try:
            query, start, end, limit, forward = _read_params(request)
            parsed = parse_logql(query)
        except LogQLError as exc:
            return PlainTextResponse(str(exc), 400)
        return JSONResponse({"status": "success", "data": {"resultType": "streams",
                                                           "result": self._select(parsed, start, end, limit, forward),
                                                           "stats": {}}})

    def _streams_in(self, request: Request, matchers: tuple[Matcher, ...] = ()) -> list[dict[str, str]]:
        """Label sets of the streams with an entry in [start, end) (default: the last 6 hours, as Loki)."""
        params = request.query_params
        end = _parse_time(params["end"]) if "end" in params else to_ns(datetime.now(UTC))
        start = _parse_time(params["start"]) if "start" in params else end - 6 * 3600 * 1_000_000_000
        lo, hi = bisect.bisect_left(self._times, start), bisect.bisect_left(self._times, end)
        present = {self._rows[i][1] for i in range(lo, hi)}
        return [labels for key, labels in enumerate(self._label_sets)
                if key in present and all(m.matches(labels) for m in matchers)]

    async def _labels(self, request: Request) -> Response:
        try:
            names = sorted({name for labels in self._streams_in(request) for name in labels})
        except LogQLError as exc:
            return PlainTextResponse(str(exc), 400)
        return JSONResponse({"status": "success", "data": names})

    async def _values(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            matchers = parse_logql(request.query_params["query"]).matchers if "query" in request.query_params else ()
            values = sorted({labels[name] for labels in self._streams_in(request, matchers) if name in labels})
        except LogQLError as exc:
            return PlainTextResponse(str(exc), 400)
        return JSONResponse({"status": "success", "data": values})

    async def _series(self, request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        selectors = (form.getlist("match[]") if form else None) or request.query_params.getlist("match[]")
        try:
            if not selectors:
                raise LogQLError("parse error : syntax error: unexpected $end")
            found: list[dict[str, str]] = []
            for selector in selectors:
                found += [s for s in self._streams_in(request, parse_logql(str(selector)).matchers) if s not in found]
        except LogQLError as exc:
            return PlainTextResponse(str(exc), 400)
        return JSONResponse({"status": "success", "data": found})

    def _select(self, query: LogQuery, start: int, end: int, limit: int, forward: bool) -> list[dict[str, Any]]:
        """The first `limit` matching entries in [start, end) in the given direction, grouped into streams."""
        selected = [all(m.matches(labels) for m in query.matchers) for labels in self._label_sets]
        lo, hi = bisect.bisect_left(self._times, start), bisect.bisect_left(self._times, end)
        positions = range(lo, hi) if forward else range(hi - 1, lo - 1, -1)
        streams: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[list[str]]]] = {}
        taken = 0
        for position in positions:
            if taken >= limit:
                break
            ns, label_set, line = self._rows[position]
            if not selected[label_set] or not all(f.keeps(line) for f in query.filters):
                continue
            labels = query.apply(self._label_sets[label_set], line) if query.stages else self._label_sets[label_set]
            if labels is None:
                continue
            key = tuple(sorted(labels.items()))  # after a parser, entries group by their extracted labels too
            streams.setdefault(key, (labels, []))[1].append([str(ns), line])
            taken += 1
        return [{"stream": labels, "values": values} for labels, values in streams.values()]


def _read_params(request: Request) -> tuple[str, int, int, int, bool]:
    params = request.query_params
    query = params.get("query")
    if not query:
        raise LogQLError("parse error : syntax error: unexpected $end")
    end = _parse_time(params["end"]) if "end" in params else to_ns(datetime.now(UTC))
    start = _parse_time(params["start"]) if "start" in params else end - 3600 * 1_000_000_000  # Loki: an hour
    limit = int(params.get("limit", "100"))
    if limit > MAX_ENTRIES_LIMIT:
        raise LogQLError(f"max entries limit per query exceeded, limit > max_entries_limit ({limit} > "
                         f"{MAX_ENTRIES_LIMIT})")
    direction = params.get("direction", "backward").lower()
    if direction not in ("forward", "backward"):
        raise LogQLError(f"invalid direction: {direction}")
    if end < start:
        raise LogQLError("end timestamp must not be before or equal to start time")
    return query, start, end, limit, direction == "forward"


def _parse_time(value: str) -> int:
    """Loki accepts Unix nanoseconds, Unix seconds (up to ten digits, or with a fraction), or RFC 3339."""
    if value.isdigit():
        return int(value) * 1_000_000_000 if len(value) <= 10 else int(value)
    try:
        return int(float(value) * 1e9) if re.fullmatch(r"\d+\.\d*", value) else to_ns(datetime.fromisoformat(value))
    except ValueError as exc:
        raise LogQLError(f"cannot parse {value!r} to a valid timestamp") from exc

