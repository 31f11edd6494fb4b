"""Incident scenarios: one `scenario.yml` per folder, turned into what the test servers serve.

A scenario describes an incident the way its telemetry would show it: metric shapes (backfilled into a real
Prometheus), log streams (served by the Loki or Datadog fake, and as pod logs), the Kubernetes objects at one
moment (deployments with their ReplicaSet history, pods, nodes, events) and the incident's own timeline. The
expected answer (cause, component, triggering change) sits beside it, for the RCA tests to compare against.

Everything random here is seeded from the scenario's name, so a scenario produces the same bytes on every run.
The format is described in README.md next to this file.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import random
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

T = TypeVar("T")
SCENARIOS_DIR = Path(__file__).parent
CAUSES = frozenset({
    "connection-pool-exhaustion", "bad-deploy", "config-change", "certificate-expired", "node-pressure",
    "noisy-neighbour", "dependency-outage", "dns-failure", "disk-full", "memory-leak",
})
TRIGGER_KINDS = frozenset({"deploy", "flag", "config", "scale", "node", "certificate", "other"})
TIMELINE_KINDS = frozenset({"note", "alert", "declared", "status_changed", "status_update", "severity_changed",
                            "role_assigned", "resolved", "action"})


# --- times ------------------------------------------------------------------------------------------------------


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def _when(value: Any, info: ValidationInfo) -> datetime:
    """A time as scenarios write it: ISO 8601, `start`/`end` of the window, or HH:MM[:SS] on the window's first day."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    context = info.context or {}
    if text in ("start", "end"):
        return context[text]
    clock = _CLOCK.fullmatch(text)
    if clock:
        hour, minute, second = (int(part or 0) for part in clock.groups())
        return datetime.combine(context["day"], time(hour, minute, second), tzinfo=UTC)
    return _absolute(text)


