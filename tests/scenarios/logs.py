"""Logs: every line a scenario's streams write, rendered as each framework writes it, and the three views of
them (Loki entries, Datadog events, pod logs)."""

from __future__ import annotations

import bisect
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tests.scenarios.cluster import all_pods, listed, pods_of
from tests.scenarios.meta import uid
from tests.scenarios.metrics import interpolator
from tests.scenarios.model import Background, LineSpec, LogStream, Scenario, T, seeded

_HEX = "0123456789abcdef"
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "ms": lambda r: str(max(1, int(r.lognormvariate(3.0, 0.6)))),
    "ms_slow": lambda r: str(r.randint(900, 4000)),
    "id": lambda r: "".join(r.choices(_ALNUM, k=12)),
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "trace": lambda r: f"{r.getrandbits(128):032x}",
    "span": lambda r: f"{r.getrandbits(64):016x}",
    "n": lambda r: str(r.randint(1, 50)),
    "big": lambda r: str(r.randint(1000, 99999)),
    "ip": lambda r: f"10.{r.randint(0, 63)}.{r.randint(0, 255)}.{r.randint(2, 254)}",
    "port": lambda r: str(r.randint(32768, 60999)),
    "amount": lambda r: f"{r.lognormvariate(3.5, 1.0):.2f}",
    "user": lambda r: "usr_" + "".join(r.choices(_ALNUM, k=10)),
    "bytes": lambda r: str(r.randint(180, 24000)),
    "thread": lambda r: str(r.randint(1, 200)),
}


def _fill(template: str, rng: random.Random) -> str:
    """Fill `{ms}`, `{id}`, `{trace}`... so that repeated lines differ as real ones do; unknown names stay as is."""
    if "{" not in template:
        return template

    def value(match: re.Match[str]) -> str:
        maker = _MAKERS.get(match[1])
        return maker(rng) if maker else match[0]

    return _PLACEHOLDER.sub(value, template)


_ATTR = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S+)')


def _split(message: str) -> tuple[str, list[tuple[str, str]]]:
    """`text | key=value key=value`: the message and its structured attributes."""
    text, _, attrs = message.partition(" | ")
    return text, [(k, _unquote(v)) for k, v in _ATTR.findall(attrs)]


def _unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    return re.sub(r"\\(.)", r"\1", value[1:-1])


def _json_value(text: str) -> Any:
    if re.fullmatch(r"-?\d+(?:\.\d+)?", text):
        return float(text) if "." in text else int(text)
    return text


