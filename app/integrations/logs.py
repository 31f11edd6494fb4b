"""One log interface over Loki, Datadog and pod logs: "lines of this service matching this pattern, in this window".

The pattern is a case-insensitive regular expression. Loki applies it server-side (`|~ "(?i)..."`); Datadog's
query syntax has no regex over the message, and the Kubernetes log endpoint has no filter at all, so those two
sources filter locally. Each line's `query` says what was asked, including a local filter, so it can be cited.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import shlex
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import re2
from pydantic import BaseModel, field_validator

from app.integrations.telemetry import LogLine, aware

if TYPE_CHECKING:  # the clients import `line_level` from here
    from app.integrations.datadog import DatadogLogsClient
    from app.integrations.kubernetes import KubernetesClient
    from app.integrations.loki import LokiClient

_LOGFMT_LEVEL = re.compile(r"""(?:^|\s)(?:level|lvl|severity)=["']?([A-Za-z]+)""")
_JSON_LEVEL = re.compile(r'"(?:level|lvl|severity)"\s*:\s*"([A-Za-z]+)"')
# An upper- or lower-case level word first, possibly bracketed, possibly after a date and a time.
_LEADING_LEVEL = re.compile(r"^\s*(?:\S*\d\S*\s+){0,2}\[?(ERROR|ERR|WARN|WARNING|INFO|DEBUG|FATAL|CRITICAL|TRACE)\b",
                            re.IGNORECASE)
_LEVEL_NAMES = {"warning": "warn", "err": "error", "crit": "critical"}


def line_level(message: str) -> str | None:
    """The level a line states: a `level=` logfmt key, a JSON `"level"` field, or a leading ERROR/WARN/INFO."""
    match = _LOGFMT_LEVEL.search(message) or _JSON_LEVEL.search(message) or _LEADING_LEVEL.match(message)
    if match is None:
        return None
    level = match.group(1).lower()
    return _LEVEL_NAMES.get(level, level)


class LogQuery(BaseModel):
    service: str
    pattern: str | None = None  # case-insensitive regex a line must match; None = every line

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                _compiled(pattern)
            except re2.error as exc:  # a ValueError is what pydantic turns into a validation error
                raise ValueError(f"not a regular expression: {exc}") from exc
        return pattern

    def matches(self, message: str) -> bool:
        return self.pattern is None or _compiled(self.pattern).search(message) is not None


class LogSource(Protocol):
    name: str

    async def search(self, q: LogQuery, start: datetime, end: datetime) -> list[LogLine]: ...


class LokiLogs:
    """`selector` is a LogQL stream selector in which `{service}` stands for the service name."""

    name = "loki"

    def __init__(self, client: LokiClient, selector: str = '{service="{service}"}') -> None:
        self.client, self.selector = client, selector

    def logql(self, q: LogQuery) -> str:
        selector = self.selector.replace("{service}", logql_escape(q.service))
        return selector if q.pattern is None else f'{selector} |~ "{logql_escape("(?i)" + q.pattern)}"'

    async def search(self, q: LogQuery, start: datetime, end: datetime) -> list[LogLine]:
        return await self.client.query_range(self.logql(q), start, end)


class DatadogLogs:
    """`query` is Datadog log search syntax in which `{service}` stands for the service name."""

    name = "datadog"

    def __init__(self, client: DatadogLogsClient, query: str = "service:{service}") -> None:
        self.client, self.query = client, query

    async def search(self, q: LogQuery, start: datetime, end: datetime) -> list[LogLine]:
        query = self.query.replace("{service}", q.service)
        lines = [line for line in await self.client.search(query, start, end) if q.matches(line.message)]
        return _cited(lines, q)