def _absolute(value: Any) -> datetime:
    """An ISO 8601 time; without a zone it is UTC."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duration(value: Any) -> timedelta:
    """`15s`, `1m`, `2h` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smh]?)", str(value).strip())
    if match is None:
        raise ValueError(f"not a duration: {value!r} (use 15s, 1m, 2h)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]
    return timedelta(seconds=float(match[1]) * unit)


When = Annotated[datetime, BeforeValidator(_when)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]


def iso(at: datetime) -> str:
    """RFC 3339 in UTC to the second, as the Kubernetes API writes times."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the model --------------------------------------------------------------------------------------------------


class Strict(BaseModel):
    """Unknown keys are mistakes in a scenario file: reject them rather than ignore them."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class IncidentSpec(Strict):
    title: str
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4", "SEV5"]
    service: str
    declared_at: When
    resolved_at: When | None = None
    description: str | None = None


class Trigger(Strict):
    kind: str
    subject: str

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in TRIGGER_KINDS:
            raise ValueError(f"trigger kind {kind!r} is not one of {sorted(TRIGGER_KINDS)}")
        return kind


class Expected(Strict):
    cause: str
    component: str
    trigger: Trigger | None

    @field_validator("cause")
    @classmethod
    def _known_cause(cls, cause: str) -> str:
        if cause not in CAUSES:
            raise ValueError(f"cause {cause!r} is not one of {sorted(CAUSES)}")
        return cause


class Window(Strict):
    start: When
    end: When
    step: Duration = timedelta(seconds=15)

    def times(self) -> list[datetime]:
        count = int((self.end - self.start) / self.step)
        return [self.start + i * self.step for i in range(count + 1)]


Point = tuple[When, float]


class MetricSpec(Strict):
    """One or more series of one metric with the same shape: `each` multiplies them over label values, `zip` pairs
    values up (pod i runs on node i)."""

    name: str
    type: Literal["counter", "gauge", "summary"]
    labels: dict[str, str] = Field(default_factory=dict)
    each: dict[str, list[str]] = Field(default_factory=dict)
    zip: dict[str, list[str]] = Field(default_factory=dict)
    shape: list[Point]
    shape_of: Literal["rate", "value"] = "rate"  # counters only: the shape is the per-second rate, or the value
    noise: float = 0.0  # relative, autocorrelated
    present: tuple[When, When] | None = None  # the series exists only in this span (a pod's lifetime)
    resets: list[When] = Field(default_factory=list)  # counters restart from 0 (container restarts)
    clamp: tuple[float, float] | None = None
    integer: bool = False  # gauges: round values (connections, replicas)
    help: str | None = None

    @field_validator("shape")
    @classmethod
    def _ordered(cls, shape: list[Point]) -> list[Point]:
        if not shape:
            raise ValueError("shape needs at least one point")
        if any(b[0] < a[0] for a, b in itertools.pairwise(shape)):
            raise ValueError("shape points must be in time order")
        return shape

    @field_validator("zip")
    @classmethod
    def _same_lengths(cls, zipped: dict[str, list[str]]) -> dict[str, list[str]]:
        if len({len(values) for values in zipped.values()}) > 1:
            raise ValueError("zip needs lists of one length")
        return zipped

    def label_sets(self) -> list[dict[str, str]]:
        keys = list(self.each)
        products = [dict(zip(keys, values, strict=True)) for values in itertools.product(*(self.each[k] for k in keys))]
        zipped = [dict(zip(self.zip, values, strict=True)) for values in zip(*self.zip.values(), strict=True)] or [{}]
        return [{**self.labels, **pair, **product} for pair in zipped for product in products]


class LineSpec(Strict):
    message: str
    level: Literal["debug", "info", "warn", "error", "fatal"] = "info"
    logger: str | None = None
    stack: str | None = None


def _line(value: Any) -> Any:
    return {"message": value} if isinstance(value, str) else value


Line = Annotated[LineSpec, BeforeValidator(_line)]


class Background(Strict):
    per_minute: float
    lines: list[Line]
    warn_share: float = 0.0  # share of background lines drawn from `warnings` (routine warnings and errors)
    warnings: list[Line] = Field(default_factory=list)
    shape: list[Point] = Field(default_factory=list)  # a multiplier over time (traffic falling at night)


class Burst(Strict):
    from_: When = Field(alias="from")
    to: When
    per_minute: float | tuple[float, float]  # one rate, or a rate at `from` and another at `to`
    level: Literal["debug", "info", "warn", "error", "fatal"] = "error"
    messages: list[Line]
    pods: list[str] = Field(default_factory=list)  # only these pods log it (those on a failing node)

    @model_validator(mode="before")
    @classmethod
    def _one_message(cls, data: Any) -> Any:
        if isinstance(data, dict) and "message" in data:
            data = {**data, "messages": [data["message"]]}
            del data["message"]
        return data

    def rate(self, at: datetime) -> float:
        if isinstance(self.per_minute, float | int):
            return float(self.per_minute)
        first, last = self.per_minute
        span = (self.to - self.from_).total_seconds()
        return first + (last - first) * ((at - self.from_).total_seconds() / span if span else 0.0)


class LogStream(Strict):
    """One application's logs: Loki stream labels (or Datadog service and tags) and what it writes."""

    labels: dict[str, str]
    format: Literal["logfmt", "spring", "logstash", "pino", "structlog", "tracing", "klog", "coredns", "nginx"]
    logger: str = "main"
    deployment: str | None = None  # the lines come from this deployment's pods (kubernetes.pods)
    pods: list[str] = Field(default_factory=list)  # or from these pods, alive for the whole window
    host: str | None = None  # Datadog host when there are no pods
    tags: list[str] = Field(default_factory=list)  # Datadog tags
    background: Background | None = None
    bursts: list[Burst] = Field(default_factory=list)


class LogsSpec(Strict):
    backend: Literal["loki", "datadog"]
    streams: list[LogStream]


class RevisionSpec(Strict):
    revision: int
    hash: str  # the pod-template-hash: a revision reusing an earlier hash is a rollback to that ReplicaSet
    image: str
    at: When
    change_cause: str | None = None
    template_annotations: dict[str, str] = Field(default_factory=dict)


class Resources(Strict):
    cpu: str = "500m"
    memory: str = "512Mi"
    cpu_limit: str | None = "1"
    memory_limit: str | None = "1Gi"


class DeploymentSpec(Strict):
    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    replicas: int = 3
    container: str | None = None
    port: int = 8080
    resources: Resources = Field(default_factory=Resources)
    nodes: list[str] = Field(default_factory=list)  # where generated pods run
    revisions: list[RevisionSpec]

    @field_validator("revisions")
    @classmethod
    def _rollbacks_keep_images(cls, revisions: list[RevisionSpec]) -> list[RevisionSpec]:
        images: dict[str, str] = {}
        for rev in revisions:
            if images.setdefault(rev.hash, rev.image) != rev.image:
                raise ValueError(f"revision {rev.revision}: hash {rev.hash} already names image {images[rev.hash]}")
        return sorted(revisions, key=lambda r: r.revision)


class Termination(Strict):
    reason: str  # OOMKilled, Error, Completed
    exit_code: int = 137
    at: When
    started: When | None = None


class OwnerSpec(Strict):
    kind: str
    name: str
    api_version: str = "apps/v1"


class PodSpec(Strict):
    name: str
    namespace: str | None = None
    deployment: str | None = None
    revision: int | None = None  # the deployment revision (ReplicaSet) it belongs to; default: the latest
    owner: OwnerSpec | None = None  # for pods not run by a deployment (StatefulSet, Job)
    labels: dict[str, str] = Field(default_factory=dict)
    image: str | None = None
    node: str
    started: When
    ended: When | None = None  # its container stopped: no logs after this
    deleted: bool = False  # removed when it ended: its logs stay in Loki/Datadog, the API no longer lists it
    restarts: int = 0
    last_termination: Termination | None = None
    phase: Literal["Pending", "Running", "Succeeded", "Failed"] = "Running"
    reason: str | None = None  # Evicted
    message: str | None = None
    ready: bool = True
    volumes: list[str] = Field(default_factory=list)  # PersistentVolumeClaim names


class ConditionChange(Strict):
    type: Literal["Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"]
    status: Literal["True", "False", "Unknown"]
    at: When
    reason: str | None = None
    message: str | None = None


class NodeSpec(Strict):
    name: str
    ip: str
    provider: Literal["aws", "gce"] = "aws"
    zone: str = "eu-west-1a"
    instance_type: str = "m6i.2xlarge"
    cpu: str = "8"
    memory: str = "32Gi"
    created: When | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    conditions: list[ConditionChange] = Field(default_factory=list)
    unschedulable: bool = False


class ObjectRef(Strict):
    kind: str
    name: str
    namespace: str | None = None


class EventSpec(Strict):
    at: When
    last: When | None = None  # a repeated event: first at `at`, last at `last`, `count` times
    count: int = 1
    type: Literal["Normal", "Warning"] = "Normal"
    reason: str
    message: str
    object: ObjectRef
    source: str = "kubelet"
    host: str | None = None


class KubernetesSpec(Strict):
    namespace: str
    snapshot_at: When | None = None  # when the API is read; default: the end of the window
    cluster: str = "prod-eu-west-1"
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    pods: list[PodSpec] = Field(default_factory=list)
    nodes: list[NodeSpec] = Field(default_factory=list)
    events: list[EventSpec] = Field(default_factory=list)


class TimelineEntry(Strict):
    at: When
    kind: str = "note"
    text: str
    actor: str | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in TIMELINE_KINDS:
            raise ValueError(f"timeline kind {kind!r} is not one of {sorted(TIMELINE_KINDS)}")
        return kind


class GrafanaSpec(Strict):
    dashboards: list[dict[str, Any]] = Field(default_factory=list)
    datasources: list[dict[str, Any]] = Field(default_factory=list)


class Scenario(Strict):
    name: str
    summary: str
    incident: IncidentSpec
    expected: Expected
    window: Window
    metrics: list[MetricSpec]
    logs: LogsSpec
    kubernetes: KubernetesSpec
    timeline: list[TimelineEntry] = Field(default_factory=list)
    grafana: GrafanaSpec | None = None
    # Generated logs, kept per scenario object: Loki, Datadog and pod logs are three views of the same lines.
    _logs: dict[int, list[LogRecord]] = PrivateAttr(default_factory=dict)

    @property
    def service(self) -> str:
        return self.incident.service

    @property
    def snapshot_at(self) -> datetime:
        return self.kubernetes.snapshot_at or self.window.end


# --- reading scenario files -------------------------------------------------------------------------------------


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.1 without its surprises for scenario files: `14:15` stays a string (not 855) and so do timestamps."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"))