def _logfmt_value(text: str) -> str:
    if text and not re.search(r'[\s="\\]', text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


JSON_FORMATS = ("logstash", "structlog", "pino", "zap")
_SPRING_THREADS = ["HikariPool-1 housekeeper", "scheduling-1", "kafka-consumer-1", "kafka-consumer-2"]


class _Rendered:
    """One filled-in variant of a line template, with the parts of its rendering that do not change per line."""

    __slots__ = ("attrs", "extra", "json_tail", "logfmt_tail", "logger", "message", "stack", "text")

    def __init__(self, text: str, attrs: list[tuple[str, str]], stack: str | None, logger: str | None) -> None:
        self.text, self.attrs, self.stack, self.logger = text, attrs, stack, logger
        self.message = f"{text}\n{stack}" if stack else text  # what Datadog shows for a JSON log
        self.extra = "".join(f" {k}={v}" for k, v in attrs)  # attributes appended to a text line
        fields = [("msg", text), *attrs, *([("stack", stack)] if stack else [])]
        self.logfmt_tail = " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields)
        self.json_tail: str | None = None


VARIANTS = 256  # filled-in variants per template: ids and durations vary without filling every line anew


class _Variants:
    """Filled-in variants of each template, made on first use (in a fixed order, so reproducibly)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.made: dict[tuple[int, int], _Rendered] = {}

    def pick(self, line: LineSpec) -> _Rendered:
        key = (id(line), int(self.rng.random() * VARIANTS))
        found = self.made.get(key)
        if found is None:
            text, attrs = _split(_fill(line.message, self.rng))
            stack = _fill(line.stack, self.rng) if line.stack else None
            found = self.made[key] = _Rendered(text, attrs, stack, line.logger)
        return found


class _Stamp(NamedTuple):
    """A line's time, with the text of its whole seconds made once per second rather than once per line."""

    at: datetime
    seconds: str  # 2024-12-20T14:25:03
    micro: int

    @property
    def iso_ms(self) -> str:
        return f"{self.seconds}.{self.micro // 1000:03d}Z"


class _Clock:
    """Stamps for one stream's lines, which come in time order."""

    def __init__(self) -> None:
        self.second, self.base, self.text = -1, datetime.min, ""

    def stamp(self, ts: float) -> _Stamp:
        second = int(ts)
        if second != self.second:
            self.second, self.base = second, datetime.fromtimestamp(second, UTC)
            self.text = self.base.strftime("%Y-%m-%dT%H:%M:%S")
        micro = min(999_999, int((ts - second) * 1_000_000))
        return _Stamp(self.base.replace(microsecond=micro), self.text, micro)


def _with_stack(head: str, stack: str | None) -> str:
    return f"{head}\n{stack}" if stack else head


def _format(fmt: str, stamp: _Stamp, level: str, line: _Rendered, logger: str, pod: str | None,
            rng: random.Random) -> str:
    """One log line as the framework of `fmt` writes it."""
    text, extra, stack = line.text, line.extra, line.stack
    logger = line.logger or logger
    if fmt == "logfmt":  # Go log/slog TextHandler
        return f"time={stamp.iso_ms} level={level.upper()} {line.logfmt_tail}"
    if fmt == "spring":  # Spring Boot's default console pattern
        thread = f"nio-8080-exec-{int(rng.random() * 200) + 1}" if rng.random() < 0.9 else _choice(rng, _SPRING_THREADS)
        head = f"{stamp.seconds.replace('T', ' ')}.{stamp.micro // 1000:03d} {level.upper():>5} 1 --- " \
               f"[{thread[-15:]:>15}] {logger:<40} : {text}{extra}"
        return _with_stack(head, stack)
    if fmt in JSON_FORMATS:
        return _json_line(fmt, stamp, level, line, logger, pod, rng)
    if fmt == "postgres":  # log_line_prefix '%m [%p] '
        name = {"debug": "DEBUG", "info": "LOG", "warn": "WARNING", "error": "ERROR", "fatal": "FATAL"}[level]
        pid = 1000 + int(rng.random() * 30000)
        return f"{stamp.seconds.replace('T', ' ')}.{stamp.micro // 1000:03d} UTC [{pid}] {name}:  {text}{extra}"
    if fmt == "python":  # the logging module's "%(asctime)s %(levelname)s [%(name)s] %(message)s"
        name = {"warn": "WARNING", "fatal": "CRITICAL"}.get(level, level.upper())
        head = f"{stamp.seconds.replace('T', ' ')},{stamp.micro // 1000:03d} {name} [{logger}] {text}{extra}"
        return _with_stack(head, stack)
    if fmt == "tracing":  # Rust tracing-subscriber's fmt layer
        return _with_stack(f"{stamp.seconds}.{stamp.micro:06d}Z {level.upper():>5} {logger}: {text}{extra}", stack)
    if fmt == "nginx":  # access log for info, error log otherwise
        day, clock = stamp.seconds.split("T")
        if level == "info":
            month = _MONTHS[int(day[5:7]) - 1]
            return f"{_MAKERS['ip'](rng)} - - [{day[8:10]}/{month}/{day[:4]}:{clock} +0000] {text}{extra}"
        return f"{day.replace('-', '/')} {clock} [{_NGINX_LEVELS[level]}] 31#31: *{int(rng.random() * 900000)} {text}"
    if fmt == "klog":  # Kubernetes components
        letter = {"debug": "I", "info": "I", "warn": "W", "error": "E", "fatal": "F"}[level]
        day, clock = stamp.seconds.split("T")
        return f"{letter}{day[5:7]}{day[8:10]} {clock}.{stamp.micro:06d}       1 {logger}] {text}{extra}"
    # CoreDNS: "[LEVEL] message"; query log lines ("[INFO] 10.1.2.3:5353 - ...") carry their own prefix
    coredns_level = "WARNING" if level == "warn" else level.upper()
    return text + extra if text.startswith("[") else f"[{coredns_level}] {text}{extra}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NGINX_LEVELS = {"debug": "debug", "info": "notice", "warn": "warn", "error": "error", "fatal": "crit"}
_LOGBACK_LEVELS = {"debug": 10000, "info": 20000, "warn": 30000, "error": 40000, "fatal": 50000}


def _json_line(fmt: str, stamp: _Stamp, level: str, line: _Rendered, logger: str, pod: str | None,
               rng: random.Random) -> str:
    """A JSON log line: the fields that vary per line, then the variant's other fields serialized once."""
    if line.json_tail is None:
        line.json_tail = json.dumps(_json_static(fmt, line, logger), separators=(",", ":"))[1:]
    tail = line.json_tail
    if fmt == "logstash":  # logstash-logback-encoder
        thread = f"http-nio-8080-exec-{int(rng.random() * 64) + 1}"
        return (f'{{"@timestamp":"{stamp.iso_ms}","@version":"1","level":"{level.upper()}",'
                f'"level_value":{_LOGBACK_LEVELS[level]},"thread_name":"{thread}",{tail}')
    if fmt == "structlog":
        return f'{{"timestamp":"{stamp.iso_ms}","level":"{"warning" if level == "warn" else level}",{tail}'
    if fmt == "zap":  # go.uber.org/zap's production JSON encoder: epoch seconds, caller, msg
        return f'{{"level":"{level}","ts":{stamp.at.timestamp():.6f},{tail}'
    millis = int(stamp.at.timestamp() * 1000)  # pino, with its level formatter writing labels
    return f'{{"level":"{level}","time":{millis},"pid":1,"hostname":"{pod or "localhost"}",{tail}'


def _json_static(fmt: str, line: _Rendered, logger: str) -> dict[str, Any]:
    extra = {k: _json_value(v) for k, v in line.attrs}
    stack = line.stack
    if fmt == "logstash":
        return {"message": line.text, "logger_name": logger, **extra, **({"stack_trace": stack} if stack else {})}
    if fmt == "structlog":
        return {"event": line.text, "logger": logger, **extra, **({"exception": stack} if stack else {})}
    if fmt == "zap":
        return {"caller": logger, "msg": line.text, **extra, **({"stacktrace": stack} if stack else {})}
    err = {"err": {"type": stack.split(":", 1)[0], "message": line.text, "stack": stack}} if stack else {}
    return {"msg": line.text, **extra, **err}


class LogRecord(NamedTuple):
    """One log line, whichever backend serves it."""

    at: datetime
    stream: int  # index into scenario.logs.streams
    level: str
    line: str  # as written, possibly several lines (a stack trace)
    message: str  # Datadog's message: the line, or for JSON logs the message field (and stack trace)
    pod: str | None
    node: str | None


@dataclass(frozen=True)
class _Lifetime:
    pod: str
    node: str | None
    start: float
    end: float


def _lifetimes(s: Scenario, stream: LogStream) -> list[_Lifetime]:
    """The pods that write this stream, with when they were running."""
    if stream.deployment:
        return [_Lifetime(p.name, p.node, p.started.timestamp(), (p.ended or s.window.end).timestamp() + 1)
                for p in pods_of(s, stream.deployment)]
    return [_Lifetime(p, None, s.window.start.timestamp(), s.window.end.timestamp() + 1) for p in stream.pods]


def _choice(rng: random.Random, items: list[T]) -> T:
    """rng.choice, several times faster: the log generator calls it for every line."""
    return items[int(rng.random() * len(items))]


def _count(rng: random.Random, rate: float) -> int:
    """About `rate` events, varying from minute to minute."""
    expected = max(0.0, rate * rng.uniform(0.85, 1.15))
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


class _Roster:
    """Which pods are running at a time: constant between consecutive pod starts and ends, so looked up by bisect."""

    def __init__(self, pods: list[_Lifetime]) -> None:
        self.bounds = sorted({t for p in pods for t in (p.start, p.end)})
        self.alive = [[p for p in pods if p.start <= t < p.end] for t in self.bounds]

    def pick(self, rng: random.Random, ts: float, only: list[str]) -> _Lifetime | None:
        i = bisect.bisect_right(self.bounds, ts) - 1
        alive = self.alive[i] if i >= 0 else []
        if only:
            alive = [p for p in alive if p.pod in only]
        return _choice(rng, alive) if alive else None


def _level(line: LineSpec, default: str) -> str:
    """A line's own level when it states one, else the level of the background or burst it belongs to."""
    return line.level if "level" in line.model_fields_set else default


def _stream_events(s: Scenario, rng: random.Random, stream: LogStream,
                   extra: int) -> list[tuple[float, str, LineSpec, list[str]]]:
    """(Unix time, level, line, pods allowed to write it) for the background and every burst, in time order."""
    start, end = s.window.start.timestamp(), s.window.end.timestamp()
    events: list[tuple[float, str, LineSpec, list[str]]] = []
    background = stream.background
    if background:
        factor = interpolator(background.shape) if background.shape else (lambda _t: 1.0)
        for minute in range(int(start), int(end), 60):
            for _ in range(_count(rng, background.per_minute * factor(minute))):
                events.append((minute + rng.random() * 60, *_background_line(rng, background), []))
        for _ in range(extra):
            events.append((rng.uniform(start, end), *_background_line(rng, background), []))
    for burst in stream.bursts:
        b_start, b_end = burst.from_.timestamp(), burst.to.timestamp()
        for minute in range(int(b_start), int(b_end), 60):
            span = min(60.0, b_end - minute)
            for _ in range(_count(rng, burst.rate(datetime.fromtimestamp(minute, UTC)) * span / 60)):
                line = _choice(rng, burst.messages)
                events.append((minute + rng.random() * span, _level(line, burst.level), line, burst.pods))
    events.sort(key=lambda e: e[0])
    return events


def _stream_records(s: Scenario, index: int, stream: LogStream, extra: int) -> list[LogRecord]:
    rng = seeded(s.name, "logs", index)
    pods = _lifetimes(s, stream)
    roster, variants, clock = _Roster(pods), _Variants(rng), _Clock()
    json_format = stream.format in JSON_FORMATS
    records = []
    for ts, level, line, only in _stream_events(s, rng, stream, extra):
        pod = roster.pick(rng, ts, only) if pods else None
        if pods and pod is None:
            continue  # nobody was running to write it
        stamp = clock.stamp(ts)
        at = stamp.at
        name = pod.pod if pod else None
        rendered = variants.pick(line)
        text = _format(stream.format, stamp, level, rendered, stream.logger, name, rng)
        message = rendered.message if json_format else text
        records.append(LogRecord(at, index, level, text, message, name, pod.node if pod else stream.host))
    return records


def _background_line(rng: random.Random, background: Background) -> tuple[str, LineSpec]:
    if background.warnings and rng.random() < background.warn_share:
        line = _choice(rng, background.warnings)
        return _level(line, "warn"), line
    line = _choice(rng, background.lines)
    return _level(line, "info"), line


def log_records(s: Scenario, extra_background_lines: int = 0) -> list[LogRecord]:
    """Every log line of every stream, in time order; extra background lines are shared out by stream volume."""
    if extra_background_lines in s._logs:
        return s._logs[extra_background_lines]
    streams = s.logs.streams
    volume = [st.background.per_minute if st.background else 0.0 for st in streams]
    total = sum(volume) or 1.0
    shares = [round(extra_background_lines * v / total) for v in volume]
    records = [r for i, st in enumerate(streams) for r in _stream_records(s, i, st, shares[i])]
    records.sort(key=lambda r: (r.at, r.stream))
    s._logs[extra_background_lines] = records
    return records


def _loki_labels(s: Scenario, record: LogRecord) -> dict[str, str]:
    stream = s.logs.streams[record.stream]
    labels = dict(stream.labels)
    if record.pod and stream.pod_label:
        labels[stream.pod_label] = record.pod
    return labels


def log_entries(s: Scenario, extra_background_lines: int = 0) -> list[tuple[datetime, dict[str, str], str]]:
    """(time, stream labels, line) for FakeLoki, whatever the scenario's backend (benchmarks use both)."""
    return [(r.at, _loki_labels(s, r), _loki_line(s, r)) for r in log_records(s, extra_background_lines)]


def _loki_line(s: Scenario, record: LogRecord) -> str:
    """The line as the shipper pushed it. The Collector's Loki exporter encodes each record as JSON (body,
    attributes, resources: opentelemetry-collector-contrib pkg/translator/loki/encode.go); the filelog receiver's
    container parser sets the file attributes and the pod's resource attributes, and those promoted to stream
    labels (`loki.resource.labels` hints) leave the resources."""
    stream = s.logs.streams[record.stream]
    if stream.envelope is None:
        return record.line
    namespace = stream.labels.get("k8s_namespace_name", s.kubernetes.namespace)
    container = stream.labels.get("k8s_container_name", "app")
    pod = record.pod or ""
    pod_uid = uid(s, "Pod", namespace, pod)
    attributes = {"log.file.path": f"/var/log/pods/{namespace}_{pod}_{pod_uid}/{container}/0.log",
                  "log.iostream": "stdout", "logtag": "F"}
    resources = {"k8s.container.restart_count": "0", **({"k8s.node.name": record.node} if record.node else {}),
                 "k8s.pod.uid": pod_uid}  # Go marshals map keys in order
    encoded = json.dumps({"body": record.line, "attributes": attributes, "resources": resources},
                         separators=(",", ":"), ensure_ascii=False)
    return encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")  # Go's encoding/json


def stream_service(stream: LogStream) -> str:
    """The application a stream belongs to, whichever label convention names it."""
    labels = stream.labels
    return labels.get("service") or labels.get("service_name") or labels.get("app") or labels.get("container") \
        or labels.get("job", "").rpartition("/")[2] or labels.get("k8s_container_name", "")


_DD_STATUS = {"debug": "debug", "info": "info", "warn": "warn", "error": "error", "fatal": "critical"}


def datadog_logs(s: Scenario, extra_background_lines: int = 0) -> list[dict[str, Any]]:
    """Log events as Datadog keeps them (timestamp, message, status, service, host, tags), for FakeDatadog."""
    out = []
    for r in log_records(s, extra_background_lines):
        stream = s.logs.streams[r.stream]
        tags = [f"{k}:{v}" for k, v in stream.labels.items() if k != "service"] + list(stream.tags)
        if r.pod:
            tags.append(f"pod_name:{r.pod}")
        out.append({"timestamp": r.at, "message": r.message, "status": _DD_STATUS[r.level],
                    "service": stream_service(stream), "host": r.node or stream.host or "unknown", "tags": tags})
    return out


def pod_logs(s: Scenario) -> dict[tuple[str, str], list[tuple[datetime, str]]]:
    """(namespace, pod) → the lines its container wrote up to the snapshot, one physical line each, for the pods
    the API lists then."""
    pods = {p.name: p for p in all_pods(s) if listed(s, p)}
    out: dict[tuple[str, str], list[tuple[datetime, str]]] = {(p.namespace or s.kubernetes.namespace, p.name): []
                                                              for p in pods.values()}
    for r in log_records(s):
        pod = pods.get(r.pod or "")
        if pod is None or r.at > s.snapshot_at:
            continue
        lines = out[(pod.namespace or s.kubernetes.namespace, pod.name)]
        lines.extend((r.at, physical) for physical in r.line.split("\n"))
    return out

