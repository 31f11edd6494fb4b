"""The short form a scenario is written in: the services and what they call, the cause and where it sits, the
changes around it, the conventions of the cluster, and the expected answer. `expand` turns it into telemetry."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from tests.scenarios.model import Expected, Strict, absolute_time

CAUSE_KINDS = (
    "bad-deploy", "config-change", "configmap-change", "secret-rotation", "feature-flag",
    "connection-pool-exhaustion", "dependency-outage", "rate-limited", "dns-failure", "node-not-ready",
    "node-pressure", "noisy-neighbour", "memory-leak", "disk-full", "certificate-expired", "autoscaler-at-max",
    "job-saturating-database", "cache-stampede", "schema-migration-lock", "bad-gitops-sync",
)
DISTRACTION_KINDS = ("deploy", "rollback", "configmap", "secret", "scale", "cronjob", "cert-renewal", "gitops-sync",
                     "flag", "node-cordon", "warning-burst", "flux-reconcile")


class Conventions(Strict):
    """How this cluster names things. Each choice is one a real cluster makes."""

    # how application metrics are scraped: ServiceMonitor (namespace/pod/container/service/job=service),
    # PodMonitor (job=<namespace>/<name>, no service label), the old annotation scrape config
    # (kubernetes_namespace/kubernetes_pod_name/app), or an OpenTelemetry collector (job=<ns>/<service>,
    # instance=<pod uid>, k8s_* resource labels)
    scrape: Literal["servicemonitor", "podmonitor", "annotations", "otel"] = "servicemonitor"
    latency: Literal["histogram", "summary"] = "histogram"  # where the framework lets the team choose
    logs: Literal["json", "logfmt", "plain"] = "json"
    # Loki stream labels: Promtail/Alloy kubernetes discovery (namespace, pod, container, app, job=<ns>/<app>),
    # Loki's own OTLP ingestion (service_name, service_namespace, k8s_namespace_name; no pod label), or the
    # OpenTelemetry Collector tailing pod logs and pushing them with its Loki exporter (`collector`: exporter=OTLP
    # and the k8s_* resource attributes hinted as labels; each line a JSON record whose body is the line written)
    loki: Literal["kubernetes", "otel", "collector"] = "kubernetes"
    cloud: Literal["aws", "gce"] = "aws"
    step: str = "60s"  # the scrape interval
    namespaces: Literal["by-team", "single"] = "by-team"
    domain: str = "shop.example.com"  # the public domain the blackbox exporter probes the service under
    # the image registry (ECR, Artifact Registry, a self-hosted Harbor...); default: the cloud's own
    registry: str | None = None


class ServiceDef(Strict):
    name: str
    namespace: str | None = None  # default: the team's namespace or the single one
    team: str = "shop"
    kind: Literal["http", "grpc", "postgres", "redis", "worker"] = "http"
    framework: Literal["go", "spring", "python", "node", "rust", "otel"] | None = None
    replicas: int = 2
    calls: list[str] = Field(default_factory=list)  # services, or `external:<host>` for a third party
    database: str | None = None  # the postgres or redis service it keeps a pool to
    rps: float = 20.0
    latency_ms: float = 40.0
    route: str | None = None
    image: str | None = None
    version: str = "1.8.2"


class CauseDef(Strict):
    kind: str
    target: str  # the service, node, job, CronJob, HPA or certificate the cause sits in
    at: str  # when the change (or the mechanism) starts
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> CauseDef:
        if self.kind not in CAUSE_KINDS:
            raise ValueError(f"cause kind {self.kind!r} is not one of {CAUSE_KINDS}")
        return self


class Distraction(Strict):
    kind: str
    target: str
    at: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> Distraction:
        if self.kind not in DISTRACTION_KINDS:
            raise ValueError(f"distraction kind {self.kind!r} is not one of {DISTRACTION_KINDS}")
        return self


class IncidentDef(Strict):
    title: str
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] = "SEV2"
    service: str  # the service the incident is about (the alerting one)
    declared: str
    resolved: str | None = None  # None: still open, recovery in progress or not begun
    description: str | None = None


class AlertDef(Strict):
    name: str
    since: str  # when it started firing (pending a few minutes before)
    until: str | None = None
    severity: str = "critical"
    service: str | None = None  # default: the incident's service


class Recovery(Strict):
    at: str
    action: Literal["rollback", "restart", "revert-config", "scale-up", "none"] = "none"


class GeneratorSpec(Strict):
    name: str
    day: date
    summary: str
    conventions: Conventions = Field(default_factory=Conventions)
    incident: IncidentDef
    alerts: list[AlertDef] = Field(default_factory=list)
    services: list[ServiceDef]
    nodes: int = 3
    cause: CauseDef
    recovery: Recovery | None = None
    distractions: list[Distraction] = Field(default_factory=list)
    timeline: list[dict[str, Any]] = Field(default_factory=list)  # notes people wrote, in the model's format
    expected: Expected
    seed: int = 0

    @model_validator(mode="after")
    def _evening_before(self) -> GeneratorSpec:
        """Expected times written as clock times follow the same rule as `at`."""
        declared = self._on_day(self.incident.declared)
        for entry in self.expected.ruled_out:
            if entry.at is not None and entry.at - declared > timedelta(hours=12):
                entry.at -= timedelta(days=1)
        return self

    def at(self, clock: str) -> datetime:
        """HH:MM[:SS] on the scenario's day, or an ISO time. A clock time more than twelve hours after the
        declaration is the evening before (an incident just after midnight)."""
        if "T" in clock:
            return absolute_time(clock)
        moment = self._on_day(clock)
        if moment - self._on_day(self.incident.declared) > timedelta(hours=12):
            moment -= timedelta(days=1)
        return moment

    def _on_day(self, clock: str) -> datetime:
        return datetime.combine(self.day, time(*(int(p) for p in clock.split(":"))), tzinfo=UTC)

    def service(self, name: str) -> ServiceDef:
        found = next((s for s in self.services if s.name == name), None)
        if found is None:
            raise ValueError(f"{self.name}: no service {name!r}")
        return found

    @property
    def declared(self) -> datetime:
        return self.at(self.incident.declared)

    @property
    def resolved(self) -> datetime | None:
        return self.at(self.incident.resolved) if self.incident.resolved else None

    @property
    def step(self) -> timedelta:
        value = self.conventions.step
        return timedelta(seconds=int(value[:-1]) * (60 if value.endswith("m") else 1))