def scenario_names() -> list[str]:
    """Every folder here holding a scenario.yml, sorted."""
    return sorted(p.parent.name for p in SCENARIOS_DIR.glob("*/scenario.yml"))


def load(name: str) -> Scenario:
    """Parse and validate `<name>/scenario.yml`; HH:MM times are resolved against the window's first day."""
    raw = yaml.load((SCENARIOS_DIR / name / "scenario.yml").read_text(), Loader=_YamlLoader)
    start, end = _absolute(raw["window"]["start"]), _absolute(raw["window"]["end"])
    scenario = Scenario.model_validate(raw, context={"day": start.date(), "start": start, "end": end})
    if scenario.name != name:
        raise ValueError(f"scenario {name}: its name field says {scenario.name!r}")
    _check(scenario)
    return scenario


def _check(s: Scenario) -> None:
    """Consistency a schema cannot express: unique series, known deployments, pods named after their ReplicaSet."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    kinds: dict[str, str] = {}
    for spec in s.metrics:
        if kinds.setdefault(spec.name, spec.type) != spec.type:
            raise ValueError(f"{s.name}: metric {spec.name} declared as both {kinds[spec.name]} and {spec.type}")
        for labels in spec.label_sets():
            key = (spec.name, tuple(sorted(labels.items())))
            if key in seen:
                raise ValueError(f"{s.name}: series {spec.name}{labels} defined twice")
            seen.add(key)
    deployments = {d.name: d for d in s.kubernetes.deployments}
    for pod in s.kubernetes.pods:
        if pod.deployment is None:
            continue
        if pod.deployment not in deployments:
            raise ValueError(f"{s.name}: pod {pod.name} names unknown deployment {pod.deployment}")
        prefix = f"{pod.deployment}-{_revision_of(deployments[pod.deployment], pod.revision).hash}-"
        if not pod.name.startswith(prefix):
            raise ValueError(f"{s.name}: pod {pod.name} should be named {prefix}<suffix>")
    for stream in s.logs.streams:
        if stream.deployment and stream.deployment not in deployments:
            raise ValueError(f"{s.name}: log stream names unknown deployment {stream.deployment}")
        if "service" not in stream.labels:
            raise ValueError(f"{s.name}: every log stream needs a service label")


def _revision_of(d: DeploymentSpec, number: int | None) -> RevisionSpec:
    if number is None:
        return d.revisions[-1]
    return next(r for r in d.revisions if r.revision == number)


def _rng(*parts: object) -> random.Random:
    """A generator seeded by the parts (a string seed hashes the same on every run, unlike hash())."""
    return random.Random("/".join(str(p) for p in parts))


# --- metrics ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesData:
    name: str
    type: str
    labels: dict[str, str]
    samples: list[tuple[int, float]]  # (Unix seconds, value)


def _interpolator(shape: list[Point]) -> Callable[[float], float]:
    """Linear between points; before the first and after the last, flat. Two points at one time make a step."""
    times = [p[0].timestamp() for p in shape]
    values = [p[1] for p in shape]

    def value_at(t: float) -> float:
        i = bisect.bisect_right(times, t) - 1
        if i < 0:
            return values[0]
        if i >= len(times) - 1:
            return values[-1]
        t0, t1 = times[i], times[i + 1]
        return values[i] + (values[i + 1] - values[i]) * (t - t0) / (t1 - t0)

    return value_at


def _noise(rng: random.Random, relative: float, count: int) -> list[float]:
    """Multipliers around 1: AR(1) noise, so neighbouring samples wander together as real metrics do."""
    if relative <= 0:
        return [1.0] * count
    level, keep = 0.0, 0.7
    out = []
    for _ in range(count):
        level = keep * level + math.sqrt(1 - keep * keep) * rng.gauss(0.0, 1.0)
        out.append(max(0.0, 1.0 + relative * level))
    return out


def _series_values(s: Scenario, spec: MetricSpec, labels: dict[str, str]) -> list[tuple[int, float]]:
    rng = _rng(s.name, spec.name, sorted(labels.items()))
    value_at = _interpolator(spec.shape)
    times = [t for t in s.window.times() if spec.present is None or spec.present[0] <= t <= spec.present[1]]
    multipliers = _noise(rng, spec.noise, len(times))
    if spec.type == "counter":
        return _counter(s, spec, rng, value_at, times, multipliers)
    samples = []
    for t, factor in zip(times, multipliers, strict=True):
        value = value_at(t.timestamp()) * factor
        if spec.clamp:
            value = min(max(value, spec.clamp[0]), spec.clamp[1])
        samples.append((int(t.timestamp()), float(round(value)) if spec.integer else value))
    return samples


def _counter(s: Scenario, spec: MetricSpec, rng: random.Random, value_at: Callable[[float], float],
             times: list[datetime], multipliers: list[float]) -> list[tuple[int, float]]:
    """Integrate a rate shape (or follow a value shape), restarting from 0 at each reset."""
    whole = "seconds" not in spec.name  # request and period counters count events; CPU seconds are fractional
    step = s.window.step.total_seconds()
    born_in_window = bool(times) and times[0] > s.window.start
    total = 0.0 if born_in_window or spec.shape_of == "value" else value_at(times[0].timestamp()) * rng.uniform(
        2 * 3600, 5 * 86400)
    resets = sorted(r.timestamp() for r in spec.resets)
    samples: list[tuple[int, float]] = []
    for t, factor in zip(times, multipliers, strict=True):
        ts = t.timestamp()
        if spec.shape_of == "value":
            total = value_at(ts)
        else:
            if resets and ts >= resets[0]:
                resets.pop(0)
                total = 0.0
            total += max(0.0, value_at(ts) * factor) * step
        samples.append((int(ts), float(math.floor(total)) if whole else round(total, 4)))
    return samples


def series(s: Scenario) -> list[SeriesData]:
    """Every series of the scenario, sampled at the window's step."""
    return [SeriesData(spec.name, spec.type, labels, _series_values(s, spec, labels))
            for spec in s.metrics for labels in spec.label_sets()]