class PodLogs:
    """The logs of every pod `label_selector` (with `{service}` for the service name) selects in a namespace;
    of every container of a pod that has several (an app and its sidecars)."""

    name = "kubernetes"

    def __init__(self, client: KubernetesClient, namespace: str, label_selector: str = "app={service}") -> None:
        self.client, self.namespace, self.label_selector = client, namespace, label_selector

    async def search(self, q: LogQuery, start: datetime, end: datetime) -> list[LogLine]:
        pods = await self.client.pods(self.namespace, self.label_selector.replace("{service}", q.service))
        reads = [(pod.name, container) for pod in pods
                 for container in (pod.containers if len(pod.containers) > 1 else [None])]
        logs = await asyncio.gather(*(self.client.pod_logs(self.namespace, name, since=start, container=container)
                                      for name, container in reads))
        window = (aware(start), aware(end))
        lines = [line for lines in logs for line in lines
                 if window[0] <= line.at <= window[1] and q.matches(line.message)]
        return sorted(_cited(lines, q), key=lambda line: line.at)


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re2._Regexp:
    """RE2, as Loki uses: a pattern means the same whichever source filters, and runs in linear time."""
    return re2.compile(f"(?i){pattern}")


def logql_escape(text: str) -> str:
    """The body of a double-quoted LogQL (Go) string: backslashes, quotes and control characters escaped."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return "".join(escapes.get(char, char) for char in text)


def _cited(lines: list[LogLine], q: LogQuery) -> list[LogLine]:
    """Add the local regex filter to each line's query, so the citation says everything that selected it."""
    if q.pattern is None:
        return lines
    grep = f" | grep -iP {shlex.quote(q.pattern)}"
    for line in lines:
        line.query += grep
    return lines



# --- structured lines -------------------------------------------------------------------------------------------

MESSAGE_KEYS = ("msg", "message", "event", "MESSAGE", "log", "text")
_LOGFMT_PAIR = re.compile(r'([\w.@/-]+)=("(?:[^"\\]|\\.)*"|\S*)')


class StructuredLine(BaseModel):
    """A line's message and its key/value fields, whichever of JSON, logfmt or plain text it was written in."""

    message: str
    fields: dict[str, str] = {}
    level: str | None = None
    format: str = "text"  # "json", "logfmt" or "text"


def parse_line(line: str) -> StructuredLine:
    """JSON objects and logfmt lines give their message field and the rest as fields; anything else is text.

    The message field is what a template is built from: `{"ts":..., "msg":"pool exhausted", "req_id":...}` and
    `ts=... msg="pool exhausted" req_id=...` are one kind of line, whatever their ids and timestamps."""
    text = line.strip()
    if text.startswith("{") and text.endswith("}"):
        parsed = _json_fields(text)
        if parsed is not None:
            return _structured(parsed, "json", text)
    if "=" in text:
        pairs = _LOGFMT_PAIR.findall(text)
        # logfmt when most of the line is key=value pairs, not a sentence with one "a=b" in it.
        if len(pairs) >= 2 and sum(len(k) + len(v) + 1 for k, v in pairs) >= 0.6 * len(text.replace(" ", "")):
            return _structured({k: _unquote(v) for k, v in pairs}, "logfmt", text)
    return StructuredLine(message=text, level=line_level(text))


def _json_fields(text: str) -> dict[str, str] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    flat: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            flat.update({f"{key}.{k}": str(v) for k, v in item.items() if not isinstance(v, dict | list)})
        elif item is not None:
            flat[str(key)] = str(item)
    return flat


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _structured(fields: dict[str, str], kind: str, text: str) -> StructuredLine:
    key = next((k for k in MESSAGE_KEYS if fields.get(k)), None)
    message = fields.pop(key) if key else text
    level = next((fields[k] for k in ("level", "lvl", "severity", "log.level", "levelname") if fields.get(k)), None)
    level = level.lower() if level else line_level(message)
    # A level written as a number (pino: 50 = error) or a word.
    if level and level.isdigit():
        level = {"10": "trace", "20": "debug", "30": "info", "40": "warn", "50": "error", "60": "fatal"}.get(level)
    return StructuredLine(message=message, fields=fields, level=_LEVEL_NAMES.get(level or "", level), format=kind)
