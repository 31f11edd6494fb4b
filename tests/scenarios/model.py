"""The scenario model: what a `scenario.yml` holds once parsed and validated (times, metric shapes, log streams,
Kubernetes objects, the incident and its expected answer), and the seeded randomness every view of it shares."""

from __future__ import annotations

import itertools
import random
import re
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

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

if TYPE_CHECKING:
    from tests.scenarios.logs import LogRecord

T = TypeVar("T")
# What broke, as an investigator would headline it; README.md defines each.
CAUSES = frozenset({
    "connection-pool-exhaustion", "bad-deploy", "config-change", "certificate-expired", "node-pressure",
    "noisy-neighbour", "dependency-outage", "dns-failure", "disk-full", "memory-leak",
    "configmap-change", "secret-rotation", "feature-flag", "rate-limited", "node-not-ready", "autoscaler-at-max",
    "job-saturating-database", "cache-stampede", "schema-migration-lock", "bad-gitops-sync",
})
# The change that set it off: a rollout, a flag, a ConfigMap or Secret edit, a scaling limit, a node condition,
# a certificate, a Job run, a GitOps sync.
TRIGGER_KINDS = frozenset({"deploy", "flag", "config", "secret", "scale", "node", "certificate", "job", "gitops",
                           "other"})
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
    return absolute_time(text)


def absolute_time(value: Any) -> datetime:
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


class ObjectRef(Strict):
    kind: str
    name: str
    namespace: str | None = None
    api_version: str | None = None


class Trigger(Strict):
    kind: str
    subject: str
    object: ObjectRef | None = None  # the Kubernetes object that changed, when one did
    key: str | None = None  # what changed in it: an image, an env var, a data key, a flag
    old: str | None = None
    new: str | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in TRIGGER_KINDS:
            raise ValueError(f"trigger kind {kind!r} is not one of {sorted(TRIGGER_KINDS)}")
        return kind


class RuledOut(Strict):
    """A change an investigator finds near the incident that did not cause it, and why."""

    kind: str
    subject: str
    at: When | None = None
    object: ObjectRef | None = None
    why: str


class Expected(Strict):
    cause: str
    component: str
    component_kind: str | None = None  # Deployment, StatefulSet, Node, Job, CronJob, HorizontalPodAutoscaler...
    namespace: str | None = None
    trigger: Trigger | None
    ruled_out: list[RuledOut] = Field(default_factory=list)

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
    type: Literal["counter", "gauge", "summary", "histogram"]
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
    # histograms: `shape` is the request rate; `latency` the median in seconds over time, `spread` the log-normal
    # sigma, `buckets` the upper bounds (`+Inf` is added)
    latency: list[Point] = Field(default_factory=list)
    spread: float = 0.6
    buckets: list[float] = Field(default_factory=lambda: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
    unit: str | None = None

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
    format: Literal["logfmt", "spring", "logstash", "pino", "structlog", "tracing", "klog", "coredns", "nginx", "zap",
                    "python", "postgres"]
    logger: str = "main"
    deployment: str | None = None  # the lines come from this workload's pods (a Deployment, StatefulSet or Job)
    pod_label: str | None = "pod"  # the stream label naming the pod (None: the pod is not a stream label)
    # how the shipper wraps each line in Loki: None (Promtail, Alloy: the line as written), or `otlp-json` (the
    # OpenTelemetry Collector's filelog receiver and Loki exporter: the line is the body of a JSON log record)
    envelope: Literal["otlp-json"] | None = None
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
    env: dict[str, str] = Field(default_factory=dict)  # the container's env in this pod template
    memory_limit: str | None = None  # overrides the deployment's limit in this template


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
    env_from: list[str] = Field(default_factory=list)  # ConfigMaps the container reads as env
    secrets_from: list[str] = Field(default_factory=list)  # Secrets the container reads as env
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
    taints: list[Taint] = Field(default_factory=list)


class Taint(Strict):
    key: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    value: str | None = None
    at: When | None = None
    until: When | None = None  # removed then


class DataEdit(Strict):
    """One write to a ConfigMap or Secret: who wrote it, when, and the data it left."""

    at: When
    manager: str = "kubectl-edit"
    operation: Literal["Update", "Apply"] = "Update"
    data: dict[str, str]


class ConfigSpec(Strict):
    """A ConfigMap or Secret (data in clear here; Secrets are served base64-encoded, as the API does)."""

    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    created: When
    manager: str = "helm"
    type: str = "Opaque"
    data: dict[str, str]
    edits: list[DataEdit] = Field(default_factory=list)


class ServiceSpec(Strict):
    name: str
    namespace: str | None = None
    selector: dict[str, str] = Field(default_factory=dict)
    port: int = 80
    target_port: int = 8080
    type: Literal["ClusterIP", "ExternalName", "LoadBalancer"] = "ClusterIP"
    external_name: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class StatefulSetSpec(Strict):
    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    replicas: int = 1
    image: str
    container: str | None = None
    port: int = 5432
    created: When
    revision_hash: str
    volume: str = "data"  # the volumeClaimTemplate: pods mount <volume>-<name>-<ordinal>
    storage: str = "50Gi"
    nodes: list[str] = Field(default_factory=list)


class JobSpec(Strict):
    name: str
    namespace: str | None = None
    cronjob: str | None = None  # the CronJob that created it; None for a Job run by hand or by a deploy tool
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    image: str
    command: list[str] = Field(default_factory=list)
    started: When
    finished: When | None = None  # still running at the snapshot when None or later
    failed: bool = False
    node: str
    pod_suffix: str  # five characters of the safe alphabet


class CronJobSpec(Strict):
    name: str
    namespace: str | None = None
    schedule: str
    image: str
    command: list[str] = Field(default_factory=list)
    created: When
    suspend: bool = False
    labels: dict[str, str] = Field(default_factory=dict)


class ReplicaCount(Strict):
    at: When
    replicas: int


class HpaSpec(Strict):
    name: str
    namespace: str | None = None
    target: str  # the Deployment it scales
    min_replicas: int = 2
    max_replicas: int
    cpu_utilization: int = 70
    created: When
    history: list[ReplicaCount]  # current replicas over time; the last one before the snapshot is the status


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
    configmaps: list[ConfigSpec] = Field(default_factory=list)
    secrets: list[ConfigSpec] = Field(default_factory=list)
    services: list[ServiceSpec] = Field(default_factory=list)
    statefulsets: list[StatefulSetSpec] = Field(default_factory=list)
    jobs: list[JobSpec] = Field(default_factory=list)
    cronjobs: list[CronJobSpec] = Field(default_factory=list)
    hpas: list[HpaSpec] = Field(default_factory=list)
    custom: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)  # raw custom resources, by plural name


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



def revision_of(d: DeploymentSpec, number: int | None) -> RevisionSpec:
    if number is None:
        return d.revisions[-1]
    return next(r for r in d.revisions if r.revision == number)


def seeded(*parts: object) -> random.Random:
    """A generator seeded by the parts (a string seed hashes the same on every run, unlike hash())."""
    return random.Random("/".join(str(p) for p in parts))