def _label_text(labels: dict[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}" if labels else ""


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.10g}"


def openmetrics(s: Scenario) -> str:
    """The scenario's series in the OpenMetrics text format promtool backfills: a family per metric, Unix seconds."""
    families: dict[str, list[SeriesData]] = {}
    helps = {spec.name: spec.help for spec in s.metrics if spec.help}
    for data in series(s):
        families.setdefault(data.name, []).append(data)
    out: list[str] = []
    for name, members in families.items():
        family = name.removesuffix("_total") if members[0].type == "counter" else name
        out.append(f"# TYPE {family} {members[0].type}")
        if helps.get(name):
            out.append(f"# HELP {family} {helps[name]}")
        for data in members:
            prefix = f"{name}{_label_text(data.labels)} "
            out.extend(f"{prefix}{_number(v)} {t}" for t, v in data.samples)
    out.append("# EOF")
    return "\n".join(out) + "\n"


# --- logs -------------------------------------------------------------------------------------------------------


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


JSON_FORMATS = ("logstash", "structlog", "pino")
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
    millis = int(stamp.at.timestamp() * 1000)  # pino, with its level formatter writing labels
    return f'{{"level":"{level}","time":{millis},"pid":1,"hostname":"{pod or "localhost"}",{tail}'


def _json_static(fmt: str, line: _Rendered, logger: str) -> dict[str, Any]:
    extra = {k: _json_value(v) for k, v in line.attrs}
    stack = line.stack
    if fmt == "logstash":
        return {"message": line.text, "logger_name": logger, **extra, **({"stack_trace": stack} if stack else {})}
    if fmt == "structlog":
        return {"event": line.text, "logger": logger, **extra, **({"exception": stack} if stack else {})}
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
        factor = _interpolator(background.shape) if background.shape else (lambda _t: 1.0)
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
    rng = _rng(s.name, "logs", index)
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
    if record.pod:
        labels["pod"] = record.pod
    return labels


def log_entries(s: Scenario, extra_background_lines: int = 0) -> list[tuple[datetime, dict[str, str], str]]:
    """(time, stream labels, line) for FakeLoki, whatever the scenario's backend (benchmarks use both)."""
    return [(r.at, _loki_labels(s, r), r.line) for r in log_records(s, extra_background_lines)]


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
                    "service": stream.labels["service"], "host": r.node or stream.host or "unknown", "tags": tags})
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


# --- Kubernetes -------------------------------------------------------------------------------------------------


_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _uid(s: Scenario, *parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join((s.name, *parts))))


def _hex(s: Scenario, *parts: str, length: int = 16) -> str:
    return hashlib.sha256("/".join((s.name, *parts)).encode()).hexdigest()[:length]


def pods_of(s: Scenario, deployment: str) -> list[PodSpec]:
    """Every pod the deployment ran in the window, listed or generated."""
    return [p for p in all_pods(s) if p.deployment == deployment]


def all_pods(s: Scenario) -> list[PodSpec]:
    """The listed pods, plus generated ones for deployments that list none: each revision's replicas, running
    from its rollout until the next one replaced them (those are deleted by the snapshot, their logs remain)."""
    with_pods = {p.deployment for p in s.kubernetes.pods if p.deployment}
    generated = []
    for d in s.kubernetes.deployments:
        if d.name not in with_pods and d.replicas > 0:
            generated.extend(_generated_pods(s, d))
    return [*s.kubernetes.pods, *generated]


def _generated_pods(s: Scenario, d: DeploymentSpec) -> Iterator[PodSpec]:
    rng = _rng(s.name, "pods", d.name)
    nodes = d.nodes or [n.name for n in s.kubernetes.nodes] or ["node-1"]
    for rev, following in itertools.zip_longest(d.revisions, d.revisions[1:]):
        replaced = following.at + timedelta(seconds=60) if following else None
        if replaced is not None and replaced < s.window.start:
            continue
        for i in range(d.replicas):
            suffix = "".join(rng.choices(_SUFFIX_ALPHABET, k=5))
            yield PodSpec(name=f"{d.name}-{rev.hash}-{suffix}", namespace=d.namespace, deployment=d.name,
                          revision=rev.revision, node=nodes[(i + rev.revision) % len(nodes)],
                          started=rev.at + timedelta(seconds=8 + 20 * i),
                          ended=replaced + timedelta(seconds=15 * i) if replaced else None,
                          deleted=replaced is not None)


def _deployment_labels(d: DeploymentSpec) -> dict[str, str]:
    return {"app": d.name, **d.labels}


def _container(d: DeploymentSpec, image: str) -> dict[str, Any]:
    limits = {k: v for k, v in (("cpu", d.resources.cpu_limit), ("memory", d.resources.memory_limit)) if v}
    return {"name": d.container or d.name, "image": image, "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": d.port, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": d.resources.cpu, "memory": d.resources.memory}, "limits": limits},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}


def _template(d: DeploymentSpec, rev: RevisionSpec) -> dict[str, Any]:
    return {"metadata": {"labels": {**_deployment_labels(d), "pod-template-hash": rev.hash},
                         "annotations": dict(rev.template_annotations)},
            "spec": {"containers": [_container(d, rev.image)], "restartPolicy": "Always",
                     "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                     "serviceAccountName": d.name, "schedulerName": "default-scheduler"}}


def _meta(s: Scenario, kind: str, name: str, namespace: str | None, created: datetime,
          labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": _uid(s, kind, namespace or "", name),
                            "resourceVersion": str(int(created.timestamp()) % 10_000_000 + 1000),
                            "creationTimestamp": iso(created), "labels": labels or {}, "annotations": annotations or {}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _replicasets(s: Scenario, d: DeploymentSpec) -> list[dict[str, Any]]:
    """One ReplicaSet per pod template; a rollback reuses the old one, which takes the new revision number."""
    namespace = d.namespace or s.kubernetes.namespace
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": d.name, "uid": _uid(s, "Deployment", namespace,
                                                                                         d.name),
             "controller": True, "blockOwnerDeletion": True}
    latest = d.revisions[-1]
    out = []
    for hash_, revs in itertools.groupby(sorted(d.revisions, key=lambda r: (r.hash, r.revision)), key=lambda r: r.hash):
        group = list(revs)
        current = group[-1]
        annotations = {"deployment.kubernetes.io/desired-replicas": str(d.replicas),
                       "deployment.kubernetes.io/max-replicas": str(d.replicas + 1),
                       "deployment.kubernetes.io/revision": str(current.revision)}
        if len(group) > 1:
            annotations["deployment.kubernetes.io/revision-history"] = ",".join(str(r.revision) for r in group[:-1])
        if current.change_cause:
            annotations["kubernetes.io/change-cause"] = current.change_cause
        replicas = d.replicas if hash_ == latest.hash else 0
        meta = _meta(s, "ReplicaSet", f"{d.name}-{hash_}", namespace, group[0].at,
                     {**_deployment_labels(d), "pod-template-hash": hash_}, annotations)
        meta["ownerReferences"] = [owner]
        meta["generation"] = len(group) * 2
        selector = {"matchLabels": {**_deployment_labels(d), "pod-template-hash": hash_}}
        status = {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                  "availableReplicas": replicas, "observedGeneration": len(group) * 2}
        out.append({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
                    "spec": {"replicas": replicas, "selector": selector, "template": _template(d, current)},
                    "status": status})
    return sorted(out, key=lambda rs: rs["metadata"]["creationTimestamp"])


def _deployment(s: Scenario, d: DeploymentSpec) -> dict[str, Any]:
    namespace = d.namespace or s.kubernetes.namespace
    latest = d.revisions[-1]
    annotations = {"deployment.kubernetes.io/revision": str(latest.revision)}
    if latest.change_cause:
        annotations["kubernetes.io/change-cause"] = latest.change_cause
    meta = _meta(s, "Deployment", d.name, namespace, d.revisions[0].at - timedelta(days=90), _deployment_labels(d),
                 annotations)
    meta["generation"] = latest.revision + 3
    ready = sum(1 for p in pods_of(s, d.name) if listed(s, p) and p.ready and _running(s, p))
    replicas = d.replicas
    conditions = [
        {"type": "Available", "status": "True" if ready else "False", "reason": "MinimumReplicasAvailable",
         "message": "Deployment has minimum availability.", "lastUpdateTime": iso(latest.at),
         "lastTransitionTime": iso(d.revisions[0].at)},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
         "message": f'ReplicaSet "{d.name}-{latest.hash}" has successfully progressed.',
         "lastUpdateTime": iso(latest.at + timedelta(seconds=75)), "lastTransitionTime": iso(d.revisions[0].at)},
    ]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": replicas, "revisionHistoryLimit": 10,
                     "selector": {"matchLabels": _deployment_labels(d)}, "template": _template(d, latest),
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                                             "maxUnavailable": "25%"}},
                     "progressDeadlineSeconds": 600},
            "status": {"observedGeneration": meta["generation"], "replicas": replicas, "updatedReplicas": replicas,
                       "readyReplicas": ready, "availableReplicas": ready, "conditions": conditions}}


def _pod(s: Scenario, p: PodSpec, deployments: dict[str, DeploymentSpec]) -> dict[str, Any]:
    namespace = p.namespace or s.kubernetes.namespace
    d = deployments.get(p.deployment or "")
    rev = _revision_of(d, p.revision) if d else None
    labels = {**(_deployment_labels(d) if d else {}), **({"pod-template-hash": rev.hash} if rev else {}), **p.labels}
    image = p.image or (rev.image if rev else "busybox:1.36")
    meta = _meta(s, "Pod", p.name, namespace, p.started - timedelta(seconds=6), labels,
                 dict(rev.template_annotations) if rev else {})
    if d and rev:
        meta["generateName"] = f"{d.name}-{rev.hash}-"
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{d.name}-{rev.hash}",
                                    "uid": _uid(s, "ReplicaSet", d.namespace or s.kubernetes.namespace,
                                                f"{d.name}-{rev.hash}"),
                                    "controller": True, "blockOwnerDeletion": True}]
    elif p.owner:
        meta["ownerReferences"] = [{"apiVersion": p.owner.api_version, "kind": p.owner.kind, "name": p.owner.name,
                                    "uid": _uid(s, p.owner.kind, namespace, p.owner.name), "controller": True,
                                    "blockOwnerDeletion": True}]
    container = _container(d, image) if d else {"name": p.labels.get("app", p.name.rsplit("-", 1)[0]),
                                                 "image": image}
    volumes = [{"name": f"vol-{i}", "persistentVolumeClaim": {"claimName": claim}} for i, claim in enumerate(p.volumes)]
    if volumes:
        container["volumeMounts"] = [{"name": v["name"], "mountPath": f"/var/lib/data{i or ''}"}
                                     for i, v in enumerate(volumes)]
    spec = {"nodeName": p.node, "containers": [container], "restartPolicy": "Always",
            "serviceAccountName": d.name if d else "default", "volumes": volumes, "dnsPolicy": "ClusterFirst"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": _pod_status(s, p, container)}


def _pod_status(s: Scenario, p: PodSpec, container: dict[str, Any]) -> dict[str, Any]:
    rng = _rng(s.name, "pod", p.name)
    node = next((n for n in s.kubernetes.nodes if n.name == p.node), None)
    running = _running(s, p)
    status: dict[str, Any] = {
        "name": container["name"], "image": container["image"], "ready": p.ready and running,
        "imageID": f"{container['image'].split(':')[0]}@sha256:{_hex(s, 'image', container['image'], length=64)}",
        "containerID": f"containerd://{_hex(s, 'container', p.name, length=64)}", "restartCount": p.restarts,
        "started": running}
    last_start = p.last_termination.at + timedelta(seconds=12) if p.last_termination else p.started
    if running:
        status["state"] = {"running": {"startedAt": iso(last_start)}}
    else:
        status["state"] = {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": iso(last_start),
                                          "finishedAt": iso(p.ended or s.snapshot_at)}}
    if p.last_termination:
        t = p.last_termination
        status["lastState"] = {"terminated": {"exitCode": t.exit_code, "reason": t.reason,
                                              "startedAt": iso(t.started or p.started), "finishedAt": iso(t.at)}}
    ready = "True" if status["ready"] else "False"
    conditions = [{"type": kind, "status": value, "lastTransitionTime": iso(p.started - timedelta(seconds=delay))}
                  for kind, value, delay in (("PodScheduled", "True", 6), ("Initialized", "True", 5),
                                             ("ContainersReady", ready, 0), ("Ready", ready, 0))]
    out: dict[str, Any] = {"phase": p.phase, "conditions": conditions, "hostIP": node.ip if node else "10.0.0.10",
                           "podIP": f"10.{rng.randint(64, 127)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}",
                           "startTime": iso(p.started - timedelta(seconds=5)), "containerStatuses": [status],
                           "qosClass": "Burstable"}
    if p.reason:
        out["reason"] = p.reason
    if p.message:
        out["message"] = p.message
    return out


_CONDITION_DEFAULTS = {
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
    "MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
}
_CONDITION_CHANGES = {
    ("MemoryPressure", "True"): ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
                                 "NodeHasInsufficientMemory"),
    ("DiskPressure", "True"): ("KubeletHasDiskPressure", "kubelet has disk pressure", "NodeHasDiskPressure"),
    ("PIDPressure", "True"): ("KubeletHasInsufficientPID", "kubelet has insufficient PID available",
                              "NodeHasInsufficientPID"),
    ("Ready", "False"): ("KubeletNotReady", "container runtime is down", "NodeNotReady"),
    ("MemoryPressure", "False"): (*_CONDITION_DEFAULTS["MemoryPressure"][1:], "NodeHasSufficientMemory"),
    ("DiskPressure", "False"): (*_CONDITION_DEFAULTS["DiskPressure"][1:], "NodeHasNoDiskPressure"),
    ("PIDPressure", "False"): (*_CONDITION_DEFAULTS["PIDPressure"][1:], "NodeHasSufficientPID"),
    ("Ready", "True"): (*_CONDITION_DEFAULTS["Ready"][1:], "NodeReady"),
}


def _node_created(s: Scenario, n: NodeSpec) -> datetime:
    return n.created or s.window.start - timedelta(days=11 + len(n.name) % 17)


def _node(s: Scenario, n: NodeSpec) -> dict[str, Any]:
    snapshot = s.snapshot_at
    created = _node_created(s, n)
    conditions = []
    for kind, (status, reason, message) in _CONDITION_DEFAULTS.items():
        changes = [c for c in n.conditions if c.type == kind and c.at <= snapshot]
        since = created
        if changes:
            last = changes[-1]
            default_reason, default_message, _ = _CONDITION_CHANGES.get((kind, last.status), (reason, message, ""))
            status, reason, message = last.status, last.reason or default_reason, last.message or default_message
            since = last.at
        conditions.append({"type": kind, "status": status, "reason": reason, "message": message,
                           "lastHeartbeatTime": iso(snapshot - timedelta(seconds=23)),
                           "lastTransitionTime": iso(since)})
    labels = {"kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "topology.kubernetes.io/zone": n.zone, "topology.kubernetes.io/region": _region(n.zone),
              "node.kubernetes.io/instance-type": n.instance_type, **n.labels}
    allocatable_memory = f"{int(n.memory.removesuffix('Gi')) * 1024 * 1024 - 1_700_000}Ki"
    return {"apiVersion": "v1", "kind": "Node", "metadata": _meta(s, "Node", n.name, None, created, labels),
            "spec": {"podCIDR": f"10.{64 + len(n.name) % 64}.{n.ip.split('.')[-1]}.0/24",
                     "providerID": _provider_id(s, n),
                     **({"unschedulable": True} if n.unschedulable else {})},
            "status": {"capacity": {"cpu": n.cpu, "memory": n.memory, "pods": "110",
                                    "ephemeral-storage": "104845292Ki"},
                       "allocatable": {"cpu": f"{int(n.cpu) * 1000 - 90}m", "memory": allocatable_memory,
                                       "pods": "110", "ephemeral-storage": "95551679124"},
                       "conditions": conditions,
                       "addresses": [{"type": "InternalIP", "address": n.ip}, {"type": "Hostname", "address": n.name}],
                       "nodeInfo": _node_info(s, n)}}


def _region(zone: str) -> str:
    """eu-west-1a → eu-west-1 (AWS); europe-west1-b → europe-west1 (GCP)."""
    return zone[:-2] if zone[-2] == "-" else zone[:-1]


def _provider_id(s: Scenario, n: NodeSpec) -> str:
    if n.provider == "gce":
        return f"gce://shop-prod-4412/{n.zone}/{n.name}"
    return f"aws:///{n.zone}/i-{_hex(s, 'node', n.name, length=17)}"


def _node_info(s: Scenario, n: NodeSpec) -> dict[str, str]:
    if n.provider == "gce":
        kernel, version, image = "6.1.100+", "v1.30.5-gke.1014001", "Container-Optimized OS from Google"
    else:
        kernel, version, image = "6.1.112-124.190.amzn2023.x86_64", "v1.30.4-eks-a737599", "Amazon Linux 2023"
    return {"architecture": "amd64", "bootID": _uid(s, "boot", n.name), "containerRuntimeVersion": "containerd://1.7.22",
            "kernelVersion": kernel, "kubeProxyVersion": version, "kubeletVersion": version,
            "machineID": _hex(s, "machine", n.name, length=32), "operatingSystem": "linux", "osImage": image,
            "systemUUID": _uid(s, "system", n.name)}


_API_VERSIONS = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
                 "HorizontalPodAutoscaler": "autoscaling/v2", "Job": "batch/v1", "CronJob": "batch/v1",
                 "Certificate": "cert-manager.io/v1"}


def _event(s: Scenario, e: EventSpec, seq: int) -> dict[str, Any]:
    """A core/v1 Event; node events live in the `default` namespace, as the kubelet records them."""
    namespace = e.object.namespace or ("default" if e.object.kind == "Node" else s.kubernetes.namespace)
    name = f"{e.object.name}.{_hex(s, 'event', str(seq), e.reason, length=16)}"
    last = e.last or e.at
    involved = {"kind": e.object.kind, "name": e.object.name, "namespace": namespace,
                "uid": _uid(s, e.object.kind, namespace if e.object.kind != "Node" else "", e.object.name),
                "apiVersion": _API_VERSIONS.get(e.object.kind, "v1")}
    if e.object.kind == "Node":
        del involved["namespace"]
    return {"apiVersion": "v1", "kind": "Event", "metadata": _meta(s, "Event", name, namespace, e.at),
            "involvedObject": involved, "reason": e.reason, "message": e.message, "type": e.type,
            "source": {"component": e.source, **({"host": e.host} if e.host else {})},
            "firstTimestamp": iso(e.at), "lastTimestamp": iso(last), "count": e.count,
            "reportingComponent": e.source, "reportingInstance": e.host or ""}


def _generated_events(s: Scenario) -> Iterable[EventSpec]:
    """What the controllers and the kubelet record on their own: rollouts, pod start-up, node condition changes."""
    start, snapshot = s.window.start, s.snapshot_at
    for d in s.kubernetes.deployments:
        ref = ObjectRef(kind="Deployment", name=d.name, namespace=d.namespace)
        for old, new in itertools.pairwise(d.revisions):
            if start <= new.at <= snapshot:
                yield EventSpec(at=new.at, reason="ScalingReplicaSet", source="deployment-controller", object=ref,
                                message=f"Scaled up replica set {d.name}-{new.hash} to {d.replicas}")
                yield EventSpec(at=new.at + timedelta(seconds=70), reason="ScalingReplicaSet", object=ref,
                                source="deployment-controller",
                                message=f"Scaled down replica set {d.name}-{old.hash} to 0 from {d.replicas}")
    for p in all_pods(s):
        if start <= p.started <= snapshot:
            yield from _pod_start_events(s, p)
    for n in s.kubernetes.nodes:
        for c in n.conditions:
            if start <= c.at <= snapshot and (c.type, c.status) in _CONDITION_CHANGES:
                reason = _CONDITION_CHANGES[(c.type, c.status)][2]
                yield EventSpec(at=c.at, reason=reason, message=f"Node {n.name} status is now: {reason}",
                                object=ObjectRef(kind="Node", name=n.name), host=n.name)


def _pod_start_events(s: Scenario, p: PodSpec) -> Iterator[EventSpec]:
    ref = ObjectRef(kind="Pod", name=p.name, namespace=p.namespace)
    d = next((d for d in s.kubernetes.deployments if d.name == p.deployment), None)
    image = p.image or (_revision_of(d, p.revision).image if d else "busybox:1.36")
    container = (d.container or d.name) if d else p.labels.get("app", "main")
    namespace = p.namespace or s.kubernetes.namespace
    yield EventSpec(at=p.started - timedelta(seconds=6), reason="Scheduled", source="default-scheduler", object=ref,
                    message=f"Successfully assigned {namespace}/{p.name} to {p.node}")
    yield EventSpec(at=p.started - timedelta(seconds=3), reason="Pulled", object=ref, host=p.node,
                    message=f'Container image "{image}" already present on machine')
    yield EventSpec(at=p.started - timedelta(seconds=1), reason="Created", object=ref, host=p.node,
                    message=f"Created container {container}")
    yield EventSpec(at=p.started, reason="Started", object=ref, host=p.node, message=f"Started container {container}")


def listed(s: Scenario, p: PodSpec) -> bool:
    """Whether the API lists the pod at the snapshot: it was created, and not yet removed."""
    gone = p.deleted and (p.ended is None or p.ended <= s.snapshot_at)
    return p.started <= s.snapshot_at and not gone


def _running(s: Scenario, p: PodSpec) -> bool:
    return p.phase == "Running" and (p.ended is None or p.ended > s.snapshot_at)


def _as_of(s: Scenario, d: DeploymentSpec) -> DeploymentSpec | None:
    """The deployment as the snapshot sees it: without the revisions rolled out after it."""
    revisions = [r for r in d.revisions if r.at <= s.snapshot_at]
    return d.model_copy(update={"revisions": revisions}) if revisions else None


def _event_key(e: EventSpec) -> tuple[str, str, str, str]:
    return e.object.kind, e.object.name, e.reason, e.message


def kubernetes_objects(s: Scenario) -> dict[str, list[dict[str, Any]]]:
    """The cluster as the API would list it at the snapshot time: raw JSON objects, by resource."""
    deployments = {d.name: d for d in s.kubernetes.deployments}
    current = [d for d in (_as_of(s, d) for d in s.kubernetes.deployments) if d is not None]
    # An explicit event (a repeated "Started" after a restart) replaces the one the loader would make up.
    explicit = {_event_key(e) for e in s.kubernetes.events}
    generated = [e for e in _generated_events(s) if _event_key(e) not in explicit]
    specs = sorted([*s.kubernetes.events, *generated], key=lambda e: e.at)
    events = [_event(s, e, i) for i, e in enumerate(specs) if e.at <= s.snapshot_at]
    return {
        "deployments": [_deployment(s, d) for d in current],
        "replicasets": [rs for d in current for rs in _replicasets(s, d)],
        "pods": [_pod(s, p, deployments) for p in all_pods(s) if listed(s, p)],
        "nodes": [_node(s, n) for n in s.kubernetes.nodes],
        "events": events,
    }


def grafana_datasources(s: Scenario) -> list[dict[str, Any]]:
    """The scenario's Grafana datasources; by default one Prometheus datasource (uid `prometheus`)."""
    if s.grafana and s.grafana.datasources:
        return s.grafana.datasources
    return [{"id": 1, "uid": "prometheus", "name": "Prometheus", "type": "prometheus", "access": "proxy",
             "isDefault": True, "jsonData": {"httpMethod": "POST", "timeInterval": "15s"}}]
